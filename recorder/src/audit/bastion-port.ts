// The bastion's audit port (recorder/src/ssh/audit-port.ts) onto an AuditSink: maps its events to the
// wire model, splits data into chunks that fit a syslog message, and numbers each connection's events.
// Structural on the bastion's types, so that audit/ does not depend on ssh/.
import type { AuditSink } from './emitter.js';
import { encodeChunks, makeEvent, type AuditEventName, type DetailValue, type SessionIdentity } from './event.js';
import { DEFAULT_MAX_DATA_BYTES } from './session.js';

/** What the bastion emits (its BastionAuditEvent); fields beyond these are carried as details too. */
export interface BastionEventLike {
  readonly exposure: string;
  readonly event: string;
  readonly timestamp: string;
  readonly connectionId: string;
  readonly sessionId?: string;
  readonly username?: string;
  readonly targetUsername?: string;
  readonly hostId?: string;
  readonly hostAddress?: string;
  readonly remoteAddress: string;
  readonly channel?: number;
  readonly data?: Uint8Array;
  readonly request?: { readonly name: string; readonly [detail: string]: unknown };
  readonly reason?: string;
  readonly message?: string;
}

export interface BastionAuditPort {
  emit(event: BastionEventLike): void;
  close(): Promise<void>;
}

export interface BastionAuditOptions {
  /** @default 8192 */
  readonly maxDataBytes?: number;
  /** Connections whose sequence numbers are remembered; the oldest is forgotten beyond. @default 10000 */
  readonly maxConnections?: number;
}

const KNOWN_EVENTS = new Set<AuditEventName>([
  'session_start',
  'session_end',
  'connection_refused',
  'file_transfer',
  'events_dropped',
  'stdin',
  'stdout',
  'stderr',
  'channel_request',
  'global_request',
]);

/** Fields that make the identity or are handled on their own, never copied as details. */
const STRUCTURAL = new Set([
  'exposure',
  'event',
  'timestamp',
  'connectionId',
  'sessionId',
  'username',
  'targetUsername',
  'hostId',
  'hostAddress',
  'remoteAddress',
  'data',
  'request',
]);

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

export function createBastionAudit(sink: AuditSink, opts: BastionAuditOptions = {}): BastionAuditPort {
  const maxDataBytes = opts.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES;
  const maxConnections = opts.maxConnections ?? 10_000;
  const seqs = new Map<string, number>();
  const nextSeq = (connectionId: string): number => {
    const n = (seqs.get(connectionId) ?? 0) + 1;
    seqs.delete(connectionId);
    seqs.set(connectionId, n);
    if (seqs.size > maxConnections) {
      const oldest = seqs.keys().next().value;
      if (oldest !== undefined) seqs.delete(oldest);
    }
    return n;
  };

  const emit = (e: BastionEventLike): void => {
    const name = e.event as AuditEventName;
    if (!KNOWN_EVENTS.has(name)) return;
    const identity: SessionIdentity = {
      sessionID: e.sessionId ?? '',
      connectionID: e.connectionId,
      username: e.username ?? '',
      targetUsername: e.targetUsername ?? '',
      hostID: e.hostId ?? '',
      hostAddress: e.hostAddress ?? '',
      remoteAddress: e.remoteAddress,
    };
    const parsed = new Date(e.timestamp);
    const at = Number.isNaN(parsed.getTime()) ? new Date() : parsed;
    const details: Record<string, DetailValue> = {};
    for (const [k, v] of Object.entries(e)) {
      if (STRUCTURAL.has(k)) continue;
      const d = detail(v);
      if (d !== undefined) details[k] = d;
    }
    if (e.request) {
      for (const [k, v] of Object.entries(e.request)) {
        if (k === 'name') continue;
        const d = detail(v);
        if (d !== undefined && !(k in details)) details[k] = d;
      }
      details.request = e.request.name;
    }
    if (e.data !== undefined) {
      const chunks = encodeChunks(e.data, maxDataBytes);
      chunks.forEach((c, i) => {
        sink.emit(
          makeEvent(identity, name, at, {
            ...details,
            data: c.data,
            encoding: c.encoding,
            ...(chunks.length > 1 ? { part: i + 1, parts: chunks.length } : {}),
            seq: nextSeq(e.connectionId),
          }),
        );
      });
    } else {
      sink.emit(makeEvent(identity, name, at, { ...details, seq: nextSeq(e.connectionId) }));
    }
    if (name === 'session_end' || name === 'connection_refused') seqs.delete(e.connectionId);
  };

  return {
    emit: (e) => {
      try {
        emit(e);
      } catch {
        // The sink counts what it drops; a malformed event from the bastion must not end a session.
      }
    },
    close: () => sink.close(),
  };
}
