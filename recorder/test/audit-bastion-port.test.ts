import { createBastionAudit, type BastionEventLike } from '../src/audit/bastion-port.js';
import type { AuditSink } from '../src/audit/emitter.js';
import type { AuditEvent } from '../src/audit/event.js';

function collector(): AuditSink & { events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  return { events, emit: (e) => events.push(e), close: async () => undefined };
}

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
    createBastionAudit(seen).emit(ev({ event: 'something_new', exposure: 'SSH-PRIVX-AUDIT' }));
    expect(seen.events).toEqual([]);
  });
});
