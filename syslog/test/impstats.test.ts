// The loss tracker on impstats records as rsyslogd 8.2302 prints them (shapes taken from real reports).
import { LossTracker, parseStats, type StatsRecord } from '../src/impstats.js';
import { encodeLossEvent, lossEventObject } from '../src/notice.js';
import { parseSyslogRunArgs } from '../src/cmd.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 2, 3, 4, s));
const action = (processed: number, failed = 0, suspended = 0, resumed = 0): StatsRecord =>
  parseStats(
    `{ "name": "sensitive-forward", "origin": "core.action", "processed": ${processed}, "failed": ${failed}, "suspended": ${suspended}, "suspended.duration": 0, "resumed": ${resumed} }`,
  )!;
const queue = (size: number, full: number, nf = 0): StatsRecord =>
  parseStats(
    `{ "name": "sensitive-forward queue", "origin": "core.queue", "size": ${size}, "enqueued": 0, "full": ${full}, "discarded.full": ${full}, "discarded.nf": ${nf}, "maxqsize": 20 }`,
  )!;

/** Feeds one report (action, then queue) and returns what the tracker says about it. */
function report(tr: LossTracker, at: Date, a: StatsRecord, q: StatsRecord) {
  expect(tr.observe(a, at)).toBeUndefined();
  return tr.observe(q, at);
}

describe('parseStats', () => {
  it('takes the JSON of an impstats message, numbers only, and ignores anything else', () => {
    expect(parseStats(' { "name": "main Q", "origin": "core.queue", "size": 3, "x": "y" }')).toEqual({ name: 'main Q', origin: 'core.queue', values: { size: 3 } });
    expect(parseStats('rsyslogd: action suspended')).toBeUndefined();
    expect(parseStats('{ not json')).toBeUndefined();
    expect(parseStats('{ "size": 3 }')).toBeUndefined();
  });
});

describe('LossTracker', () => {
  it('follows an outage from the first loss to the report that shows the forward delivering, and reports it once', () => {
    const tr = new LossTracker(['sensitive-forward']);
    // GIVEN a healthy forward
    expect(report(tr, t(0), action(10), queue(0, 0))?.report).toBeUndefined();
    // WHEN the queue fills (held, not lost) and then drops 30, then 50 more
    expect(report(tr, t(10), action(30, 0, 1), queue(20, 0))?.delta).toMatchObject({ discardedFull: 0, suspended: 1 });
    expect(report(tr, t(20), action(60, 0, 1), queue(20, 30))?.delta.discardedFull).toBe(30);
    expect(tr.inOutage('sensitive-forward')).toBe(true);
    expect(report(tr, t(30), action(110, 0, 1), queue(20, 80))?.report).toBeUndefined();
    // AND a report with no new loss while the SIEM is still down (nothing sent, queue still full)
    expect(report(tr, t(40), action(110, 0, 1), queue(20, 80))?.report).toBeUndefined();
    // WHEN the forward resumes
    const r = report(tr, t(50), action(110, 0, 1, 1), queue(0, 80));
    // THEN one report: 80 lost, after the last healthy-looking report, until the last loss, seen resumed at t(50)
    expect(r?.report).toEqual({
      action: 'sensitive-forward',
      count: 80,
      discardedFull: 80,
      discardedNf: 0,
      failed: 0,
      since: t(10),
      until: t(30),
      resumedAt: t(50),
    });
    expect(tr.inOutage('sensitive-forward')).toBe(false);
    expect(report(tr, t(60), action(120, 0, 1, 1), queue(0, 80))?.report).toBeUndefined();
  });

  it('ends an outage without a resume count when the queue drains (a slow SIEM), and counts failed and nf', () => {
    const tr = new LossTracker(['sensitive-forward']);
    report(tr, t(0), action(0), queue(20, 0));
    report(tr, t(10), action(0, 2), queue(20, 5, 1));
    const r = report(tr, t(20), action(0, 2), queue(7, 5, 1));
    expect(r?.report).toMatchObject({ count: 8, discardedFull: 5, discardedNf: 1, failed: 2 });
  });

  it('treats a counter that went down as restarted from zero, and ignores other actions and queues', () => {
    const tr = new LossTracker(['sensitive-forward']);
    report(tr, t(0), action(0), queue(0, 100));
    expect(report(tr, t(10), action(0), queue(0, 4))?.delta.discardedFull).toBe(4);
    expect(tr.observe(parseStats('{ "name": "main Q", "origin": "core.queue", "size": 1, "discarded.full": 9 }')!, t(10))).toBeUndefined();
    expect(tr.observe(parseStats('{ "name": "stats", "origin": "core.action", "failed": 9 }')!, t(10))).toBeUndefined();
  });
});

