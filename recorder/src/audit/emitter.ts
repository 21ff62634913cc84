// The audit sink the bastion emits into. With syslog configured: a bounded in-memory queue drained to
// rsyslog over TCP (RFC 6587 octet counting, reconnecting with backoff) or UDP. Without: non-sensitive
// events as JSON lines on stdout, sensitive events nowhere. emit() never blocks, never throws and never
// touches a disk: what does not fit is dropped, counted, and reported once the link is back.
import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import { backoffDelay } from '../../../common/backoff.js';
import { requireHostPort } from '../../../common/host-port.js';
import { errorMessage, type Logger } from '../../../common/log.js';
import { Counter, Gauge, type Registry } from '../../../common/metrics.js';
import { makeEvent, NO_SESSION, toJson, type AuditEvent, type Exposure } from './event.js';
import { frameOctetCounted, syslogEncoder, type AuditFormat } from './syslog.js';

export interface AuditSink {
  /** Never blocks, never throws; drops (and counts) when the bounded queue is full. */
  emit(event: AuditEvent): void;
  /**
   * emit() for a caller that already has toJson(event) (the bastion's data events, see dataEventJson()):
   * the same bytes on the wire, without encoding the event again. Optional: callers fall back to emit().
   */
  emitJson?(event: AuditEvent, json: string): void;
  close(): Promise<void>;
}

export interface SyslogTarget {
  /** `host:port` of the syslog service. */
  readonly address: string;
  /** @default 'tcp' */
  readonly protocol?: 'tcp' | 'udp';
  /** @default 'syslog' */
  readonly format?: AuditFormat;
}

export interface AuditSinkConfig {
  /** The recorder's `audit.syslog`; omitted when syslog is disabled. */
  readonly syslog?: SyslogTarget;
  /**
   * A bound on the count, for tiny events; with ~500-byte data events the byte bound binds first.
   * @default 50000
   */
  readonly maxQueueEvents?: number;
  /** @default 16 MiB */
  readonly maxQueueBytes?: number;
  /** A message larger than this is dropped (rsyslog would truncate it). @default 32 KiB */
  readonly maxMessageBytes?: number;
  /** @default os.hostname() (the pod name) */
  readonly hostname?: string;
  /** CEF Device Version. @default '0' */
  readonly version?: string;
  /** Reconnect delays: doubling from initialMs up to maxMs, with jitter. @default { initialMs: 100, maxMs: 5000 } */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** @default 5000 */
  readonly connectTimeoutMs?: number;
  /** How long close() waits for the queue to drain. @default 2000 */
  readonly closeTimeoutMs?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** @default Math.random */
  readonly random?: () => number;
  /** Where stdout mode writes; its writableLength is kept under maxQueueBytes too. @default process.stdout */
  readonly stdout?: { write(line: string): unknown; readonly writableLength: number };
}

// 10,000 events (5 MB of data events) ran out during a busy recorder's scheduling stalls while the byte
// bound was a third used (audit benchmark): the memory bound is the byte one.
export const DEFAULT_MAX_QUEUE_EVENTS = 50_000;
export const DEFAULT_MAX_QUEUE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024;
/** Bytes handed to the socket per write. */
const BATCH_BYTES = 256 * 1024;
/**
 * Writes continue while the socket holds less than this beyond what the kernel took. One write in flight
 * per event-loop turn was too little when relaying sessions makes the turns long: the queue filled.
 */
const MAX_SOCKET_BUFFER = 1024 * 1024;

type DropReason = 'queue_full' | 'oversize' | 'encode_error' | 'send_error' | 'shutdown' | 'no_syslog' | 'closed';

interface Metrics {
  readonly sent: Counter<'exposure'>;
  readonly dropped: Counter<'reason' | 'exposure'>;
  readonly depth: Gauge;
  readonly bytes: Gauge;
  readonly linkUp: Gauge;
  readonly connects: Counter;
}

function metrics(r: Registry): Metrics {
  return {
    sent: new Counter({ name: 'srec_audit_events_sent_total', help: 'Audit events handed to syslog (or stdout), by exposure.', labelNames: ['exposure'], registers: [r] }),
    dropped: new Counter({ name: 'srec_audit_events_dropped_total', help: 'Audit events dropped, by reason and exposure.', labelNames: ['reason', 'exposure'], registers: [r] }),
    depth: new Gauge({ name: 'srec_audit_queue_depth', help: 'Audit events waiting in memory for the syslog link.', registers: [r] }),
    bytes: new Gauge({ name: 'srec_audit_queue_bytes', help: 'Bytes of audit events waiting in memory for the syslog link.', registers: [r] }),
    linkUp: new Gauge({ name: 'srec_audit_link_up', help: '1 while the syslog link is connected (TCP) or open (UDP).', registers: [r] }),
    connects: new Counter({ name: 'srec_audit_connects_total', help: 'Syslog connections made (the first and every reconnect).', registers: [r] }),
  };
}

