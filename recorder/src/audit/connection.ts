// The audit front end: what the bastion (and anything else that audits a connection) calls. createAudit()
// decides which events exist (the sensitive ones selected by `audit.events`, and only with syslog) and stamps
// the clock; Audit#open() gives each connection a ConnectionAudit that holds its identity, serialised once
// for its data events, and numbers its events. Every event goes to the sink as it happens.
import { createHash, type Hash } from 'node:crypto';
import { TextDecoder } from 'node:util';
import type { AuditSink } from './emitter.js';
import {
  dataEventJson,
  encodeJsonChunks,
  identityMembers,
  makeEvent,
  NO_SESSION,
  SENSITIVE_AUDIT,
  SENSITIVE_EVENTS,
  type AuditEvent,
  type AuditEventName,
  type DataStream,
  type DetailValue,
  type SensitiveEventName,
  type SessionIdentity,
} from './event.js';

/** Data bytes per event: rsyslog's maxMessageSize leaves room for this plus the common fields. */
export const DEFAULT_MAX_DATA_BYTES = 8192;

/** The part of the recorder's `audit` config that decides which sensitive events are sent. */
export interface AuditSelection {
  readonly enabled?: boolean;
  readonly events?: Iterable<string>;
  /** Present only when syslog is enabled. */
  readonly syslog?: unknown;
}

/**
 * Sensitive events to emit: those in `audit.events` when `audit.enabled` and syslog is configured;
 * none otherwise (without syslog they would have nowhere to go but a log, as in PrivX).
 */
export function selectSensitiveEvents(audit: AuditSelection | undefined): SensitiveEventName[] {
  if (!audit?.enabled || audit.syslog === undefined) return [];
  const wanted = new Set(audit.events ?? SENSITIVE_EVENTS);
  return SENSITIVE_EVENTS.filter((e) => wanted.has(e));
}

export interface AuditOptions {
  /** From selectSensitiveEvents(config.audit). @default none */
  readonly sensitiveEvents?: readonly SensitiveEventName[];
  /** Encoded data bytes per event; larger data is split. @default 8192 */
  readonly maxDataBytes?: number;
  /** ms since the epoch. @default Date.now */
  readonly now?: () => number;
  /** audit.bulkData: `summary` leaves bulk and binary data of channels without a pty out of data events. @default 'summary' */
  readonly bulkData?: 'summary' | 'events';
}

export interface Audit {
  /** The audit of one connection, with what is known of it so far (ConnectionAudit#identify adds the rest). */
  open(identity?: Partial<SessionIdentity>): ConnectionAudit;
  /** Closes the sink (it waits, bounded, for its queue to drain). */
  close(): Promise<void>;
}

export interface SessionStartDetails {
  readonly recording: boolean;
  /** The replica's name. */
  readonly recorder?: string;
}

export interface SessionEndDetails {
  /** Who ended it: `client_closed`, `target_closed`, `recorder_shutdown`, `recording_failed`. */
  readonly reason?: string;
  /** The last session channel's exit, as in its channel_exit event. */
  readonly exit?: ChannelExit;
  /** Bytes relayed from the person, and to them. */
  readonly bytesIn?: number;
  readonly bytesOut?: number;
}

/** How a session channel's command ended on the target: a status, or a signal. */
export interface ChannelExit {
  readonly status?: number;
  /** As the target's client library reports it, as in the manifest's `exitSignal` (e.g. `SIGKILL`). */
  readonly signal?: string;
  readonly coreDumped?: boolean;
}

/** What crossed a channel, never its content (non-sensitive). */
export interface FileTransfer {
  /** sftp, scp; rsync, git, tar: a stream transfer (its whole stream, the files in it not listed). */
  readonly protocol: 'sftp' | 'scp' | 'rsync' | 'git' | 'tar';
  readonly direction: 'upload' | 'download';
  /** The remote path. */
  readonly path: string;
  readonly size: number;
  /** Absent when it cannot be known exactly (the manifest's `note` says why). */
  readonly sha256?: string;
  /** The transfer ended the normal way (SFTP close ok, SCP final ack ok). */
  readonly complete: boolean;
}

