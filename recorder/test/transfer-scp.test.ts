// ScpTracker (scp -O, the legacy protocol) and SftpTracker (scp's default, SFTP-based) against real OpenSSH scp,
// observed through transfer-tee.mjs standing in for ssh.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FsCaptureSink, MetadataCaptureSink } from '../src/transfer/sink.js';
import type { TransferRecord } from '../src/transfer/types.js';
import { TEE, TeeServer, run, withTempDir, type TeeSession } from './support/transfer-harness.js';

const SLOW = 120_000;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface World {
  readonly dir: string;
  readonly local: string;
  readonly remote: string;
  readonly session: string;
  readonly files: Map<string, Buffer>;
}

/** Files under local/ by relative path (`tree/sub/x` makes directories). */
async function world(dir: string, sizes: Record<string, number>): Promise<World> {
  const w: World = { dir, local: join(dir, 'local'), remote: join(dir, 'remote'), session: join(dir, 'session'), files: new Map() };
  await Promise.all([mkdir(w.local), mkdir(w.remote), mkdir(w.session)]);
  for (const [rel, size] of Object.entries(sizes)) {
    const p = join(w.local, rel);
    await mkdir(join(p, '..'), { recursive: true });
    const b = randomBytes(size);
    await writeFile(p, b);
    w.files.set(rel, b);
  }
  return w;
}

async function scp(tee: TeeServer, w: World, args: string[]): Promise<TeeSession[]> {
  const r = await run('scp', ['-S', TEE, ...args], { cwd: w.local, env: tee.env() });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return tee.sessions();
}

const summary = (ts: readonly TransferRecord[]) =>
  ts.map((t) => ({ protocol: t.protocol, direction: t.direction, path: t.path, size: t.size, sha256: t.sha256, complete: t.complete }));

describe('ScpTracker with real OpenSSH scp -O (legacy protocol)', () => {
  it('captures uploads and downloads of empty, small and multi-MiB files with the originals\' sha256', async () => {
    await withTempDir(async (dir) => {
      // GIVEN three local files and a tracker capturing to the session directory
      const w = await world(dir, { 'empty.bin': 0, 'small.txt': 300, 'big.bin': 6 * 1024 * 1024 + 3 });
      const tee = await TeeServer.start(dir, { sink: () => new FsCaptureSink({ dir: w.session }) });
      try {
        // WHEN scp -O copies them up in one command (`scp -d -t`) and each back down (`scp -f`)
        const up = await scp(tee, w, ['-O', 'empty.bin', 'small.txt', 'big.bin', `x:${w.remote}/`]);
        const down: TeeSession[] = [];
        for (const n of w.files.keys()) down.push(...(await scp(tee, w, ['-O', `x:${w.remote}/${n}`, `back-${n}`])));

        // THEN the upload session is `scp -d -t` with one complete upload per file, at target/name
        expect(up).toHaveLength(1);
        expect(up[0]?.header).toEqual({ kind: 'exec', command: `scp -d -t ${w.remote}/` });
        const expected = (direction: string) =>
          [...w.files].map(([n, b]) => ({ protocol: 'scp', direction, path: `${w.remote}/${n}`, size: b.length, sha256: sha256(b), complete: true }));
        expect(summary(up[0]?.transfers ?? [])).toEqual(expected('upload'));
        // AND each download session captured its file
        expect(down.map((s) => s.header.command)).toEqual([...w.files.keys()].map((n) => `scp -f ${w.remote}/${n}`));
        expect(down.flatMap((s) => summary(s.transfers))).toEqual(expected('download'));
        // AND every capture on disk equals the original
        for (const s of [...up, ...down]) {
          expect(s.stopped).toBeUndefined();
          for (const t of s.transfers) {
            expect(sha256(await readFile(join(w.session, t.file as string)))).toBe(t.sha256);
          }
        }
        // AND the channel log has each file record with its mode and the sink's answer
        expect(up[0]?.ops).toContainEqual({ op: 'scp_file', path: `${w.remote}/big.bin`, name: 'big.bin', size: 6 * 1024 * 1024 + 3, attrs: { mode: '0644' }, status: 'ok' });
      } finally {
        await tee.close();
      }
    });
  }, SLOW);

  it('follows -r -p directory trees both ways, with times, nested paths and an empty file', async () => {
    await withTempDir(async (dir) => {
      // GIVEN a tree with a nested directory and an empty file
      const w = await world(dir, { 'tree/a.txt': 100, 'tree/sub/b.bin': 200_000, 'tree/sub/deeper/empty': 0 });
      const tee = await TeeServer.start(dir, { sink: () => new FsCaptureSink({ dir: w.session }) });
      try {
        // WHEN it is copied up with -r -p and back down with -r
        const [up] = await scp(tee, w, ['-O', '-r', '-p', 'tree', `x:${w.remote}`]);
        const [down] = await scp(tee, w, ['-O', '-r', `x:${w.remote}/tree`, 'back']);

        // THEN every file is a transfer at its remote path, with the right content
        const want = (direction: string) =>
          [...w.files].map(([rel, b]) => ({ protocol: 'scp', direction, path: `${w.remote}/${rel}`, size: b.length, sha256: sha256(b), complete: true }));
        const sorted = <T extends { path: string }>(ts: readonly T[]): T[] => [...ts].sort((a, b) => a.path.localeCompare(b.path));
        expect(up?.header.command).toBe(`scp -r -p -t ${w.remote}`);
        expect(sorted(summary(up?.transfers ?? []))).toEqual(sorted(want('upload')));
        expect(sorted(summary(down?.transfers ?? []))).toEqual(sorted(want('download')));
        // AND directories are logged, and -p times are attached to the records
        expect(up?.ops.filter((o) => o.op === 'scp_dir').map((o) => o.path)).toEqual([`${w.remote}/tree`, `${w.remote}/tree/sub`, `${w.remote}/tree/sub/deeper`]);
        const a = up?.ops.find((o) => o.op === 'scp_file' && o.name === 'a.txt');
        expect(a?.attrs).toMatchObject({ mode: '0644', mtime: expect.any(Number), atime: expect.any(Number) });
        expect(await readFile(join(w.local, 'back/sub/b.bin'))).toEqual(w.files.get('tree/sub/b.bin'));
      } finally {
        await tee.close();
      }
    });
  }, SLOW);

  it('logs a file the source cannot send and a target the sink cannot write, and keeps going', async () => {
    await withTempDir(async (dir) => {
      // GIVEN one existing remote file
      const w = await world(dir, { 'ok.txt': 10 });
      await writeFile(join(w.remote, 'there.txt'), 'remote content');
      const tee = await TeeServer.start(dir, { sink: () => new FsCaptureSink({ dir: w.session }) });
      try {
        // WHEN a download names a missing file next to the existing one, and an upload targets a missing directory
        const r1 = await run('scp', ['-O', '-S', TEE, `x:${w.remote}/missing.txt ${w.remote}/there.txt`, '.'], { cwd: w.local, env: tee.env() });
        const [down] = await tee.sessions();
        const r2 = await run('scp', ['-O', '-S', TEE, 'ok.txt', `x:${w.remote}/no/such/dir/`], { cwd: w.local, env: tee.env() });
        const [up] = await tee.sessions();

        // THEN the source's error is logged and the other file is still captured
        expect(r1.code).toBe(1);
        expect(down?.ops).toContainEqual({ op: 'scp_error', status: 'error', message: expect.stringContaining('missing.txt: No such file or directory') });
        expect(summary(down?.transfers ?? [])).toEqual([
          { protocol: 'scp', direction: 'download', path: `${w.remote}/there.txt`, size: 14, sha256: sha256(Buffer.from('remote content')), complete: true },
        ]);
        // AND the sink's refusal is the status of the upload's record, and no transfer is claimed
        expect(r2.code).toBe(1);
        expect(up?.ops).toContainEqual({
          op: 'scp_file', path: `${w.remote}/no/such/dir/ok.txt`, name: 'ok.txt', size: 10, attrs: { mode: '0644' },
          status: 'error', message: `scp: ${w.remote}/no/such/dir/: No such file or directory`,
        });
        expect(up?.transfers).toEqual([]);
        expect(up?.stopped).toBeUndefined();
      } finally {
        await tee.close();
      }
    });
  }, SLOW);

  it('keeps only size and sha256 in metadata-only mode', async () => {
    await withTempDir(async (dir) => {
      const w = await world(dir, { 'secret.bin': 2 * 1024 * 1024 });
      const tee = await TeeServer.start(dir, { sink: () => new MetadataCaptureSink() });
      try {
        const [up] = await scp(tee, w, ['-O', 'secret.bin', `x:${w.remote}/secret.bin`]);
        const [down] = await scp(tee, w, ['-O', `x:${w.remote}/secret.bin`, 'back.bin']);
        const b = w.files.get('secret.bin') as Buffer;
        for (const [s, direction] of [[up, 'upload'], [down, 'download']] as const) {
          expect(s?.transfers).toEqual([
            { protocol: 'scp', direction, path: `${w.remote}/secret.bin`, name: 'secret.bin', size: b.length, bytes: b.length, sha256: sha256(b), complete: true },
          ]);
        }
        expect(await readdir(w.session)).toEqual([]);
      } finally {
        await tee.close();
      }
    });
  }, SLOW);
});

