import { createHash } from 'node:crypto';
import { createLogger } from '../../common/log.js';
import { Registry } from '../../common/metrics.js';
import { createAudit, selectSensitiveEvents, type Audit } from '../src/audit/connection.js';
import { createAuditSink, type AuditSink } from '../src/audit/emitter.js';
import { SENSITIVE_EVENTS, toJson, type AuditEvent, type SessionIdentity } from '../src/audit/event.js';
import { syslogEncoder } from '../src/audit/syslog.js';
import { startTcpSiem, waitFor } from '../../testing/rsyslog.js';

/** Collects what the bastion would emit (the transport has its own tests). */
function collector(): AuditSink & { events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  return { events, emit: (e) => events.push(e), close: async () => undefined };
}

/** A sink that takes pre-encoded JSON too, as the syslog sink does: what the data events' fast path hands over. */
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

const who: SessionIdentity = {
  sessionID: 's-1',
  connectionID: 'c-1',
  username: 'alice',
  targetUsername: 'root',
  hostID: 'db-1',
  hostAddress: '127.0.0.1:22',
  remoteAddress: '127.0.0.1:40000',
};
const at = Date.parse('2026-01-02T03:04:05.000Z');
const clock = () => at;
const ALL = [...SENSITIVE_EVENTS];

describe('selectSensitiveEvents', () => {
  it('selects the configured events only when audit is enabled and syslog is configured', () => {
    const syslog = { address: 'syslog:5514' };
    expect(selectSensitiveEvents({ enabled: true, events: ['stdin', 'stdout'], syslog })).toEqual(['stdin', 'stdout']);
    expect(selectSensitiveEvents({ enabled: true, syslog })).toEqual(['stdin', 'stdout', 'stderr', 'channel_request', 'global_request']);
    // syslog disabled: sensitive events are not emitted at all
    expect(selectSensitiveEvents({ enabled: true, events: ['stdin'] })).toEqual([]);
    expect(selectSensitiveEvents({ enabled: false, events: ['stdin'], syslog })).toEqual([]);
    expect(selectSensitiveEvents(undefined)).toEqual([]);
  });
});

