// The audit event model (CONTRACT §5): what a SIEM learns about a session as it happens.
// Pure: builders take the clock from the caller; nothing here does I/O.
import { isUtf8 } from 'node:buffer';
import { SSH_EVENT_KINDS, type SshEventKind } from '../../../common/recorder-config/types.js';

/** Marker of events that carry no session content (start, end, refusals, transfers, drops). */
export const AUDIT = 'SSH-PRIVX-AUDIT';
/** Marker of events that carry session content (keystrokes, output, request details). */
export const SENSITIVE_AUDIT = 'SSH-PRIVX-SENSITIVE-AUDIT';
export type Exposure = typeof AUDIT | typeof SENSITIVE_AUDIT;

/**
 * Every audit event there is, with its exposure. The sensitive ones are the SSH events that `audit.events`
 * in the recorder's config selects among: their names are the config contract's (common/recorder-config),
 * in its order; the others are named here. Each name is written once.
 */
const NON_SENSITIVE = [
  'session_start',
  'session_end',
  // A session channel's end as the target reported it: exit status, or the signal that killed the command.
  'channel_exit',
  // What a stream's data events left out (bulk transfers, binary data: audit.bulkData), with the stream's sha256.
  'data_summary',
  'connection_refused',
  'file_transfer',
  'events_dropped',
  // A forwarded channel (ssh -L/-D/-W/-J) opened and closed: where to, and the bytes; never its content.
  'forward_open',
  'forward_close',
  // A forwarding the host's policy does not allow (or that is not relayed), with the message the person got.
  'forward_refused',
  // The auditor's console (srec console): a person opened a session's recording, or downloaded a file it
  // transferred. The identity fields are the viewed session's; `viewer` says who looked.
  'recording_viewed',
  'file_downloaded',
] as const;

export type SensitiveEventName = SshEventKind;
export type AuditEventName = (typeof NON_SENSITIVE)[number] | SensitiveEventName;
export type DataStream = 'stdin' | 'stdout' | 'stderr';

/** The events `audit.events` can select; every one of them is sensitive. */
export const SENSITIVE_EVENTS: readonly SensitiveEventName[] = SSH_EVENT_KINDS;

const EXPOSURE: ReadonlyMap<AuditEventName, Exposure> = new Map<AuditEventName, Exposure>([
  ...NON_SENSITIVE.map((e) => [e, AUDIT] as const),
  ...SSH_EVENT_KINDS.map((e) => [e, SENSITIVE_AUDIT] as const),
]);

export interface SessionIdentity {
  readonly sessionID: string;
  readonly connectionID: string;
  /** The person, from the key they authenticated with. */
  readonly username: string;
  readonly targetUsername: string;
  /** The host's name in the recorder's `hosts` list. */
  readonly hostID: string;
  /** `address` or `address:port` when the port is not 22. */
  readonly hostAddress: string;
  /** The client's `ip:port`. */
  readonly remoteAddress: string;
}

export type DetailValue = string | number | boolean | null | readonly string[];
export type Details = Readonly<Record<string, DetailValue>>;

export interface AuditEvent extends SessionIdentity {
  readonly exposure: Exposure;
  /** ISO 8601, UTC. */
  readonly timestamp: string;
  readonly event: AuditEventName;
  /** Event-specific fields, after the common ones on the wire; they never replace a common field. */
  readonly details: Details;
}

export const NO_SESSION: SessionIdentity = {
  sessionID: '',
  connectionID: '',
  username: '',
  targetUsername: '',
  hostID: '',
  hostAddress: '',
  remoteAddress: '',
};

/**
 * The one way to make an event: the exposure follows from the event's name, so that no caller can
 * label session content as non-sensitive.
 */
export function makeEvent(identity: SessionIdentity, event: AuditEventName, at: Date, details: Details = {}): AuditEvent {
  return {
    sessionID: identity.sessionID,
    connectionID: identity.connectionID,
    username: identity.username,
    targetUsername: identity.targetUsername,
    hostID: identity.hostID,
    hostAddress: identity.hostAddress,
    remoteAddress: identity.remoteAddress,
    exposure: EXPOSURE.get(event) ?? AUDIT,
    timestamp: at.toISOString(),
    event,
    details,
  };
}

/** The JSON object of CONTRACT §5, `audit-exposure` first so that it survives any truncation. */
export function toWireObject(e: AuditEvent): Record<string, DetailValue> {
  const wire: Record<string, DetailValue> = {
    'audit-exposure': e.exposure,
    timestamp: e.timestamp,
    sessionID: e.sessionID,
    connectionID: e.connectionID,
    username: e.username,
    targetUsername: e.targetUsername,
    hostID: e.hostID,
    hostAddress: e.hostAddress,
    remoteAddress: e.remoteAddress,
    connectionType: 'SSH',
    event: e.event,
  };
  for (const [k, v] of Object.entries(e.details)) {
    if (!(k in wire)) wire[k] = v;
  }
  return wire;
}

export function toJson(e: AuditEvent): string {
  return JSON.stringify(toWireObject(e));
}

