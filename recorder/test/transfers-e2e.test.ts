// Issue 6, file transfers end to end: the real OpenSSH `sftp`, `scp` (SFTP-based) and `scp -O` through the recorder
// to a real sshd; the copies in the recording, the manifest, the channel log, `srec verify` and the audit events.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { verifySessions } from '../src/search/verify.js';
import type { ManifestTransfer } from '../src/trail/manifest.js';
import { readManifest } from '../src/trail/manifest-file.js';
import { readChannelLog } from '../src/trail/reader.js';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { collect, spawnSsh, startLab, waitFor, type Lab, type SshResult } from './support/index.js';
import { srec } from './support/run-cli.js';
import { writeSession } from './support/trail-fixture.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const AUDIT_ALL = {
  audit: {
    enabled: true,
    events: ['stdin', 'stdout', 'stderr', 'channel_request', 'global_request'] as const,
    // The in-process test recorder collects events in `recorder.audit`; nothing listens here.
    syslog: { address: '127.0.0.1:9', protocol: 'udp' as const },
  },
};

interface Original {
  readonly name: string;
  readonly content: Buffer;
  readonly sha256: string;
}

/** An empty file, a small text file with a marker that must never reach a metadata-only recording, and 6 MiB of noise. */
async function makeOriginals(dir: string): Promise<Original[]> {
  await fsp.mkdir(dir, { recursive: true });
  const marker = `file-content-marker-${randomBytes(8).toString('hex')}`;
  const files = [
    { name: 'empty.bin', content: Buffer.alloc(0) },
    { name: 'small.txt', content: Buffer.from(`${marker}\n`.repeat(40)) },
    { name: 'big.bin', content: randomBytes(6 * 1024 * 1024 + 12345) },
  ];
  for (const f of files) await fsp.writeFile(path.join(dir, f.name), f.content);
  return files.map((f) => ({ ...f, sha256: sha256(f.content) }));
}

/** OpenSSH client options shared by ssh, sftp and scp: the recorder, alice's key, login root@db-1. */
function clientOptions(lab: Lab): string[] {
  return [
    '-F', '/dev/null',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=10',
    '-o', 'User=root@db-1',
    '-i', lab.alice.privatePath,
    '-P', String(lab.recorder.port),
  ];
}

/** Runs a client without blocking the in-process recorder's event loop. */
function runClient(cmd: string, args: readonly string[], timeoutMs = 120_000): Promise<SshResult> {
  const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  return collect(child, Date.now(), timeoutMs, () => child.stdin.end());
}

async function sftpBatch(lab: Lab, batch: string): Promise<SshResult> {
  const file = path.join(lab.dir, `batch-${randomBytes(4).toString('hex')}`);
  await fsp.writeFile(file, batch);
  return runClient('sftp', ['-b', file, ...clientOptions(lab), '127.0.0.1']);
}

function scp(lab: Lab, extra: readonly string[], from: readonly string[], to: string): Promise<SshResult> {
  return runClient('scp', [...extra, ...clientOptions(lab), ...from, to]);
}

const remote = (p: string) => `127.0.0.1:${p}`;

/** Sessions on the share that were not in `before`, once they carry `transfers` transfers between them (and there is one). */
async function newSessions(lab: Lab, before: ReadonlySet<string>, transfers: number): Promise<StoredSession[]> {
  let found: StoredSession[] = [];
  await waitFor(
    async () => {
      found = scanSessions(lab.recorder.dataFolder).sessions.filter((s) => !before.has(s.id));
      return found.length > 0 && found.reduce((n, s) => n + s.manifest.transfers.length, 0) >= transfers;
    },
    `${transfers} transfers recorded on the share`,
    60_000,
  );
  return found;
}

async function sessionIds(lab: Lab): Promise<Set<string>> {
  return new Set(scanSessions(lab.recorder.dataFolder).sessions.map((s) => s.id));
}

type Found = { session: StoredSession; transfer: ManifestTransfer };

function transfersOf(sessions: readonly StoredSession[]): Found[] {
  return sessions.flatMap((session) => session.manifest.transfers.map((transfer) => ({ session, transfer })));
}

