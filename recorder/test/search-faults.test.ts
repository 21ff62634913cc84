import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { searchSessions } from '../src/search/query.js';
import { castText, tempDataFolder, writeSession, type CastEvent } from './support/trail-fixture.js';

/** Text that does not compress away: a realistic amount of output between two commands. */
const filler = Array.from({ length: 4000 }, (_, i) => `${(i * 2654435761) % 1000003} drwxr-xr-x ${i.toString(36)}\r\n`).join('');
const events: CastEvent[] = [
  [1, 'o', 'root@db-1:~# sudo su\r\n'],
  [1.5, 'o', filler],
  [3, 'o', 'root@db-1:~# sudo su\r\n'],
];

describe('search over damaged recordings', () => {
  let data: ReturnType<typeof tempDataFolder>;
  beforeEach(() => (data = tempDataFolder()));
  afterEach(() => data.cleanup());

  it('skips a cast that is not gzip at all, names it, and still returns the other sessions', async () => {
    // GIVEN a good session and one whose cast is garbage
    const good = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    const bad = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    writeFileSync(path.join(bad.dir, 'ch-0.cast.gz'), 'this is not gzip');
    // WHEN searching everything
    const res = await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    // THEN the good session's hits are there, and the bad one is named with its file
    expect(new Set(res.hits.map((h) => h.session))).toEqual(new Set([good.id]));
    expect(res.problems).toEqual([
      { session: bad.id, path: path.join(bad.dir, 'ch-0.cast.gz'), message: expect.stringMatching(/damaged gzip/) },
    ]);
  });

  /** The cast gzipped with a sync flush after its first two events, as the writer flushes every second. */
  async function flushedAfterFirstEvent(): Promise<{ gz: Buffer; flushedAt: number }> {
    const gz = zlib.createGzip();
    const chunks: Buffer[] = [];
    gz.on('data', (c: Buffer) => chunks.push(c));
    const text = castText({ id: 0, events }, 0);
    const lines = text.split('\n');
    const firstEvent = lines.slice(0, 3).join('\n').length + 1; // header + two events
    gz.write(text.slice(0, firstEvent));
    await new Promise<void>((r) => gz.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    const flushedAt = Buffer.concat(chunks).length;
    await new Promise<void>((r) => gz.end(text.slice(firstEvent), () => r()));
    await new Promise<void>((r) => (gz.readableEnded ? r() : gz.on('end', () => r())));
    return { gz: Buffer.concat(chunks), flushedAt };
  }

  it('searches a truncated cast as far as it goes and says it was truncated', async () => {
    // GIVEN a session whose gzip was cut short after a sync flush (the writer crashed)
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    const { gz, flushedAt } = await flushedAfterFirstEvent();
    writeFileSync(path.join(s.dir, 'ch-0.cast.gz'), gz.subarray(0, flushedAt));
    // WHEN searching it
    const res = await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    // THEN what was flushed is found, and the file is named as truncated
    expect(res.hits.map((h) => h.time)).toEqual([1]);
    expect(res.problems).toEqual([{ session: s.id, path: path.join(s.dir, 'ch-0.cast.gz'), message: expect.stringMatching(/^truncated/) }]);
    // AND the index remembers the problem, so a later search says it again
    const again = await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    expect(again.stats.indexesUsed).toBe(1);
    expect(again.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^truncated/)]);
  });

  it('reads a cast damaged in the middle up to the damage and names it', async () => {
    // GIVEN a cast whose bytes after the first flush are overwritten
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    const file = path.join(s.dir, 'ch-0.cast.gz');
    const { gz, flushedAt } = await flushedAfterFirstEvent();
    gz.fill(0xff, flushedAt, flushedAt + 8);
    writeFileSync(file, gz);
    // WHEN searching it
    const res = await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    // THEN the part before the damage is searched, and the file is named
    expect(res.hits.map((h) => h.time)).toEqual([1]);
    expect(res.problems).toEqual([{ session: s.id, path: file, message: expect.stringMatching(/damaged|truncated/) }]);
  });

  it('names a session directory without a readable manifest and searches the rest', async () => {
    const good = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    const broken = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    writeFileSync(path.join(broken.dir, 'manifest.json'), '{"version": 1, "sessionId": ');
    const orphan = path.join(data.dir, '2025', '03', '01', 'no-manifest-here');
    mkdirSync(orphan);
    const res = await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    expect(new Set(res.hits.map((h) => h.session))).toEqual(new Set([good.id]));
    expect(res.problems).toEqual(
      expect.arrayContaining([
        { session: broken.id, path: broken.dir, message: expect.stringMatching(/manifest.json is not JSON/) },
        { session: 'no-manifest-here', path: orphan, message: expect.stringMatching(/no manifest.json/) },
      ]),
    );
  });
});

/** A read-only bind mount of `src` at `dst`, as a share mounted ro; false when this host cannot make one. */
function readOnlyMount(src: string, dst: string): boolean {
  try {
    mkdirSync(dst, { recursive: true });
    execFileSync('mount', ['--bind', src, dst], { stdio: 'ignore' });
    execFileSync('mount', ['-o', 'remount,ro,bind', dst], { stdio: 'ignore' });
    return true;
  } catch {
    try {
      execFileSync('umount', [dst], { stdio: 'ignore' });
    } catch {
      /* was not mounted */
    }
    return false;
  }
}

describe('search on a read-only share', () => {
  it('answers from the recordings and warns that the index could not be stored', async () => {
    // GIVEN a session on a share mounted read-only
    const data = tempDataFolder();
    const src = path.join(data.dir, 'src');
    const ro = path.join(data.dir, 'ro');
    const s = writeSession({ dataFolder: src, channels: [{ id: 0, events }] });
    if (!readOnlyMount(src, ro)) {
      data.cleanup();
      console.warn('skipped: cannot bind-mount read-only here (needs root with CAP_SYS_ADMIN)');
      return;
    }
    try {
      // WHEN searching it
      const res = await searchSessions({ dataFolder: ro, words: 'sudo su' });
      // THEN the hits are there, and a warning names the session and why the index is not kept
      expect(res.hits).toHaveLength(2);
      expect(res.problems).toEqual([{ session: s.id, path: expect.stringContaining(ro), message: expect.stringMatching(/index not stored \(.*read-only file system/i) }]);
      expect(existsSync(path.join(s.dir, 'index'))).toBe(false);
    } finally {
      execFileSync('umount', [ro]);
      rmSync(data.dir, { recursive: true, force: true });
    }
  });
});
