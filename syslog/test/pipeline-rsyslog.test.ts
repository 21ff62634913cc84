// The audit pipeline with a real rsyslogd running the config `srec syslog-config` renders: the recorder's
// sink -> rsyslogd on loopback -> a listener playing the SIEM. Sensitive events reach the SIEM or nothing,
// and never a file, also across a SIEM outage and an rsyslogd restart.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../common/log.js';
import { Registry, sample } from '../../common/metrics.js';
import { renderRsyslogConf, type RsyslogInput } from '../../operator/src/desired/rsyslog-conf.js';
import { createAudit, type ConnectionAudit } from '../../recorder/src/audit/connection.js';
import { createAuditSink, type AuditSink } from '../../recorder/src/audit/emitter.js';
import { SENSITIVE_EVENTS, type SessionIdentity } from '../../recorder/src/audit/event.js';
import {
  filesContaining,
  freePort,
  jsonOf,
  startRsyslogd,
  startTcpSiem,
  startUdpSiem,
  waitFor,
  type Rsyslogd,
  type Siem,
} from '../../testing/rsyslog.js';

/** Real processes and a real outage: more than jest's default 5 s. */
const SLOW = 60_000;

const log = createLogger({ component: 'test', silent: true });
const MARKER = 'SSH-PRIVX-SENSITIVE-AUDIT';
/** Where rsyslog keeps state when a config lets it (Debian's defaults); must hold nothing of ours. */
const RSYSLOG_STATE_DIRS = ['/var/spool/rsyslog', '/var/lib/rsyslog'];

interface Pipeline {
  readonly tmp: string;
  readonly rsyslogd: Rsyslogd;
  readonly sink: AuditSink;
  readonly registry: Registry;
  readonly audit: ConnectionAudit;
  /** A string only the session's data contains. */
  readonly secret: string;
}

const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

async function pipeline(opts: {
  readonly conf: Omit<RsyslogInput, 'listenPort' | 'enabled'>;
  readonly protocol?: 'tcp' | 'udp';
}): Promise<Pipeline> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'srec-rsyslog-test-'));
  const port = await freePort();
  const conf = renderRsyslogConf({ enabled: true, listenPort: port, listenAddress: '127.0.0.1', statsInterval: 1, ...opts.conf });
  const rsyslogd = await startRsyslogd({ conf, dir: path.join(tmp, 'rsyslog'), port });
  const registry = new Registry();
  const sink = createAuditSink(
    {
      syslog: { address: `127.0.0.1:${port}`, protocol: opts.protocol ?? 'tcp', format: opts.conf.format },
      backoff: { initialMs: 50, maxMs: 200 },
    },
    registry,
    log,
  );
  open.push(async () => {
    await sink.close();
    await rsyslogd.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const secret = `typed-secret-${randomUUID()}`;
  const identity: SessionIdentity = {
    sessionID: randomUUID(),
    connectionID: randomUUID(),
    username: 'alice',
    targetUsername: 'root',
    hostID: 'db-1',
    hostAddress: '127.0.0.1',
    remoteAddress: '127.0.0.1:40000',
  };
  const audit = createAudit(sink, { sensitiveEvents: [...SENSITIVE_EVENTS] }).open(identity);
  return { tmp, rsyslogd, sink, registry, audit, secret };
}

async function siemOf(kind: 'tcp' | 'udp'): Promise<Siem> {
  const siem = kind === 'tcp' ? await startTcpSiem() : await startUdpSiem();
  open.push(() => siem.stop());
  return siem;
}

/** Files under the test's tree and rsyslog's state directories holding `needle`, except the config itself. */
function onDisk(p: Pipeline, needle: string): string[] {
  return filesContaining([p.tmp, ...RSYSLOG_STATE_DIRS], needle).filter((f) => f !== path.join(p.rsyslogd.dir, 'rsyslog.conf'));
}

function sensitiveSeqs(messages: readonly string[]): Set<number> {
  return new Set(messages.filter((m) => m.includes(MARKER)).map((m) => Number(jsonOf(m).seq)));
}

const metric = (r: Registry, series: string): number => sample(r, series);

/** Sends `n` keystroke events and `n` output events; returns their sequence numbers. */
function typeAndPrint(p: Pipeline, n: number, tag: string): number[] {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    p.audit.data(0, 'stdin', Buffer.from(`${tag}-${i} ${p.secret}\r`));
    p.audit.data(0, 'stdout', Buffer.from(`${tag}-${i} ${p.secret}\r\n`));
  }
  // The connection's audit numbers every event it emits; these are the last 2n.
  const last = (p.audit as unknown as { seq: number }).seq;
  for (let s = last - 2 * n + 1; s <= last; s++) seqs.push(s);
  return seqs;
}

