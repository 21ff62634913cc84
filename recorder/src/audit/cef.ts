// ArcSight Common Event Format for audit events (the `format: cef` of the CR, as PrivX offers).
// The marker is the first extension (cs1), so a truncated record still carries it.
import { parseHostPort } from '../../../common/host-port.js';
import { toWireObject, type AuditEvent, type AuditEventName, type DetailValue } from './event.js';

const NAMES: Record<AuditEventName, { name: string; severity: number }> = {
  session_start: { name: 'SSH session started', severity: 3 },
  session_end: { name: 'SSH session ended', severity: 3 },
  channel_exit: { name: 'SSH channel exited', severity: 3 },
  data_summary: { name: 'SSH channel data summarised', severity: 4 },
  connection_refused: { name: 'SSH connection refused', severity: 6 },
  file_transfer: { name: 'SSH file transfer', severity: 4 },
  events_dropped: { name: 'Audit events dropped', severity: 7 },
  forward_open: { name: 'SSH forwarded channel opened', severity: 4 },
  forward_close: { name: 'SSH forwarded channel closed', severity: 4 },
  forward_refused: { name: 'SSH forwarding refused', severity: 6 },
  recording_viewed: { name: 'SSH session recording viewed', severity: 4 },
  file_downloaded: { name: 'SSH transferred file downloaded', severity: 4 },
  stdin: { name: 'SSH session input', severity: 5 },
  stdout: { name: 'SSH session output', severity: 5 },
  stderr: { name: 'SSH session error output', severity: 5 },
  channel_request: { name: 'SSH channel request', severity: 5 },
  global_request: { name: 'SSH global request', severity: 5 },
};

function header(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
}

function ext(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r\n|\n/g, '\\n').replace(/\r/g, '\\r');
}

/** `ip:port` or `[ip]:port` into CEF's src and spt. */
function splitAddress(a: string): { src?: string; spt?: number } {
  const hp = parseHostPort(a, { minPort: 0 });
  if (!hp) return a ? { src: a } : {};
  return { src: hp.host, spt: hp.port };
}

/** Control characters other than CR/LF would be rewritten by syslog relays (#033): send such data as base64. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]/;

/**
 * Mapping: cs1 audit-exposure, rt timestamp (ms), externalId sessionID, cs2 connectionID, suser username,
 * duser targetUsername, dhost hostID, cs3 hostAddress, src/spt remoteAddress, app SSH, act event,
 * cs5 data (+ cs4 encoding), filePath/fsize/fileHash for transfers, reason, cnt, cn1 seq,
 * cs6 the remaining event fields as JSON.
 */
export function toCef(e: AuditEvent, version: string): string {
  const { name, severity } = NAMES[e.event];
  const rest: Record<string, DetailValue> = { ...e.details };
  const take = (k: string): DetailValue | undefined => {
    const v = rest[k];
    delete rest[k];
    return v;
  };
  const pairs: [string, string | number][] = [
    ['cs1Label', 'audit-exposure'],
    ['cs1', e.exposure],
    ['rt', Date.parse(e.timestamp)],
    ['externalId', e.sessionID],
    ['cs2Label', 'connectionID'],
    ['cs2', e.connectionID],
    ['suser', e.username],
    ['duser', e.targetUsername],
    ['dhost', e.hostID],
    ['cs3Label', 'hostAddress'],
    ['cs3', e.hostAddress],
  ];
  const { src, spt } = splitAddress(e.remoteAddress);
  if (src !== undefined) pairs.push(['src', src]);
  if (spt !== undefined) pairs.push(['spt', spt]);
  pairs.push(['app', 'SSH'], ['act', e.event]);

  const data = take('data');
  let encoding = take('encoding');
  if (typeof data === 'string') {
    let value = data;
    if (encoding === 'utf8' && CONTROL.test(data)) {
      value = Buffer.from(data, 'utf8').toString('base64');
      encoding = 'base64';
    }
    pairs.push(['cs4Label', 'encoding'], ['cs4', String(encoding ?? 'utf8')], ['cs5Label', 'data'], ['cs5', value]);
  }
  const path = take('path');
  if (typeof path === 'string') pairs.push(['filePath', path]);
  const size = take('size');
  if (typeof size === 'number') pairs.push(['fsize', size]);
  const sha = take('sha256');
  if (typeof sha === 'string') pairs.push(['fileHash', sha]);
  const reason = take('reason');
  if (typeof reason === 'string') pairs.push(['reason', reason]);
  const count = take('count');
  if (typeof count === 'number') pairs.push(['cnt', count]);
  const seq = take('seq');
  if (typeof seq === 'number') pairs.push(['cn1Label', 'seq'], ['cn1', seq]);
  // Fields the common set already carries are never repeated.
  const common = toWireObject({ ...e, details: {} });
  for (const k of Object.keys(common)) delete rest[k];
  if (Object.keys(rest).length > 0) pairs.push(['cs6Label', 'details'], ['cs6', JSON.stringify(rest)]);

  const extension = pairs.map(([k, v]) => `${k}=${ext(String(v))}`).join(' ');
  return ['CEF:0', 'srec', 'srec-recorder', header(version), header(e.event), header(name), String(severity), extension].join('|');
}
