import net from 'node:net';
import os from 'node:os';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../common/log.js';
import { Registry, sample } from '../../common/metrics.js';
import { createAuditSink, type AuditSink, type AuditSinkConfig } from '../src/audit/emitter.js';
import { makeEvent, type AuditEventName, type SessionIdentity } from '../src/audit/event.js';
import { frameOctetCounted, syslogEncoder } from '../src/audit/syslog.js';
import { freePort, jsonOf, startTcpSiem, startUdpSiem, waitFor, type Siem } from '../../testing/rsyslog.js';

const log = createLogger({ component: 'test', silent: true });
const who: SessionIdentity = {
  sessionID: 's-1',
  connectionID: 'c-1',
  username: 'alice',
  targetUsername: 'root',
  hostID: 'db-1',
  hostAddress: '127.0.0.1',
  remoteAddress: '127.0.0.1:40000',
};
const ev = (name: AuditEventName, n: number) => makeEvent(who, name, new Date(), { channel: 0, data: `line-${n}`, encoding: 'utf8', seq: n });

const metric = (r: Registry, series: string): number => sample(r, series);
const dropped = (r: Registry, reason: string, exposure = 'SSH-PRIVX-SENSITIVE-AUDIT') =>
  metric(r, `srec_audit_events_dropped_total{exposure="${exposure}",reason="${reason}"}`);
const sent = (r: Registry, exposure = 'SSH-PRIVX-SENSITIVE-AUDIT') => metric(r, `srec_audit_events_sent_total{exposure="${exposure}"}`);

const fast = { backoff: { initialMs: 20, maxMs: 100 }, closeTimeoutMs: 500 } satisfies AuditSinkConfig;

