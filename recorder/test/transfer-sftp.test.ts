// SftpTracker against the real OpenSSH `sftp` client and `sftp-server`, observed through transfer-tee.mjs.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FsCaptureSink, MetadataCaptureSink } from '../src/transfer/sink.js';
import type { TransferRecord } from '../src/transfer/types.js';
import { TEE, TeeServer, run, withTempDir, type TeeSession } from './support/transfer-harness.js';

const SLOW = 120_000;

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function randomFile(path: string, size: number): Promise<Buffer> {
  const b = randomBytes(size);
  await writeFile(path, b);
  return b;
}

interface World {
  readonly dir: string;
  readonly local: string;
  readonly remote: string;
  readonly session: string;
  readonly files: Record<string, Buffer>;
}

async function world(dir: string, sizes: Record<string, number>): Promise<World> {
  const w = { dir, local: join(dir, 'local'), remote: join(dir, 'remote'), session: join(dir, 'session'), files: {} as Record<string, Buffer> };
  await Promise.all([mkdir(w.local), mkdir(w.remote), mkdir(w.session)]);
  for (const [name, size] of Object.entries(sizes)) w.files[name] = await randomFile(join(w.local, name), size);
  return w;
}

/** Runs one `sftp -b` batch through the tee and returns the one session it made. */
async function sftpBatch(tee: TeeServer, w: World, lines: string[]): Promise<TeeSession> {
  const batch = join(w.dir, 'batch.txt');
  await writeFile(batch, lines.join('\n') + '\n');
  const r = await run('sftp', ['-b', batch, '-D', TEE], { cwd: w.local, env: tee.env() });
  expect(r.stderr).not.toMatch(/transfer-tee/);
  expect(r.code).toBe(0);
  const sessions = await tee.sessions();
  expect(sessions).toHaveLength(1);
  return sessions[0] as TeeSession;
}

const byKey = (ts: readonly TransferRecord[]) => new Map(ts.map((t) => [`${t.direction} ${t.path}`, t]));

