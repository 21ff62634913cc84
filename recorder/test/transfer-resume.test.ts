// Resumed transfers (`sftp reput` / `reget`) through the recorder with real OpenSSH: only the tail crosses, so
// the recording says which bytes it saw and claims no sha256 of bytes it never saw, in both capture modes.
import { jest } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { ManifestTransfer } from '../src/trail/manifest.js';
import { scanSessions } from '../src/trail/sessions.js';
import { sftpBatch, startLab, waitFor, type Lab } from './support/index.js';

jest.setTimeout(90000);

const SIZE = 1024 * 1024 + 333;
const HAVE = 300 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let lab: Lab;
let original: Buffer;

beforeAll(async () => {
  lab = await startLab({ db1: { fileTransfers: true }, hosts: (host) => [host('db-meta', { fileTransfers: false })] });
  original = randomBytes(SIZE);
});

afterAll(async () => {
  await lab?.stop();
});

async function sftp(host: string, batch: string): Promise<void> {
  const r = await sftpBatch(lab, batch, { host });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

async function transferOf(before: ReadonlySet<string>): Promise<ManifestTransfer> {
  return waitFor(() => scanSessions(lab.recorder.dataFolder).sessions.find((s) => !before.has(s.id) && s.manifest.transfers.length > 0)?.manifest.transfers[0], 'the transfer on the share');
}

const ids = () => new Set(scanSessions(lab.recorder.dataFolder).sessions.map((s) => s.id));

describe.each([
  ['db-1', 'fileTransfers: true'],
  ['db-meta', 'fileTransfers: false'],
])('a resumed transfer on %s (%s)', (host) => {
  it.each([
    ['reput', 'upload'],
    ['reget', 'download'],
  ] as const)('%s: records the ranges it saw, complete: false, and no sha256 (%s)', async (command, direction) => {
    // GIVEN the whole file on the sending side, its first HAVE bytes already on the receiving side
    const dir = await fsp.mkdtemp(path.join(lab.dir, `${command}-`));
    const local = path.join(dir, 'local.bin');
    const remote = path.join(dir, 'remote.bin');
    const [from, to] = direction === 'upload' ? [local, remote] : [remote, local];
    await fsp.writeFile(from, original);
    await fsp.writeFile(to, original.subarray(0, HAVE));
    const before = ids();
    // WHEN alice resumes the transfer through the recorder
    await sftp(host, `${command} ${from} ${to}\n`);
    // THEN the receiving side has the whole file (the resume worked) ...
    expect(sha256(await fsp.readFile(to))).toBe(sha256(original));
    // ... and the recording says only the tail crossed, with no hash of bytes it never saw
    const t = await transferOf(before);
    expect(t).toMatchObject({ protocol: 'sftp', direction, path: remote, size: SIZE, bytes: SIZE - HAVE, complete: false, seen: [[HAVE, SIZE]] });
    expect(t.sha256).toBeUndefined();
    expect(t.note).toContain(`partial: only bytes ${HAVE}-${SIZE - 1} of ${SIZE} seen`);
  });

  it('a whole put still gets its sha256 and complete: true', async () => {
    const dir = await fsp.mkdtemp(path.join(lab.dir, 'put-'));
    const local = path.join(dir, 'local.bin');
    await fsp.writeFile(local, original);
    const before = ids();
    await sftp(host, `put ${local} ${path.join(dir, 'remote.bin')}\n`);
    const t = await transferOf(before);
    expect(t).toMatchObject({ size: SIZE, complete: true, sha256: sha256(original) });
    expect(t.seen).toBeUndefined();
  });
});
