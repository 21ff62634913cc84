import { toCef } from '../src/audit/cef.js';
import { AUDIT, encodeChunks, makeEvent, SENSITIVE_AUDIT, toJson, toWireObject, type SessionIdentity } from '../src/audit/event.js';
import { frameOctetCounted, syslogEncoder } from '../src/audit/syslog.js';

const who: SessionIdentity = {
  sessionID: 'b2c6a0a4-1f7e-4c36-9a55-0d3c1d1c0e11',
  connectionID: 'c-1',
  username: 'alice',
  targetUsername: 'root',
  hostID: 'db-1',
  hostAddress: '10.0.0.5',
  remoteAddress: '10.1.2.3:51234',
};
const at = new Date('2026-01-02T03:04:05.678Z');

describe('audit events', () => {
  it('labels session content sensitive and everything else not, from the event name alone', () => {
    // GIVEN/WHEN events of every kind
    // THEN the exposure follows from the name
    for (const e of ['stdin', 'stdout', 'stderr', 'channel_request', 'global_request'] as const) {
      expect(makeEvent(who, e, at).exposure).toBe(SENSITIVE_AUDIT);
    }
    for (const e of ['session_start', 'session_end', 'connection_refused', 'file_transfer', 'events_dropped', 'forward_open', 'forward_close', 'forward_refused'] as const) {
      expect(makeEvent(who, e, at).exposure).toBe(AUDIT);
    }
  });

  it('puts the CONTRACT §5 fields on the wire, audit-exposure first, details never replacing them', () => {
    // GIVEN a stdout event whose details try to override common fields
    const e = makeEvent(who, 'stdout', at, { channel: 0, data: 'hi', encoding: 'utf8', event: 'session_start', username: 'mallory' });
    // WHEN it is put on the wire
    const wire = toWireObject(e);
    // THEN the common fields come first, in order, with their true values
    expect(Object.keys(wire).slice(0, 11)).toEqual([
      'audit-exposure', 'timestamp', 'sessionID', 'connectionID', 'username', 'targetUsername',
      'hostID', 'hostAddress', 'remoteAddress', 'connectionType', 'event',
    ]);
    expect(wire).toMatchObject({
      'audit-exposure': SENSITIVE_AUDIT,
      timestamp: '2026-01-02T03:04:05.678Z',
      username: 'alice',
      connectionType: 'SSH',
      event: 'stdout',
      data: 'hi',
      encoding: 'utf8',
    });
    expect(toJson(e).startsWith('{"audit-exposure":"SSH-PRIVX-SENSITIVE-AUDIT"')).toBe(true);
  });
});

describe('encodeChunks', () => {
  it('keeps valid UTF-8 as text and sends anything else as base64', () => {
    // GIVEN text with a multi-byte character, and bytes that are not UTF-8
    // WHEN encoded
    // THEN text stays text; binary is base64 and decodes back to the same bytes
    expect(encodeChunks(Buffer.from('ls -la ✓\r\n'), 8192)).toEqual([{ data: 'ls -la ✓\r\n', encoding: 'utf8' }]);
    const bin = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    const chunks = encodeChunks(bin, 8192);
    expect(chunks).toEqual([{ data: bin.toString('base64'), encoding: 'base64' }]);
  });

  it('splits large data so every encoded chunk fits, without cutting a character, and loses no byte', () => {
    // GIVEN 20 KiB of text full of escape sequences (which JSON grows six-fold) and multi-byte characters
    const text = '\x1b[31mröd\x1b[0m ✓ '.repeat(1200);
    const bytes = Buffer.from(text);
    // WHEN split at 1 KiB
    const chunks = encodeChunks(bytes, 1024);
    // THEN each chunk's escaped form fits, each is text, and together they are the input
    for (const c of chunks) {
      expect(c.encoding).toBe('utf8');
      expect(Buffer.byteLength(JSON.stringify(c.data)) - 2).toBeLessThanOrEqual(1024);
    }
    expect(chunks.map((c) => c.data).join('')).toBe(text);
  });

  it('splits binary data into base64 chunks that fit and decode back to the input', () => {
    // GIVEN 10000 random-ish bytes that are not UTF-8
    const bytes = Buffer.alloc(10_000, 0);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 0x80) & 0xff;
    // WHEN split at 1000 bytes
    const chunks = encodeChunks(bytes, 1000);
    // THEN every chunk fits and the concatenation is the input
    expect(chunks.every((c) => c.data.length <= 1000)).toBe(true);
    const back = Buffer.concat(chunks.map((c) => Buffer.from(c.data, c.encoding === 'base64' ? 'base64' : 'utf8')));
    expect(back.equals(bytes)).toBe(true);
  });

  it('refuses a chunk size too small to carry anything', () => {
    expect(() => encodeChunks(Buffer.from('x'), 4)).toThrow('maxDataBytes: 4 is not an integer of at least 16');
  });
});