describe('the siem_events_lost event', () => {
  const r = { action: 'sensitive-forward', count: 80, discardedFull: 80, discardedNf: 0, failed: 0, since: t(10), until: t(30), resumedAt: t(50) };

  it('is a non-sensitive audit event with the common fields, the counts and the outage', () => {
    const o = lossEventObject(r, t(51), 'prod-syslog-abc');
    expect(Object.keys(o).slice(0, 11)).toEqual([
      'audit-exposure', 'timestamp', 'sessionID', 'connectionID', 'username', 'targetUsername', 'hostID', 'hostAddress', 'remoteAddress', 'connectionType', 'event',
    ]);
    expect(o).toMatchObject({ 'audit-exposure': 'SSH-PRIVX-AUDIT', event: 'siem_events_lost', action: 'sensitive-forward', count: 80, since: '2026-01-02T03:04:10.000Z', resumedAt: '2026-01-02T03:04:50.000Z' });
  });

  it('goes out as RFC 5424 from srec-syslog, warning, the marker as MSGID; JSON or CEF as MSG', () => {
    const json = encodeLossEvent(r, { at: t(51), hostname: 'prod-syslog-abc', format: 'syslog', procId: '7' });
    expect(json).toMatch(/^<180>1 2026-01-02T03:04:51.000Z prod-syslog-abc srec-syslog 7 SSH-PRIVX-AUDIT - \{"audit-exposure":"SSH-PRIVX-AUDIT",/);
    expect(json).not.toContain('SSH-PRIVX-SENSITIVE-AUDIT');
    const cef = encodeLossEvent(r, { at: t(51), hostname: 'h', format: 'cef', procId: '7', version: '0.1.0' });
    expect(cef).toMatch(/ - CEF:0\|srec\|srec-syslog\|0\.1\.0\|siem_events_lost\|SIEM events lost\|7\|cs1Label=audit-exposure cs1=SSH-PRIVX-AUDIT rt=\d+ app=SSH act=siem_events_lost cnt=80 cs2Label=action cs2=sensitive-forward /);
  });
});

describe('srec syslog-run arguments', () => {
  it('needs the config and both ports, and says which is missing or wrong', () => {
    expect(parseSyslogRunArgs(['--stats-port', '5515', '--listen-port', '5514'])).toBe('--config is required');
    expect(parseSyslogRunArgs(['--config', 'c', '--listen-port', '5514'])).toMatch(/^--stats-port is required/);
    expect(parseSyslogRunArgs(['--config', 'c', '--stats-port', '0', '--listen-port', '5514'])).toBe('--stats-port: "0" is not a port from 1 to 65535');
    expect(parseSyslogRunArgs(['--config', 'c', '--format', 'json'])).toBe('--format: "json" is not syslog or cef');
    expect(parseSyslogRunArgs(['--config', 'c', '--bogus'])).toMatch(/^Unknown option '--bogus'/);
    expect(parseSyslogRunArgs(['--config', 'c', '--stats-port', '5515', '--listen-port', '5514', '--queue-size', '500'])).toEqual({
      config: 'c',
      statsPort: 5515,
      listenPort: 5514,
      rsyslogd: 'rsyslogd',
      probes: '0.0.0.0:9090',
      format: 'syslog',
      queueSize: 500,
    });
  });
});
