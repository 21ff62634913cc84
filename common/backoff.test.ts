import { backoffDelay, type BackoffPolicy } from './backoff.js';

describe('backoffDelay', () => {
  const equal: BackoffPolicy = { baseMs: 100, maxMs: 5000, jitter: [0.5, 1] };
  const upward: BackoffPolicy = { baseMs: 500, maxMs: 300_000, jitter: [1, 1.2] };

  it('doubles from baseMs with each attempt up to maxMs', () => {
    // GIVEN random() = 1 - 2^-53 (the top of [0, 1)) and equal jitter, so each delay is the full exponential
    const top = () => 1 - 2 ** -53;
    // WHEN attempts 1 to 8 are asked for
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffDelay(a, equal, top));
    // THEN they double from 100 ms and stop at 5000 ms
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  });

  it('spreads each delay over the jitter range with the injected random()', () => {
    // GIVEN attempt 3 (400 ms with equal jitter, 2000 ms with upward jitter)
    // WHEN random() is at the bottom, the middle and near the top of [0, 1)
    // THEN equal jitter gives 200..400 ms and upward jitter 2000..2400 ms
    expect([0, 0.5, 0.999].map((r) => backoffDelay(3, equal, () => r))).toEqual([200, 300, 400]);
    expect([0, 0.5, 0.999].map((r) => backoffDelay(3, upward, () => r))).toEqual([2000, 2200, 2400]);
  });

  it('stays at maxMs after a very long outage and treats attempt 0 as the first', () => {
    // GIVEN attempts far past the cap, and attempt 0 WHEN their delays are asked for
    // THEN the delay is the capped one (not Infinity or NaN), and attempt 0 waits like attempt 1
    expect(backoffDelay(10_000, upward, () => 0)).toBe(300_000);
    expect(backoffDelay(10_000, { baseMs: 0, maxMs: 10, jitter: [1, 1] }, () => 0)).toBe(0);
    expect(backoffDelay(0, equal, () => 0)).toBe(50);
  });
});