/**
 * A session's identity as the JSON members toJson() writes between `timestamp` and `event`
 * (`"sessionID":...,"connectionType":"SSH"`): serialized once per connection, since it does not change
 * while the connection lasts, and reused by dataEventJson() for every data event.
 */
export function identityMembers(id: SessionIdentity): string {
  return (
    `"sessionID":${JSON.stringify(id.sessionID)},"connectionID":${JSON.stringify(id.connectionID)},` +
    `"username":${JSON.stringify(id.username)},"targetUsername":${JSON.stringify(id.targetUsername)},` +
    `"hostID":${JSON.stringify(id.hostID)},"hostAddress":${JSON.stringify(id.hostAddress)},` +
    `"remoteAddress":${JSON.stringify(id.remoteAddress)},"connectionType":"SSH"`
  );
}

/** One chunk of a data event: `channel` (when known), the chunk, `part`/`parts` when split, `seq`. */
export interface DataEventFields {
  readonly channel: number | undefined;
  readonly chunk: JsonDataChunk;
  /** 1-based; with `parts` > 1 only. */
  readonly part: number;
  readonly parts: number;
  readonly seq: number;
}

/**
 * toJson() of a stdin/stdout/stderr event whose details are `channel`, `data`, `encoding`, `part`/`parts`
 * and `seq`, in that order, built by concatenation from identityMembers(): the same bytes as
 * toJson(makeEvent(...)) (recorder/test/audit-connection.test.ts holds the two side by side) without
 * the wire object. `timestamp` must be Date#toISOString() output (nothing in it needs escaping) and
 * `channel` a finite number.
 */
export function dataEventJson(identity: string, event: DataStream, timestamp: string, f: DataEventFields): string {
  return (
    `{"audit-exposure":"${SENSITIVE_AUDIT}","timestamp":"${timestamp}",${identity},"event":"${event}"` +
    (f.channel === undefined ? '' : `,"channel":${f.channel}`) +
    `,"data":${f.chunk.json},"encoding":"${f.chunk.encoding}"` +
    (f.parts > 1 ? `,"part":${f.part},"parts":${f.parts}` : '') +
    `,"seq":${f.seq}}`
  );
}

export interface DataChunk {
  readonly data: string;
  readonly encoding: 'utf8' | 'base64';
}

/** A DataChunk with `data` already as a JSON string literal (quotes included), as dataEventJson() needs it. */
export interface JsonDataChunk extends DataChunk {
  readonly json: string;
}

/**
 * Splits session bytes into chunks whose encoded form (JSON string contents, or base64) is at most
 * `maxBytes`, so that no syslog message outgrows what rsyslog accepts (it would truncate it).
 * A chunk is UTF-8 text when its bytes are valid UTF-8, else base64.
 */
export function encodeChunks(bytes: Uint8Array, maxBytes: number): DataChunk[] {
  return encodeJsonChunks(bytes, maxBytes).map(({ data, encoding }) => ({ data, encoding }));
}

/** encodeChunks(), each chunk's data also as the JSON string literal that sizing it produced anyway. */
export function encodeJsonChunks(bytes: Uint8Array, maxBytes: number): JsonDataChunk[] {
  if (!Number.isInteger(maxBytes) || maxBytes < 16) throw new Error(`maxDataBytes: ${maxBytes} is not an integer of at least 16`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: JsonDataChunk[] = [];
  let at = 0;
  while (at < buf.length) {
    const text = textChunk(buf, at, maxBytes);
    if (text) {
      chunks.push({ data: text.data, encoding: 'utf8', json: text.json });
      at += text.length;
      continue;
    }
    const n = Math.min(buf.length - at, Math.floor(maxBytes / 4) * 3);
    const data = buf.subarray(at, at + n).toString('base64');
    chunks.push({ data, encoding: 'base64', json: `"${data}"` });
    at += n;
  }
  return chunks;
}

/** The longest valid UTF-8 prefix from `at` whose JSON-escaped size fits, or undefined if there is none. */
function textChunk(buf: Buffer, at: number, maxBytes: number): { data: string; json: string; length: number } | undefined {
  let len = Math.min(buf.length - at, maxBytes);
  // A cut inside a multi-byte character leaves 1-3 bytes of it: back off to the character's start.
  let valid = -1;
  for (let back = 0; back <= 3 && len - back > 0; back++) {
    if (isUtf8(buf.subarray(at, at + len - back))) {
      valid = len - back;
      break;
    }
  }
  if (valid <= 0) return undefined;
  len = valid;
  // Escaping grows control characters (ESC is \u001b): shrink until the escaped text fits.
  for (;;) {
    const data = buf.subarray(at, at + len).toString('utf8');
    const json = JSON.stringify(data);
    const escaped = Buffer.byteLength(json) - 2;
    if (escaped <= maxBytes) return { data, json, length: len };
    let next = Math.floor((len * maxBytes) / escaped);
    if (next >= len) next = len - 1;
    while (next > 0 && !isUtf8(buf.subarray(at, at + next))) next--;
    if (next <= 0) return undefined;
    len = next;
  }
}
