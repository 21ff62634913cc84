// RFC 5424 syslog messages for audit events, and RFC 6587 octet-counted framing for TCP.
// The marker is the MSGID and also the start of MSG (first JSON field, or first CEF extension), so that
// `:msg, contains, "SSH-PRIVX-SENSITIVE-AUDIT"` matches even if a relay truncates the message.
import { toCef } from './cef.js';
import { toJson, type AuditEvent } from './event.js';

export type AuditFormat = 'syslog' | 'cef';

export interface SyslogHeader {
  /** HOSTNAME: the recorder's pod name. */
  readonly hostname: string;
  /** @default 'srec-recorder' */
  readonly appName?: string;
  /** @default process.pid */
  readonly procId?: string;
  /** The recorder's version, for CEF's Device Version. @default '0' */
  readonly version?: string;
}

/** local6, as PrivX uses for its audit events. */
const FACILITY = 22;
const SEVERITY = { warning: 4, notice: 5, info: 6 } as const;

export function severityOf(e: AuditEvent): number {
  if (e.event === 'events_dropped') return SEVERITY.warning;
  if (e.event === 'connection_refused' || e.event === 'forward_refused') return SEVERITY.notice;
  return SEVERITY.info;
}

/** A header field: printable US-ASCII without spaces, at most `max` characters, `-` when empty. */
function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

/**
 * The RFC 5424 encoder of one sender: returns one message (no trailing newline) per event, MSG the JSON
 * object or the CEF record. The header fields that do not change are cleaned once, and `json`, when the
 * caller already has toJson(e) (the bastion's data events), is used as MSG instead of encoding e again.
 */
export function syslogEncoder(format: AuditFormat, h: SyslogHeader): (e: AuditEvent, json?: string) => string {
  const middle = [
    headerField(h.hostname, 255),
    headerField(h.appName ?? 'srec-recorder', 48),
    headerField(h.procId ?? String(process.pid), 128),
  ].join(' ');
  const version = h.version ?? '0';
  // Events come in bursts with the same millisecond: the cleaned timestamp of the last one is reused.
  let lastTimestamp = '';
  let lastField = '-';
  return (e, json) => {
    if (e.timestamp !== lastTimestamp) {
      lastTimestamp = e.timestamp;
      lastField = headerField(e.timestamp, 64);
    }
    const msg = format === 'cef' ? toCef(e, version) : (json ?? toJson(e));
    return `<${FACILITY * 8 + severityOf(e)}>1 ${lastField} ${middle} ${e.exposure} - ${msg}`;
  };
}

/** RFC 6587 octet counting: `LEN SP MSG`, LEN in bytes. */
export function frameOctetCounted(msg: string): Buffer {
  const length = Buffer.byteLength(msg, 'utf8');
  const prefix = `${length} `;
  const framed = Buffer.allocUnsafe(prefix.length + length);
  framed.write(prefix, 0, 'latin1');
  framed.write(msg, prefix.length, 'utf8');
  return framed;
}