describe('audit pipeline through a real rsyslogd', () => {
  it('forward mode: every sensitive event reaches the SIEM over TCP, audit events reach stdout, nothing reaches a disk', async () => {
    // GIVEN rsyslogd forwarding sensitive events to a TCP SIEM, audit events to its stdout
    const siem = await siemOf('tcp');
    const p = await pipeline({ conf: { format: 'syslog', auditTo: 'stdout', sensitiveTo: `@@127.0.0.1:${siem.port}` } });
    // WHEN a session types and prints 100 lines, sends requests, and ends
    p.audit.sessionStart({ recording: true });
    p.audit.channelRequest(0, 'exec', { command: `echo ${p.secret}` });
    const seqs = [2, ...typeAndPrint(p, 100, 'a')];
    p.audit.globalRequest('keepalive@openssh.com', { wantReply: true });
    seqs.push(seqs.length + 2);
    p.audit.sessionEnd({ reason: 'closed' });
    // THEN the SIEM gets every sensitive event, with the PrivX fields, and nothing else
    await waitFor('all sensitive events at the SIEM', () => sensitiveSeqs(siem.messages).size === seqs.length);
    expect([...sensitiveSeqs(siem.messages)].sort((a, b) => a - b)).toEqual(seqs);
    expect(siem.messages.every((m) => m.includes(MARKER))).toBe(true);
    const keystroke = siem.messages.map(jsonOf).find((o) => o.event === 'stdin');
    expect(keystroke).toMatchObject({
      'audit-exposure': MARKER,
      username: 'alice',
      targetUsername: 'root',
      hostID: 'db-1',
      connectionType: 'SSH',
      channel: 0,
      encoding: 'utf8',
    });
    expect(String(keystroke?.data)).toContain(p.secret);
    expect(siem.messages[0]).toMatch(/^<182>1 \S+ \S+ srec-recorder \d+ SSH-PRIVX-SENSITIVE-AUDIT - \{"audit-exposure"/);
    // AND the audit events are JSON lines on rsyslogd's stdout, with no session content next to them
    await waitFor('session_end on stdout', () => p.rsyslogd.stdout().includes('"event":"session_end"'));
    const audit = p.rsyslogd.stdout().split('\n').filter((l) => l.startsWith('{"audit-exposure"'));
    expect(audit.map((l) => JSON.parse(l).event)).toEqual(['session_start', 'session_end']);
    expect(p.rsyslogd.stdout()).not.toContain(p.secret);
    expect(p.rsyslogd.stdout()).not.toContain(MARKER);
    // AND no file anywhere holds an event
    expect(onDisk(p, p.secret)).toEqual([]);
    expect(onDisk(p, MARKER)).toEqual([]);
  }, SLOW);

  it('discard mode: no sensitive event leaves rsyslogd; audit events reach the forward target', async () => {
    // GIVEN rsyslogd discarding sensitive events and forwarding audit events to a TCP collector
    const collector = await siemOf('tcp');
    const p = await pipeline({ conf: { format: 'syslog', auditTo: `@@127.0.0.1:${collector.port}`, sensitiveTo: '/dev/null' } });
    // WHEN a session types and prints, then ends
    p.audit.sessionStart({ recording: true });
    typeAndPrint(p, 50, 'd');
    p.audit.sessionEnd({ reason: 'closed' });
    // THEN the collector gets start and end (sent after the data, so the data was handled before)
    await waitFor('session_end at the collector', () => collector.messages.some((m) => m.includes('"event":"session_end"')));
    await new Promise((r) => setTimeout(r, 500));
    expect(collector.messages.map((m) => jsonOf(m).event)).toEqual(['session_start', 'session_end']);
    expect(collector.messages.join('\n')).not.toContain(MARKER);
    // AND no sensitive event went anywhere: not the collector, not stdout, not a file
    expect(collector.messages.join('\n')).not.toContain(p.secret);
    expect(p.rsyslogd.stdout()).not.toContain(p.secret);
    expect(onDisk(p, p.secret)).toEqual([]);
    expect(onDisk(p, MARKER)).toEqual([]);
    // AND the recorder did send them (rsyslogd discarded them)
    expect(metric(p.registry, `srec_audit_events_sent_total{exposure="${MARKER}"}`)).toBe(100);
  }, SLOW);

  it('UDP all the way, as CEF: sensitive events reach a UDP SIEM', async () => {
    // GIVEN the recorder sending over UDP and rsyslogd forwarding sensitive events over UDP as CEF
    const siem = await siemOf('udp');
    const p = await pipeline({ protocol: 'udp', conf: { format: 'cef', auditTo: 'stdout', sensitiveTo: `@127.0.0.1:${siem.port}` } });
    // WHEN a few lines are typed
    const seqs = typeAndPrint(p, 5, 'u');
    // THEN they arrive as CEF records with the marker and the data
    await waitFor('10 CEF records', () => siem.messages.length >= seqs.length);
    expect(siem.messages[0]).toMatch(/^<182>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ CEF:0\|srec\|srec-recorder\|0\|stdin\|SSH session input\|5\|cs1Label=audit-exposure cs1=SSH-PRIVX-SENSITIVE-AUDIT /);
    expect(siem.messages.join('\n')).toContain(`cs5Label=data cs5=u-0 ${p.secret}`);
    expect(onDisk(p, p.secret)).toEqual([]);
  }, SLOW);

  it('SIEM down, rsyslogd restarted, SIEM back: nothing on disk, the session unaffected, loss bounded and counted', async () => {
    // GIVEN forward mode with the SIEM up
    const siem = await siemOf('tcp');
    const p = await pipeline({ conf: { format: 'syslog', auditTo: 'stdout', sensitiveTo: `@@127.0.0.1:${siem.port}` } });
    const a = typeAndPrint(p, 10, 'before');
    await waitFor('batch A at the SIEM', () => a.every((s) => sensitiveSeqs(siem.messages).has(s)));

    // WHEN the SIEM goes down and the session goes on (rsyslogd holds these in memory, retrying)
    await siem.stop();
    const t0 = performance.now();
    const b = typeAndPrint(p, 10, 'outage');
    expect(performance.now() - t0).toBeLessThan(100);
    await new Promise((r) => setTimeout(r, 1500));
    // AND rsyslogd is restarted while the SIEM is still down (its memory queue is lost, never saved)
    await p.rsyslogd.stop();
    await waitFor('the recorder sees the link down', () => metric(p.registry, 'srec_audit_link_up') === 0);
    const c = typeAndPrint(p, 10, 'restart');
    expect(metric(p.registry, 'srec_audit_queue_depth')).toBe(c.length);
    await p.rsyslogd.start();
    await waitFor('the recorder reconnects and hands over its queue', () => metric(p.registry, 'srec_audit_queue_depth') === 0);
    await new Promise((r) => setTimeout(r, 1000));
    // AND the SIEM comes back
    await siem.start();
    const d = typeAndPrint(p, 10, 'after');

    // THEN everything sent while rsyslogd could keep it arrives: before, during the restart, after
    const got = (): Set<number> => sensitiveSeqs(siem.messages);
    await waitFor('batches A, C and D at the SIEM', () => [...a, ...c, ...d].every((s) => got().has(s)), 30_000);
    // AND what was lost is what rsyslogd held in memory when it stopped (batch B at most), and it is
    // counted: impstats' last report before the exit gives that queue's size (plus, at most, the one
    // message rsyslogd wrote into the SIEM's dead connection before it noticed)
    const lostB = b.filter((s) => !got().has(s)).length;
    const lines = p.rsyslogd.stdout().split('\n');
    const exit = lines.findIndex((l) => l.includes('exiting on signal 15'));
    const lastReport = lines
      .slice(0, exit)
      .reverse()
      .find((l) => l.includes('"name": "sensitive-forward queue"'));
    const heldAtExit = Number(/"size": (\d+)/.exec(lastReport ?? '')?.[1]);
    expect(heldAtExit).toBeLessThanOrEqual(b.length);
    expect(lostB).toBeGreaterThanOrEqual(heldAtExit);
    expect(lostB).toBeLessThanOrEqual(heldAtExit + 1);
    // AND the recorder itself dropped nothing: it kept batch C in memory until rsyslogd was back
    expect(metric(p.registry, `srec_audit_events_dropped_total{exposure="${MARKER}",reason="queue_full"}`)).toBe(0);
    // AND not one sensitive event touched a disk, in rsyslog's directories or the test's tree
    expect(onDisk(p, p.secret)).toEqual([]);
    expect(onDisk(p, MARKER)).toEqual([]);
    expect(p.rsyslogd.stdout()).not.toContain(p.secret);
    expect(fs.readdirSync(p.rsyslogd.dir).sort()).toEqual(['rsyslog.conf', 'rsyslogd.pid']);
  }, SLOW);

  it('SIEM down beyond the retry budget: rsyslogd lets go of what it held (memory stays bounded, counted), then forwards again', async () => {
    // GIVEN forward mode with a retry budget of one, and the SIEM down
    const siem = await siemOf('tcp');
    await siem.stop();
    const p = await pipeline({ conf: { format: 'syslog', auditTo: 'stdout', sensitiveTo: `@@127.0.0.1:${siem.port}`, resumeRetryCount: 1 } });
    // WHEN events are sent and the retries run out
    typeAndPrint(p, 5, 'held');
    const report = (): { failed: number; size: number } => {
      const lines = p.rsyslogd.stdout().split('\n');
      const action = [...lines].reverse().find((l) => l.includes('"name": "sensitive-forward", "origin": "core.action"')) ?? '';
      const queue = [...lines].reverse().find((l) => l.includes('"name": "sensitive-forward queue"')) ?? '';
      return { failed: Number(/"failed": (\d+)/.exec(action)?.[1] ?? 0), size: Number(/"size": (\d+)/.exec(queue)?.[1] ?? -1) };
    };
    // THEN impstats counts the failure and the queue is empty again
    await waitFor('failed forward with an empty queue', () => report().failed > 0 && report().size === 0, 20_000);
    // WHEN the SIEM is back and the session goes on. rsyslogd discards what reaches a suspended action
    // until its next resume check succeeds (resumeInterval 1 s, growing with the retries), so the session
    // types a batch every 2 s until one arrives whole.
    await siem.start();
    const deadline = Date.now() + 30_000;
    let arrived = false;
    for (let round = 0; !arrived && Date.now() < deadline; round++) {
      const later = typeAndPrint(p, 5, `later${round}`);
      arrived = await waitFor('later events at the SIEM', () => later.every((s) => sensitiveSeqs(siem.messages).has(s)), 2_000).then(
        () => true,
        () => false,
      );
    }
    // THEN rsyslogd forwards again, and nothing of any batch touched a disk
    expect(arrived).toBe(true);
    expect(onDisk(p, p.secret)).toEqual([]);
    expect(onDisk(p, MARKER)).toEqual([]);
  }, 90_000);
});