/** A forwarded channel (non-sensitive): where it goes, never what it carries. */
export interface ForwardChannel {
  /** The person's channel number, as in the channel log and `ch-<n>.in.raw.gz`. */
  readonly channel: number;
  /** The policy's kind: `local` for direct-tcpip. */
  readonly kind: string;
  /** The SSH channel type or global request: `direct-tcpip`, `tcpip-forward`, ... */
  readonly type: string;
  /** `host:port` or a socket path, as the person asked for it. */
  readonly destination?: string;
  /** The originator the client named, `host:port`. */
  readonly origin?: string;
}

export interface ForwardRefusal extends Omit<ForwardChannel, 'channel'> {
  /** Absent for a global request (ssh -R). */
  readonly channel?: number;
  /** `forwarding_off` (the host's policy), `target_refused`, `client_refused` (the person's ssh refused a channel the target opened to it). */
  readonly reason: string;
  /** What the person was told (or would be, where SSH has no place for a reason). */
  readonly message: string;
}

/** What every connection of one Audit shares. */
interface Pipeline {
  readonly sink: AuditSink;
  /** The sink's emitJson(): data events go to it as JSON made by concatenation (dataEventJson()). */
  readonly emitJson: ((event: AuditEvent, json: string) => void) | undefined;
  readonly sensitive: ReadonlySet<SensitiveEventName>;
  readonly maxDataBytes: number;
  readonly bulkData: 'summary' | 'events';
  readonly now: () => number;
  /** now() as Date#toISOString(). */
  timestamp(): string;
}

export function createAudit(sink: AuditSink, opts: AuditOptions = {}): Audit {
  const maxDataBytes = opts.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES;
  encodeJsonChunks(new Uint8Array(0), maxDataBytes); // throws now, not on the first event, when it is unusable
  const now = opts.now ?? Date.now;
  // Events come in bursts within the same millisecond: the last one's timestamp is reused.
  let lastMs = Number.NaN;
  let lastIso = '';
  const pipeline: Pipeline = {
    sink,
    emitJson: sink.emitJson?.bind(sink),
    sensitive: new Set(opts.sensitiveEvents ?? []),
    maxDataBytes,
    bulkData: opts.bulkData ?? 'summary',
    now,
    timestamp: () => {
      const ms = now();
      if (ms !== lastMs) {
        lastIso = new Date(ms).toISOString();
        lastMs = ms;
      }
      return lastIso;
    },
  };
  return {
    open: (identity = {}) => new ConnectionAudit(pipeline, identity),
    close: () => sink.close(),
  };
}

/**
 * One connection's audit. Never throws and never blocks: the sink drops (and counts) what it cannot take.
 * `seq` numbers the connection's events from 1 and never repeats within it (refusals before login included),
 * so a SIEM can order them and see gaps.
 */
export class ConnectionAudit {
  private identity: SessionIdentity;
  /** identityMembers(identity), made again only when the identity changes. */
  private members: string;
  private seq = 0;

  /** Made by Audit#open. */
  constructor(
    private readonly to: Pipeline,
    identity: Partial<SessionIdentity>,
  ) {
    this.identity = { ...NO_SESSION, ...identity };
    this.members = identityMembers(this.identity);
  }

  /** What became known of the connection (the person, the target, the session); on every later event. */
  identify(more: Partial<SessionIdentity>): void {
    this.identity = { ...this.identity, ...more };
    this.members = identityMembers(this.identity);
  }

  /** Whether the event is sent at all: lets the caller skip the work for data nobody will see. */
  wants(event: SensitiveEventName): boolean {
    return this.to.sensitive.has(event);
  }

  sessionStart(d: SessionStartDetails): void {
    this.send('session_start', { recording: d.recording, ...(d.recorder !== undefined ? { recorder: d.recorder } : {}) });
  }

