// The capture sinks: content at its offsets, sha256 exact or honestly absent, files 0600 under a 0700 files/.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { FsCaptureSink, MetadataCaptureSink } from '../src/transfer/sink.js';
import { withTempDir } from './support/transfer-harness.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const meta = (path: string) => ({ protocol: 'sftp', direction: 'upload', path }) as const;

/** 8 segments of 1000 bytes written in the order given. */
const segments = (data: Buffer, order: number[]) => order.map((i) => [data.subarray(i * 1000, (i + 1) * 1000), i * 1000] as const);

describe('FsCaptureSink', () => {
  it('stores out-of-order writes at their offsets and hashes them on the fly within the window', async () => {
    await withTempDir(async (dir) => {
      const data = randomBytes(8000);
      const c = new FsCaptureSink({ dir }).open(meta('/srv/report.pdf'));
      for (const [buf, off] of segments(data, [1, 0, 3, 2, 7, 4, 5, 6])) void c.write(buf, off);
      const r = await c.close();
      expect(r).toEqual({ size: 8000, bytes: 8000, sha256: sha256(data), file: 'files/1' });
      expect(await readFile(join(dir, r.file as string))).toEqual(data);
      expect((await stat(join(dir, r.file as string))).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'files'))).mode & 0o777).toBe(0o700);
    });
  });

  it('reads the capture back when the window is too small or a range is rewritten', async () => {
    await withTempDir(async (dir) => {
      const data = randomBytes(8000);
      const sink = new FsCaptureSink({ dir, reorderWindow: 0 });
      const reversed = sink.open(meta('/a'));
      for (const [buf, off] of segments(data, [7, 6, 5, 4, 3, 2, 1, 0])) void reversed.write(buf, off);
      expect(await reversed.close()).toEqual({ size: 8000, bytes: 8000, sha256: sha256(data), file: 'files/1' });

      const rewritten = sink.open(meta('/b'));
      void rewritten.write(Buffer.alloc(8000, 1), 0);
      void rewritten.write(data.subarray(0, 4000), 0);
      void rewritten.write(data.subarray(4000), 4000);
      expect(await rewritten.close()).toEqual({ size: 8000, bytes: 16000, sha256: sha256(data), file: 'files/2' });
    });
  });

  it('gives up the content, not the hash, when a write leaves a gap over maxGap', async () => {
    await withTempDir(async (dir) => {
      const c = new FsCaptureSink({ dir, maxGap: 1000 }).open(meta('/sparse'));
      void c.write(Buffer.from('head'), 0);
      void c.write(Buffer.from('tail'), 1_000_000_000_000);
      const r = await c.close();
      expect(r).toEqual({ size: 1_000_000_000_004, bytes: 8, note: 'content not kept: writes leave gaps over 1000 bytes' });
      expect(await readdir(join(dir, 'files'))).toEqual([]);
    });
  });

  it('keeps the sha256 and says why when the content cannot be stored', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'files'), 'not a directory');
      const c = new FsCaptureSink({ dir }).open(meta('/x'));
      void c.write(Buffer.from('abc'));
      expect(await c.close()).toEqual({ size: 3, bytes: 3, sha256: sha256(Buffer.from('abc')), note: expect.stringMatching(/^content not kept: (EEXIST|ENOTDIR)$/) });
    });
  });

  it('never overwrites: a taken name moves to the next number', async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'files'));
      await writeFile(join(dir, 'files', '1'), 'older');
      const sink = new FsCaptureSink({ dir });
      const a = sink.open(meta('/x/same.txt'));
      const b = sink.open(meta('/y/same.txt'));
      void a.write(Buffer.from('a'));
      void b.write(Buffer.from('b'));
      expect([(await a.close()).file, (await b.close()).file].sort()).toEqual(['files/2', 'files/3']);
      expect(await readFile(join(dir, 'files', '1'), 'utf8')).toBe('older');
    });
  });

  it('names copies by number alone, whatever the remote name (255 bytes of UTF-8, separators, control characters)', async () => {
    // GIVEN remote names of 255 bytes (the most a file name may have), and hostile ones
    const longest = '\u6587'.repeat(85);
    expect(Buffer.byteLength(longest)).toBe(255);
    const dir = await mkdtemp(join(tmpdir(), 'srec-sink-long-'));
    const sink = new FsCaptureSink({ dir });
    const data = randomBytes(1000);
    const results = [];
    // WHEN each is captured
    for (const name of [longest, `${'é'.repeat(127)}x`, '..', 'evil\nname\\x']) {
      const c = sink.open(meta(`/remote/${name}`));
      void c.write(data);
      results.push(await c.close());
    }
    // THEN each copy is kept under its number, with the content's sha256
    expect(results.map((r) => [r.file, r.note, r.sha256])).toEqual([1, 2, 3, 4].map((n) => [`files/${n}`, undefined, sha256(data)]));
    for (const r of results) expect(await readFile(join(dir, r.file!))).toEqual(data);
  });

  it('a write far past the end, then a truncate back, keeps the final content and hashes it', async () => {
    await withTempDir(async (dir) => {
      const head = Buffer.from('stays');
      const c = new FsCaptureSink({ dir }).open(meta('/gap'));
      void c.write(head, 0);
      void c.write(Buffer.from('gone'), 100 * 1024 * 1024);
      void c.truncate(head.length);
      const r = await c.close();
      expect(r).toEqual({ size: head.length, bytes: head.length + 4, sha256: sha256(head), file: 'files/1' });
      expect(await readFile(join(dir, 'files', '1'))).toEqual(head);
    });
  });

  it('writes queued behind one another go to the file together, each resolving once its bytes are there', async () => {
    await withTempDir(async (dir) => {
      // GIVEN 1000 contiguous 4 KiB writes made at once (an SFTP upload's packets while the disk is busy),
      // then a cut into them and writes again from the cut
      const data = randomBytes(1000 * 4096);
      const c = new FsCaptureSink({ dir }).open(meta('/bulk'));
      const probe = await open(join(dir, 'probe'), 'w');
      const proto = Object.getPrototypeOf(probe) as { writev: (...a: unknown[]) => Promise<unknown> };
      await probe.close();
      const writev = jest.spyOn(proto, 'writev');
      try {
        const written = Array.from({ length: 1000 }, (_, i) => c.write(data.subarray(i * 4096, (i + 1) * 4096), i * 4096));
        // THEN a write's promise means its bytes are in the file
        await written[600];
        // (Buffer#equals: jest's toEqual walks megabytes byte by byte)
        expect((await readFile(join(dir, 'files', '1'))).subarray(0, 601 * 4096).equals(data.subarray(0, 601 * 4096))).toBe(true);
        void c.truncate(10 * 4096);
        const tail = randomBytes(3 * 4096);
        void c.write(tail.subarray(0, 4096), 10 * 4096);
        void c.write(tail.subarray(4096), 11 * 4096);
        const r = await c.close();
        // AND the content is the writes in order, the cut included, with its sha256
        const want = Buffer.concat([data.subarray(0, 10 * 4096), tail]);
        expect((await readFile(join(dir, 'files', '1'))).equals(want)).toBe(true);
        expect(r).toMatchObject({ size: want.length, sha256: sha256(want), file: 'files/1' });
        // AND they took a few writev calls, not one call each
        expect(writev.mock.calls.length).toBeGreaterThanOrEqual(3);
        expect(writev.mock.calls.length).toBeLessThan(10);
      } finally {
        writev.mockRestore();
      }
    });
  });
});