export function createAuditSink(config: AuditSinkConfig, registry: Registry, log: Logger): AuditSink {
  const m = metrics(registry);
  if (config.syslog === undefined) return new StdoutSink(config, m);
  return new SyslogSink(config, config.syslog, m, log);
}

/** Syslog disabled: non-sensitive events as JSON lines on stdout, as PrivX does; sensitive ones nowhere. */
class StdoutSink implements AuditSink {
  private readonly out: { write(line: string): unknown; readonly writableLength: number };
  private readonly maxBytes: number;

  constructor(
    config: AuditSinkConfig,
    private readonly m: Metrics,
  ) {
    this.maxBytes = config.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.out = config.stdout ?? process.stdout;
  }

  emit(event: AuditEvent): void {
    try {
      if (event.exposure !== 'SSH-PRIVX-AUDIT') {
        this.m.dropped.inc({ reason: 'no_syslog', exposure: event.exposure });
        return;
      }
      // A stalled pipe makes Node buffer without limit: the same byte bound as the syslog queue.
      if (this.out.writableLength > this.maxBytes) {
        this.m.dropped.inc({ reason: 'queue_full', exposure: event.exposure });
        return;
      }
      this.out.write(toJson(event) + '\n');
      this.m.sent.inc({ exposure: event.exposure });
    } catch {
      this.m.dropped.inc({ reason: 'encode_error', exposure: event.exposure });
    }
  }

  async close(): Promise<void> {}
}

interface Queued {
  readonly bytes: Buffer;
  readonly exposure: Exposure;
  /** An events_dropped report: losing one is counted but not reported again (no report storms). */
  readonly report?: boolean;
}

/** A FIFO that is cheap at both ends (a shifted array would be O(n) per event). */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(v: T): void {
    this.items.push(v);
  }
  unshiftAll(vs: readonly T[]): void {
    const rest = this.items.slice(this.head);
    this.items = [...vs, ...rest];
    this.head = 0;
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head];
    this.items[this.head] = undefined;
    this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
  drain(): T[] {
    const all = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return all;
  }
}

class SyslogSink implements AuditSink {
  private readonly queue = new Fifo<Queued>();
  private queuedBytes = 0;
  private readonly host: string;
  private readonly port: number;
  private readonly protocol: 'tcp' | 'udp';
  private readonly format: AuditFormat;
  private readonly hostname: string;
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly maxMessage: number;
  private readonly now: () => Date;
  private readonly random: () => number;

  private socket: net.Socket | undefined;
  private udp: dgram.Socket | undefined;
  private connected = false;
  /** Batches handed to the link whose write has not completed yet, oldest first. */
  private inFlight: Queued[][] = [];
  private inFlightEvents = 0;
  private inFlightBytes = 0;
  private flushScheduled = false;
  private readonly encodeMessage: (event: AuditEvent, json?: string) => string;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  /** close() was called: no new events. */
  private closing = false;
  /** close() gave up waiting: no more connects either. */
  private closed = false;
  /** Drops not yet told to the SIEM with an events_dropped event. */
  private unreported = { total: 0, sensitive: 0, since: '' };
  private drainWaiters: (() => void)[] = [];

  constructor(
    private readonly config: AuditSinkConfig,
    target: SyslogTarget,
    private readonly m: Metrics,
    private readonly log: Logger,
  ) {
    const { host, port } = requireHostPort(target.address, 'audit.syslog.address');
    this.host = host;
    this.port = port;
    this.protocol = target.protocol ?? 'tcp';
    this.format = target.format ?? 'syslog';
    this.hostname = config.hostname ?? os.hostname();
    this.maxEvents = config.maxQueueEvents ?? DEFAULT_MAX_QUEUE_EVENTS;
    this.maxBytes = config.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.maxMessage = config.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.now = config.now ?? (() => new Date());
    this.random = config.random ?? Math.random;
    this.encodeMessage = syslogEncoder(this.format, { hostname: this.hostname, version: config.version });
    this.connect();
  }

  emit(event: AuditEvent): void {
    this.accept(event, undefined);
  }

  emitJson(event: AuditEvent, json: string): void {
    this.accept(event, json);
  }