  sessionEnd(d: SessionEndDetails = {}): void {
    this.send('session_end', {
      ...(d.reason !== undefined ? { reason: d.reason } : {}),
      ...(d.exit ? exitDetails(d.exit) : {}),
      ...(d.bytesIn !== undefined ? { bytesIn: d.bytesIn } : {}),
      ...(d.bytesOut !== undefined ? { bytesOut: d.bytesOut } : {}),
    });
  }

  channelExit(channel: number, exit: ChannelExit): void {
    this.send('channel_exit', { channel, ...exitDetails(exit) });
  }

  /**
   * The connection, or the session it asked for, was refused: `reason` is the code, `message` what the person
   * saw, `detail` what only operators see (which host, its address).
   */
  refused(reason: string, message?: string, detail?: string): void {
    this.send('connection_refused', { reason, ...(message !== undefined ? { message } : {}), ...(detail !== undefined ? { detail } : {}) });
  }

  fileTransfer(channel: number, t: FileTransfer): void {
    this.send('file_transfer', {
      channel,
      protocol: t.protocol,
      direction: t.direction,
      path: t.path,
      size: t.size,
      ...(t.sha256 !== undefined ? { sha256: t.sha256 } : {}),
      complete: t.complete,
    });
  }

  forwardOpen(f: ForwardChannel): void {
    this.send('forward_open', forwardDetails(f));
  }

  forwardClose(f: ForwardChannel & { readonly bytesIn: number; readonly bytesOut: number }): void {
    this.send('forward_close', { ...forwardDetails(f), bytesIn: f.bytesIn, bytesOut: f.bytesOut });
  }

  forwardRefused(f: ForwardRefusal): void {
    this.send('forward_refused', { ...forwardDetails(f), reason: f.reason, message: f.message });
  }

  /** A channel request (pty-req, shell, exec, subsystem, env, window-change, signal, ...) and its fields. */
  channelRequest(channel: number, request: string, details: Readonly<Record<string, unknown>> = {}): void {
    if (!this.wants('channel_request')) return;
    this.send('channel_request', requestDetails({ channel }, request, details));
  }

  /** A global request (tcpip-forward, keepalive@openssh.com, ...) and its fields. */
  globalRequest(request: string, details: Readonly<Record<string, unknown>> = {}): void {
    if (!this.wants('global_request')) return;
    this.send('global_request', requestDetails({}, request, details));
  }

  /**
   * The data events of one session channel under audit.bulkData. With `summary`, on a channel without a pty,
   * a bulk transfer's streams (`bulk`: rsync, git, tar) send no data events at all and other streams leave out
   * chunks that are not UTF-8 text and text beyond the stream's budget (TEXT_BURST_BYTES, then
   * TEXT_BYTES_PER_SECOND); what was left out is one `data_summary` event per stream at close().
   */
  channelData(channel: number, opts: { readonly pty: boolean; readonly bulk?: string }): ChannelData {
    const summarise = this.to.bulkData === 'summary' && !opts.pty;
    return new ChannelData(this, channel, summarise, opts.bulk, this.to.now);
  }

  /** A data_summary event (ChannelData#close). */
  dataSummary(channel: number, stream: DataStream, s: { bytes: number; sha256: string; omittedBytes: number; omittedChunks: number; reason: string }): void {
    this.send('data_summary', { channel, stream, bytes: s.bytes, sha256: s.sha256, omittedBytes: s.omittedBytes, omittedChunks: s.omittedChunks, reason: s.reason });
  }