describe('ConnectionAudit', () => {
  it('maps the bastion events to the wire model, numbering the connection\'s events', () => {
    // GIVEN a connection's audit over a collecting sink
    const sink = collector();
    const a = createAudit(sink, { sensitiveEvents: ALL, now: clock }).open(who);
    // WHEN a session starts, a request and a keystroke pass, and it ends
    a.sessionStart({ recording: true });
    a.channelRequest(0, 'exec', { accepted: true, command: 'id' });
    a.data(0, 'stdin', Buffer.from('pw\r'));
    a.sessionEnd({ bytesIn: 3, bytesOut: 0 });
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

  it('emits start, data, requests, transfer and end with the identity, the clock and a sequence number', () => {
    // GIVEN a session auditing every event
    const sink = collector();
    const a = createAudit(sink, { sensitiveEvents: ALL, now: clock }).open(who);
    // WHEN a short session happens
    a.sessionStart({ recording: true, recorder: 'recorder-0' });
    a.channelRequest(0, 'pty-req', { term: 'xterm', cols: 80, rows: 24 });
    a.data(0, 'stdin', Buffer.from('id\r'));
    a.data(0, 'stdout', Buffer.from('uid=0(root)\r\n'));
    a.globalRequest('keepalive@openssh.com', { wantReply: true });
    a.fileTransfer(1, { protocol: 'sftp', direction: 'upload', path: '/tmp/a', size: 3, sha256: 'ab', complete: true });
    a.sessionEnd({ reason: 'client closed' });
    // THEN every event carries the identity, the time and its place in the session
    expect(sink.events.map((e) => [e.event, e.exposure, e.details.seq])).toEqual([
      ['session_start', 'SSH-PRIVX-AUDIT', 1],
      ['channel_request', 'SSH-PRIVX-SENSITIVE-AUDIT', 2],
      ['stdin', 'SSH-PRIVX-SENSITIVE-AUDIT', 3],
      ['stdout', 'SSH-PRIVX-SENSITIVE-AUDIT', 4],
      ['global_request', 'SSH-PRIVX-SENSITIVE-AUDIT', 5],
      ['file_transfer', 'SSH-PRIVX-AUDIT', 6],
      ['session_end', 'SSH-PRIVX-AUDIT', 7],
    ]);
    expect(sink.events[0]).toMatchObject({ ...who, timestamp: '2026-01-02T03:04:05.000Z', details: { recording: true, recorder: 'recorder-0' } });
    expect(sink.events[1]?.details).toEqual({ term: 'xterm', cols: 80, rows: 24, channel: 0, request: 'pty-req', seq: 2 });
    expect(sink.events[2]?.details).toEqual({ channel: 0, data: 'id\r', encoding: 'utf8', seq: 3 });
    expect(sink.events[5]?.details).toMatchObject({ path: '/tmp/a', size: 3, sha256: 'ab', direction: 'upload' });
  });

  it('puts the fields on the wire in the order the bastion always sent them', () => {
    // GIVEN a connection's audit
    const sink = collector();
    const a = createAudit(sink, { sensitiveEvents: ALL, now: clock }).open(who);
    // WHEN each kind of event the bastion sends is emitted
    a.sessionStart({ recording: true, recorder: 'recorder-0' });
    a.channelRequest(0, 'env', { variable: 'LANG', value: 'C', accepted: true });
    a.globalRequest('tcpip-forward', { accepted: false, bindAddr: '0.0.0.0', bindPort: 8080 });
    a.fileTransfer(1, { protocol: 'scp', direction: 'download', path: '/etc/motd', size: 0, complete: false });
    a.sessionEnd({ bytesIn: 1, bytesOut: 2 });
    // THEN their JSON is, key by key, what it was
    const tail = (e: AuditEvent) => toJson(e).slice(toJson(e).indexOf('"event":'));
    expect(sink.events.map(tail)).toEqual([
      '"event":"session_start","recording":true,"recorder":"recorder-0","seq":1}',
      '"event":"channel_request","channel":0,"variable":"LANG","value":"C","accepted":true,"request":"env","seq":2}',
      '"event":"global_request","accepted":false,"bindAddr":"0.0.0.0","bindPort":8080,"request":"tcpip-forward","seq":3}',
      '"event":"file_transfer","channel":1,"protocol":"scp","direction":"download","path":"/etc/motd","size":0,"complete":false,"seq":4}',
      '"event":"session_end","bytesIn":1,"bytesOut":2,"seq":5}',
    ]);
  });

  it('emits only the selected sensitive events, and always the non-sensitive ones', () => {
    // GIVEN a session selecting stdout only
    const sink = collector();
    const a = createAudit(sink, { sensitiveEvents: ['stdout'], now: clock }).open(who);
    // WHEN input, output, requests happen
    a.sessionStart({ recording: false });
    a.data(0, 'stdin', Buffer.from('secret'));
    a.data(0, 'stderr', Buffer.from('oops'));
    a.data(0, 'stdout', Buffer.from('out'));
    a.channelRequest(0, 'env', { name: 'TOKEN', value: 'x' });
    a.globalRequest('tcpip-forward');
    // THEN only start and stdout are emitted
    expect(sink.events.map((e) => e.event)).toEqual(['session_start', 'stdout']);
    expect(a.wants('stdin')).toBe(false);
    expect(a.wants('stdout')).toBe(true);
  });

  it('emits nothing sensitive when none is selected (syslog disabled)', () => {
    const sink = collector();
    const a = createAudit(sink, { sensitiveEvents: [], now: clock }).open(who);
    a.data(0, 'stdin', Buffer.from('hunter2'));
    a.channelRequest(0, 'exec', { command: 'cat /etc/shadow' });
    expect(sink.events).toEqual([]);
  });

  it('splits large output into numbered parts that together are the output', () => {
    // GIVEN 20000 bytes of output and 8 KiB per event
    const sink = collector();
    const a = createAudit(sink, { sensitiveEvents: ['stdout'], now: clock }).open(who);
    const out = 'abcdefghij'.repeat(2000);
    // WHEN it passes
    a.data(3, 'stdout', Buffer.from(out));
    // THEN three events carry it, numbered, with increasing sequence numbers
    expect(sink.events.map((e) => [e.details.part, e.details.parts, e.details.seq, e.details.channel])).toEqual([
      [1, 3, 1, 3],
      [2, 3, 2, 3],
      [3, 3, 3, 3],
    ]);
    expect(sink.events.map((e) => e.details.data).join('')).toBe(out);
  });

  it('splits large data and base64-encodes bytes that are not UTF-8', () => {
    const sink = collector();
    const a = createAudit(sink, { sensitiveEvents: ALL, maxDataBytes: 1024 }).open(who);
    a.data(1, 'stdout', Buffer.alloc(3000, 'z'));
    a.data(1, 'stdout', Buffer.from([0xc3, 0x28]));
    expect(sink.events.map((e) => [e.details.part, e.details.parts, e.details.encoding])).toEqual([
      [1, 3, 'utf8'],
      [2, 3, 'utf8'],
      [3, 3, 'utf8'],
      [undefined, undefined, 'base64'],
    ]);
    expect(sink.events[3]?.details.data).toBe(Buffer.from([0xc3, 0x28]).toString('base64'));
  });

  it('ignores empty data', () => {
    const sink = collector();
    createAudit(sink, { sensitiveEvents: ['stdout'] }).open(who).data(0, 'stdout', Buffer.alloc(0));
    expect(sink.events).toEqual([]);
  });

  it('carries a refusal before authentication, with what is known', () => {
    const sink = collector();
    createAudit(sink, { now: clock }).open({ connectionID: 'c-2', remoteAddress: '10.0.0.9:5000' }).refused('unknown_key', 'this key is not authorized');
    expect(sink.events[0]).toMatchObject({
      event: 'connection_refused',
      exposure: 'SSH-PRIVX-AUDIT',
      username: '',
      sessionID: '',
      remoteAddress: '10.0.0.9:5000',
      details: { reason: 'unknown_key', message: 'this key is not authorized', seq: 1 },
    });
  });

  it("carries the operator's detail of a refusal beside the message the person saw", () => {
    const sink = collector();
    createAudit(sink, { now: clock })
      .open({ connectionID: 'c-4', username: 'bob', remoteAddress: '10.0.0.9:5000' })
      .refused('no_access', 'srec: "db-1" is not a host you can connect to through this recorder', 'bob has no access to db-1');
    expect(sink.events[0]!.details).toEqual({
      reason: 'no_access',
      message: 'srec: "db-1" is not a host you can connect to through this recorder',
      detail: 'bob has no access to db-1',
      seq: 1,
    });
  });

  it('emits a non-sensitive refusal with what is known of the connection', () => {
    const sink = collector();
    createAudit(sink, { now: () => 0 }).open({ username: 'alice', remoteAddress: '10.1.2.3:5', hostID: 'db-9' }).refused('unknown host');
    expect(sink.events).toEqual([
      expect.objectContaining({
        exposure: 'SSH-PRIVX-AUDIT',
        event: 'connection_refused',
        username: 'alice',
        sessionID: '',
        hostID: 'db-9',
        timestamp: '1970-01-01T00:00:00.000Z',
        details: { reason: 'unknown host', seq: 1 },
      }),
    ]);
  });

  it('carries what became known of the connection on the events after it', () => {
    // GIVEN a connection known by its address only
    const sink = jsonCollector();
    const a = createAudit(sink, { sensitiveEvents: ALL, now: clock }).open({ connectionID: 'c-3', remoteAddress: '10.0.0.9:5000' });
    // WHEN the person authenticates and the session opens
    a.refused('unknown_key');
    a.identify({ username: 'bob' });
    a.identify({ targetUsername: 'root', hostID: 'db-1', hostAddress: '10.0.0.5' });
    a.identify({ sessionID: 's-3' });
    a.data(0, 'stdout', Buffer.from('x'));
    // THEN the refusal has the address only, the data the whole identity
    expect(sink.events[0]).toMatchObject({ connectionID: 'c-3', username: '', hostID: '', sessionID: '' });
    expect(sink.events[1]).toMatchObject({ connectionID: 'c-3', username: 'bob', targetUsername: 'root', hostID: 'db-1', hostAddress: '10.0.0.5', sessionID: 's-3' });
    expect(JSON.parse(sink.json[1]!)).toMatchObject({ username: 'bob', hostID: 'db-1', sessionID: 's-3' });
  });

  it('numbers every event of a connection once, refusals before login and events after the end included', () => {
    // GIVEN a connection refused twice before it logs in, then a session, and a request after its end
    const sink = collector();
    const a = createAudit(sink, { sensitiveEvents: ALL, now: clock }).open(who);
    a.refused('unknown_key');
    a.refused('unknown_key');
    a.sessionStart({ recording: true });
    a.data(0, 'stdout', Buffer.from('x'));
    a.channelExit(0, { status: 3 });
    a.sessionEnd({ reason: 'client_closed', exit: { status: 3 }, bytesIn: 0, bytesOut: 1 });
    a.globalRequest('keepalive@openssh.com', { accepted: false });
    // THEN seq never repeats, so a SIEM that keys on (connectionID, seq) keeps them all
    expect(sink.events.map((e) => [e.event, e.details.seq])).toEqual([
      ['connection_refused', 1],
      ['connection_refused', 2],
      ['session_start', 3],
      ['stdout', 4],
      ['channel_exit', 5],
      ['session_end', 6],
      ['global_request', 7],
    ]);
    // AND the exit is on both channel_exit and session_end, with the reason
    expect(sink.events[4]!.details).toEqual({ channel: 0, exitStatus: 3, seq: 5 });
    expect(sink.events[5]!.details).toEqual({ reason: 'client_closed', exitStatus: 3, bytesIn: 0, bytesOut: 1, seq: 6 });
  });

  it('reports a command killed by a signal by its signal name', () => {
    const sink = collector();
    const a = createAudit(sink, { now: clock }).open(who);
    a.channelExit(2, { signal: 'SIGKILL', coreDumped: true });
    expect(sink.events[0]).toMatchObject({ event: 'channel_exit', exposure: 'SSH-PRIVX-AUDIT', details: { channel: 2, exitSignal: 'SIGKILL', coreDumped: true } });
  });

  it('never throws into the bastion', () => {
    const sink: AuditSink = {
      emit: () => {
        throw new Error('boom');
      },
      emitJson: () => {
        throw new Error('boom');
      },
      close: async () => undefined,
    };
    const a = createAudit(sink, { sensitiveEvents: ALL }).open(who);
    expect(() => a.data(0, 'stdout', Buffer.from('x'))).not.toThrow();
    expect(() => a.sessionStart({ recording: true })).not.toThrow();
    expect(() => a.channelRequest(0, 'exec', { command: 'id', weird: { toJSON: () => { throw new Error('no'); } } })).not.toThrow();
  });
});

describe('the data-event fast path', () => {
  /**
   * Every kind of data the bastion relays, on two connections, with an identity that changes as a connection
   * authenticates, the clock moving on, and events that are not data among them. Returns the data calls made.
   */
  function session(audit: Audit, time: { ms: number }): number {
    const a = audit.open(who);
    const data: [number, 'stdin' | 'stdout' | 'stderr', Buffer][] = [
      [0, 'stdout', Buffer.from('total 0\r\ndrwxr-xr-x 2 root root 4096 .\r\n')],
      [0, 'stdin', Buffer.from('sudo -i\r')],
      [1, 'stdout', Buffer.from('\x1b[1;32mgreen\x1b[0m "quoted" back\\slash\ttab \u2028 ✓ 😀\n')],
      [2, 'stderr', Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41])],
      [0, 'stdout', Buffer.alloc(20_000, 'a')],
      [0, 'stdout', Buffer.concat([Buffer.alloc(9000, '\x1b'), Buffer.from([0xc3]), Buffer.alloc(5000, 0xff)])],
      [0, 'stdout', Buffer.from('ä'.repeat(5000))],
      [0, 'stdout', Buffer.alloc(0)],
    ];
    for (const [ch, stream, bytes] of data) a.data(ch, stream, bytes);
    a.channelRequest(0, 'pty-req', { term: 'xterm', accepted: true });
    const b = audit.open({ connectionID: 'c-2', remoteAddress: '10.0.0.9:5000' });
    b.data(0, 'stdin', Buffer.from('before login'));
    b.identify({ username: 'bob' });
    b.data(0, 'stdin', Buffer.from('after login'));
    b.identify({ sessionID: 's-2', hostAddress: '10.0.0.6:2222' });
    b.data(0, 'stdout', Buffer.from('"\\u0000"\u0000'));
    time.ms += 1;
    a.data(0, 'stdout', Buffer.from('same connection, the next millisecond'));
    a.sessionEnd({ bytesIn: 10, bytesOut: 20 });
    return data.length + 4;
  }

  it('makes the same events and, byte for byte, the same JSON as the general mapping', () => {
    // GIVEN the same session through a sink that takes JSON (the fast path) and one that does not
    const fast = jsonCollector();
    const general = collector();
    const fastTime = { ms: at };
    const generalTime = { ms: at };
    const calls = session(createAudit(fast, { sensitiveEvents: ALL, now: () => fastTime.ms }), fastTime);
    session(createAudit(general, { sensitiveEvents: ALL, now: () => generalTime.ms }), generalTime);
    // THEN the events are equal, every data event came with its JSON, and that is the general encoder's
    expect(fast.events).toEqual(general.events);
    const plainData = fast.events.map((e) => ['stdin', 'stdout', 'stderr'].includes(e.event));
    expect(fast.json.map((j) => j !== undefined)).toEqual(plainData);
    expect(plainData.filter(Boolean).length).toBeGreaterThan(calls);
    fast.json.forEach((j, i) => {
      if (j !== undefined) expect(j).toBe(toJson(general.events[i]!));
    });
    // and CEF, which encodes the event object, gets the same object
    fast.events.forEach((e, i) => expect(syslogEncoder('cef', { hostname: 'h', procId: '1' })(e)).toBe(syslogEncoder('cef', { hostname: 'h', procId: '1' })(general.events[i]!)));
  });

  it('puts the same bytes on the syslog wire as the general mapping', async () => {
    // GIVEN a syslog sink to a listener
    const siem = await startTcpSiem();
    const sink = createAuditSink({ syslog: { address: `127.0.0.1:${siem.port}` }, hostname: 'recorder-0' }, new Registry(), createLogger({ component: 'test', silent: true }));
    try {
      const through = (s: AuditSink) => {
        const time = { ms: at };
        session(createAudit(s, { sensitiveEvents: ALL, now: () => time.ms }), time);
      };
      const counted = collector();
      through(counted);
      const n = counted.events.length;
      // WHEN the same session goes through the general mapping (the sink's emitJson hidden), then through the fast path
      through({ emit: (e) => sink.emit(e), close: async () => undefined });
      await waitFor('the general messages', () => siem.messages.length === n);
      through(sink);
      await waitFor('the fast messages', () => siem.messages.length === 2 * n);
      // THEN the messages are identical, byte for byte
      expect(siem.messages.slice(n)).toEqual(siem.messages.slice(0, n));
    } finally {
      await sink.close();
      await siem.stop();
    }
  });
});

