// The one manifest parser: what the writer builds reads back as it was, and a bad manifest is refused
// with a message naming the field.
import { buildManifest, parseManifest } from '../src/trail/manifest.js';
import { sessionIdentity } from './support/identity.js';

function written(): Record<string, unknown> {
  const manifest = buildManifest({
    identity: sessionIdentity(new Date('2025-03-01T10:00:00Z')),
    end: new Date('2025-03-01T10:05:00Z'),
    complete: true,
    recovered: false,
    channels: [
      { id: 0, type: 'session', kind: 'shell', cast: 'ch-0.cast.gz', bytesIn: 3, bytesOut: 40, exitStatus: 0, closed: true },
      { id: 2, type: 'direct-tcpip', destination: '10.0.0.7:5432', origin: '127.0.0.1:50022', streams: { in: 'ch-2.in.raw.gz', out: 'ch-2.out.raw.gz' }, bytesIn: 9, bytesOut: 90, closed: true },
    ],
    transfers: [{ channel: 1, protocol: 'sftp', direction: 'upload', path: '/tmp/a', size: 2, sha256: 'ab', file: 'files/1-a', complete: true, bytes: 2 }],
    files: [{ path: 'ch-0.cast.gz', size: 10, sha256: 'cd' }],
  });
  return JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>;
}

describe('parseManifest', () => {
  it('reads back what the writer builds, keeping fields it does not know', () => {
    // GIVEN a manifest as the writer writes it, with a field from a later writer
    const m = { ...written(), addedLater: { x: 1 } };
    // WHEN it is parsed
    const parsed = parseManifest(JSON.stringify(m));
    // THEN nothing is lost or changed
    expect(parsed).toEqual(m);
  });

  it('gives a manifest written before transfers existed an empty list', () => {
    const { transfers: _transfers, ...old } = written();
    expect(parseManifest(JSON.stringify(old)).transfers).toEqual([]);
  });

  it('refuses a bad manifest with a message naming what is wrong', () => {
    const bad = (change: (m: Record<string, unknown>) => void): string => {
      const m = written();
      change(m);
      try {
        parseManifest(JSON.stringify(m));
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(() => parseManifest('{"version": 1')).toThrow(/^manifest.json is not JSON \(/);
    expect(() => parseManifest('[]')).toThrow('manifest.json: not a JSON object');
    expect(bad((m) => (m.version = 2))).toBe('manifest.json: version 2 is not 1, the only version this srec reads');
    expect(bad((m) => delete m.sessionId)).toBe('manifest.json: sessionId is missing');
    expect(bad((m) => (m.user = 7))).toBe('manifest.json: user is not a string');
    expect(bad((m) => (m.start = 'yesterday'))).toBe('manifest.json: start "yesterday" is not an ISO-8601 time');
    expect(bad((m) => (m.host = 'db-1'))).toBe('manifest.json: host is not an object');
    expect(bad((m) => (m.complete = 'yes'))).toBe('manifest.json: complete is not true or false');
    expect(bad((m) => ((m.channels as Array<Record<string, unknown>>)[0]!.id = '0'))).toBe('manifest.json: channels[0].id is not a number');
    expect(bad((m) => ((m.channels as Array<Record<string, unknown>>)[0]!.kind = 'tty'))).toBe('manifest.json: channels[0].kind is not shell or exec or subsystem');
    expect(bad((m) => ((m.channels as Array<Record<string, unknown>>)[1]!.streams = 'ch-2.raw.gz'))).toBe('manifest.json: channels[1].streams is not an object');
    expect(bad((m) => delete ((m.channels as Array<Record<string, unknown>>)[1]!.streams as Record<string, unknown>).out)).toBe('manifest.json: channels[1].streams.out is missing');
    expect(bad((m) => ((m.transfers as Array<Record<string, unknown>>)[0]!.direction = 'up'))).toBe('manifest.json: transfers[0].direction is not upload or download');
    expect(bad((m) => (m.files = {}))).toBe('manifest.json: files is not a list');
    expect(bad((m) => delete (m.files as Array<Record<string, unknown>>)[0]!.sha256)).toBe('manifest.json: files[0].sha256 is missing');
  });
});
