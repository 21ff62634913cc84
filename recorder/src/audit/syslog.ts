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
  if (e.event === 'connection_refused') return SEVERITY.notice;
  return SEVERITY.info;
}

/** A header field: printable US-ASCII without spaces, at most `max` characters, `-` when empty. */
function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** One RFC 5424 message (no trailing newline); MSG is the JSON object, or the CEF record. */
export function encodeSyslog(e: AuditEvent, format: AuditFormat, h: SyslogHeader): string {
  const pri = FACILITY * 8 + severityOf(e);
  const msg = format === 'cef' ? toCef(e, h.version ?? '0') : toJson(e);
  return [
    `<${pri}>1`,
    headerField(e.timestamp, 64),
    headerField(h.hostname, 255),
    headerField(h.appName ?? 'srec-recorder', 48),
    headerField(h.procId ?? String(process.pid), 128),
    e.exposure,
    '-',
    msg,
  ].join(' ');
}

/** RFC 6587 octet counting: `LEN SP MSG`, LEN in bytes. */
export function frameOctetCounted(msg: string): Buffer {
  const body = Buffer.from(msg, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}
