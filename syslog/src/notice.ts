// PURE: the non-sensitive `siem_events_lost` audit event that tells a SIEM what its forward lost, as the
// RFC 5424 message the syslog pod sends to its own rsyslogd (MSG: JSON, or CEF for `format: cef`).
import { AUDIT_MARKER } from '../../operator/src/desired/rsyslog-conf.js';
import type { LossReport } from './impstats.js';

/** The APP-NAME of the syslog pod's own events; rsyslog.conf routes its loss reports by it. */
export const NOTICE_APP_NAME = 'srec-syslog';
export const LOSS_EVENT = 'siem_events_lost';

/** local6 (as every audit event), severity warning: (22 << 3) | 4. */
const PRI = 180;

/** What a loss report says: the fields of the event, and of the log line that goes with it. */
export function lossFields(r: LossReport): Record<string, string | number> {
  return {
    action: r.action,
    count: r.count,
    discardedFull: r.discardedFull,
    discardedNf: r.discardedNf,
    failed: r.failed,
    since: r.since.toISOString(),
    until: r.until.toISOString(),
    resumedAt: r.resumedAt.toISOString(),
  };
}

/** The event's JSON, with the common fields of every audit event (identity fields empty: no session). */
export function lossEventObject(r: LossReport, at: Date, syslogPod: string): Record<string, string | number> {
  return {
    'audit-exposure': AUDIT_MARKER,
    timestamp: at.toISOString(),
    sessionID: '',
    connectionID: '',
    username: '',
    targetUsername: '',
    hostID: '',
    hostAddress: '',
    remoteAddress: '',
    connectionType: 'SSH',
    event: LOSS_EVENT,
    ...lossFields(r),
    syslogPod,
  };
}

function cefExt(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r?\n/g, '\\n');
}

function cefRecord(o: Record<string, string | number>, version: string): string {
  const { count, timestamp, action, ...rest } = o;
  delete rest['audit-exposure'];
  delete rest.event;
  const pairs: [string, string | number][] = [
    ['cs1Label', 'audit-exposure'],
    ['cs1', AUDIT_MARKER],
    ['rt', Date.parse(String(timestamp))],
    ['app', 'SSH'],
    ['act', LOSS_EVENT],
    ['cnt', Number(count)],
    ['cs2Label', 'action'],
    ['cs2', String(action)],
    ['cs6Label', 'details'],
    ['cs6', JSON.stringify(rest)],
  ];
  const ext = pairs.map(([k, v]) => `${k}=${typeof v === 'number' ? v : cefExt(v)}`).join(' ');
  return `CEF:0|srec|${NOTICE_APP_NAME}|${version.replace(/[|\\]/g, '')}|${LOSS_EVENT}|SIEM events lost|7|${ext}`;
}

function headerField(v: string, max: number): string {
  const clean = v.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** One RFC 5424 message, no framing, no trailing newline. */
export function encodeLossEvent(
  r: LossReport,
  opts: { readonly at: Date; readonly hostname: string; readonly format: 'syslog' | 'cef'; readonly procId?: string; readonly version?: string },
): string {
  const o = lossEventObject(r, opts.at, opts.hostname);
  const msg = opts.format === 'cef' ? cefRecord(o, opts.version ?? '0') : JSON.stringify(o);
  const head = [headerField(opts.hostname, 255), NOTICE_APP_NAME, headerField(opts.procId ?? String(process.pid), 128), AUDIT_MARKER, '-'];
  return `<${PRI}>1 ${opts.at.toISOString()} ${head.join(' ')} ${msg}`;
}