describe('the text budget of a channel without a pty (audit.bulkData: summary)', () => {
  const KiB = 1024;
  const text = (n: number) => Buffer.alloc(n, 'log line of text\n');
  const sent = (sink: ReturnType<typeof collector>) =>
    sink.events.filter((e) => e.event === 'stdout').reduce((n, e) => n + Buffer.from(String(e.details.data), e.details.encoding === 'base64' ? 'base64' : 'utf8').length, 0);

  it('sends 1 MiB at once, then 256 KiB a second; the rest is counted in a text_rate summary with the whole stream’s sha256', () => {
    const sink = collector();
    const time = { ms: at };
    const a = createAudit(sink, { sensitiveEvents: ALL, now: () => time.ms }).open(who);
    const ch = a.channelData(0, { pty: false });
    const all: Buffer[] = [];
    const put = (b: Buffer) => {
      all.push(b);
      ch.data('stdout', b);
    };
    // WHEN 2 MiB of text come at once
    for (let i = 0; i < 64; i++) put(text(32 * KiB));
    // THEN the first MiB goes out, the second does not
    expect(sent(sink)).toBe(1024 * KiB);
    // WHEN a second passes and 512 KiB more come
    time.ms += 1000;
    for (let i = 0; i < 16; i++) put(text(32 * KiB));
    // THEN 256 KiB of it go out
    expect(sent(sink)).toBe(1280 * KiB);
    // AND the summary counts what was left out, with the sha256 of everything
    ch.close();
    const summary = sink.events.find((e) => e.event === 'data_summary');
    expect(summary?.details).toMatchObject({
      stream: 'stdout',
      bytes: 2560 * KiB,
      omittedBytes: 1280 * KiB,
      omittedChunks: 40,
      reason: 'text_rate',
      sha256: createHash('sha256').update(Buffer.concat(all)).digest('hex'),
    });
  });

  it('never goes over the burst, however long the stream was quiet; a pty channel and bulkData: events send everything', () => {
    const sink = collector();
    const time = { ms: at };
    const audit = createAudit(sink, { sensitiveEvents: ALL, now: () => time.ms });
    const ch = audit.open(who).channelData(0, { pty: false });
    time.ms += 3_600_000;
    for (let i = 0; i < 48; i++) ch.data('stdout', text(32 * KiB));
    expect(sent(sink)).toBe(1024 * KiB);
    const pty = audit.open(who).channelData(1, { pty: true });
    for (let i = 0; i < 48; i++) pty.data('stdout', text(32 * KiB));
    expect(sent(sink)).toBe(1024 * KiB + 1536 * KiB);
    const every = collector();
    const all = createAudit(every, { sensitiveEvents: ALL, now: () => time.ms, bulkData: 'events' }).open(who).channelData(0, { pty: false });
    for (let i = 0; i < 48; i++) all.data('stdout', text(32 * KiB));
    expect(sent(every)).toBe(1536 * KiB);
  });
});

describe('text after binary data (audit.bulkData: summary)', () => {
  it('sends a text chunk even when the binary chunk before it ended like the start of a character', () => {
    const sink = collector();
    const ch = createAudit(sink, { sensitiveEvents: ALL, now: clock }).open(who).channelData(0, { pty: false });
    // GIVEN binary data whose last bytes are valid UTF-8 up to a lead byte (0xe2 begins a 3-byte character)
    ch.data('stdout', Buffer.from([0xff, 0xfe, 0x00]));
    ch.data('stdout', Buffer.from([0x41, 0xe2]));
    // WHEN a line of text follows
    ch.data('stdout', Buffer.from('text-after-binary\n'));
    ch.close();
    // THEN the line goes out; the summary counts only the binary chunk
    expect(sink.events.filter((e) => e.event === 'stdout').map((e) => e.details.data).join('')).toContain('text-after-binary');
    expect(sink.events.find((e) => e.event === 'data_summary')?.details).toMatchObject({ omittedBytes: 3, omittedChunks: 1, reason: 'binary' });
  });
});
