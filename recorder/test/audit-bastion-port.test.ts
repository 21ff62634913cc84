import { createLogger } from '../../common/log.js';
import { Registry } from '../../common/metrics.js';
import { createBastionAudit, type BastionAuditEvent } from '../src/audit/bastion-port.js';
import { createAuditSink, type AuditSink } from '../src/audit/emitter.js';
import { toJson, type AuditEvent } from '../src/audit/event.js';
import { encodeSyslog } from '../src/audit/syslog.js';
import { startTcpSiem, waitFor } from '../../testing/rsyslog.js';

function collector(): AuditSink & { events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  return { events, emit: (e) => events.push(e), close: async () => undefined };
}

/** A sink that takes pre-encoded JSON too, as the syslog sink does: what the fast path hands over. */
function jsonCollector(): AuditSink & { events: AuditEvent[]; json: (string | undefined)[] } {
  const events: AuditEvent[] = [];
  const json: (string | undefined)[] = [];
  return {
    events,
    json,
    emit: (e) => {
      events.push(e);
      json.push(undefined);
    },
    emitJson: (e, j) => {
      events.push(e);
      json.push(j);
    },
    close: async () => undefined,
  };
}

type BastionEventLike = BastionAuditEvent;

const base = {
  timestamp: '2026-01-02T03:04:05.000Z',
  connectionId: 'c-1',
  sessionId: 's-1',
  username: 'alice',
  targetUsername: 'root',
  hostId: 'db-1',
  hostAddress: '127.0.0.1:22',
  remoteAddress: '127.0.0.1:40000',
} as const;
const ev = (e: Partial<BastionEventLike> & Pick<BastionEventLike, 'event' | 'exposure'>): BastionEventLike => ({ ...base, ...e });

describe('createBastionAudit', () => {
  it('maps the bastion events to the wire model, numbering the connection\'s events', () => {
    // GIVEN the port over a collecting sink
    const sink = collector();
    const port = createBastionAudit(sink);
    // WHEN a session starts, a request and a keystroke pass, and it ends
    port.emit(ev({ event: 'session_start', exposure: 'SSH-PRIVX-AUDIT' }));
    port.emit(ev({ event: 'channel_request', exposure: 'SSH-PRIVX-SENSITIVE-AUDIT', channel: 0, request: { name: 'exec', accepted: true, command: 'id' } }));
    port.emit(ev({ event: 'stdin', exposure: 'SSH-PRIVX-SENSITIVE-AUDIT', channel: 0, data: Buffer.from('pw\r') }));
    port.emit(ev({ event: 'session_end', exposure: 'SSH-PRIVX-AUDIT' }));
    // THEN the identity, the details and the sequence are on each event
    expect(sink.events.map((e) => [e.event, e.exposure, e.details.seq])).toEqual([
      ['session_start', 'SSH-PRIVX-AUDIT', 1],
      ['channel_request', 'SSH-PRIVX-SENSITIVE-AUDIT', 2],
      ['stdin', 'SSH-PRIVX-SENSITIVE-AUDIT', 3],
      ['session_end', 'SSH-PRIVX-AUDIT', 4],
    ]);
    expect(sink.events[0]).toMatchObject({
      sessionID: 's-1',
      connectionID: 'c-1',
      username: 'alice',
      targetUsername: 'root',
      hostID: 'db-1',
      hostAddress: '127.0.0.1:22',
      remoteAddress: '127.0.0.1:40000',
      timestamp: '2026-01-02T03:04:05.000Z',
    });
    expect(sink.events[1]?.details).toEqual({ channel: 0, request: 'exec', accepted: true, command: 'id', seq: 2 });
    expect(sink.events[2]?.details).toEqual({ channel: 0, data: 'pw\r', encoding: 'utf8', seq: 3 });
  });

  it('splits large data and base64-encodes bytes that are not UTF-8', () => {
    const sink = collector();
    const port = createBastionAudit(sink, { maxDataBytes: 1024 });
    port.emit(ev({ event: 'stdout', exposure: 'SSH-PRIVX-SENSITIVE-AUDIT', channel: 1, data: Buffer.alloc(3000, 'z') }));
    port.emit(ev({ event: 'stdout', exposure: 'SSH-PRIVX-SENSITIVE-AUDIT', channel: 1, data: Buffer.from([0xc3, 0x28]) }));
    expect(sink.events.map((e) => [e.details.part, e.details.parts, e.details.encoding])).toEqual([
      [1, 3, 'utf8'],
      [2, 3, 'utf8'],
      [3, 3, 'utf8'],
      [undefined, undefined, 'base64'],
    ]);
    expect(sink.events[3]?.details.data).toBe(Buffer.from([0xc3, 0x28]).toString('base64'));
  });

  it('carries a refusal before authentication, with what is known', () => {
    const sink = collector();
    createBastionAudit(sink).emit({
      event: 'connection_refused',
      exposure: 'SSH-PRIVX-AUDIT',
      timestamp: base.timestamp,
      connectionId: 'c-2',
      remoteAddress: '10.0.0.9:5000',
      reason: 'unknown_key',
      message: 'this key is not authorized',
    });
    expect(sink.events[0]).toMatchObject({
      event: 'connection_refused',
      exposure: 'SSH-PRIVX-AUDIT',
      username: '',
      sessionID: '',
      remoteAddress: '10.0.0.9:5000',
      details: { reason: 'unknown_key', message: 'this key is not authorized', seq: 1 },
    });
  });

  it('never throws into the bastion and ignores event names it does not know', () => {
    const sink: AuditSink = { emit: () => { throw new Error('boom'); }, close: async () => undefined };
    const port = createBastionAudit(sink);
    expect(() => port.emit(ev({ event: 'stdout', exposure: 'SSH-PRIVX-SENSITIVE-AUDIT', data: Buffer.from('x') }))).not.toThrow();
    const seen = collector();
    createBastionAudit(seen).emit(ev({ event: 'something_new' as BastionAuditEvent['event'], exposure: 'SSH-PRIVX-AUDIT' }));
    expect(seen.events).toEqual([]);
  });
});

