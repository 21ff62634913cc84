// The bastion's audit events (what recorder/src/ssh emits through its AuditPort) onto an AuditSink: maps
// them to the wire model, splits data into chunks that fit a syslog message, and numbers each
// connection's events. Data events, nearly all of the traffic, take a fast path: the connection's
// identity is serialized once and each event's JSON is concatenated from it (dataEventJson()).
import type { AuditSink } from './emitter.js';
import {
  dataEventJson,
  encodeJsonChunks,
  identityMembers,
  makeEvent,
  SENSITIVE_AUDIT,
  type AuditEvent,
  type AuditEventName,
  type DataStream,
  type DetailValue,
  type SessionIdentity,
} from './event.js';
import { DEFAULT_MAX_DATA_BYTES } from './session.js';

export type AuditExposure = 'SSH-PRIVX-AUDIT' | 'SSH-PRIVX-SENSITIVE-AUDIT';

export type BastionAuditEventName =
  | 'session_start'
  | 'session_end'
  | 'connection_refused'
  | 'file_transfer'
  | 'stdin'
  | 'stdout'
  | 'stderr'
  | 'channel_request'
  | 'global_request';

/** What the bastion tells the audit pipeline. A type alias (not an interface) so that spreads of it type-check field by field. */
export type BastionAuditEvent = {
  readonly exposure: AuditExposure;
  readonly event: BastionAuditEventName;
  /** ISO-8601. */
  readonly timestamp: string;
  readonly connectionId: string;
  readonly sessionId?: string;
  /** The person (users[].name); absent before authentication. */
  readonly username?: string;
  readonly targetUsername?: string;
  /** hosts[].name */
  readonly hostId?: string;
  /** The target's `address`, or `address:port` when the port is not 22. */
  readonly hostAddress?: string;
  /** `ip:port` of the person. */
  readonly remoteAddress: string;
  /** The session's channel number (as in the trail). */
  readonly channel?: number;
  /** stdin / stdout / stderr bytes (sensitive). */
  readonly data?: Buffer;
  /** channel_request / global_request: the request name and its details (sensitive). */
  readonly request?: { readonly name: string; readonly accepted?: boolean; readonly [detail: string]: unknown };
  /** connection_refused: the reason code (metrics label) and the message the person saw. */
  readonly reason?: string;
  readonly message?: string;
  /** session_start: whether the host is recorded, and by which replica. */
  readonly recording?: boolean;
  readonly recorder?: string;
  /** session_end: bytes relayed each way. */
  readonly bytesIn?: number;
  readonly bytesOut?: number;
} & Partial<TransferAudit>;

/** file_transfer: what crossed a channel, never its content (non-sensitive). */
export type TransferAudit = {
  readonly protocol: 'sftp' | 'scp';
  readonly direction: 'upload' | 'download';
  /** The remote path. */
  readonly path: string;
  readonly size: number;
  /** Absent when it cannot be known exactly (see the manifest's `note`). */
  readonly sha256?: string;
  /** The transfer ended the normal way (SFTP close ok, SCP final ack ok). */
  readonly complete: boolean;
};

/** @deprecated the old structural name of BastionAuditEvent. */
export type BastionEventLike = BastionAuditEvent;

export interface BastionAuditPort {
  /** Never blocks, never throws. */
  emit(event: BastionAuditEvent): void;
  close(): Promise<void>;
}

export interface BastionAuditOptions {
  /** @default 8192 */
  readonly maxDataBytes?: number;
  /** Connections whose sequence numbers are remembered; the oldest is forgotten beyond. @default 10000 */
  readonly maxConnections?: number;
  /**
   * Data events through dataEventJson() when the sink takes pre-encoded JSON. false maps every event the
   * general way: the reference the fast path is tested against. @default true
   */
  readonly fastPath?: boolean;
}