  /**
   * Bytes of a session channel as they pass, split into several events when large; nearly all of the traffic.
   * Read before this returns: the caller may reuse the buffer.
   */
  data(channel: number, stream: DataStream, bytes: Uint8Array): void {
    if (!this.wants(stream) || bytes.byteLength === 0) return;
    try {
      const chunks = encodeJsonChunks(bytes, this.to.maxDataBytes);
      const parts = chunks.length;
      const emitJson = this.to.emitJson;
      if (emitJson === undefined) {
        const at = new Date(this.to.now());
        chunks.forEach((chunk, i) => {
          this.to.sink.emit(
            makeEvent(this.identity, stream, at, {
              channel,
              data: chunk.data,
              encoding: chunk.encoding,
              ...(parts > 1 ? { part: i + 1, parts } : {}),
              seq: ++this.seq,
            }),
          );
        });
        return;
      }
      // The JSON by concatenation from the serialised identity; the event object beside it is what a CEF sink encodes.
      const timestamp = this.to.timestamp();
      const id = this.identity;
      for (let i = 0; i < parts; i++) {
        const chunk = chunks[i]!;
        const seq = ++this.seq;
        const details: Record<string, DetailValue> = { channel, data: chunk.data, encoding: chunk.encoding };
        if (parts > 1) {
          details.part = i + 1;
          details.parts = parts;
        }
        details.seq = seq;
        const event: AuditEvent = {
          sessionID: id.sessionID,
          connectionID: id.connectionID,
          username: id.username,
          targetUsername: id.targetUsername,
          hostID: id.hostID,
          hostAddress: id.hostAddress,
          remoteAddress: id.remoteAddress,
          exposure: SENSITIVE_AUDIT,
          timestamp,
          event: stream,
          details,
        };
        emitJson(event, dataEventJson(this.members, stream, timestamp, { channel, chunk, part: i + 1, parts, seq }));
      }
    } catch {
      // The sink counts what it drops; nothing may escape into the session.
    }
  }

  private send(event: AuditEventName, details: Readonly<Record<string, DetailValue>>): void {
    try {
      this.to.sink.emit(makeEvent(this.identity, event, new Date(this.to.now()), { ...details, seq: ++this.seq }));
    } catch {
      // As in data().
    }
  }
}

/**
 * Text of a channel without a pty goes out as data events up to a budget per stream: a burst of
 * TEXT_BURST_BYTES, refilled at TEXT_BYTES_PER_SECOND. What a person reads (`ssh host tail -f log`, a
 * command's output) stays within it; a `cat` of a 64 MiB log does not, and the rest of it is left out of
 * the events and counted in the stream's data_summary (reason `text_rate`). The recording keeps every byte.
 */
export const TEXT_BURST_BYTES = 1 << 20;
export const TEXT_BYTES_PER_SECOND = 256 * 1024;

/** One stream's summary state: every byte hashed, what was left out counted. */
interface StreamSummary {
  readonly hash: Hash;
  bytes: number;
  omittedBytes: number;
  omittedChunks: number;
  /** What was left out for not being UTF-8, and for going over the text budget. */
  binaryBytes: number;
  overRateBytes: number;
  /** The text budget: bytes that may still go out as events, as of `budgetAt` (ms). */
  budget: number;
  budgetAt: number;
  /** Streaming, so a character split across chunks is still text. */
  decoder: TextDecoder;
}

/** The data events of one session channel (ConnectionAudit#channelData). */
export class ChannelData {
  private readonly streams = new Map<DataStream, StreamSummary>();

