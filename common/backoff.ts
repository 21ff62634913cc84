// Exponential backoff with jitter: one formula for every retry loop (the operator's work queue and
// watches, the audit link's reconnects, the trail mover), each with its own numbers.

export interface BackoffPolicy {
  /** The delay before the first retry (attempt 1), before jitter. */
  readonly baseMs: number;
  /** The longest delay, before jitter. */
  readonly maxMs: number;
  /**
   * Where the delay d falls, as fractions of it: uniformly in [d * low, d * high]. `[0.5, 1]` ("equal
   * jitter") stays under the cap; `[1, 1.2]` never retries sooner than d.
   */
  readonly jitter: readonly [low: number, high: number];
}

/**
 * The delay in ms before retry `attempt` (1-based): min(maxMs, baseMs * 2^(attempt - 1)), spread by the
 * jitter. `random` returns a uniform number in [0, 1); tests pass a constant.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  // The exponent is capped only so that a long outage cannot overflow to Infinity * 0.
  const d = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 52));
  const [low, high] = policy.jitter;
  return Math.round(d * (low + (high - low) * random()));
}
