// GzipFile's levels: interactive output deflated as it comes, bulk output stored during the session and
// repacked after it; CastWriter's batching. Real files, real zlib.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import zlib from 'node:zlib';
import { CastWriter, encodeEvent } from '../src/trail/asciicast.js';
import { BULK_LEVEL, GzipFile, INTERACTIVE_LEVEL } from '../src/trail/gzip-file.js';

async function tmpFile(name: string): Promise<string> {
  return path.join(await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-gzip-')), name);
}

/** Log-like text that compresses about 4x, as the throughput benchmark's does. */
function logText(bytes: number): Buffer {
  const lines: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const line = `2025-03-01T10:00:${String(i % 60).padStart(2, '0')}.000Z web-${i % 7} INFO request id=${randomBytes(6).toString('hex')} path=/api/v1/items/${i % 1000} status=200\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

async function writeAll(file: GzipFile, data: Buffer, chunk: number): Promise<void> {
  for (let off = 0; off < data.length; off += chunk) {
    if (!file.write(data.subarray(off, off + chunk))) await new Promise<void>((r) => file.onceDrain(r));
  }
}

describe('GzipFile', () => {
  it('stores bulk input during the session and repacks it at close into a smaller file with the same bytes', async () => {
    // GIVEN a file fed 8 MiB of text as fast as it takes it
    const p = await tmpFile('bulk.gz');
    const file = new GzipFile(p, { flushIntervalMs: 60_000 });
    const data = logText(8 << 20);
    await writeAll(file, data, 32 * 1024);
    // THEN it switched to the stored level while the input came faster than the bulk rate
    expect(file.compressionLevel).toBe(BULK_LEVEL);
    // WHEN it is closed
    const size = await file.close();
    // THEN the file is one valid gzip stream of exactly the input, deflated (not stored) and no leftovers
    const onDisk = await fsp.readFile(p);
    expect(size).toBe(onDisk.length);
    expect(zlib.gunzipSync(onDisk).equals(data)).toBe(true);
    expect(onDisk.length).toBeLessThan(data.length / 2);
    expect(await fsp.readdir(path.dirname(p))).toEqual(['bulk.gz']);
    expect((await fsp.stat(p)).mode & 0o777).toBe(0o600);
  });

  it('deflates slow input at the interactive level and does not repack it', async () => {
    // GIVEN a file fed a few keystroke-sized writes
    const p = await tmpFile('slow.gz');
    const file = new GzipFile(p, { flushIntervalMs: 60_000 });
    for (const s of ['ls -l\r\n', 'total 0\r\n', 'exit\r\n']) file.write(s);
    // THEN it stays at the interactive level, and the closed file decodes to the input
    expect(file.compressionLevel).toBe(INTERACTIVE_LEVEL);
    await file.close();
    expect(zlib.gunzipSync(await fsp.readFile(p)).toString()).toBe('ls -l\r\ntotal 0\r\nexit\r\n');
  });

  it('returns to the interactive level once the rate falls, and the members decode in order', async () => {
    // GIVEN bulk input, then a quiet flush interval, then slow input
    const p = await tmpFile('mixed.gz');
    const file = new GzipFile(p, { flushIntervalMs: 50, bulkBytesPerInterval: 64 * 1024 });
    const bulk = logText(1 << 20);
    await writeAll(file, bulk, 16 * 1024);
    expect(file.compressionLevel).toBe(BULK_LEVEL);
    await new Promise((r) => setTimeout(r, 200));
    expect(file.compressionLevel).toBe(INTERACTIVE_LEVEL);
    file.write('after the burst\n');
    // WHEN a recorder dies before close: what was flushed decodes, across the members
    await new Promise((r) => setTimeout(r, 120));
    const midway = zlib.gunzipSync(await fsp.readFile(p), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    expect(Buffer.concat([bulk, Buffer.from('after the burst\n')]).equals(midway)).toBe(true);
    // AND after close the whole file is one valid gzip stream of everything
    await file.close();
    const all = zlib.gunzipSync(await fsp.readFile(p));
    expect(all.equals(Buffer.concat([bulk, Buffer.from('after the burst\n')]))).toBe(true);
  });
});

describe('CastWriter', () => {
  it('writes one line per event, in order, when a burst of events comes in one event-loop turn', async () => {
    // GIVEN a cast fed input, output and a resize in the same turn
    const p = await tmpFile('ch-0.cast.gz');
    const start = Date.parse('2024-03-05T10:00:00Z');
    let now = start;
    const cast = new CastWriter(new GzipFile(p), { cols: 80, rows: 24, startMs: start }, () => now);
    cast.input(Buffer.from('l'));
    now += 1;
    cast.output(Buffer.from('l'));
    cast.resize(100, 30);
    cast.output(Buffer.from('s\r\n'));
    await cast.close();
    // THEN the lines are exactly the events' encodings, in the order they came
    const lines = zlib.gunzipSync(await fsp.readFile(p)).toString().split('\n');
    expect(lines.slice(1, 5)).toEqual(
      [encodeEvent([0, 'i', 'l']), encodeEvent([0.001, 'o', 'l']), encodeEvent([0.001, 'r', '100x30']), encodeEvent([0.001, 'o', 's\r\n'])].map((l) => l.trimEnd()),
    );
    expect(lines[5]).toBe('');
  });
});

describe('CastWriter encoding', () => {
  it('writes exactly the bytes of encodeEvent() for ASCII, UTF-8 split across chunks, escapes, binary and batches larger than one write', async () => {
    // GIVEN chunks of every kind: plain text, quotes and backslashes, control bytes, multi-byte characters
    // split across chunks, invalid UTF-8, a 300 KiB chunk, and many small ones
    const p = await tmpFile('ch-1.cast.gz');
    const start = Date.parse('2024-03-05T10:00:00Z');
    let now = start;
    const cast = new CastWriter(new GzipFile(p), { cols: 80, rows: 24, startMs: start }, () => now);
    const euro = Buffer.from('€ and 😀');
    const chunks: [('o' | 'e' | 'i'), Buffer][] = [
      ['o', Buffer.from('plain "quoted" back\\slash\ttab\r\n')],
      ['o', Buffer.from('\x1b[1;31mred\x1b[0m\x00\x07\x7f')],
      ['o', euro.subarray(0, 2)],
      ['o', euro.subarray(2, 9)],
      ['o', euro.subarray(9)],
      ['e', Buffer.from([0xff, 0xfe, 0x41, 0xc3])],
      ['e', Buffer.from('after invalid')],
      ['i', randomBytes(4096)],
      ['o', logText(300 * 1024)],
      ...Array.from({ length: 200 }, (_, i): ['i', Buffer] => ['i', Buffer.from(String.fromCharCode(97 + (i % 26)))]),
    ];
    const expected: string[] = [];
    const decoders = { o: new StringDecoder('utf8'), e: new StringDecoder('utf8'), i: new StringDecoder('utf8') };
    for (const [kind, data] of chunks) {
      now += 7;
      if (kind === 'o') cast.output(data);
      else if (kind === 'e') cast.stderr(data);
      else cast.input(data);
      const text = decoders[kind].write(data);
      if (text !== '') expected.push(encodeEvent([(now - start) / 1000, kind === 'i' ? 'i' : 'o', text]));
    }
    now += 1;
    await cast.close();
    const tail = decoders.e.end();
    if (tail !== '') expected.push(encodeEvent([(now - start) / 1000, 'o', tail]));
    // THEN every line after the header is byte for byte what encodeEvent() gives
    const text = zlib.gunzipSync(await fsp.readFile(p)).toString('utf8');
    const body = text.slice(text.indexOf('\n') + 1);
    expect(body).toBe(expected.join(''));
  });
});