describe('audit sink over TCP', () => {
  let siem: Siem | undefined;
  let sink: AuditSink | undefined;
  afterEach(async () => {
    await sink?.close();
    await siem?.stop();
    sink = undefined;
    siem = undefined;
  });

  it('sends each event as one octet-counted RFC 5424 message, in order, and counts them', async () => {
    // GIVEN a listening syslog service
    siem = await startTcpSiem();
    const registry = new Registry();
    sink = createAuditSink({ ...fast, syslog: { address: `127.0.0.1:${siem.port}`, protocol: 'tcp', format: 'syslog' } }, registry, log);
    // WHEN 100 events are emitted
    for (let i = 1; i <= 100; i++) sink.emit(ev('stdout', i));
    // THEN all arrive, in order, as RFC 5424 with the marker as MSGID and JSON as MSG
    await waitFor('100 messages', () => siem!.messages.length === 100);
    expect(siem.messages[0]).toMatch(/^<182>1 \S+ \S+ srec-recorder \d+ SSH-PRIVX-SENSITIVE-AUDIT - \{/);
    expect(siem.messages.map((m) => jsonOf(m).seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    await waitFor('sent metric', () => sent(registry) === 100);
  });

  it('never blocks while the service is down: it queues up to the bound, drops and counts the rest, then reports them', async () => {
    // GIVEN a port where nothing listens yet, and a queue of 10 events
    const port = await freePort();
    const registry = new Registry();
    sink = createAuditSink({ ...fast, maxQueueEvents: 10, syslog: { address: `127.0.0.1:${port}` } }, registry, log);
    // WHEN 30 events are emitted
    const t0 = performance.now();
    for (let i = 1; i <= 30; i++) sink.emit(ev('stdin', i));
    const elapsed = performance.now() - t0;
    // THEN emit returned at once, 10 wait in memory and 20 were dropped and counted
    expect(elapsed).toBeLessThan(100);
    expect(metric(registry, 'srec_audit_queue_depth')).toBe(10);
    expect(dropped(registry, 'queue_full')).toBe(20);
    // WHEN the service comes up
    siem = await startTcpSiem(port);
    // THEN the first message says 20 (all sensitive) were dropped, then the 10 queued follow in order
    await waitFor('11 messages', () => siem!.messages.length === 11);
    const first = jsonOf(siem.messages[0] ?? '');
    expect(first).toMatchObject({ 'audit-exposure': 'SSH-PRIVX-AUDIT', event: 'events_dropped', count: 20, sensitive: 20 });
    expect(siem.messages[0]).toMatch(/^<180>1 .* SSH-PRIVX-AUDIT - /);
    expect(siem.messages.slice(1).map((m) => jsonOf(m).seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(metric(registry, 'srec_audit_link_up')).toBe(1);
  });

  it('reconnects after the service went away and delivers what was emitted meanwhile', async () => {
    // GIVEN a connected sink
    siem = await startTcpSiem();
    const registry = new Registry();
    sink = createAuditSink({ ...fast, syslog: { address: `127.0.0.1:${siem.port}` } }, registry, log);
    sink.emit(ev('stdout', 1));
    await waitFor('first message', () => siem!.messages.length === 1);
    // WHEN the service goes down, 5 events are emitted, and the service comes back
    await siem.stop();
    await waitFor('link down', () => metric(registry, 'srec_audit_link_up') === 0);
    for (let i = 2; i <= 6; i++) sink.emit(ev('stdout', i));
    await siem.start();
    // THEN the 5 arrive after the reconnect, and nothing was dropped
    await waitFor('6 messages', () => siem!.messages.length === 6);
    expect(siem.messages.map((m) => jsonOf(m).seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(dropped(registry, 'queue_full')).toBe(0);
    expect(metric(registry, 'srec_audit_connects_total')).toBe(2);
  });

  it('bounds the queue by bytes too', async () => {
    // GIVEN nothing listening and a 2 KiB byte bound
    const port = await freePort();
    const registry = new Registry();
    sink = createAuditSink({ ...fast, maxQueueBytes: 2048, syslog: { address: `127.0.0.1:${port}` } }, registry, log);
    // WHEN 50 events of about 400 bytes each are emitted
    for (let i = 1; i <= 50; i++) sink.emit(ev('stdout', i));
    // THEN only what fits in 2 KiB is kept
    expect(metric(registry, 'srec_audit_queue_bytes')).toBeLessThanOrEqual(2048);
    expect(metric(registry, 'srec_audit_queue_depth') + dropped(registry, 'queue_full')).toBe(50);
    expect(dropped(registry, 'queue_full')).toBeGreaterThan(40);
  });

  it('drops and counts a message larger than the maximum instead of letting rsyslog truncate it', async () => {
    siem = await startTcpSiem();
    const registry = new Registry();
    sink = createAuditSink({ ...fast, maxMessageBytes: 1024, syslog: { address: `127.0.0.1:${siem.port}` } }, registry, log);
    sink.emit(makeEvent(who, 'stdout', new Date(), { channel: 0, data: 'x'.repeat(2000), encoding: 'utf8' }));
    sink.emit(ev('stdout', 2));
    await waitFor('2 messages', () => siem!.messages.length === 2);
    expect(dropped(registry, 'oversize')).toBe(1);
    expect(jsonOf(siem.messages[0] ?? '')).toMatchObject({ event: 'events_dropped', count: 1 });
    expect(jsonOf(siem.messages[1] ?? '')).toMatchObject({ seq: 2 });
  });

  it('stays fast when the service stops reading: the queue stays bounded and the session is never slowed', async () => {
    // GIVEN a service that accepts the connection but never reads
    const stalled = net.createServer((sock) => sock.pause());
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', () => r()));
    const port = (stalled.address() as net.AddressInfo).port;
    const registry = new Registry();
    sink = createAuditSink({ ...fast, maxQueueEvents: 1000, syslog: { address: `127.0.0.1:${port}` } }, registry, log);
    await waitFor('connected', () => metric(registry, 'srec_audit_link_up') === 1);
    // WHEN 50000 events of 4 KiB are emitted in bursts (200 MiB, far more than any socket buffer)
    const big = 'y'.repeat(4096);
    let slowest = 0;
    for (let burst = 0; burst < 50; burst++) {
      const t0 = performance.now();
      for (let i = 1; i <= 1000; i++) sink.emit(makeEvent(who, 'stdout', new Date(), { channel: 0, data: big, encoding: 'utf8', seq: i }));
      slowest = Math.max(slowest, performance.now() - t0);
      await new Promise((r) => setImmediate(r));
    }
    // THEN no burst of 1000 emits took long, memory stayed bounded, and the drops were counted
    expect(slowest).toBeLessThan(500);
    expect(metric(registry, 'srec_audit_queue_depth')).toBeLessThanOrEqual(1000 + 20);
    expect(dropped(registry, 'queue_full')).toBeGreaterThan(40_000);
    await sink.close();
    sink = undefined;
    stalled.close();
  });

  it('keeps writing while the socket holds under 1 MiB, and counts what it holds inside the queue bounds', async () => {
    // GIVEN a service that accepts the connection but never reads, and a 4 MiB queue bound
    const stalled = net.createServer((sock) => sock.pause());
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', () => r()));
    const port = (stalled.address() as net.AddressInfo).port;
    const registry = new Registry();
    const maxQueueBytes = 4 * 1024 * 1024;
    sink = createAuditSink({ ...fast, maxQueueEvents: 100_000, maxQueueBytes, hostname: 'h', syslog: { address: `127.0.0.1:${port}` } }, registry, log);
    await waitFor('connected', () => metric(registry, 'srec_audit_link_up') === 1);
    // WHEN events of one size are emitted in bursts until the kernel's buffers are full and drops begin
    const event = () => makeEvent(who, 'stdout', new Date(), { channel: 0, data: 'z'.repeat(2000), encoding: 'utf8', seq: 1 });
    const size = frameOctetCounted(syslogEncoder('syslog', { hostname: 'h' })(event())).length;
    for (let burst = 0; burst < 400 && dropped(registry, 'queue_full') === 0; burst++) {
      for (let i = 0; i < 500; i++) sink.emit(event());
      await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, 100));
    // THEN several batches of up to 256 KiB are with the socket (1 MiB to 1.25 MiB), not one at a time,
    const held = metric(registry, 'srec_audit_queue_depth') * size;
    const inFlight = held - metric(registry, 'srec_audit_queue_bytes');
    expect(dropped(registry, 'queue_full')).toBeGreaterThan(0);
    expect(inFlight).toBeGreaterThanOrEqual(1024 * 1024);
    expect(inFlight).toBeLessThanOrEqual(1024 * 1024 + 256 * 1024 + size);
    // and what the sink holds, queued or with the socket, stays inside the bound
    expect(held).toBeLessThanOrEqual(maxQueueBytes);
    expect(held).toBeGreaterThan(maxQueueBytes - 2 * size);
    await sink.close();
    sink = undefined;
    stalled.close();
  });

  it('writes a full batch at once instead of holding a long turn\'s events until the turn ends', async () => {
    // GIVEN a connected sink
    siem = await startTcpSiem();
    const registry = new Registry();
    sink = createAuditSink({ ...fast, maxQueueEvents: 100_000, syslog: { address: `127.0.0.1:${siem.port}` } }, registry, log);
    await waitFor('connected', () => metric(registry, 'srec_audit_link_up') === 1);
    // WHEN 1 MiB of events is emitted within one turn of the event loop
    const data = 'w'.repeat(1000);
    let emitted = 0;
    let n = 0;
    for (let i = 1; emitted < 1024 * 1024; i = ++n + 1) {
      const e = makeEvent(who, 'stdout', new Date(), { channel: 0, data, encoding: 'utf8', seq: i });
      sink.emit(e);
      emitted += frameOctetCounted(syslogEncoder('syslog', { hostname: os.hostname() })(e)).length;
    }
    // THEN at most one batch (256 KiB) waits in the queue when the turn ends; the rest is with the socket
    expect(metric(registry, 'srec_audit_queue_bytes')).toBeLessThanOrEqual(256 * 1024 + 1200);
    expect(dropped(registry, 'queue_full')).toBe(0);
    await waitFor('all delivered', () => siem!.messages.length === n);
  });

  it('never throws into the session, even for an event it cannot encode', () => {
    const registry = new Registry();
    sink = createAuditSink({ ...fast, syslog: { address: '127.0.0.1:9' } }, registry, log);
    const bad = makeEvent(who, 'stdout', new Date(), { data: 'x' });
    (bad.details as Record<string, unknown>).loop = BigInt(1);
    expect(() => sink!.emit(bad)).not.toThrow();
    expect(dropped(registry, 'encode_error')).toBe(1);
  });

  it('flushes what is queued on close, and drops (counting) what is emitted after', async () => {
    siem = await startTcpSiem();
    const registry = new Registry();
    sink = createAuditSink({ ...fast, syslog: { address: `127.0.0.1:${siem.port}` } }, registry, log);
    for (let i = 1; i <= 20; i++) sink.emit(ev('stdout', i));
    await sink.close();
    sink.emit(ev('stdout', 21));
    await waitFor('20 messages', () => siem!.messages.length === 20);
    expect(dropped(registry, 'closed')).toBe(1);
  });

  it('rejects an address that is not host:port', () => {
    expect(() => createAuditSink({ syslog: { address: 'syslog' } }, new Registry(), log)).toThrow(
      'audit.syslog.address: "syslog" is not host:port with a port from 1 to 65535',
    );
  });
});

describe('audit sink over UDP', () => {
  it('sends one message per datagram, without framing', async () => {
    const siem = await startUdpSiem();
    const registry = new Registry();
    const sink = createAuditSink({ ...fast, syslog: { address: `127.0.0.1:${siem.port}`, protocol: 'udp' } }, registry, log);
    for (let i = 1; i <= 10; i++) sink.emit(ev('stderr', i));
    await waitFor('10 datagrams', () => siem.messages.length === 10);
    expect(siem.messages[0]).toMatch(/^<182>1 .* SSH-PRIVX-SENSITIVE-AUDIT - \{"audit-exposure"/);
    expect(siem.messages.map((m) => jsonOf(m).seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await sink.close();
    await siem.stop();
  });
});

describe('audit sink without syslog', () => {
  it('prints non-sensitive events as JSON lines and emits no sensitive event at all', async () => {
    // GIVEN no syslog configured
    const out = new PassThrough();
    let text = '';
    out.on('data', (b: Buffer) => (text += b.toString()));
    const registry = new Registry();
    const sink = createAuditSink({ stdout: out }, registry, log);
    // WHEN a session start and a keystroke are emitted
    sink.emit(makeEvent(who, 'session_start', new Date(), { recording: true }));
    sink.emit(makeEvent(who, 'stdin', new Date(), { channel: 0, data: 'hunter2', encoding: 'utf8' }));
    await new Promise((r) => setImmediate(r));
    // THEN stdout has the start as one JSON line and nothing of the keystroke
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ 'audit-exposure': 'SSH-PRIVX-AUDIT', event: 'session_start', recording: true });
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('SSH-PRIVX-SENSITIVE-AUDIT');
    expect(dropped(registry, 'no_syslog')).toBe(1);
    await sink.close();
  });
});
