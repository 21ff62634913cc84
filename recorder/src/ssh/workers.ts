// Sessions over every core. With several workers `srec recorder` is one primary process and N node:cluster
// worker processes:
// - the primary accepts every connection and applies the pre-login limits (bastion.ts Front: one MaxStartups,
//   one set of per-source counts and penalties for the whole recorder), then passes the socket to the worker
//   serving the fewest; it alone moves recordings to the share (one mover, so one ledger chain per replica),
//   indexes them, runs retention and serves the probes, /metrics summed over itself and every worker;
// - each worker runs ssh2 and the sessions it is given (relay, recording into the shared spool, the
//   file-transfer capture, its own audit connection to rsyslogd) and tells the primary when a connection
//   logged in or went, and when a recording opened or closed in the spool.
// A worker that dies is replaced; the recordings it had open are finalized and moved as start-up recovery
// does (marked recovered), its connections' startup slots are freed. The primary's death ends the workers
// (they exit when the IPC channel closes) and the next start recovers the spool.
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import { aggregate, type Gauge, type Registry } from '../../../common/metrics.js';
import { errorMessage, type Logger } from '../../../common/log.js';
import { settlesWithin } from '../../../common/timeout.js';
import { createSessions, type AdmittedEvents, type BastionOptions, type SessionHost } from './bastion.js';

/** Environment variable that carries a worker's number (0-based) into it. */
export const WORKER_ENV = 'SREC_RECORDER_WORKER';

type ToWorker = { t: 'serve'; id: number } | { t: 'drop'; id: number } | { t: 'stop'; graceMs: number } | { t: 'metrics'; req: number };
type FromWorker =
  | { t: 'ready' }
  | { t: 'loggedIn'; id: number }
  | { t: 'gone'; id: number }
  | { t: 'failedLogin'; ip: string }
  | { t: 'opened'; session: string }
  | { t: 'closed'; session: string }
  | { t: 'metrics'; req: number; metrics: unknown[] }
  | { t: 'stopped' };

/** Memory a worker is given room for when the count comes from the cgroup: its sessions, stalled channels' windows, gzip. */
export const WORKER_MEMORY_BYTES = 256 * 1024 * 1024;

/**
 * How many workers the container's resources allow: its cgroup CPU quota rounded up (cgroup v2 `cpu.max`, v1
 * `cpu.cfs_quota_us`/`cpu.cfs_period_us`: a pod's CPU limit), at most the cores this process may run on, and
 * at most one per WORKER_MEMORY_BYTES of its memory limit (a pod with a memory limit but no CPU limit on a
 * 64-core node gets what its memory holds, not 64); 1 at least. `cpuMax` is cpu.max's text (`max 100000` or
 * `200000 100000`), `memoryMax` memory.max's (`max` or bytes).
 */
export function autoWorkers(cpuMax: string | undefined = readCgroup('cpu'), cores: number = os.availableParallelism(), memoryMax: string | undefined = readCgroup('memory')): number {
  const [quota, period] = (cpuMax ?? '').trim().split(/\s+/);
  const q = Number(quota);
  const p = Number(period ?? 100000);
  const byQuota = quota !== undefined && quota !== 'max' && q > 0 && p > 0 ? Math.ceil(q / p) : Infinity;
  const m = Number((memoryMax ?? '').trim());
  const byMemory = m > 0 ? Math.floor(m / WORKER_MEMORY_BYTES) : Infinity;
  return Math.max(1, Math.min(cores, byQuota, byMemory));
}

function readCgroup(what: 'cpu' | 'memory'): string | undefined {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  if (what === 'memory') {
    const limit = read('/sys/fs/cgroup/memory.max') ?? read('/sys/fs/cgroup/memory/memory.limit_in_bytes');
    // cgroup v1 says "no limit" with a number near 2^63.
    return limit !== undefined && Number(limit) > 2 ** 60 ? 'max' : limit;
  }
  const v2 = read('/sys/fs/cgroup/cpu.max');
  if (v2 !== undefined) return v2;
  const quota = read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
  const period = read('/sys/fs/cgroup/cpu/cpu.cfs_period_us');
  return quota === undefined ? undefined : `${Number(quota) < 0 ? 'max' : quota} ${period ?? 100000}`;
}

export interface WorkerPoolOptions {
  readonly count: number;
  readonly log: Logger;
  /** The front's: logins, closed sockets and failed logins of what it admitted. */
  readonly events: AdmittedEvents;
  /** A recording a worker closed in the spool (TrailMover#enqueue). */
  readonly recordingClosed: (sessionId: string) => void;
  /** Recordings a dead worker left open in the spool (TrailMover#recoverSessions). */
  readonly recoverSessions: (sessionIds: readonly string[]) => Promise<void>;
  /** Time for a worker to start. @default 30000 */
  readonly startTimeoutMs?: number;
  /** Before a dead worker is replaced. @default 1000 */
  readonly restartDelayMs?: number;
  /** Set to the workers serving. */
  readonly servingGauge?: Gauge;
}