describe('RFC 5424 encoding', () => {
  it('writes PRI (local6), version, timestamp, host, app, procid, the marker as MSGID, no SD, then the JSON', () => {
    // GIVEN a sensitive event
    const e = makeEvent(who, 'stdin', at, { channel: 0, data: 'secret\n', encoding: 'utf8' });
    // WHEN encoded
    const msg = syslogEncoder('syslog', { hostname: 'recorder-0', procId: '42' })(e);
    // THEN the header is RFC 5424 and MSG is the JSON
    expect(msg).toBe(
      `<182>1 2026-01-02T03:04:05.678Z recorder-0 srec-recorder 42 SSH-PRIVX-SENSITIVE-AUDIT - ${toJson(e)}`,
    );
    expect(msg).not.toContain('\n');
  });

  it('uses warning for dropped events and notice for refusals', () => {
    expect(syslogEncoder('syslog', { hostname: 'h' })(makeEvent(who, 'events_dropped', at))).toMatch(/^<180>1 /);
    expect(syslogEncoder('syslog', { hostname: 'h' })(makeEvent(who, 'connection_refused', at))).toMatch(/^<181>1 /);
  });

  it('keeps header fields printable ASCII without spaces', () => {
    const msg = syslogEncoder('syslog', { hostname: 'bad host\n', appName: '' })(makeEvent(who, 'session_start', at));
    expect(msg.split(' ').slice(0, 6)).toEqual(['<182>1', '2026-01-02T03:04:05.678Z', 'badhost', '-', String(process.pid), 'SSH-PRIVX-AUDIT']);
  });

  it('frames by octet count in bytes, not characters', () => {
    expect(frameOctetCounted('ä✓').toString('utf8')).toBe('5 ä✓');
  });
});

describe('CEF encoding', () => {
  it('maps the event to a CEF record with the marker first among the extensions', () => {
    // GIVEN a stdout event with data that needs CEF escaping
    const e = makeEvent(who, 'stdout', at, { channel: 0, data: 'a=b\\c\nd|e', encoding: 'utf8', seq: 7 });
    // WHEN encoded as CEF
    const cef = toCef(e, '0.1.0');
    // THEN header and extensions follow the mapping in docs/audit.md
    expect(cef).toBe(
      'CEF:0|srec|srec-recorder|0.1.0|stdout|SSH session output|5|' +
        'cs1Label=audit-exposure cs1=SSH-PRIVX-SENSITIVE-AUDIT rt=1767323045678 externalId=b2c6a0a4-1f7e-4c36-9a55-0d3c1d1c0e11 ' +
        'cs2Label=connectionID cs2=c-1 suser=alice duser=root dhost=db-1 cs3Label=hostAddress cs3=10.0.0.5 ' +
        'src=10.1.2.3 spt=51234 app=SSH act=stdout cs4Label=encoding cs4=utf8 cs5Label=data cs5=a\\=b\\\\c\\nd|e ' +
        'cn1Label=seq cn1=7 cs6Label=details cs6={"channel":0}',
    );
  });

  it('sends data with control characters as base64, since syslog relays rewrite them', () => {
    const e = makeEvent(who, 'stdout', at, { channel: 0, data: '\x1b[1mbold', encoding: 'utf8' });
    const cef = toCef(e, '0');
    // ('=' of the base64 padding is escaped, as every '=' in a CEF value)
    expect(cef).toContain(`cs4=base64 cs5Label=data cs5=${Buffer.from('\x1b[1mbold').toString('base64').replace(/=/g, '\\=')} `);
  });

  it('maps transfers and drop counts to the standard keys', () => {
    const t = toCef(makeEvent(who, 'file_transfer', at, { channel: 1, protocol: 'sftp', direction: 'upload', path: '/tmp/x', size: 3, sha256: 'ab' }), '0');
    expect(t).toContain('filePath=/tmp/x fsize=3 fileHash=ab cs6Label=details cs6={"channel":1,"protocol":"sftp","direction":"upload"}');
    const d = toCef(makeEvent(who, 'events_dropped', at, { count: 12, sensitive: 10 }), '0');
    expect(d).toMatch(/^CEF:0\|srec\|srec-recorder\|0\|events_dropped\|Audit events dropped\|7\|cs1Label=audit-exposure cs1=SSH-PRIVX-AUDIT /);
    expect(d).toContain('cnt=12');
  });

  it('carries the marker in MSG when wrapped in syslog', () => {
    const msg = syslogEncoder('cef', { hostname: 'h' })(makeEvent(who, 'stdin', at, { channel: 0, data: 'x', encoding: 'utf8' }));
    expect(msg).toMatch(/ SSH-PRIVX-SENSITIVE-AUDIT - CEF:0\|.*cs1=SSH-PRIVX-SENSITIVE-AUDIT /);
  });
});