describe('the data-event fast path', () => {
  const S = 'SSH-PRIVX-SENSITIVE-AUDIT' as const;
  // Every kind of data the bastion relays, on several connections, with identities that change as a
  // connection authenticates; and events the fast path must leave to the general mapping.
  const cases: BastionAuditEvent[] = [
    ev({ event: 'stdout', exposure: S, channel: 0, data: Buffer.from('total 0\r\ndrwxr-xr-x 2 root root 4096 .\r\n') }),
    ev({ event: 'stdin', exposure: S, channel: 0, data: Buffer.from('sudo -i\r') }),
    ev({ event: 'stdout', exposure: S, channel: 1, data: Buffer.from('\x1b[1;32mgreen\x1b[0m "quoted" back\\slash\ttab \u2028 ✓ 😀\n') }),
    ev({ event: 'stderr', exposure: S, channel: 2, data: Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41]) }),
    ev({ event: 'stdout', exposure: S, channel: 0, data: Buffer.alloc(20_000, 'a') }),
    ev({ event: 'stdout', exposure: S, channel: 0, data: Buffer.concat([Buffer.alloc(9000, '\x1b'), Buffer.from([0xc3]), Buffer.alloc(5000, 0xff)]) }),
    ev({ event: 'stdout', exposure: S, channel: 0, data: Buffer.from('ä'.repeat(5000)) }),
    ev({ event: 'stdout', exposure: S, channel: 0, data: Buffer.alloc(0) }),
    ev({ event: 'stdout', exposure: S, data: Buffer.from('no channel') }),
    ev({ event: 'stdout', exposure: S, channel: 3, data: Buffer.from('with a reason'), reason: 'x' }),
    ev({ event: 'channel_request', exposure: S, channel: 0, request: { name: 'pty-req', accepted: true, term: 'xterm' } }),
    { exposure: S, event: 'stdin', timestamp: base.timestamp, connectionId: 'c-2', remoteAddress: '10.0.0.9:5000', channel: 0, data: Buffer.from('before login') },
    { exposure: S, event: 'stdin', timestamp: base.timestamp, connectionId: 'c-2', remoteAddress: '10.0.0.9:5000', username: 'bob', channel: 0, data: Buffer.from('after login') },
    { ...base, exposure: S, event: 'stdout', connectionId: 'c-2', remoteAddress: '10.0.0.9:5000', username: 'bob', hostAddress: '10.0.0.6:2222', channel: 0, data: Buffer.from('"\\u0000"\u0000') },
    ev({ event: 'stdout', exposure: S, channel: 0, data: Buffer.from('same ms, new event'), timestamp: '2026-01-02T03:04:05.001Z' }),
    ev({ event: 'stdout', exposure: S, channel: 0, data: Buffer.from('a timestamp in another form'), timestamp: '2026-01-02T04:04:05+01:00' }),
    ev({ event: 'session_end', exposure: 'SSH-PRIVX-AUDIT', bytesIn: 10, bytesOut: 20 }),
  ];

  it('makes the same events and, byte for byte, the same JSON as the general mapping', () => {
    // GIVEN the same bastion events through the fast path and through the general mapping
    const fast = jsonCollector();
    const general = collector();
    const fastPort = createBastionAudit(fast, { maxDataBytes: 8192 });
    const generalPort = createBastionAudit(general, { maxDataBytes: 8192, fastPath: false });
    for (const e of cases) {
      fastPort.emit(e);
      generalPort.emit(e);
    }
    // THEN the events are equal, every plain data event came with its JSON, and that is the general encoder's
    expect(fast.events).toEqual(general.events);
    const plainData = fast.events.map((e) => ['stdin', 'stdout', 'stderr'].includes(e.event) && e.details.reason === undefined);
    expect(fast.json.map((j) => j !== undefined)).toEqual(plainData);
    expect(plainData.filter(Boolean).length).toBeGreaterThan(cases.length);
    fast.json.forEach((j, i) => {
      if (j !== undefined) expect(j).toBe(toJson(general.events[i]!));
    });
    // and CEF, which encodes the event object, gets the same object
    fast.events.forEach((e, i) => expect(encodeSyslog(e, 'cef', { hostname: 'h', procId: '1' })).toBe(encodeSyslog(general.events[i]!, 'cef', { hostname: 'h', procId: '1' })));
  });

  it('puts the same bytes on the syslog wire as the general mapping', async () => {
    // GIVEN a syslog sink to a listener
    const siem = await startTcpSiem();
    const sink = createAuditSink({ syslog: { address: `127.0.0.1:${siem.port}` }, hostname: 'recorder-0' }, new Registry(), createLogger({ component: 'test', silent: true }));
    try {
      const counted = collector();
      const general = createBastionAudit(counted, { fastPath: false });
      for (const e of cases) general.emit(e);
      const n = counted.events.length;
      // WHEN the same events go through the general mapping, then through the fast path
      const generalPort = createBastionAudit(sink, { fastPath: false });
      for (const e of cases) generalPort.emit(e);
      await waitFor('the general messages', () => siem.messages.length === n);
      const fastPort = createBastionAudit(sink);
      for (const e of cases) fastPort.emit(e);
      await waitFor('the fast messages', () => siem.messages.length === 2 * n);
      // THEN the messages are identical, byte for byte
      expect(siem.messages.slice(n)).toEqual(siem.messages.slice(0, n));
    } finally {
      await sink.close();
      await siem.stop();
    }
  });
});