describe('SftpTracker with real OpenSSH sftp and sftp-server', () => {
  it('captures put and get of empty, small and multi-MiB files with the originals\' sha256, 0600 in a 0700 files/', async () => {
    await withTempDir(async (dir) => {
      // GIVEN local files of 0 bytes, 1 KiB and 5 MiB, and a tracker writing captures to the session directory
      const w = await world(dir, { 'empty.bin': 0, 'small.txt': 1000, 'big.bin': 5 * 1024 * 1024 + 17 });
      const tee = await TeeServer.start(dir, { sink: () => new FsCaptureSink({ dir: w.session }) });
      try {
        // WHEN sftp puts each file and gets it back under another name
        const names = Object.keys(w.files);
        const s = await sftpBatch(tee, w, [
          ...names.map((n) => `put ${n} ${w.remote}/${n}`),
          ...names.map((n) => `get ${w.remote}/${n} back-${n}`),
        ]);

        // THEN there is one upload and one download per file, complete, each capture equal to the original
        expect(s.stopped).toBeUndefined();
        expect(s.transfers).toHaveLength(6);
        const t = byKey(s.transfers);
        for (const n of names) {
          const original = w.files[n] as Buffer;
          for (const direction of ['upload', 'download']) {
            const rec = t.get(`${direction} ${w.remote}/${n}`);
            expect(rec).toMatchObject({ protocol: 'sftp', direction, size: original.length, bytes: original.length, sha256: sha256(original), complete: true });
            expect(rec?.note).toBeUndefined();
            const captured = await readFile(join(w.session, rec?.file as string));
            expect(sha256(captured)).toBe(sha256(original));
            expect((await stat(join(w.session, rec?.file as string))).mode & 0o777).toBe(0o600);
          }
          expect(sha256(await readFile(join(w.local, `back-${n}`)))).toBe(sha256(original));
        }
        expect((await stat(join(w.session, 'files'))).mode & 0o777).toBe(0o700);
        expect((await readdir(join(w.session, 'files'))).sort()).toEqual(
          ['1', '2', '3', '4', '5', '6'],
        );
        // AND the channel log has the version exchange and each open/close with flags and byte counts
        expect(s.ops[0]).toEqual({ op: 'init', version: 3 });
        expect(s.ops[1]).toMatchObject({ op: 'version', version: 3, extensions: expect.arrayContaining(['posix-rename@openssh.com', 'limits@openssh.com']) });
        expect(s.ops).toContainEqual(expect.objectContaining({ op: 'open', path: `${w.remote}/big.bin`, flags: ['write', 'creat', 'trunc'], status: 'ok' }));
        expect(s.ops).toContainEqual({ op: 'close', path: `${w.remote}/big.bin`, bytesRead: 0, bytesWritten: 5 * 1024 * 1024 + 17, status: 'ok' });
        expect(s.ops).toContainEqual({ op: 'close', path: `${w.remote}/big.bin`, bytesRead: 5 * 1024 * 1024 + 17, bytesWritten: 0, status: 'ok' });
      } finally {
        await tee.close();
      }
    });
  }, SLOW);

  it('captures a 64 MiB put and get exactly with the queue bounded by the high-water mark', async () => {
    await withTempDir(async (dir) => {
      // GIVEN a 64 MiB file and a small high-water mark, so backpressure has to work
      const size = 64 * 1024 * 1024;
      const w = await world(dir, { 'huge.bin': size });
      const highWaterMark = 1024 * 1024;
      const tee = await TeeServer.start(dir, { sink: () => new FsCaptureSink({ dir: w.session }), highWaterMark });
      try {
        // WHEN it goes up and comes back down
        const s = await sftpBatch(tee, w, [`put huge.bin ${w.remote}/huge.bin`, `get ${w.remote}/huge.bin back.bin`]);

        // THEN both captures hash like the original, and the queued bytes never passed the mark by more than a chunk
        const original = sha256(w.files['huge.bin'] as Buffer);
        expect(s.transfers.map((t) => [t.direction, t.size, t.sha256, t.complete])).toEqual([
          ['upload', size, original, true],
          ['download', size, original, true],
        ]);
        for (const t of s.transfers) expect(sha256(await readFile(join(w.session, t.file as string)))).toBe(original);
        expect(s.maxQueued).toBeLessThan(highWaterMark + 2 * 1024 * 1024);
      } finally {
        await tee.close();
      }
    });
  }, SLOW);

  it('logs mkdir, rename, setstat, symlink, hardlink, remove, rmdir and a failing remove with its status', async () => {
    await withTempDir(async (dir) => {
      // GIVEN a file on the "server"
      const w = await world(dir, { 'a.txt': 10 });
      const r = w.remote;
      const tee = await TeeServer.start(dir, { sink: () => new FsCaptureSink({ dir: w.session }) });
      try {
        // WHEN the person manages files with sftp's commands
        const s = await sftpBatch(tee, w, [
          `put a.txt ${r}/a.txt`,
          `mkdir ${r}/d`,
          `rename ${r}/a.txt ${r}/d/b.txt`,
          `chmod 600 ${r}/d/b.txt`,
          `symlink ${r}/d/b.txt ${r}/link`,
          `ln ${r}/d/b.txt ${r}/hard`,
          `ls ${r}/d`,
          `rm ${r}/link`,
          `-rm ${r}/missing`,
          `rm ${r}/hard`,
          `rm ${r}/d/b.txt`,
          `rmdir ${r}/d`,
        ]);

        // THEN each operation is in the channel log, with paths, attributes and the server's answer
        const lookups = ['init', 'version', 'limits', 'realpath', 'stat', 'lstat', 'open', 'close', 'opendir', 'users-groups-by-id'];
        const ops = s.ops.filter((o) => !lookups.includes(o.op));
        expect(ops).toEqual([
          { op: 'mkdir', path: `${r}/d`, attrs: { mode: '0777' }, status: 'ok' },
          { op: 'rename', extension: 'posix-rename@openssh.com', path: `${r}/a.txt`, target: `${r}/d/b.txt`, status: 'ok' },
          { op: 'setstat', path: `${r}/d/b.txt`, attrs: { mode: '0600' }, status: 'ok' },
          { op: 'symlink', path: `${r}/link`, target: `${r}/d/b.txt`, status: 'ok' },
          { op: 'hardlink', extension: 'hardlink@openssh.com', path: `${r}/d/b.txt`, target: `${r}/hard`, status: 'ok' },
          { op: 'remove', path: `${r}/link`, status: 'ok' },
          { op: 'remove', path: `${r}/missing`, status: 'no_such_file', message: 'No such file' },
          { op: 'remove', path: `${r}/hard`, status: 'ok' },
          { op: 'remove', path: `${r}/d/b.txt`, status: 'ok' },
          { op: 'rmdir', path: `${r}/d`, status: 'ok' },
        ]);
        expect(s.ops).toContainEqual({ op: 'limits', extension: 'limits@openssh.com', status: 'ok' });
        expect(s.ops).toContainEqual({ op: 'opendir', path: `${r}/d/`, status: 'ok' });
        expect(s.ops).toContainEqual(expect.objectContaining({ op: 'close', path: `${r}/d/`, status: 'ok' }));
        expect(s.ops.filter((o) => o.op === 'realpath')[0]).toMatchObject({ path: '.', target: w.local, status: 'ok' });
        expect(s.transfers).toHaveLength(1);
      } finally {
        await tee.close();
      }
    });
  }, SLOW);

  it('keeps only size and sha256 in metadata-only mode (fileTransfers: false)', async () => {
    await withTempDir(async (dir) => {
      // GIVEN a metadata-only sink
      const w = await world(dir, { 'secret.bin': 3 * 1024 * 1024 + 5 });
      const tee = await TeeServer.start(dir, { sink: () => new MetadataCaptureSink() });
      try {
        // WHEN a file goes up and down
        const s = await sftpBatch(tee, w, [`put secret.bin ${w.remote}/secret.bin`, `get ${w.remote}/secret.bin back.bin`]);

        // THEN both transfers have size and sha256 but no file, and nothing was written in the session directory
        const original = w.files['secret.bin'] as Buffer;
        expect(s.transfers).toEqual([
          { protocol: 'sftp', direction: 'upload', path: `${w.remote}/secret.bin`, size: original.length, bytes: original.length, sha256: sha256(original), complete: true },
          { protocol: 'sftp', direction: 'download', path: `${w.remote}/secret.bin`, size: original.length, bytes: original.length, sha256: sha256(original), complete: true },
        ]);
        expect(await readdir(w.session)).toEqual([]);
        expect(existsSync(join(w.session, 'files'))).toBe(false);
      } finally {
        await tee.close();
      }
    });
  }, SLOW);
});
