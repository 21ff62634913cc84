// `srec syslog-run` with a real rsyslogd running the config the operator renders, a listener playing the
// SIEM and the recorder's own sink: the SIEM goes down for long enough that a small forward queue
// overflows; the loss is counted on /metrics, and when the SIEM is back it gets one siem_events_lost
// event with the count. No file ever holds an event.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../common/log.js';
import { Registry } from '../../common/metrics.js';
import { renderRsyslogConf } from '../../operator/src/desired/rsyslog-conf.js';
import { createAuditSink } from '../../recorder/src/audit/emitter.js';
import { SENSITIVE_EVENTS } from '../../recorder/src/audit/event.js';
import { createAudit } from '../../recorder/src/audit/connection.js';
import { filesContaining, freePort, jsonOf, rsyslogdPath, startTcpSiem, waitFor } from '../../testing/rsyslog.js';

const support = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../recorder/test/support');
const MARKER = 'SSH-PRIVX-SENSITIVE-AUDIT';
const RSYSLOG_STATE_DIRS = ['/var/spool/rsyslog', '/var/lib/rsyslog'];
const QUEUE = 20;

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

/** `srec syslog-run` from the sources as its own process; its stdout (and rsyslogd's) a pipe, as in a pod. */
async function syslogRun(dir: string, conf: string, ports: { listen: number; stats: number; probes: number }) {
  fs.mkdirSync(dir, { recursive: true });
  const confFile = path.join(dir, 'rsyslog.conf');
  fs.writeFileSync(confFile, conf);
  const args = [
    '--import', path.join(support, '../../../testing/ts-register.mjs'), path.join(support, 'srec-main.ts'),
    'syslog-run', '--config', confFile, '--pid-file', path.join(dir, 'rsyslogd.pid'), '--rsyslogd', rsyslogdPath(),
    '--stats-port', String(ports.stats), '--listen-port', String(ports.listen), '--probes', `127.0.0.1:${ports.probes}`,
    '--queue-size', String(QUEUE),
  ];
  // rsyslogd reopens /dev/stdout, which must be a pipe (a socket, Node's default, cannot be reopened):
  // bash execs node with its stdout a pipe to cat, which node's child rsyslogd inherits.
  const child: ChildProcess = spawn('bash', ['-c', 'exec "$@" > >(exec cat)', 'bash', process.execPath, ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  open.push(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  await waitFor('syslog started', () => /"message":"syslog started"/.test(out), 20_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${out}`);
  });
  for (const until = Date.now() + 20_000; ; ) {
    const r = await get(ports.probes, '/readyz').catch(() => ({ status: 0, body: '' }));
    if (r.status === 200) break;
    if (Date.now() > until) throw new Error(`not ready: ${r.body}\n${out}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  return { child, exited, output: () => out };
}

describe('srec syslog-run with a real rsyslogd', () => {
  it('SIEM down beyond the queue: the loss is counted, and the SIEM gets siem_events_lost with the count when it is back', async () => {
    // GIVEN the syslog pod's process forwarding sensitive events to a TCP SIEM through a 20-event queue
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'srec-syslog-run-test-'));
    open.push(async () => fs.rmSync(tmp, { recursive: true, force: true }));
    const siem = await startTcpSiem();
    open.push(() => siem.stop());
    const listen = await freePort();
    const stats = await freePort();
    const probes = await freePort();
    const conf = renderRsyslogConf({
      enabled: true,
      format: 'syslog',
      auditTo: 'stdout',
      sensitiveTo: `@@127.0.0.1:${siem.port}`,
      listenPort: listen,
      listenAddress: '127.0.0.1',
      statsInterval: 1,
      statsPort: stats,
      queueSize: QUEUE,
    });
    const pod = await syslogRun(path.join(tmp, 'syslog'), conf, { listen, stats, probes });
    const log = createLogger({ component: 'test', silent: true });
    const sink = createAuditSink({ syslog: { address: `127.0.0.1:${listen}`, protocol: 'tcp', format: 'syslog' }, backoff: { initialMs: 50, maxMs: 200 } }, new Registry(), log);
    open.push(() => sink.close());
    const secret = `typed-secret-${randomUUID()}`;
    const audit = createAudit(sink, { sensitiveEvents: [...SENSITIVE_EVENTS] }).open({
      sessionID: randomUUID(), connectionID: randomUUID(), username: 'alice', targetUsername: 'root', hostID: 'db-1', hostAddress: '127.0.0.1', remoteAddress: '127.0.0.1:40000',
    });
    const seqsAtSiem = (): Set<number> => new Set(siem.messages.filter((m) => m.includes(MARKER)).map((m) => Number(jsonOf(m).seq)));
    const type = (n: number, tag: string): number[] => {
      for (let i = 0; i < n; i++) audit.data(0, 'stdin', Buffer.from(`${tag}-${i} ${secret}\r`));
      const last = (audit as unknown as { seq: number }).seq;
      return Array.from({ length: n }, (_, i) => last - n + 1 + i);
    };
    const metrics = async (): Promise<string> => (await get(probes, '/metrics')).body;
    const LOST = 'srec_syslog_forward_events_lost_total{action="sensitive-forward"}';
    const before = type(5, 'before');
    await waitFor('the first events at the SIEM', () => before.every((s) => seqsAtSiem().has(s)), 20_000);

    // WHEN the SIEM goes down and the session types 100 lines, 5x what the queue holds
    await siem.stop();
    const outage: number[] = [];
    for (let round = 0; round < 5; round++) {
      outage.push(...type(20, `outage${round}`));
      await new Promise((r) => setTimeout(r, 300));
    }
    // THEN the loss shows on /metrics while the SIEM is still down, and settles (one report with no rise)
    let lost = 0;
    for (const until = Date.now() + 30_000; ; ) {
      const now = metric(await metrics(), LOST);
      if (now > 0 && now === lost) break;
      lost = now;
      if (Date.now() > until) throw new Error(`lost metric did not settle: ${lost}\n${pod.output()}`);
      await new Promise((r) => setTimeout(r, 2500));
    }
    const m = await metrics();
    expect(metric(m, 'srec_syslog_forward_losing{action="sensitive-forward"}')).toBe(1);
    expect(metric(m, 'srec_syslog_queue_size{queue="sensitive-forward queue"}')).toBe(QUEUE);
    expect(metric(m, 'srec_syslog_queue_capacity{queue="sensitive-forward queue"}')).toBe(QUEUE);
    expect(metric(m, 'srec_syslog_queue_discarded_total{queue="sensitive-forward queue",reason="full"}')).toBe(lost);
    expect(metric(m, 'srec_syslog_loss_events_total{action="sensitive-forward"}')).toBe(0);

    // WHEN the SIEM comes back
    await siem.start();
    const lossEvent = (): Record<string, unknown> | undefined =>
      siem.messages.filter((x) => x.includes('siem_events_lost')).map(jsonOf)[0];
    await waitFor('siem_events_lost at the SIEM', () => lossEvent() !== undefined, 60_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${pod.output()}`);
    });
    // THEN what the queue held arrives, and the SIEM learns how many of the rest it missed
    await waitFor('the held events at the SIEM', () => outage.filter((s) => seqsAtSiem().has(s)).length >= QUEUE, 20_000);
    const missing = outage.filter((s) => !seqsAtSiem().has(s)).length;
    const ev = lossEvent() ?? {};
    expect(ev).toMatchObject({ 'audit-exposure': 'SSH-PRIVX-AUDIT', event: 'siem_events_lost', action: 'sensitive-forward', count: lost, discardedFull: lost, failed: 0 });
    expect(Date.parse(String(ev.since))).toBeLessThanOrEqual(Date.parse(String(ev.until)));
    expect(Date.parse(String(ev.until))).toBeLessThan(Date.parse(String(ev.resumedAt)));
    // rsyslog counts each message it dropped: the count is what the SIEM misses, plus at most the one
    // message written into the SIEM's dead connection before rsyslog noticed (syslog over TCP has no acks)
    expect(missing).toBeGreaterThanOrEqual(lost);
    expect(missing).toBeLessThanOrEqual(lost + 1);
    expect(missing).toBeGreaterThanOrEqual(outage.length - QUEUE - 2);
    // AND one event only, on the SIEM and (as an audit event) on stdout, and logged with the count
    await new Promise((r) => setTimeout(r, 3000));
    expect(siem.messages.filter((x) => x.includes('siem_events_lost'))).toHaveLength(1);
    expect(pod.output()).toMatch(/"message":"forward lost events"/);
    expect(pod.output()).toContain(`"event":"siem_events_lost"`);
    const after = await metrics();
    expect(metric(after, 'srec_syslog_forward_losing{action="sensitive-forward"}')).toBe(0);
    expect(metric(after, 'srec_syslog_loss_events_total{action="sensitive-forward"}')).toBe(1);
    // AND no sensitive event ever went to stdout or a file
    expect(pod.output()).not.toContain(secret);
    expect(filesContaining([tmp, ...RSYSLOG_STATE_DIRS], secret)).toEqual([]);
    expect(filesContaining([tmp, ...RSYSLOG_STATE_DIRS], MARKER).filter((f) => !f.endsWith('rsyslog.conf'))).toEqual([]);
    expect(fs.readdirSync(path.join(tmp, 'syslog')).sort()).toEqual(['rsyslog.conf', 'rsyslogd.pid']);
  }, 150_000);
});
