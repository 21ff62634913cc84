// The work queue, keyed by `namespace/name` (client-go's semantics): a key is queued at most once,
// never runs twice at the same time (an add while it runs re-queues it once it is done), failures
// back off exponentially with jitter, and `requeueAfter` schedules a later run.
import { backoffDelay } from '../../../common/backoff.js';
import type { Clock, Random, Timer } from './clock.js';

export interface Result {
  /** Run again after this many ms even without an event (e.g. waiting for a Secret). */
  readonly requeueAfter?: number;
}

export type Processor = (key: string) => Promise<Result | void>;

export interface WorkQueueOptions {
  readonly clock: Clock;
  readonly random: Random;
  /** Concurrent keys. @default 2 */
  readonly workers?: number;
  /** First retry delay. @default 500 */
  readonly baseDelayMs?: number;
  /** @default 300000 (5 min) */
  readonly maxDelayMs?: number;
  /** Delays are multiplied by 1 + jitter * random(). @default 0.2 */
  readonly jitter?: number;
  /** Called when the number of queued keys changes. */
  readonly onDepth?: (depth: number) => void;
  /** Called when a run throws (the key is retried with backoff). */
  readonly onError?: (key: string, err: unknown, attempt: number, retryInMs: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  /** Added while running: queue again when the run ends. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: Timer }>();
  private readonly idle: Array<() => void> = [];
  private active = 0;
  private stopped = false;

  constructor(
    private readonly process: Processor,
    private readonly opts: WorkQueueOptions,
  ) {}

  get depth(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.opts.onDepth?.(this.queue.length);
    this.pump();
  }

  /** Queue `key` after `ms`; an earlier pending schedule wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const at = this.opts.clock.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    existing?.timer.cancel();
    const timer = this.opts.clock.after(ms, () => {
      this.timers.delete(key);
      this.add(key);
    });
    this.timers.set(key, { at, timer });
  }

  /** The delay before retry `attempt` (1-based): base * 2^(attempt-1), capped, with jitter. */
  backoff(attempt: number): number {
    const jitter = this.opts.jitter ?? 0.2;
    return backoffDelay(attempt, { baseMs: this.opts.baseDelayMs ?? 500, maxMs: this.opts.maxDelayMs ?? 300_000, jitter: [1, 1 + jitter] }, this.opts.random);
  }

  /** Stop taking keys; resolves when runs in progress have finished. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) t.timer.cancel();
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    if (this.active > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    const workers = this.opts.workers ?? 2;
    while (!this.stopped && this.active < workers && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.queued.delete(key);
      this.opts.onDepth?.(this.queue.length);
      this.running.add(key);
      this.active++;
      void this.runOne(key);
    }
  }

  private async runOne(key: string): Promise<void> {
    try {
      const result = await this.process(key);
      this.failures.delete(key);
      if (result?.requeueAfter !== undefined) this.addAfter(key, result.requeueAfter);
    } catch (err) {
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, attempt);
      const delay = this.backoff(attempt);
      this.opts.onError?.(key, err, attempt, delay);
      this.addAfter(key, delay);
    } finally {
      this.running.delete(key);
      this.active--;
      if (this.dirty.delete(key)) this.add(key);
      if (this.stopped && this.active === 0) for (const r of this.idle.splice(0)) r();
      this.pump();
    }
  }
}