const KNOWN_EVENTS = new Set<string>([
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

/** One connection: its sequence, and its identity as last seen with that identity serialized. */
interface Connection {
  seq: number;
  who: CachedIdentity | undefined;
}

interface CachedIdentity {
  readonly identity: SessionIdentity;
  readonly members: string;
}

function identityOf(e: BastionAuditEvent): SessionIdentity {
  return {
    sessionID: e.sessionId ?? '',
    connectionID: e.connectionId,
    username: e.username ?? '',
    targetUsername: e.targetUsername ?? '',
    hostID: e.hostId ?? '',
    hostAddress: e.hostAddress ?? '',
    remoteAddress: e.remoteAddress,
  };
}

/** The identity changes while a connection authenticates and picks its host; it is rebuilt when it did. */
function sameIdentity(id: SessionIdentity, e: BastionAuditEvent): boolean {
  return (
    id.sessionID === (e.sessionId ?? '') &&
    id.username === (e.username ?? '') &&
    id.targetUsername === (e.targetUsername ?? '') &&
    id.hostID === (e.hostId ?? '') &&
    id.hostAddress === (e.hostAddress ?? '') &&
    id.remoteAddress === e.remoteAddress
  );
}

/** The fields a data event may have for the fast path: anything else becomes a detail, the general way. */
const DATA_EVENT_FIELDS = new Set([...[...STRUCTURAL].filter((f) => f !== 'request'), 'channel']);

/** Whether dataEventJson() makes exactly what the general mapping would: a data event whose only detail is `channel`. */
function isPlainDataEvent(e: BastionAuditEvent): e is BastionAuditEvent & { readonly event: DataStream; readonly data: Buffer } {
  if (e.data === undefined || (e.event !== 'stdout' && e.event !== 'stderr' && e.event !== 'stdin')) return false;
  if (e.channel !== undefined && (typeof e.channel !== 'number' || !Number.isFinite(e.channel))) return false;
  for (const k in e) {
    if (!DATA_EVENT_FIELDS.has(k) && (e as Record<string, unknown>)[k] !== undefined) return false;
  }
  return true;
}

export function createBastionAudit(sink: AuditSink, opts: BastionAuditOptions = {}): BastionAuditPort {
  const maxDataBytes = opts.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES;
  const maxConnections = opts.maxConnections ?? 10_000;
  const emitJson = opts.fastPath === false ? undefined : sink.emitJson?.bind(sink);
  const connections = new Map<string, Connection>();
  /** The connection's state, made the most recent (the oldest is forgotten beyond maxConnections). */
  const connection = (connectionId: string): Connection => {
    const c = connections.get(connectionId) ?? { seq: 0, who: undefined };
    connections.delete(connectionId);
    connections.set(connectionId, c);
    if (connections.size > maxConnections) {
      const oldest = connections.keys().next().value;
      if (oldest !== undefined) connections.delete(oldest);
    }
    return c;
  };

  // Events come in bursts stamped with the same millisecond: the last parse is reused.
  let lastRaw = '';
  let lastIso = '';
  const timestampOf = (raw: string): string => {
    if (raw !== lastRaw) {
      const parsed = new Date(raw);
      lastIso = (Number.isNaN(parsed.getTime()) ? new Date() : parsed).toISOString();
      lastRaw = raw;
    }
    return lastIso;
  };

  const emitGeneral = (e: BastionAuditEvent, name: AuditEventName, c: Connection): void => {
    const identity = identityOf(e);
    const at = new Date(timestampOf(e.timestamp));
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
      const chunks = encodeJsonChunks(e.data, maxDataBytes);
      chunks.forEach((ch, i) => {
        sink.emit(
          makeEvent(identity, name, at, {
            ...details,
            data: ch.data,
            encoding: ch.encoding,
            ...(chunks.length > 1 ? { part: i + 1, parts: chunks.length } : {}),
            seq: (c.seq += 1),
          }),
        );
      });
    } else {
      sink.emit(makeEvent(identity, name, at, { ...details, seq: (c.seq += 1) }));
    }
  };

  /** A data event without the general mapping: identity members from the cache, JSON by concatenation. */
  const emitData = (
    e: BastionAuditEvent & { readonly event: DataStream; readonly data: Buffer },
    c: Connection,
    json: (event: AuditEvent, json: string) => void,
  ): void => {
    let who = c.who;
    if (who === undefined || who.identity.connectionID !== e.connectionId || !sameIdentity(who.identity, e)) {
      const identity = identityOf(e);
      who = { identity, members: identityMembers(identity) };
      c.who = who;
    }
    const timestamp = timestampOf(e.timestamp);
    const chunks = encodeJsonChunks(e.data, maxDataBytes);
    const parts = chunks.length;
    const channel = e.channel;
    const id = who.identity;
    for (let i = 0; i < parts; i++) {
      const chunk = chunks[i]!;
      const seq = (c.seq += 1);
      const details: Record<string, DetailValue> = {};
      if (channel !== undefined) details.channel = channel;
      details.data = chunk.data;
      details.encoding = chunk.encoding;
      if (parts > 1) {
        details.part = i + 1;
        details.parts = parts;
      }
      details.seq = seq;
      // The event object is what a CEF sink encodes; a syslog sink sends the JSON as it is.
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
        event: e.event,
        details,
      };
      json(event, dataEventJson(who.members, e.event, timestamp, { channel, chunk, part: i + 1, parts, seq }));
    }
  };

  const emit = (e: BastionAuditEvent): void => {
    if (!KNOWN_EVENTS.has(e.event)) return;
    const name = e.event as AuditEventName;
    const c = connection(e.connectionId);
    if (emitJson !== undefined && isPlainDataEvent(e)) emitData(e, c, emitJson);
    else emitGeneral(e, name, c);
    if (name === 'session_end' || name === 'connection_refused') connections.delete(e.connectionId);
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
