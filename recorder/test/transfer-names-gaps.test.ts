// Captures whose names or offsets are at the edge of what the file system allows: a 255-byte UTF-8 name (the
// longest Linux takes) and a write far past the end that a truncate then takes back. Real OpenSSH sftp and a
// real sshd; the hostile writes come from an ssh2 SFTP client, which can send what OpenSSH's sftp never would.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import type { ManifestTransfer } from '../src/trail/manifest.js';
import { verifySessions } from '../src/search/verify.js';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { collect, startLab, waitFor, type Lab } from './support/index.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

/** A file name of exactly 255 bytes of UTF-8 (127 × 'é', 2 bytes each, and one 'x'). */
const LONGEST_NAME = `${'é'.repeat(127)}x`;

async function newSession(lab: Lab, before: ReadonlySet<string>, transfers: number): Promise<StoredSession> {
  return waitFor(
    () => scanSessions(lab.recorder.dataFolder).sessions.find((s) => !before.has(s.id) && s.manifest.transfers.length >= transfers),
    `a session with ${transfers} transfers on the share`,
    60_000,
  );
}

const ids = (lab: Lab) => new Set(scanSessions(lab.recorder.dataFolder).sessions.map((s) => s.id));

/** An SFTP session through the recorder as alice, to root@db-1. */
function sftpClient(lab: Lab): Promise<{ client: ssh2.Client; sftp: SFTPWrapper }> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.on('ready', () => client.sftp((err, sftp) => (err ? reject(err) : resolve({ client, sftp }))));
    client.connect({ host: '127.0.0.1', port: lab.recorder.port, username: 'root@db-1', privateKey: readFileSync(lab.alice.privatePath) });
  });
}

const call = <T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));

async function expectKept(s: StoredSession, t: ManifestTransfer, content: Buffer): Promise<void> {
  expect(t).toMatchObject({ size: content.length, sha256: sha256(content), complete: true });
  expect(t.note).toBeUndefined();
  expect(t.file).toMatch(/^files\/\d+$/);
  expect(sha256(await fsp.readFile(path.join(s.dir, t.file!)))).toBe(sha256(content));
  expect(s.manifest.files).toContainEqual({ path: t.file, size: content.length, sha256: sha256(content) });
}

describe('captures at the edges of names and offsets (fileTransfers: true)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ db1: { fileTransfers: true } });
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('a file with a 255-byte UTF-8 name is kept, its name in the manifest', async () => {
    // GIVEN a local file whose name is 255 bytes of UTF-8
    expect(Buffer.byteLength(LONGEST_NAME)).toBe(255);
    const local = path.join(lab.dir, 'local');
    const remote = path.join(lab.dir, 'remote');
    await Promise.all([fsp.mkdir(local), fsp.mkdir(remote)]);
    const content = Buffer.from('content with the longest name\n'.repeat(100));
    await fsp.writeFile(path.join(local, LONGEST_NAME), content);
    const before = ids(lab);
    // WHEN alice puts it with OpenSSH's sftp under the same name
    const batch = path.join(lab.dir, 'batch');
    await fsp.writeFile(batch, `put "${path.join(local, LONGEST_NAME)}" "${remote}/${LONGEST_NAME}"\n`);
    const child = spawn('sftp', ['-b', batch, '-F', '/dev/null', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=no',
      '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR', '-o', 'User=root@db-1', '-i', lab.alice.privatePath,
      '-P', String(lab.recorder.port), '127.0.0.1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const r = await collect(child, Date.now(), 60_000, () => child.stdin.end());
    expect(r).toMatchObject({ code: 0 });
    expect(sha256(await fsp.readFile(path.join(remote, LONGEST_NAME)))).toBe(sha256(content));
    // THEN the recording keeps a copy with the content's sha256, and the manifest the full remote path
    const s = await newSession(lab, before, 1);
    const t = s.manifest.transfers[0]!;
    expect(t.path).toBe(`${remote}/${LONGEST_NAME}`);
    await expectKept(s, t, content);
    expect((await verifySessions({ dataFolder: lab.recorder.dataFolder })).ok).toBe(true);
  });

  it('a write 100 MiB past the start, then a truncate back (fsetstat, and setstat by path), keeps the final content and its sha256', async () => {
    // GIVEN an SFTP session through the recorder
    const remote = path.join(lab.dir, 'gaps');
    await fsp.mkdir(remote);
    const before = ids(lab);
    const { client, sftp } = await sftpClient(lab);
    const head = Buffer.from('the part that stays\n');
    try {
      for (const how of ['fsetstat', 'setstat'] as const) {
        const file = `${remote}/${how}.bin`;
        // WHEN the client writes at 0, then one byte at 100 MiB, then truncates the file back to the first write
        const handle = await call<Buffer>((cb) => sftp.open(file, 'w', cb));
        await call((cb) => sftp.write(handle, head, 0, head.length, 0, cb));
        await call((cb) => sftp.write(handle, Buffer.from('x'), 0, 1, 100 * MiB, cb));
        if (how === 'fsetstat') await call((cb) => sftp.fsetstat(handle, { size: head.length }, cb));
        else await call((cb) => sftp.setstat(file, { size: head.length }, cb));
        await call((cb) => sftp.close(handle, cb));
        // THEN the target holds the first write only
        expect(await fsp.readFile(file)).toEqual(head);
      }
    } finally {
      client.end();
    }
    // AND the recording keeps each file as it ended, with its sha256
    const s = await newSession(lab, before, 2);
    expect(s.manifest.transfers.map((t) => path.basename(t.path))).toEqual(['fsetstat.bin', 'setstat.bin']);
    for (const t of s.manifest.transfers) await expectKept(s, t, head);
    expect(existsSync(path.join(s.dir, s.manifest.transfers[0]!.file!))).toBe(true);
    expect((await verifySessions({ dataFolder: lab.recorder.dataFolder })).ok).toBe(true);
  });
});

describe('a write past a gap then truncated back (fileTransfers: false)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ db1: { fileTransfers: false } });
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('gives the final content\'s size and sha256, with no copy', async () => {
    const remote = path.join(lab.dir, 'gaps');
    await fsp.mkdir(remote);
    const before = ids(lab);
    const { client, sftp } = await sftpClient(lab);
    const head = Buffer.from('kept only as a hash\n');
    try {
      const handle = await call<Buffer>((cb) => sftp.open(`${remote}/f.bin`, 'w', cb));
      await call((cb) => sftp.write(handle, head, 0, head.length, 0, cb));
      await call((cb) => sftp.write(handle, Buffer.from('x'), 0, 1, 100 * MiB, cb));
      await call((cb) => sftp.fsetstat(handle, { size: head.length }, cb));
      await call((cb) => sftp.close(handle, cb));
    } finally {
      client.end();
    }
    const s = await newSession(lab, before, 1);
    expect(s.manifest.transfers[0]).toMatchObject({ size: head.length, sha256: sha256(head), complete: true });
    expect(s.manifest.transfers[0]!.file).toBeUndefined();
    expect(s.manifest.transfers[0]!.note).toBeUndefined();
  });
});
