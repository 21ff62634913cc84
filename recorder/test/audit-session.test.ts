import type { AuditSink } from '../src/audit/emitter.js';
import type { AuditEvent, SessionIdentity } from '../src/audit/event.js';
import { connectionRefused, selectSensitiveEvents, SessionAudit } from '../src/audit/session.js';

const who: SessionIdentity = {
  sessionID: 's-1',
  connectionID: 'c-1',
  username: 'alice',
  targetUsername: 'root',
  hostID: 'db-1',
  hostAddress: '10.0.0.5',
  remoteAddress: '10.1.2.3:51234',
};

/** Collects what the bastion would emit (the transport has its own tests). */
function collector(): AuditSink & { events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  return { events, emit: (e) => events.push(e), close: async () => undefined };
}

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

describe('SessionAudit', () => {
  const clock = () => new Date('2026-01-02T03:04:05.000Z');

  it('emits start, data, requests, transfer and end with the identity, the clock and a sequence number', () => {
    // GIVEN a session auditing every event
    const sink = collector();
    const a = new SessionAudit({ sink, identity: who, sensitiveEvents: ['stdin', 'stdout', 'stderr', 'channel_request', 'global_request'], now: clock });
    // WHEN a short session happens
    a.sessionStart({ recording: true, recorder: 'recorder-0' });
    a.channelRequest(0, 'pty-req', { term: 'xterm', cols: 80, rows: 24 });
    a.data(0, 'stdin', Buffer.from('id\r'));
    a.data(0, 'stdout', Buffer.from('uid=0(root)\r\n'));
    a.globalRequest('keepalive@openssh.com', { wantReply: true });
    a.fileTransfer({ channel: 1, protocol: 'sftp', direction: 'upload', path: '/tmp/a', size: 3, sha256: 'ab' });
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

  it('emits only the selected sensitive events, and always the non-sensitive ones', () => {
    // GIVEN a session selecting stdout only
    const sink = collector();
    const a = new SessionAudit({ sink, identity: who, sensitiveEvents: ['stdout'], now: clock });
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
    const a = new SessionAudit({ sink, identity: who, sensitiveEvents: [], now: clock });
    a.data(0, 'stdin', Buffer.from('hunter2'));
    a.channelRequest(0, 'exec', { command: 'cat /etc/shadow' });
    expect(sink.events).toEqual([]);
  });

  it('splits large output into numbered parts that together are the output', () => {
    // GIVEN 20000 bytes of output and 8 KiB per event
    const sink = collector();
    const a = new SessionAudit({ sink, identity: who, sensitiveEvents: ['stdout'], now: clock });
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

  it('ignores empty data', () => {
    const sink = collector();
    new SessionAudit({ sink, identity: who, sensitiveEvents: ['stdout'] }).data(0, 'stdout', Buffer.alloc(0));
    expect(sink.events).toEqual([]);
  });
});

describe('connectionRefused', () => {
  it('emits a non-sensitive refusal with what is known of the connection', () => {
    const sink = collector();
    connectionRefused(sink, { username: 'alice', remoteAddress: '10.1.2.3:5', hostID: 'db-9' }, 'unknown host', new Date(0));
    expect(sink.events).toEqual([
      expect.objectContaining({
        exposure: 'SSH-PRIVX-AUDIT',
        event: 'connection_refused',
        username: 'alice',
        sessionID: '',
        hostID: 'db-9',
        timestamp: '1970-01-01T00:00:00.000Z',
        details: { reason: 'unknown host' },
      }),
    ]);
  });
});
