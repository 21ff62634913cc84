// What the bastion calls while a session runs: one SessionAudit per authenticated connection.
// It decides which events exist (audit.enabled, audit.events, syslog configured), stamps the clock
// and a per-session sequence number, splits large data, and hands each event to the sink.
import type { AuditSink } from './emitter.js';
import {
  encodeChunks,
  makeEvent,
  NO_SESSION,
  SENSITIVE_EVENTS,
  type AuditEventName,
  type DataStream,
  type DetailValue,
  type Details,
  type SensitiveEventName,
  type SessionIdentity,
} from './event.js';

/** Data bytes per event: rsyslog's maxMessageSize leaves room for this plus the common fields. */
export const DEFAULT_MAX_DATA_BYTES = 8192;

/** The part of the recorder's `audit` config that decides which sensitive events are sent. */
export interface AuditSelection {
  readonly enabled?: boolean;
  readonly events?: readonly string[];
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

export interface SessionAuditOptions {
  readonly sink: AuditSink;
  readonly identity: SessionIdentity;
  /** From selectSensitiveEvents(config.audit). */
  readonly sensitiveEvents: readonly SensitiveEventName[];
  /** Encoded data bytes per event; larger data is split. @default 8192 */
  readonly maxDataBytes?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

export interface SessionStartDetails {
  readonly recording: boolean;
  readonly recorder?: string;
}

export interface SessionEndDetails {
  readonly reason?: string;
  readonly bytesIn?: number;
  readonly bytesOut?: number;
}

export interface FileTransferDetails {
  readonly channel: number;
  readonly protocol: 'sftp' | 'scp';
  readonly direction: 'upload' | 'download';
  readonly path: string;
  readonly size: number;
  readonly sha256?: string;
}

export class SessionAudit {
  private seq = 0;
  private readonly sensitive: ReadonlySet<SensitiveEventName>;
  private readonly maxDataBytes: number;
  private readonly now: () => Date;

  constructor(private readonly opts: SessionAuditOptions) {
    this.sensitive = new Set(opts.sensitiveEvents);
    this.maxDataBytes = opts.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES;
    this.now = opts.now ?? (() => new Date());
  }

  /** Whether an event would be sent: lets the bastion skip copying data nobody will see. */
  wants(event: SensitiveEventName): boolean {
    return this.sensitive.has(event);
  }

  sessionStart(d: SessionStartDetails): void {
    this.send('session_start', { recording: d.recording, ...(d.recorder ? { recorder: d.recorder } : {}) });
  }

  sessionEnd(d: SessionEndDetails = {}): void {
    this.send('session_end', compact({ reason: d.reason, bytesIn: d.bytesIn, bytesOut: d.bytesOut }));
  }

  fileTransfer(d: FileTransferDetails): void {
    this.send(
      'file_transfer',
      compact({ channel: d.channel, protocol: d.protocol, direction: d.direction, path: d.path, size: d.size, sha256: d.sha256 }),
    );
  }

  /** Bytes of a session channel, as they pass; split into several events when large. */
  data(channel: number, stream: DataStream, bytes: Uint8Array): void {
    if (!this.wants(stream) || bytes.byteLength === 0) return;
    const chunks = encodeChunks(bytes, this.maxDataBytes);
    chunks.forEach((c, i) => {
      this.send(stream, {
        channel,
        data: c.data,
        encoding: c.encoding,
        ...(chunks.length > 1 ? { part: i + 1, parts: chunks.length } : {}),
      });
    });
  }

  /** A channel request (pty-req, shell, exec, subsystem, env, window-change, signal, exit-status, ...). */
  channelRequest(channel: number, request: string, details: Details = {}): void {
    if (!this.wants('channel_request')) return;
    this.send('channel_request', { ...details, channel, request });
  }

  /** A global request (tcpip-forward, keepalive@openssh.com, ...). */
  globalRequest(request: string, details: Details = {}): void {
    if (!this.wants('global_request')) return;
    this.send('global_request', { ...details, request });
  }

  private send(event: AuditEventName, details: Details): void {
    this.seq += 1;
    this.opts.sink.emit(makeEvent(this.opts.identity, event, this.now(), { ...details, seq: this.seq }));
  }
}

/** A refusal before any session exists: unknown user, unknown host, pinned key mismatch, spool full. */
export function connectionRefused(
  sink: AuditSink,
  identity: Partial<SessionIdentity>,
  reason: string,
  now: Date = new Date(),
): void {
  sink.emit(makeEvent({ ...NO_SESSION, ...identity }, 'connection_refused', now, { reason }));
}

function compact(d: Record<string, DetailValue | undefined>): Details {
  const out: Record<string, DetailValue> = {};
  for (const [k, v] of Object.entries(d)) if (v !== undefined) out[k] = v;
  return out;
}