/** The one transfer of `name` in `direction`: its copy (when kept) has the original's sha256, and so has the manifest. */
async function expectCopy(found: readonly Found[], o: Original, direction: 'upload' | 'download', protocol: ManifestTransfer['protocol'], kept: boolean): Promise<Found> {
  const nameOf = (t: ManifestTransfer) => path.basename(t.path).replace(/\.up$/, '');
  const matches = found.filter((f) => f.transfer.direction === direction && nameOf(f.transfer) === o.name);
  expect(matches.map((f) => [f.transfer.protocol, f.transfer.direction, nameOf(f.transfer)])).toEqual([[protocol, direction, o.name]]);
  const f = matches[0]!;
  expect(f.transfer).toMatchObject({ size: o.content.length, sha256: o.sha256, complete: true, bytes: o.content.length });
  expect(f.transfer.note).toBeUndefined();
  if (kept) {
    expect(f.transfer.file).toMatch(/^files\/\d+$/);
    const copy = await fsp.readFile(path.join(f.session.dir, f.transfer.file!));
    expect(sha256(copy)).toBe(o.sha256);
    expect(f.session.manifest.files).toContainEqual({ path: f.transfer.file, size: o.content.length, sha256: o.sha256 });
  } else {
    expect(f.transfer.file).toBeUndefined();
  }
  return f;
}

async function expectSameFile(file: string, o: Original): Promise<void> {
  expect(sha256(await fsp.readFile(file))).toBe(o.sha256);
}

/** Every byte of every file of the session, gunzipped where gzip. */
async function sessionBytes(s: StoredSession): Promise<Buffer> {
  const parts: Buffer[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const raw = await fsp.readFile(p);
        parts.push(p.endsWith('.gz') ? zlib.gunzipSync(raw) : raw);
      }
    }
  };
  await walk(s.dir);
  return Buffer.concat(parts);
}

/** How many stdin / stdout events (counted, not listed: each would carry file content). */
function dataEvents(events: ReturnType<typeof auditOf>): { stdin: number; stdout: number } {
  return { stdin: events.filter((e) => e.event === 'stdin').length, stdout: events.filter((e) => e.event === 'stdout').length };
}

function auditOf(lab: Lab, sessions: readonly StoredSession[]) {
  const ids = new Set(sessions.map((s) => s.id));
  return lab.recorder.audit.filter((e) => e.sessionId !== undefined && ids.has(e.sessionId));
}