interface Slot {
  readonly n: number;
  readonly worker: Worker;
  /** Sockets given to it that have not closed, by the front's id. */
  readonly sockets: Set<number>;
  /** Recordings it opened and has not closed. */
  readonly open: Set<string>;
  ready: boolean;
  readonly started: Promise<void>;
  readonly exited: Promise<void>;
}

/** The primary's side: the workers as one SessionHost for the front. */
export class WorkerPool implements SessionHost {
  private readonly slots: (Slot | undefined)[] = [];
  private readonly owner = new Map<number, Slot>();
  private readonly metricRequests = new Map<number, { pending: number; parts: unknown[][]; done: () => void }>();
  private nextRequest = 0;
  private stopping = false;

  constructor(private readonly opts: WorkerPoolOptions) {}

  /** Fork every worker; resolves when each is serving, throws if one does not start. */
  async start(): Promise<void> {
    const slots = Array.from({ length: this.opts.count }, (_, n) => this.fork(n));
    const timeout = this.opts.startTimeoutMs ?? 30000;
    const all = Promise.all(slots.map((s) => s.started));
    if (!(await settlesWithin(all, timeout))) throw new Error(`recorder workers did not start within ${timeout / 1000} s`);
    await all;
  }

  /** Workers serving now, of `count`. */
  get serving(): number {
    return this.slots.filter((s) => s?.ready).length;
  }

  get connections(): number {
    return this.owner.size;
  }

  serve(socket: net.Socket, id: number): void {
    const slot = this.leastBusy();
    if (slot === undefined) {
      socket.destroy();
      this.opts.events.gone(id);
      return;
    }
    slot.sockets.add(id);
    this.owner.set(id, slot);
    slot.worker.send({ t: 'serve', id } satisfies ToWorker, socket, (err: Error | null) => {
      if (err === null) return;
      socket.destroy();
      this.socketGone(slot, id);
    });
  }

  drop(id: number): void {
    this.owner.get(id)?.worker.send({ t: 'drop', id } satisfies ToWorker);
  }

  /** Every worker's metrics and `own`'s, summed per series (gauges too: each counts its own share). */
  async metrics(own: Registry): Promise<Registry> {
    const live = this.slots.filter((s): s is Slot => s?.ready === true && s.worker.isConnected());
    const req = ++this.nextRequest;
    const parts: unknown[][] = [];
    const answered = new Promise<void>((resolve) => {
      this.metricRequests.set(req, { pending: live.length, parts, done: resolve });
      if (live.length === 0) resolve();
    });
    for (const s of live) s.worker.send({ t: 'metrics', req } satisfies ToWorker);
    // A worker that does not answer in time (dying) is left out of this scrape.
    await settlesWithin(answered, 2000);
    this.metricRequests.delete(req);
    // This process's own last: a worker's `closed` arrives before its answer, so a recording a worker
    // stopped counting as open is already counted as pending here.
    parts.push(await own.getMetricsAsJSON());
    return aggregate(parts);
  }

  /** Tell every worker to stop (sessions get `graceMs`); resolves when they have exited. */
  async close(graceMs: number): Promise<void> {
    this.stopping = true;
    const slots = this.slots.filter((s): s is Slot => s !== undefined);
    for (const s of slots) if (s.worker.isConnected()) s.worker.send({ t: 'stop', graceMs } satisfies ToWorker);
    const exited = Promise.all(slots.map((s) => s.exited));
    if (!(await settlesWithin(exited, graceMs + 30000))) {
      this.opts.log.error('recorder workers did not stop in time; killing them', {});
      for (const s of slots) if (!s.worker.isDead()) s.worker.process.kill('SIGKILL');
      await settlesWithin(exited, 5000);
    }
  }

