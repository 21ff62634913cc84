// Conditions the cert-manager way: a check is a named pure function that returns a verdict or nothing;
// the first verdict of a chain is the condition. lastTransitionTime survives unless the status flips.
import type { Condition, ConditionStatus, ConditionType } from '../api/types.js';

export interface Verdict {
  readonly status: ConditionStatus;
  /** CamelCase, stable. */
  readonly reason: string;
  /** What a person should do. */
  readonly message: string;
}

/** A named rule: a verdict when it has something to say, `undefined` to pass to the next one. */
export interface Check<I> {
  readonly name: string;
  (input: I): Verdict | undefined;
}

export function check<I>(name: string, fn: (input: I) => Verdict | undefined): Check<I> {
  const named = (input: I) => fn(input);
  Object.defineProperty(named, 'name', { value: name });
  return named as Check<I>;
}

export const isFalse = (reason: string, message: string): Verdict => ({ status: 'False', reason, message });
export const isTrue = (reason: string, message: string): Verdict => ({ status: 'True', reason, message });

/** The first verdict of the chain, or `fallback` when every check passes. */
export function firstVerdict<I>(chain: readonly Check<I>[], input: I, fallback: (input: I) => Verdict): Verdict {
  for (const c of chain) {
    const v = c(input);
    if (v) return v;
  }
  return fallback(input);
}

/**
 * The condition for `verdict`, keeping `previous.lastTransitionTime` when the status did not change
 * (a new reason or message is not a transition).
 */
export function toCondition(
  type: ConditionType,
  verdict: Verdict,
  generation: number | undefined,
  previous: readonly Condition[] | undefined,
  now: Date,
): Condition {
  const old = previous?.find((c) => c.type === type);
  const lastTransitionTime = old && old.status === verdict.status && old.lastTransitionTime ? old.lastTransitionTime : rfc3339(now);
  return {
    type,
    status: verdict.status,
    reason: verdict.reason,
    message: verdict.message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    lastTransitionTime,
  };
}

/** Seconds precision, as metav1.Time serializes. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