describe('file transfers through the recorder with real OpenSSH (fileTransfers: true)', () => {
  let lab: Lab;
  let originals: Original[];
  let local: string;
  let target: string;
  beforeAll(async () => {
    lab = await startLab({ db1: { fileTransfers: true }, recorder: { extra: AUDIT_ALL } });
    local = path.join(lab.dir, 'local');
    target = path.join(lab.dir, 'target');
    originals = await makeOriginals(local);
    await fsp.mkdir(target);
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('sftp put and get in batch mode: copies with the originals\' sha256, operations in the channel log, audit without content', async () => {
    // GIVEN three local files and an empty directory on the target
    const before = await sessionIds(lab);
    const dir = path.join(target, 'sftp');
    const back = path.join(local, 'sftp-back');
    await fsp.mkdir(back);
    // WHEN alice puts them with sftp, renames and gets them back, then removes one
    const r = await sftpBatch(
      lab,
      [
        `mkdir ${dir}`,
        ...originals.map((o) => `put ${path.join(local, o.name)} ${dir}/${o.name}.up`),
        ...originals.map((o) => `rename ${dir}/${o.name}.up ${dir}/${o.name}`),
        ...originals.map((o) => `get ${dir}/${o.name} ${path.join(back, o.name)}`),
        `rm ${dir}/small.txt`,
        '',
      ].join('\n'),
    );
    expect(r).toMatchObject({ code: 0 });

    // THEN the files arrived untouched both ways
    for (const o of originals) await expectSameFile(path.join(back, o.name), o);
    expect(existsSync(path.join(dir, 'small.txt'))).toBe(false);
    // AND the recording holds a copy of each, as the manifest says, in one session
    const sessions = await newSessions(lab, before, 6);
    expect(sessions).toHaveLength(1);
    const found = transfersOf(sessions);
    for (const o of originals) {
      const up = await expectCopy(found, o, 'upload', 'sftp', true);
      expect(up.transfer.path).toBe(`${dir}/${o.name}.up`);
      await expectCopy(found, o, 'download', 'sftp', true);
    }
    const s = sessions[0]!;
    expect(s.manifest.channels).toEqual([expect.objectContaining({ kind: 'subsystem', subsystem: 'sftp' })]);
    expect(s.manifest.channels[0]!.cast).toBeUndefined();

    // AND every SFTP operation is in the channel log, with a file_transfer entry per file
    const log = await readChannelLog(s.dir);
    const ops = log.entries.filter((e) => e.type === 'sftp') as unknown as Array<{ op: string; path?: string; target?: string; status?: string }>;
    expect(ops).toContainEqual(expect.objectContaining({ op: 'mkdir', path: dir, status: 'ok' }));
    for (const o of originals) {
      expect(ops).toContainEqual(expect.objectContaining({ op: 'rename', path: `${dir}/${o.name}.up`, target: `${dir}/${o.name}`, status: 'ok' }));
      expect(ops).toContainEqual(expect.objectContaining({ op: 'open', path: `${dir}/${o.name}.up`, status: 'ok' }));
    }
    expect(ops).toContainEqual(expect.objectContaining({ op: 'remove', path: `${dir}/small.txt`, status: 'ok' }));
    expect(log.entries.filter((e) => e.type === 'file_transfer')).toHaveLength(6);

    // AND the audit has a non-sensitive file_transfer event per file, and no stdin/stdout events with file content
    const events = auditOf(lab, sessions);
    const transfers = events.filter((e) => e.event === 'file_transfer');
    expect(transfers).toHaveLength(6);
    for (const e of transfers) {
      expect(e.exposure).toBe('SSH-PRIVX-AUDIT');
      expect(e.data).toBeUndefined();
      expect(Object.keys(e).sort()).toEqual(
        expect.arrayContaining(['protocol', 'direction', 'path', 'size', 'sha256', 'complete', 'channel']),
      );
    }
    expect(transfers.find((e) => e.direction === 'upload' && e.path === `${dir}/big.bin.up`)).toMatchObject({
      protocol: 'sftp', size: originals[2]!.content.length, sha256: originals[2]!.sha256, complete: true, channel: 0,
    });
    expect(dataEvents(events)).toEqual({ stdin: 0, stdout: 0 });
    expect(events.filter((e) => e.event === 'channel_request').map((e) => e.request)).toContainEqual({ name: 'subsystem', subsystem: 'sftp', accepted: true });
  });

  it('scp (SFTP-based, the default) both ways', async () => {
    const before = await sessionIds(lab);
    const dir = path.join(target, 'scp');
    const back = path.join(local, 'scp-back');
    await Promise.all([fsp.mkdir(dir), fsp.mkdir(back)]);
    // WHEN alice copies the three files up with one scp, and down with another
    const up = await scp(lab, [], originals.map((o) => path.join(local, o.name)), remote(`${dir}/`));
    expect(up).toMatchObject({ code: 0 });
    const down = await scp(lab, [], originals.map((o) => remote(`${dir}/${o.name}`)), `${back}/`);
    expect(down).toMatchObject({ code: 0 });
    // THEN both ends have the same bytes, and so has the recording
    for (const o of originals) {
      await expectSameFile(path.join(dir, o.name), o);
      await expectSameFile(path.join(back, o.name), o);
    }
    const sessions = await newSessions(lab, before, 6);
    const found = transfersOf(sessions);
    for (const o of originals) {
      await expectCopy(found, o, 'upload', 'sftp', true);
      await expectCopy(found, o, 'download', 'sftp', true);
    }
    expect(auditOf(lab, sessions).filter((e) => e.event === 'file_transfer')).toHaveLength(6);
  });

  it('scp -O (the SCP protocol) both ways: no cast of the protocol, no stdin/stdout audit events', async () => {
    const before = await sessionIds(lab);
    const dir = path.join(target, 'scp-O');
    const back = path.join(local, 'scp-O-back');
    await Promise.all([fsp.mkdir(dir), fsp.mkdir(back)]);
    const up = await scp(lab, ['-O'], originals.map((o) => path.join(local, o.name)), remote(`${dir}/`));
    expect(up).toMatchObject({ code: 0 });
    const down = await scp(lab, ['-O'], originals.map((o) => remote(`${dir}/${o.name}`)), `${back}/`);
    expect(down).toMatchObject({ code: 0 });
    for (const o of originals) {
      await expectSameFile(path.join(dir, o.name), o);
      await expectSameFile(path.join(back, o.name), o);
    }
    const sessions = await newSessions(lab, before, 6);
    const found = transfersOf(sessions);
    for (const o of originals) {
      const upload = await expectCopy(found, o, 'upload', 'scp', true);
      expect(upload.transfer.path).toBe(`${dir}/${o.name}`);
      await expectCopy(found, o, 'download', 'scp', true);
    }
    for (const s of sessions) {
      for (const c of s.manifest.channels) {
        expect(c).toMatchObject({ kind: 'exec', command: expect.stringMatching(/^scp .*-[tf]/) });
        expect(c.cast).toBeUndefined();
      }
    }
    const events = auditOf(lab, sessions);
    expect(events.filter((e) => e.event === 'file_transfer').map((e) => [e.protocol, e.direction, path.basename(e.path!)]).sort()).toEqual(
      originals.flatMap((o) => [['scp', 'download', o.name], ['scp', 'upload', o.name]]).sort(),
    );
    expect(dataEvents(events)).toEqual({ stdin: 0, stdout: 0 });
    // one `scp -t` for the upload; scp -O runs one `scp -f` per remote source
    const execs = events.filter((e) => e.event === 'channel_request' && e.request?.name === 'exec').map((e) => String(e.request?.command));
    expect(execs.filter((c) => /^scp .*-t /.test(c))).toHaveLength(1);
    expect(execs.filter((c) => /^scp .*-f /.test(c))).toHaveLength(3);
  });

  it('a shell command on the same host still sends its stdout events (only transfer channels are quiet)', async () => {
    const before = await sessionIds(lab);
    const r = await lab.ssh('echo plain-$((6*7))', { timeoutMs: 60_000 });
    expect(r).toMatchObject({ code: 0, stdout: 'plain-42\n' });
    const sessions = await newSessions(lab, before, 0);
    const stdout = auditOf(lab, sessions).filter((e) => e.event === 'stdout');
    expect(Buffer.concat(stdout.map((e) => e.data!)).toString()).toBe('plain-42\n');
  });

  it('srec verify passes on every session, and names a transferred copy that was changed', async () => {
    const verified = await verifySessions({ dataFolder: lab.recorder.dataFolder });
    expect(verified.problems).toEqual([]);
    expect(verified.sessions.length).toBeGreaterThanOrEqual(6);
    expect(verified.sessions.filter((s) => !s.ok)).toEqual([]);
    const cli = await srec('verify', '--data', lab.recorder.dataFolder);
    expect(cli).toMatchObject({ code: 0 });

    // A copy changed on the share is found (then put back)
    const withFiles = scanSessions(lab.recorder.dataFolder).sessions.find((s) => s.manifest.transfers.some((t) => t.file && t.size > 0));
    const t = withFiles!.manifest.transfers.find((x) => x.file && x.size > 0)!;
    const file = path.join(withFiles!.dir, t.file!);
    const original = await fsp.readFile(file);
    const changed = Buffer.from(original);
    changed[0] = changed[0]! ^ 0xff;
    await fsp.writeFile(file, changed);
    try {
      const bad = await srec('verify', '--data', lab.recorder.dataFolder, withFiles!.id);
      expect(bad.code).toBe(1);
      expect(bad.stdout + bad.stderr).toContain(t.file!);
    } finally {
      await fsp.writeFile(file, original);
    }
    expect(await srec('verify', '--data', lab.recorder.dataFolder, withFiles!.id)).toMatchObject({ code: 0 });
  });
});

describe('file transfers through the recorder with real OpenSSH (fileTransfers: false)', () => {
  let lab: Lab;
  let originals: Original[];
  let local: string;
  let target: string;
  beforeAll(async () => {
    lab = await startLab({ db1: { fileTransfers: false }, recorder: { extra: AUDIT_ALL } });
    local = path.join(lab.dir, 'local');
    target = path.join(lab.dir, 'target');
    originals = await makeOriginals(local);
    await fsp.mkdir(target);
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('sftp, scp and scp -O keep only metadata: sizes and sha256, no copies, no content anywhere in the recording', async () => {
    const before = await sessionIds(lab);
    const back = path.join(local, 'back');
    await fsp.mkdir(back);
    for (const sub of ['sftp', 'scp', 'scp-O']) await fsp.mkdir(path.join(target, sub));
    const runs = [
      await sftpBatch(lab, [...originals.map((o) => `put ${path.join(local, o.name)} ${target}/sftp/${o.name}`), `get ${target}/sftp/big.bin ${back}/sftp-big.bin`, ''].join('\n')),
      await scp(lab, [], originals.map((o) => path.join(local, o.name)), remote(`${target}/scp/`)),
      await scp(lab, ['-O'], originals.map((o) => path.join(local, o.name)), remote(`${target}/scp-O/`)),
      await scp(lab, ['-O'], [remote(`${target}/scp-O/small.txt`)], `${back}/scp-small.txt`),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    await expectSameFile(path.join(back, 'sftp-big.bin'), originals[2]!);
    await expectSameFile(path.join(back, 'scp-small.txt'), originals[1]!);

    const sessions = await newSessions(lab, before, 11);
    const found = transfersOf(sessions);
    expect(found).toHaveLength(11);
    for (const f of found) {
      const o = originals.find((x) => x.name === path.basename(f.transfer.path) || `sftp-${x.name}` === path.basename(f.transfer.path))!;
      expect(f.transfer).toMatchObject({ size: o.content.length, sha256: o.sha256, complete: true });
      expect(f.transfer.file).toBeUndefined();
    }
    for (const s of sessions) {
      expect(existsSync(path.join(s.dir, 'files'))).toBe(false);
      expect(s.manifest.files.filter((f) => f.path.startsWith('files/'))).toEqual([]);
      // The small file's marker is nowhere: not in a cast, not in the channel log, not in the manifest.
      expect((await sessionBytes(s)).includes(originals[1]!.content.subarray(0, 40))).toBe(false);
    }
    const events = auditOf(lab, sessions);
    expect(events.filter((e) => e.event === 'file_transfer')).toHaveLength(11);
    expect(dataEvents(events)).toEqual({ stdin: 0, stdout: 0 });
    expect((await verifySessions({ dataFolder: lab.recorder.dataFolder })).ok).toBe(true);
    expect(await srec('verify', '--data', lab.recorder.dataFolder)).toMatchObject({ code: 0 });
  });
});

/** The sftp-server binary of this machine's OpenSSH, run as an exec command by `sftp -s`. */
const SFTP_SERVER = ['/usr/lib/openssh/sftp-server', '/usr/lib/sftp-server', '/usr/libexec/sftp-server'].find((p) => existsSync(p))!;

/**
 * An `ssh` for `scp -S` that runs scp's remote command behind a shell's `cd / && exec`, as a wrapper would: the
 * command line no longer reads as `scp -t` / `scp -f`, only the bytes on the channel say it is SCP.
 */
async function disguisingSsh(dir: string): Promise<string> {
  const file = path.join(dir, 'disguised-ssh');
  await fsp.writeFile(file, '#!/bin/bash\nargs=("$@")\nlast=$((${#args[@]} - 1))\nremote=${args[$last]}\nunset "args[$last]"\nexec ssh "${args[@]}" "cd / && exec $remote"\n', { mode: 0o755 });
  return file;
}

/** A disguised scp -O up and down, and sftp with the server binary as an exec, of each original. */
async function disguisedTransfers(lab: Lab, local: string, dir: string): Promise<{ back: string; wrapper: string }> {
  const back = path.join(local, 'disguised-back');
  await Promise.all([fsp.mkdir(back, { recursive: true }), fsp.mkdir(path.join(dir, 'scp'), { recursive: true }), fsp.mkdir(path.join(dir, 'sftp'), { recursive: true })]);
  const wrapper = await disguisingSsh(lab.dir);
  const names = ['empty.bin', 'small.txt', 'big.bin'];
  const up = await scp(lab, ['-O', '-S', wrapper], names.map((n) => path.join(local, n)), remote(`${dir}/scp/`));
  expect(up).toMatchObject({ code: 0 });
  const down = await scp(lab, ['-O', '-S', wrapper], [remote(`${dir}/scp/small.txt`)], `${back}/scp-small.txt`);
  expect(down).toMatchObject({ code: 0 });
  const batch = path.join(lab.dir, `batch-${randomBytes(4).toString('hex')}`);
  await fsp.writeFile(batch, [...names.map((n) => `put ${path.join(local, n)} ${dir}/sftp/${n}`), `get ${dir}/sftp/big.bin ${back}/sftp-big.bin`, ''].join('\n'));
  const sftp = await runClient('sftp', ['-s', SFTP_SERVER, '-b', batch, ...clientOptions(lab), '127.0.0.1']);
  expect(sftp).toMatchObject({ code: 0 });
  return { back, wrapper };
}

/** The exec channels of the disguised transfers: none reads as scp -t / -f or the sftp subsystem, and none has a cast. */
function expectDisguisedChannels(sessions: readonly StoredSession[]): void {
  const channels = sessions.flatMap((s) => s.manifest.channels);
  expect(channels.map((c) => c.kind)).toEqual(['exec', 'exec', 'exec']);
  expect(channels.map((c) => c.command).sort()).toEqual([
    SFTP_SERVER,
    expect.stringMatching(/^cd \/ && exec scp .*-t /),
    expect.stringMatching(/^cd \/ && exec scp .*-f /),
  ]);
  for (const c of channels) expect(c.cast).toBeUndefined();
}

for (const fileTransfers of [true, false]) {
  describe(`disguised transfers are recognised by their protocol (fileTransfers: ${fileTransfers})`, () => {
    let lab: Lab;
    let originals: Original[];
    let local: string;
    beforeAll(async () => {
      lab = await startLab({ db1: { fileTransfers }, recorder: { extra: AUDIT_ALL } });
      local = path.join(lab.dir, 'local');
      originals = await makeOriginals(local);
    });
    afterAll(async () => {
      await lab?.stop();
    });

    it('scp -O through `cd / && exec scp -t|-f` and sftp with sftp-server as an exec command: transfers with sha256, no content in casts or data events', async () => {
      // GIVEN a recorded host, and a person whose scp and sftp run their remote side under names the command line does not tell
      const before = await sessionIds(lab);
      const dir = path.join(lab.dir, 'target');
      // WHEN they copy three files up and one down with scp, and three up and one down with sftp
      const { back } = await disguisedTransfers(lab, local, dir);
      // THEN the files arrived untouched
      for (const o of originals) {
        await expectSameFile(path.join(dir, 'scp', o.name), o);
        await expectSameFile(path.join(dir, 'sftp', o.name), o);
      }
      await expectSameFile(path.join(back, 'scp-small.txt'), originals[1]!);
      await expectSameFile(path.join(back, 'sftp-big.bin'), originals[2]!);
      // AND the recording has each as a transfer of its protocol, with the original's sha256 (and a copy when kept)
      const sessions = await newSessions(lab, before, 8);
      const found = transfersOf(sessions);
      expect(found).toHaveLength(8);
      for (const o of originals) {
        const up = found.filter((f) => f.transfer.direction === 'upload' && path.basename(f.transfer.path) === o.name);
        expect(up.map((f) => f.transfer.protocol).sort()).toEqual(['scp', 'sftp']);
        for (const f of up) await expectCopy([f], o, 'upload', f.transfer.protocol, fileTransfers);
      }
      expect(found.find((f) => f.transfer.protocol === 'scp' && f.transfer.direction === 'download')?.transfer).toMatchObject({ size: originals[1]!.content.length, sha256: originals[1]!.sha256, complete: true });
      expect(found.find((f) => f.transfer.protocol === 'sftp' && f.transfer.direction === 'download')?.transfer).toMatchObject({ size: originals[2]!.content.length, sha256: originals[2]!.sha256, complete: true });
      // AND the channels are execs with no cast
      expectDisguisedChannels(sessions);
      // AND the audit has a file_transfer event per file and no stdin/stdout events (each would carry file content)
      const events = auditOf(lab, sessions);
      expect(events.filter((e) => e.event === 'file_transfer')).toHaveLength(8);
      expect(dataEvents(events)).toEqual({ stdin: 0, stdout: 0 });
      for (const e of events) expect(e.data === undefined || !e.data.includes(originals[1]!.content.subarray(0, 40))).toBe(true);
      if (!fileTransfers) {
        // AND with fileTransfers: false the content is nowhere in the recording: no copies, not in a cast, not in the log
        for (const s of sessions) {
          expect(existsSync(path.join(s.dir, 'files'))).toBe(false);
          expect((await sessionBytes(s)).includes(originals[1]!.content.subarray(0, 40))).toBe(false);
          expect((await sessionBytes(s)).includes(originals[2]!.content.subarray(1000, 1064))).toBe(false);
        }
      }
      expect((await verifySessions({ dataFolder: lab.recorder.dataFolder })).ok).toBe(true);
    });

    it('a command that greets like SCP and then runs a shell is recorded as a terminal from where it leaves the protocol', async () => {
      // GIVEN a remote command that sends SCP's ready byte, then (after the person's C record) runs a shell
      const before = await sessionIds(lab);
      const marker = `after-the-greeting-${randomBytes(4).toString('hex')}`;
      const child = spawnSsh([...lab.args(), `printf '\\0'; head -c 14 >/dev/null; exec sh`]);
      let ready = false;
      child.stdout.once('data', () => (ready = true));
      const done = collect(child, Date.now(), 60_000);
      // WHEN the person answers with a record line, then types a command into the shell
      await waitFor(() => ready, 'the ready byte', 20_000);
      child.stdin.write('C0644 5 x.txt\n');
      await new Promise((r) => setTimeout(r, 300));
      child.stdin.write(`echo ${marker}-$((6*7))\n`);
      child.stdin.end();
      const r = await done;
      // THEN the shell ran
      expect(r.stdout).toContain(`${marker}-42`);
      // AND its command and output are in the channel's cast, and its output in the stdout events
      const sessions = await newSessions(lab, before, 0);
      const s = sessions[0]!;
      expect(s.manifest.channels[0]!.cast).toBe('ch-0.cast.gz');
      const cast = zlib.gunzipSync(await fsp.readFile(path.join(s.dir, 'ch-0.cast.gz'))).toString();
      expect(cast).toContain(`echo ${marker}-$((6*7))`);
      expect(cast).toContain(`${marker}-42`);
      const log = await readChannelLog(s.dir);
      expect(log.entries).toContainEqual(expect.objectContaining({ type: 'scp', op: 'parse_stopped' }));
      const stdout = auditOf(lab, sessions).filter((e) => e.event === 'stdout');
      expect(Buffer.concat(stdout.map((e) => e.data!)).toString()).toContain(`${marker}-42`);
    });
  });
}

describe('`srec recorder` as a process: transfers and retention', () => {
  let lab: Lab;
  afterAll(async () => {
    await lab?.stop();
  });

  it('records an sftp upload, and its retention loop expires old sessions and old transferred files, then stops with the recorder', async () => {
    // GIVEN a share with a session 40 days old, one 3 days old with a transferred file, and one an hour old with one
    lab = await startLab({ db1: { fileTransfers: true } });
    await lab.recorder.stop();
    const data = lab.recorder.dataFolder;
    const day = 86_400_000;
    const at = (msAgo: number) => ({ start: new Date(Date.now() - msAgo), end: new Date(Date.now() - msAgo + 60_000) });
    const old = writeSession({ dataFolder: data, ...at(40 * day), files: { 'a.txt': 'old' } });
    const mid = writeSession({ dataFolder: data, ...at(3 * day), files: { 'b.txt': 'mid' } });
    const recent = writeSession({ dataFolder: data, ...at(3_600_000), files: { 'c.txt': 'recent' } });
    // WHEN `srec recorder` starts with trailExpiryDays 30 and transferredFilesExpiryDays 2
    const rec = await lab.restartRecorder({ mode: 'process', extra: { retention: { trailExpiryDays: 30, transferredFilesExpiryDays: 2 } } });
    // THEN its retention pass removes the old session and the mid one's files, and logs what it removed
    await waitFor(() => rec.logs().includes('"retention done"'), 'a retention pass', 60_000);
    expect(existsSync(old.dir)).toBe(false);
    expect(existsSync(path.join(mid.dir, 'files'))).toBe(false);
    expect(existsSync(path.join(recent.dir, 'files', '1-c.txt'))).toBe(true);
    expect(rec.logs()).toContain('"retention removed session"');
    expect(rec.logs()).toContain('"retention removed transferred files"');
    expect(readManifest(mid.dir)).toHaveProperty('filesExpired');

    // AND the same process records file transfers
    const before = await sessionIds(lab);
    const local = path.join(lab.dir, 'local');
    const [, small] = await makeOriginals(local);
    const r = await sftpBatch(lab, `put ${path.join(local, 'small.txt')} ${path.join(lab.dir, 'small.txt')}\n`);
    expect(r).toMatchObject({ code: 0 });
    const sessions = await newSessions(lab, before, 1);
    await expectCopy(transfersOf(sessions), small!, 'upload', 'sftp', true);
    expect((await verifySessions({ dataFolder: data })).ok).toBe(true);

    // AND it stops cleanly, leaving no retention lock behind
    expect(await rec.stop()).toBe(0);
    expect(existsSync(path.join(data, '.retention.lock'))).toBe(false);
  });
});