describe('MetadataCaptureSink', () => {
  it('hashes out-of-order writes within its window and keeps no content', async () => {
    const data = randomBytes(8000);
    const c = new MetadataCaptureSink().open(meta('/m'));
    for (const [buf, off] of segments(data, [2, 0, 1, 3, 4, 5, 7, 6])) void c.write(buf, off);
    expect(await c.close()).toEqual({ size: 8000, bytes: 8000, sha256: sha256(data) });
  });

  it('drops what a truncate takes back past a gap, and says why there is no sha256 when it cuts hashed bytes', async () => {
    const sink = new MetadataCaptureSink();
    const gap = sink.open(meta('/gap'));
    void gap.write(Buffer.from('stays'), 0);
    void gap.write(Buffer.from('gone'), 100 * 1024 * 1024);
    void gap.truncate(5);
    expect(await gap.close()).toEqual({ size: 5, bytes: 9, sha256: sha256(Buffer.from('stays')) });
    const cut = sink.open(meta('/cut'));
    void cut.write(Buffer.from('hashed already'), 0);
    void cut.truncate(6);
    expect(await cut.close()).toEqual({ size: 6, bytes: 14, note: 'no sha256: a truncate cut content already hashed (content not kept)' });
  });

  it('reports no sha256, and why, when the order is beyond its window or there are holes', async () => {
    const data = randomBytes(8000);
    const small = new MetadataCaptureSink({ reorderWindow: 1500 }).open(meta('/m'));
    for (const [buf, off] of segments(data, [7, 6, 5, 4, 3, 2, 1, 0])) void small.write(buf, off);
    expect(await small.close()).toEqual({ size: 8000, bytes: 8000, note: 'no sha256: data arrived too far out of order to hash on the fly (content not kept)' });

    const holes = new MetadataCaptureSink().open(meta('/resumed'));
    void holes.write(data.subarray(4000), 4000);
    // (a resumed transfer: the ranges seen are reported, and the tracker marks it incomplete)
    expect(await holes.close()).toEqual({ size: 8000, bytes: 4000, seen: [[4000, 8000]], note: 'partial: only bytes 4000-7999 of 8000 seen (a resumed or partial transfer); no sha256' });
  });
});