describe('SftpTracker with real OpenSSH scp (SFTP protocol, the default)', () => {
  it('captures uploads and downloads through the sftp subsystem with the originals\' sha256', async () => {
    await withTempDir(async (dir) => {
      // GIVEN files of 0 bytes, 1 KiB and 4 MiB
      const w = await world(dir, { 'empty.bin': 0, 'small.txt': 1024, 'big.bin': 4 * 1024 * 1024 + 1 });
      const tee = await TeeServer.start(dir, { sink: () => new FsCaptureSink({ dir: w.session }) });
      try {
        // WHEN plain scp copies them up to a directory and down again
        const up = await scp(tee, w, ['empty.bin', 'small.txt', 'big.bin', `x:${w.remote}/`]);
        await mkdir(join(w.local, 'back'));
        const down = await scp(tee, w, [`x:${w.remote}/*`, 'back/']);

        // THEN each run was the sftp subsystem, and each file a complete transfer with the original's hash
        expect([...up, ...down].map((s) => s.header)).toEqual([
          { kind: 'subsystem', command: 'sftp' },
          { kind: 'subsystem', command: 'sftp' },
        ]);
        const want = (direction: string) =>
          [...w.files].map(([n, b]) => ({ protocol: 'sftp', direction, path: `${w.remote}/${n}`, size: b.length, sha256: sha256(b), complete: true }));
        const sorted = <T extends { path: string }>(ts: readonly T[]): T[] => [...ts].sort((a, b) => a.path.localeCompare(b.path));
        expect(sorted(summary(up[0]?.transfers ?? []))).toEqual(sorted(want('upload')));
        expect(sorted(summary(down[0]?.transfers ?? []))).toEqual(sorted(want('download')));
        for (const t of [...(up[0]?.transfers ?? []), ...(down[0]?.transfers ?? [])]) {
          expect(sha256(await readFile(join(w.session, t.file as string)))).toBe(t.sha256);
        }
        expect(existsSync(join(w.local, 'back', 'big.bin'))).toBe(true);
      } finally {
        await tee.close();
      }
    });
  }, SLOW);
});