  constructor(
    private readonly audit: ConnectionAudit,
    private readonly channel: number,
    private readonly summarise: boolean,
    /** The bulk transfer's protocol: every chunk is left out. */
    private readonly bulk: string | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether any data event of `stream` is wanted at all. */
  wants(stream: DataStream): boolean {
    return this.audit.wants(stream);
  }

  data(stream: DataStream, bytes: Buffer): void {
    if (!this.audit.wants(stream) || bytes.length === 0) return;
    if (!this.summarise) return this.audit.data(this.channel, stream, bytes);
    let s = this.streams.get(stream);
    if (s === undefined) {
      s = {
        hash: createHash('sha256'),
        bytes: 0,
        omittedBytes: 0,
        omittedChunks: 0,
        binaryBytes: 0,
        overRateBytes: 0,
        budget: TEXT_BURST_BYTES,
        budgetAt: this.now(),
        decoder: new TextDecoder('utf-8', { fatal: true }),
      };
      this.streams.set(stream, s);
    }
    s.hash.update(bytes);
    s.bytes += bytes.length;
    if (this.bulk === undefined) {
      if (!isText(s, bytes)) s.binaryBytes += bytes.length;
      else if (withinBudget(s, bytes.length, this.now())) return this.audit.data(this.channel, stream, bytes);
      else s.overRateBytes += bytes.length;
    }
    s.omittedBytes += bytes.length;
    s.omittedChunks += 1;
  }

  /** The summaries of the streams that left something out. */
  close(): void {
    for (const [stream, s] of this.streams) {
      if (s.omittedBytes === 0) continue;
      this.audit.dataSummary(this.channel, stream, {
        bytes: s.bytes,
        sha256: s.hash.digest('hex'),
        omittedBytes: s.omittedBytes,
        omittedChunks: s.omittedChunks,
        reason: this.bulk !== undefined ? `bulk_transfer:${this.bulk}` : [s.binaryBytes > 0 ? 'binary' : '', s.overRateBytes > 0 ? 'text_rate' : ''].filter(Boolean).join('+'),
      });
    }
    this.streams.clear();
  }
}

/** Takes `n` bytes from the stream's text budget if it has them (refilled for the time since it was last looked at). */
function withinBudget(s: StreamSummary, n: number, nowMs: number): boolean {
  if (nowMs > s.budgetAt) {
    s.budget = Math.min(TEXT_BURST_BYTES, s.budget + ((nowMs - s.budgetAt) / 1000) * TEXT_BYTES_PER_SECOND);
    s.budgetAt = nowMs;
  }
  if (s.budget < n) return false;
  s.budget -= n;
  return true;
}

/**
 * Whether the chunk is UTF-8 text, continuing the characters of the chunks before it. A chunk that fails only
 * because the chunk before it ended inside a character (binary data that happened to end like a lead byte) is
 * tried again on its own: its text is not left out for its neighbour's last bytes.
 */
function isText(s: StreamSummary, bytes: Buffer): boolean {
  try {
    s.decoder.decode(bytes, { stream: true });
    return true;
  } catch {
    s.decoder = new TextDecoder('utf-8', { fatal: true });
    try {
      s.decoder.decode(bytes, { stream: true });
      return true;
    } catch {
      s.decoder = new TextDecoder('utf-8', { fatal: true });
      return false;
    }
  }
}

function exitDetails(x: ChannelExit): Record<string, DetailValue> {
  return {
    ...(x.status !== undefined ? { exitStatus: x.status } : {}),
    ...(x.signal !== undefined ? { exitSignal: x.signal } : {}),
    ...(x.coreDumped ? { coreDumped: true } : {}),
  };
}

function forwardDetails(f: Omit<ForwardChannel, 'channel'> & { readonly channel?: number }): Record<string, DetailValue> {
  return {
    ...(f.channel !== undefined ? { channel: f.channel } : {}),
    kind: f.kind,
    type: f.type,
    ...(f.destination !== undefined ? { destination: f.destination } : {}),
    ...(f.origin !== undefined ? { origin: f.origin } : {}),
  };
}

/** `into`, then the request's fields as the wire can carry them (never replacing one already there), then `request`. */
function requestDetails(into: Record<string, DetailValue>, request: string, details: Readonly<Record<string, unknown>>): Record<string, DetailValue> {
  for (const [k, v] of Object.entries(details)) {
    const d = detail(v);
    if (d !== undefined && !(k in into)) into[k] = d;
  }
  into.request = request;
  return into;
}

/** A detail as the wire can carry it: scalars and string lists as they are, bytes as base64, the rest as JSON. */
function detail(v: unknown): DetailValue | undefined {
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