  private leastBusy(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) if (s?.ready && s.worker.isConnected() && (best === undefined || s.sockets.size < best.sockets.size)) best = s;
    return best;
  }

  private fork(n: number): Slot {
    const worker = cluster.fork({ [WORKER_ENV]: String(n) });
    let started!: () => void;
    let failed!: (err: Error) => void;
    let exited!: () => void;
    const slot: Slot = {
      n,
      worker,
      sockets: new Set(),
      open: new Set(),
      ready: false,
      started: new Promise<void>((resolve, reject) => ((started = resolve), (failed = reject))),
      exited: new Promise<void>((resolve) => (exited = resolve)),
    };
    slot.started.catch(() => undefined);
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'ready') {
        slot.ready = true;
        this.opts.servingGauge?.set(this.serving);
        this.opts.log.info('recorder worker serving', { worker: n, pid: worker.process.pid });
        started();
      } else this.onMessage(slot, m);
    });
    worker.on('error', (err: Error) => this.opts.log.warn('recorder worker IPC error', { worker: n, error: errorMessage(err) }));
    worker.once('exit', (code: number | null, signal: string | null) => {
      slot.ready = false;
      this.opts.servingGauge?.set(this.serving);
      failed(new Error(`recorder worker ${n} exited with ${signal ?? code} before it was ready`));
      exited();
      void this.onExit(slot, code, signal);
    });
    this.slots[n] = slot;
    return slot;
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'loggedIn':
        return this.opts.events.loggedIn(m.id);
      case 'gone':
        return this.socketGone(slot, m.id);
      case 'failedLogin':
        return this.opts.events.failedLogin(m.ip);
      case 'opened':
        slot.open.add(m.session);
        return;
      case 'closed':
        slot.open.delete(m.session);
        return this.opts.recordingClosed(m.session);
      case 'metrics': {
        const r = this.metricRequests.get(m.req);
        if (r === undefined) return;
        r.parts.push(m.metrics);
        if (--r.pending <= 0) r.done();
        return;
      }
      default:
        return;
    }
  }

  private socketGone(slot: Slot, id: number): void {
    if (!slot.sockets.delete(id)) return;
    if (this.owner.get(id) === slot) this.owner.delete(id);
    this.opts.events.gone(id);
  }

  private async onExit(slot: Slot, code: number | null, signal: string | null): Promise<void> {
    for (const id of [...slot.sockets]) this.socketGone(slot, id);
    const open = [...slot.open];
    slot.open.clear();
    if (!this.stopping || open.length > 0) {
      const level = this.stopping && code === 0 ? 'warn' : 'error';
      this.opts.log[level]('recorder worker exited', { worker: slot.n, code, signal, recordingsLeftOpen: open.length });
    }
    // Finalized and moved as start-up recovery would: what the worker wrote before it died is kept.
    if (open.length > 0) await this.opts.recoverSessions(open).catch((err: unknown) => this.opts.log.error('cannot recover a dead worker\'s recordings; the next start will', { error: errorMessage(err) }));
    if (this.stopping) return;
    const again = setTimeout(() => {
      if (!this.stopping) this.fork(slot.n).started.catch((err: Error) => this.opts.log.error('recorder worker did not start again', { worker: slot.n, error: err.message }));
    }, this.opts.restartDelayMs ?? 1000);
    again.unref();
  }
}

export type WorkerOptions = Omit<BastionOptions, 'recordingClosed' | 'recordingOpened'> & {
  /** This worker's metrics (the primary sums them). */
  readonly registry: Registry;
};

/**
 * A worker's side: serve the sockets the primary passes, until it says stop (then end the sessions as a
 * single-process recorder does at SIGTERM) or goes away (then exit at once: the spool is recovered by the
 * next start, as after a crash). Resolves when stopped.
 */
export async function serveWorker(opts: WorkerOptions): Promise<void> {
  const send = (m: FromWorker, then?: () => void) => {
    if (!process.connected) return then?.();
    process.send!(m, undefined, {}, () => then?.());
  };
  // Signals are the primary's to handle (a terminal's Ctrl-C reaches the whole process group).
  const ignore = () => undefined;
  process.on('SIGTERM', ignore);
  process.on('SIGINT', ignore);
  let stopping = false;
  process.on('disconnect', () => {
    if (!stopping) process.exit(1);
  });
  const events: AdmittedEvents = {
    loggedIn: (id) => send({ t: 'loggedIn', id }),
    gone: (id) => send({ t: 'gone', id }),
    failedLogin: (ip) => send({ t: 'failedLogin', ip }),
  };
  const sessions = createSessions(
    { ...opts, recordingOpened: (session) => send({ t: 'opened', session }), recordingClosed: (session) => send({ t: 'closed', session }) },
    events,
  );
  await new Promise<void>((resolve) => {
    process.on('message', (m: ToWorker, handle: unknown) => {
      switch (m.t) {
        case 'serve':
          return sessions.serve(handle as net.Socket, m.id);
        case 'drop':
          return sessions.drop(m.id);
        case 'metrics':
          void opts.registry.getMetricsAsJSON().then((metrics) => send({ t: 'metrics', req: m.req, metrics }));
          return;
        case 'stop':
          if (stopping) return;
          stopping = true;
          void sessions.close(m.graceMs).then(resolve);
          return;
        default:
          return;
      }
    });
    send({ t: 'ready' });
  });
  await opts.audit.close();
  // The last message goes after every `closed` one; then the channel is let go.
  await new Promise<void>((resolve) => send({ t: 'stopped' }, resolve));
  process.disconnect();
}