  private accept(event: AuditEvent, json: string | undefined): void {
    try {
      if (this.closing) return this.drop('closed', event.exposure);
      const bytes = this.encode(event, json);
      if (bytes.length > this.maxMessage) return this.drop('oversize', event.exposure);
      // What was handed to the socket and not yet taken by the kernel is in memory too: inside the bounds.
      if (
        this.queue.length + this.inFlightEvents >= this.maxEvents ||
        this.queuedBytes + this.inFlightBytes + bytes.length > this.maxBytes
      ) {
        return this.drop('queue_full', event.exposure);
      }
      this.enqueue({ bytes, exposure: event.exposure });
      // One turn can be long: after the recorder was off the CPU, one poll phase reads every session's
      // backlog, thousands of events, before any setImmediate runs. A full batch goes out at once.
      if (this.queuedBytes >= BATCH_BYTES) this.pump();
      else this.schedulePump();
    } catch {
      try {
        this.drop('encode_error', event.exposure);
      } catch {
        // Nothing may escape into the session.
      }
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const timeout = this.config.closeTimeoutMs ?? 2000;
    // Waits for the queue to drain, through a reconnect if the link is down, at most `timeout`.
    if (this.queue.length > 0 || this.inFlight.length > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeout);
        this.drainWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const left = [...this.inFlight.flat(), ...this.queue.drain()];
    this.inFlight = [];
    this.inFlightEvents = 0;
    this.inFlightBytes = 0;
    for (const q of left) this.m.dropped.inc({ reason: 'shutdown', exposure: q.exposure });
    this.queuedBytes = 0;
    this.updateGauges();
    const s = this.socket;
    this.socket = undefined;
    if (s && this.connected) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeout);
        s.end(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    s?.destroy();
    const u = this.udp;
    this.udp = undefined;
    if (u) await new Promise<void>((resolve) => u.close(() => resolve()));
    this.connected = false;
    this.m.linkUp.set(0);
  }

  private encode(event: AuditEvent, json?: string): Buffer {
    const msg = this.encodeMessage(event, json);
    return this.protocol === 'tcp' ? frameOctetCounted(msg) : Buffer.from(msg, 'utf8');
  }

  private enqueue(q: Queued): void {
    this.queue.push(q);
    this.queuedBytes += q.bytes.length;
    this.updateGauges();
  }

  private drop(reason: DropReason, exposure: Exposure, report = false): void {
    this.m.dropped.inc({ reason, exposure });
    if (report || reason === 'closed' || reason === 'shutdown') return;
    if (this.unreported.total === 0) this.unreported.since = this.now().toISOString();
    this.unreported.total += 1;
    if (exposure === 'SSH-PRIVX-SENSITIVE-AUDIT') this.unreported.sensitive += 1;
  }

  private updateGauges(): void {
    this.m.depth.set(this.queue.length + this.inFlightEvents);
    this.m.bytes.set(this.queuedBytes);
  }

  /** Puts an events_dropped event at the head of the queue; it may exceed the bounds by this one event. */
  private reportDrops(): void {
    if (this.unreported.total === 0 || this.closed) return;
    const { total, sensitive, since } = this.unreported;
    this.unreported = { total: 0, sensitive: 0, since: '' };
    const event = makeEvent(NO_SESSION, 'events_dropped', this.now(), { count: total, sensitive, since });
    const bytes = this.encode(event);
    this.queue.unshiftAll([{ bytes, exposure: event.exposure, report: true }]);
    this.queuedBytes += bytes.length;
    this.updateGauges();
  }

  // --- the link -------------------------------------------------------------------------------

  private connect(): void {
    if (this.closed) return;
    if (this.protocol === 'udp') return this.openUdp();
    const socket = net.connect({ host: this.host, port: this.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.setTimeout(this.config.connectTimeoutMs ?? 5000, () => socket.destroy(new Error('connect timeout')));
    socket.on('connect', () => {
      socket.setTimeout(0);
      this.connected = true;
      this.attempt = 0;
      this.m.linkUp.set(1);
      this.m.connects.inc();
      this.log.info('audit syslog link up', { address: `${this.host}:${this.port}`, protocol: 'tcp' });
      this.reportDrops();
      this.pump();
    });
    // rsyslog never sends; its FIN means it is going away.
    socket.on('data', () => undefined);
    socket.on('end', () => socket.destroy());
    socket.on('drain', () => this.pump());
    socket.on('error', (err) => {
      if (this.connected || this.attempt === 0) {
        this.log.warn('audit syslog link failed', { address: `${this.host}:${this.port}`, error: errorMessage(err) });
      }
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      const wasConnected = this.connected;
      this.connected = false;
      this.m.linkUp.set(0);
      this.requeueInFlight();
      if (wasConnected) this.log.warn('audit syslog link down', { address: `${this.host}:${this.port}` });
      this.scheduleReconnect();
    });
  }

  private openUdp(): void {
    const type = net.isIPv6(this.host) ? 'udp6' : 'udp4';
    const u = dgram.createSocket(type);
    // Errors of a connectionless socket (ICMP unreachable, DNS) fail a send, counted there.
    u.on('error', (err) => this.log.warn('audit syslog udp error', { address: `${this.host}:${this.port}`, error: errorMessage(err) }));
    this.udp = u;
    this.connected = true;
    this.m.linkUp.set(1);
    this.m.connects.inc();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const { initialMs, maxMs } = this.config.backoff ?? { initialMs: 100, maxMs: 5000 };
    const delay = backoffDelay(this.attempt + 1, { baseMs: initialMs, maxMs, jitter: [0.5, 1] }, this.random);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Batches whose write did not complete may not have reached the kernel: back to the head, in order. */
  private requeueInFlight(): void {
    const batches = this.inFlight;
    if (batches.length === 0 || this.closed) return;
    this.inFlight = [];
    this.inFlightEvents = 0;
    this.inFlightBytes = 0;
    const items = batches.flat();
    this.queue.unshiftAll(items);
    for (const q of items) this.queuedBytes += q.bytes.length;
    this.updateGauges();
  }

  /** Events emitted in one event-loop turn go out together: one write for many, not one each. */
  private schedulePump(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.pump();
    });
  }

  /**
   * Hands batches of up to BATCH_BYTES to the link while the socket holds less than MAX_SOCKET_BUFFER;
   * each completed write (and 'drain') calls it again. UDP: one datagram at a time.
   */
  private pump(): void {
    if (!this.connected) return;
    if (this.queue.length === 0) this.reportDrops();
    if (this.queue.length === 0) {
      if (this.inFlight.length === 0) for (const w of this.drainWaiters.splice(0)) w();
      return;
    }
    if (this.protocol === 'udp') return this.sendUdp();
    const socket = this.socket;
    if (!socket) return;
    while (this.queue.length > 0 && socket.writableLength < MAX_SOCKET_BUFFER && this.socket === socket && this.connected) {
      const batch: Queued[] = [];
      let size = 0;
      while (this.queue.length > 0 && (batch.length === 0 || size + (this.queue.peek()?.bytes.length ?? 0) <= BATCH_BYTES)) {
        const q = this.queue.shift() as Queued;
        batch.push(q);
        size += q.bytes.length;
      }
      this.queuedBytes -= size;
      this.inFlight.push(batch);
      this.inFlightEvents += batch.length;
      this.inFlightBytes += size;
      this.updateGauges();
      socket.write(batch.length === 1 ? (batch[0] as Queued).bytes : Buffer.concat(batch.map((q) => q.bytes), size), (err) =>
        this.written(batch, size, err),
      );
    }
  }

  private written(batch: Queued[], size: number, err: Error | null | undefined): void {
    const i = this.inFlight.indexOf(batch);
    if (i < 0) return; // already back in the queue (the link closed first)
    if (err) return this.requeueInFlight();
    this.inFlight.splice(i, 1);
    this.inFlightEvents -= batch.length;
    this.inFlightBytes -= size;
    let sensitive = 0;
    for (const q of batch) if (q.exposure === 'SSH-PRIVX-SENSITIVE-AUDIT') sensitive += 1;
    if (sensitive > 0) this.m.sent.inc({ exposure: 'SSH-PRIVX-SENSITIVE-AUDIT' }, sensitive);
    if (batch.length > sensitive) this.m.sent.inc({ exposure: 'SSH-PRIVX-AUDIT' }, batch.length - sensitive);
    this.updateGauges();
    this.pump();
  }

  private sendUdp(): void {
    const u = this.udp;
    if (!u || this.inFlight.length > 0) return;
    const q = this.queue.shift();
    if (!q) return;
    this.queuedBytes -= q.bytes.length;
    const batch = [q];
    this.inFlight.push(batch);
    this.inFlightEvents = 1;
    this.inFlightBytes = q.bytes.length;
    this.updateGauges();
    u.send(q.bytes, this.port, this.host, (err) => {
      if (this.inFlight[0] !== batch) return;
      this.inFlight = [];
      this.inFlightEvents = 0;
      this.inFlightBytes = 0;
      if (err) this.drop('send_error', q.exposure, q.report);
      else this.m.sent.inc({ exposure: q.exposure });
      this.updateGauges();
      setImmediate(() => this.pump());
    });
  }
}
