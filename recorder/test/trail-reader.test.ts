// The one reader of a session's recordings on damaged files: what could be read is handed over, and the
// result names what is wrong instead of throwing.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { readCast, readChannelLog } from '../src/trail/reader.js';
import { tempDataFolder } from './support/trail-fixture.js';

describe('trail reader', () => {
  let tmp: ReturnType<typeof tempDataFolder>;
  beforeEach(() => (tmp = tempDataFolder()));
  afterEach(() => tmp.cleanup());

  it('reads a channel log cut short up to the cut and says it is incomplete', async () => {
    // GIVEN a log whose gzip stream was flushed after two entries and then cut (a crashed writer)
    const lines = ['{"t":0,"ch":0,"type":"open","channel":"session"}', '{"t":0.1,"ch":0,"type":"request","request":"shell","accepted":true}', '{"t":5,"ch":0,"type":"close","bytesIn":1,"bytesOut":2}'];
    const gz = zlib.createGzip();
    const chunks: Buffer[] = [];
    gz.on('data', (c: Buffer) => chunks.push(c));
    gz.write(lines.slice(0, 2).join('\n') + '\n');
    await new Promise<void>((r) => gz.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    writeFileSync(path.join(tmp.dir, 'channels.jsonl.gz'), Buffer.concat(chunks));
    gz.destroy();
    // WHEN it is read
    const log = await readChannelLog(tmp.dir);
    // THEN the two entries are there, and the log is named as cut short
    expect(log.entries.map((e) => e.type)).toEqual(['open', 'request']);
    expect(log).toMatchObject({ complete: false, problem: expect.stringMatching(/^truncated/) });
  });

  it('skips cast lines that are not events, counts them, and keeps times from going back', async () => {
    // GIVEN a cast with a broken line and an event earlier than the one before it
    const text = ['{"version":2,"width":80,"height":24,"timestamp":0}', '[1,"o","a"]', 'not json', '[0.5,"o","b"]', '["x","o","c"]', ''].join('\n');
    const file = path.join(tmp.dir, 'ch-0.cast.gz');
    writeFileSync(file, zlib.gzipSync(text));
    // WHEN it is read
    const events: Array<[number, string, string]> = [];
    const r = await readCast(file, { event: (t, code, data) => void events.push([t, code, data]) });
    // THEN the good events come through, in order of time, and the result says what was skipped
    expect(events).toEqual([
      [1, 'o', 'a'],
      [1, 'o', 'b'],
    ]);
    expect(r).toMatchObject({ complete: false, events: 2, problem: '2 malformed event line(s) skipped' });
  });
});
