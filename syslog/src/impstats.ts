// PURE: rsyslogd's impstats reports (JSON, one object per counter set) -> the loss of each forward action,
// and the moment to tell its SIEM what it missed. rsyslog counts cumulatively (resetCounters="off").

/** One impstats record, e.g. `{ "name": "sensitive-forward queue", "origin": "core.queue", "size": 3, ... }`. */
export interface StatsRecord {
  readonly name: string;
  readonly origin: string;
  readonly values: Readonly<Record<string, number>>;
}

/** The JSON of one impstats message, or undefined when it is not one. */
export function parseStats(text: string): StatsRecord | undefined {
  const i = text.indexOf('{');
  if (i < 0) return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(text.slice(i));
  } catch {
    return undefined;
  }
  if (typeof obj !== 'object' || obj === null) return undefined;
  const o = obj as Record<string, unknown>;
  if (typeof o.name !== 'string' || typeof o.origin !== 'string') return undefined;
  const values: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && Number.isFinite(v)) values[k] = v;
  return { name: o.name, origin: o.origin, values };
}

/** The queue impstats names for an action with a queue of its own. */
export const queueOf = (action: string): string => `${action} queue`;

/** What a forward lost during one outage, as the `siem_events_lost` event tells it. */
export interface LossReport {
  readonly action: string;
  /** discardedFull + discardedNf + failed. */
  readonly count: number;
  /** Dropped because the action's in-memory queue was full (impstats `discarded.full`). */
  readonly discardedFull: number;
  /** Dropped by the queue's discard mark (impstats `discarded.nf`). */
  readonly discardedNf: number;
  /** Given up by the action (impstats `failed`). */
  readonly failed: number;
  /** The last report before the first one that showed a loss: the loss began after it. */
  readonly since: Date;
  /** The last report that showed a loss. */
  readonly until: Date;
  /** The report that showed the forward delivering again. */
  readonly resumedAt: Date;
}

/** The increments of one report over the previous one, per counter (a counter that went down restarted). */
export interface LossDelta {
  readonly discardedFull: number;
  readonly discardedNf: number;
  readonly failed: number;
  readonly suspended: number;
  readonly resumed: number;
}

interface Outage {
  readonly since: Date;
  until: Date;
  discardedFull: number;
  discardedNf: number;
  failed: number;
  resumed: number;
  /** Queue size at the last report that showed a loss: smaller later means the forward is delivering. */
  sizeAtLoss: number;
}

interface Seen {
  action: Readonly<Record<string, number>>;
  queue: Readonly<Record<string, number>>;
  at: Date;
}

function delta(now: Readonly<Record<string, number>>, before: Readonly<Record<string, number>> | undefined, key: string): number {
  const n = now[key] ?? 0;
  const b = before?.[key] ?? 0;
  return n >= b ? n - b : n;
}

/**
 * Follows the forward actions through successive reports. rsyslog reports an action and its queue as
 * two records; `observe()` takes them one by one and acts once both of a report have been seen.
 * An outage (for this purpose) begins with the first report that shows a loss and ends with the first
 * later report that shows none while the forward is delivering again: `resumed` rose, or its queue shrank.
 */
export class LossTracker {
  private readonly pendingAction = new Map<string, Readonly<Record<string, number>>>();
  private readonly pendingQueue = new Map<string, Readonly<Record<string, number>>>();
  private readonly seen = new Map<string, Seen>();
  private readonly outages = new Map<string, Outage>();

  constructor(private readonly actions: readonly string[]) {}

  /** Whether a loss of `action` is being followed (not yet reported). */
  inOutage(action: string): boolean {
    return this.outages.has(action);
  }

  /**
   * Feeds one record received at `at`. Returns, when the record completes a report of a forward, its
   * increments and, when that report ends an outage with losses, the report to send.
   */
  observe(r: StatsRecord, at: Date): { action: string; delta: LossDelta; report?: LossReport } | undefined {
    let action: string | undefined;
    if (r.origin === 'core.action' && this.actions.includes(r.name)) {
      action = r.name;
      this.pendingAction.set(action, r.values);
    } else if (r.origin === 'core.queue') {
      action = this.actions.find((a) => queueOf(a) === r.name);
      if (action) this.pendingQueue.set(action, r.values);
    }
    if (!action) return undefined;
    const a = this.pendingAction.get(action);
    const q = this.pendingQueue.get(action);
    if (!a || !q) return undefined;
    this.pendingAction.delete(action);
    this.pendingQueue.delete(action);
    return { action, ...this.step(action, a, q, at) };
  }

  private step(
    action: string,
    a: Readonly<Record<string, number>>,
    q: Readonly<Record<string, number>>,
    at: Date,
  ): { delta: LossDelta; report?: LossReport } {
    const before = this.seen.get(action);
    this.seen.set(action, { action: a, queue: q, at });
    const d: LossDelta = {
      discardedFull: delta(q, before?.queue, 'discarded.full'),
      discardedNf: delta(q, before?.queue, 'discarded.nf'),
      failed: delta(a, before?.action, 'failed'),
      suspended: delta(a, before?.action, 'suspended'),
      resumed: delta(a, before?.action, 'resumed'),
    };
    const lost = d.discardedFull + d.discardedNf + d.failed;
    const size = q.size ?? 0;
    let o = this.outages.get(action);
    if (lost > 0) {
      if (!o) {
        o = { since: before?.at ?? at, until: at, discardedFull: 0, discardedNf: 0, failed: 0, resumed: 0, sizeAtLoss: size };
        this.outages.set(action, o);
      }
      o.until = at;
      o.resumed += d.resumed;
      o.discardedFull += d.discardedFull;
      o.discardedNf += d.discardedNf;
      o.failed += d.failed;
      o.sizeAtLoss = size;
      return { delta: d };
    }
    if (!o) return { delta: d };
    o.resumed += d.resumed;
    if (o.resumed === 0 && size >= o.sizeAtLoss) return { delta: d };
    this.outages.delete(action);
    const report: LossReport = {
      action,
      count: o.discardedFull + o.discardedNf + o.failed,
      discardedFull: o.discardedFull,
      discardedNf: o.discardedNf,
      failed: o.failed,
      since: o.since,
      until: o.until,
      resumedAt: at,
    };
    return { delta: d, report };
  }
}
