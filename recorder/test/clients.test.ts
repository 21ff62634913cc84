// Clients other than OpenSSH's, driven through the recorder as administrators use them: PuTTY's plink, pscp
// and psftp; paramiko (Python); sshfs (FUSE over sftp). Each works as it does direct, and the recording is
// checked: exit status and output, each transfer with the real file's sha256 (or marked partial where only
// part of the file crossed), forwarded channels, and the audit events the SIEM gets for each.
import { jest } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { ManifestTransfer } from '../src/trail/manifest.js';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { collect, freePort, startEchoServer, startLab, waitFor, type EchoServer, type Lab, type SshResult } from './support/index.js';

jest.setTimeout(90000);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** Debian's python3 (with python3-paramiko), not whatever python3 comes first on PATH. */
const PYTHON = '/usr/bin/python3';

let lab: Lab;
let echo: EchoServer;
/** alice's key in PuTTY's format. */
let ppk: string;
/** The recorder's host key as PuTTY pins it (-hostkey SHA256:...) and as `type base64`. */
let hostKeyFingerprint: string;
let hostKeyLine: string;

function run(cmd: string, args: readonly string[], opts: { input?: string | Buffer; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<SshResult> {
  const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  return collect(child, Date.now(), opts.timeoutMs ?? 60000, () => child.stdin.end(opts.input ?? ''));
}

beforeAll(async () => {
  echo = await startEchoServer();
  lab = await startLab({
    db1: { fileTransfers: true },
    hosts: (host) => [host('db-rev', { forwarding: { remote: true }, fileTransfers: true })],
    // The requests (commands, subsystems, forwards) go to the SIEM as sensitive events, as a team would select them.
    recorder: { extra: { audit: { enabled: true, events: ['channel_request', 'global_request'], syslog: { address: '127.0.0.1:5514' } } } },
  });
  ppk = path.join(lab.dir, 'alice.ppk');
  const conv = spawnSync('puttygen', [lab.alice.privatePath, '-O', 'private', '-o', ppk], { encoding: 'utf8' });
  if (conv.status !== 0) throw new Error(`puttygen failed: ${conv.stderr}`);
  hostKeyLine = (await fsp.readFile(path.join(lab.recorder.dir, 'host_key.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
  const fp = spawnSync('ssh-keygen', ['-lf', path.join(lab.recorder.dir, 'host_key.pub')], { encoding: 'utf8' });
  hostKeyFingerprint = fp.stdout.split(' ')[1]!;
  expect(hostKeyFingerprint).toMatch(/^SHA256:/);
});

afterAll(async () => {
  await lab?.stop();
  await echo?.close();
});

/** What every PuTTY tool takes: batch mode, alice's key, no agent, the recorder's pinned host key, the login. */
const putty = (host = 'db-1', portFlag = '-P') => ['-batch', '-noagent', '-i', ppk, '-hostkey', hostKeyFingerprint, portFlag, String(lab.recorder.port), '-l', `root@${host}`];

const ids = () => new Set(scanSessions(lab.recorder.dataFolder).sessions.map((s) => s.id));

async function newSession(before: ReadonlySet<string>, pred: (s: StoredSession) => boolean = () => true): Promise<StoredSession> {
  return waitFor(() => scanSessions(lab.recorder.dataFolder).sessions.find((s) => !before.has(s.id) && pred(s)), 'the recording on the share');
}

/** The audit events of the sessions recorded since `before`, once the last of them has ended. */
async function auditSince(before: ReadonlySet<string>, n = 1): Promise<Lab['recorder']['audit']> {
  return waitFor(() => {
    const fresh = new Set(scanSessions(lab.recorder.dataFolder).sessions.filter((s) => !before.has(s.id)).map((s) => s.id));
    const events = lab.recorder.audit.filter((e) => e.sessionId !== undefined && fresh.has(e.sessionId));
    return fresh.size >= n && events.filter((e) => e.event === 'session_end').length >= n ? events : undefined;
  }, `the audit events of ${n} session(s)`);
}

/** session_start first and session_end last in each session, with no events of the session after its end. */
function framed(events: Lab['recorder']['audit']): void {
  for (const id of new Set(events.map((e) => e.sessionId))) {
    const own = events.filter((e) => e.sessionId === id).map((e) => e.event);
    expect(own[0]).toBe('session_start');
    expect(own.at(-1)).toBe('session_end');
  }
}

async function transfersOf(before: ReadonlySet<string>, n: number): Promise<ManifestTransfer[]> {
  return waitFor(() => {
    const t = scanSessions(lab.recorder.dataFolder).sessions.filter((s) => !before.has(s.id)).flatMap((s) => s.manifest.transfers);
    return t.length >= n ? t : undefined;
  }, `${n} transfer(s) on the share`);
}

describe('PuTTY', () => {
  it('plink runs a command: output, exit status, and the recording of both', async () => {
    const before = ids();
    const r = await run('plink', ['-ssh', ...putty(), '127.0.0.1', 'echo plink-$((6*7)); exit 7']);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 7, stdout: 'plink-42\n' });
    const s = await newSession(before);
    expect(s.manifest.channels[0]).toMatchObject({ kind: 'exec', command: 'echo plink-$((6*7)); exit 7', exitStatus: 7 });
    // AND the SIEM hears the command, its exit status and the session's end
    const events = await auditSince(before);
    framed(events);
    expect(events.find((e) => e.event === 'channel_request')).toMatchObject({ request: { name: 'exec', command: 'echo plink-$((6*7)); exit 7' } });
    expect(events.find((e) => e.event === 'channel_exit')).toMatchObject({ exitStatus: 7 });
  });

  it('plink -R where forwarding.remote is true: the target listens, connections reach the person', async () => {
    const port = await freePort();
    const sentBytes = 32 * 1024;
    const before = ids();
    const child = spawn('plink', ['-ssh', ...putty('db-rev'), '-N', '-R', `127.0.0.1:${port}:127.0.0.1:${echo.port}`, '127.0.0.1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const done = collect(child, Date.now(), 60000);
    try {
      // (plink says nothing when the forward is set up: wait until the target's side accepts)
      const net = await import('node:net');
      const sent = randomBytes(sentBytes);
      const received = await waitFor(async () => {
        const got = await new Promise<Buffer | undefined>((resolve) => {
          const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
          const chunks: Buffer[] = [];
          s.on('data', (c: Buffer) => chunks.push(c));
          s.on('error', () => resolve(undefined));
          s.once('connect', () => s.end(sent));
          s.once('close', () => resolve(Buffer.concat(chunks)));
        });
        return got && got.length > 0 ? got : undefined;
      }, 'the forwarded port to answer', 20000);
      expect(received.equals(sent)).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await done;
    }
    const s = await newSession(before, (x) => x.manifest.channels.some((c) => c.type === 'forwarded-tcpip'));
    expect(s.manifest.channels.find((c) => c.type === 'forwarded-tcpip')).toMatchObject({ destination: `127.0.0.1:${port}`, closed: true });
    const events = await auditSince(before);
    framed(events);
    expect(events.find((e) => e.event === 'global_request')).toMatchObject({ request: { name: 'tcpip-forward' } });
    expect(events.find((e) => e.event === 'forward_open')).toMatchObject({ kind: 'remote', type: 'forwarded-tcpip', destination: `127.0.0.1:${port}` });
    expect(events.find((e) => e.event === 'forward_close')).toMatchObject({ kind: 'remote', bytesIn: sentBytes, bytesOut: sentBytes });
  });

  it('pscp copies up (SFTP and SCP protocols) and down, each transfer recorded with the file’s sha256', async () => {
    const dir = await fsp.mkdtemp(path.join(lab.dir, 'pscp-'));
    const content = randomBytes(700 * 1024 + 5);
    const local = path.join(dir, 'up.bin');
    await fsp.writeFile(local, content);
    const before = ids();
    for (const [mode, remote] of [['-sftp', path.join(dir, 'remote-sftp.bin')], ['-scp', path.join(dir, 'remote-scp.bin')]] as const) {
      const r = await run('pscp', [...putty(), '-q', mode, local, `127.0.0.1:${remote}`]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(sha256(await fsp.readFile(remote))).toBe(sha256(content));
    }
    const back = path.join(dir, 'back.bin');
    const down = await run('pscp', [...putty(), '-q', `127.0.0.1:${path.join(dir, 'remote-sftp.bin')}`, back]);
    expect(down.code).toBe(0);
    expect(sha256(await fsp.readFile(back))).toBe(sha256(content));
    const transfers = await transfersOf(before, 3);
    expect(transfers.map((t) => [t.protocol, t.direction, t.sha256, t.complete]).sort()).toEqual(
      [
        ['scp', 'upload', sha256(content), true],
        ['sftp', 'download', sha256(content), true],
        ['sftp', 'upload', sha256(content), true],
      ].sort(),
    );
    const events = await auditSince(before, 3);
    framed(events);
    expect(events.filter((e) => e.event === 'file_transfer').map((e) => [e.protocol, e.direction, e.sha256, e.complete, e.size]).sort()).toEqual(
      transfers.map((t) => [t.protocol, t.direction, sha256(content), true, content.length]).sort(),
    );
  });

  it('psftp put, get and reput: whole files with their sha256, the resumed one marked partial', async () => {
    const dir = await fsp.mkdtemp(path.join(lab.dir, 'psftp-'));
    const content = randomBytes(400 * 1024);
    const local = path.join(dir, 'local.bin');
    const remote = path.join(dir, 'remote.bin');
    const resumed = path.join(dir, 'resumed.bin');
    await fsp.writeFile(local, content);
    await fsp.writeFile(resumed, content.subarray(0, 100 * 1024));
    const batch = path.join(dir, 'batch');
    await fsp.writeFile(batch, `put ${local} ${remote}\nget ${remote} ${local}.back\nreput ${local} ${resumed}\n`);
    const before = ids();
    const r = await run('psftp', [...putty(), '-b', batch, '127.0.0.1']);
    expect(r.code).toBe(0);
    expect(sha256(await fsp.readFile(`${local}.back`))).toBe(sha256(content));
    expect(sha256(await fsp.readFile(resumed))).toBe(sha256(content));
    const transfers = await transfersOf(before, 3);
    const byPath = (p: string, d: string) => transfers.find((t) => t.path === p && t.direction === d)!;
    expect(byPath(remote, 'upload')).toMatchObject({ sha256: sha256(content), complete: true });
    expect(byPath(remote, 'download')).toMatchObject({ sha256: sha256(content), complete: true });
    const partial = byPath(resumed, 'upload');
    expect(partial).toMatchObject({ complete: false, seen: [[100 * 1024, content.length]] });
    expect(partial.sha256).toBeUndefined();
    // AND the SIEM gets the same three: no sha256 claimed for the resumed write
    const events = (await auditSince(before)).filter((e) => e.event === 'file_transfer');
    expect(events).toHaveLength(3);
    expect(events.find((e) => e.path === resumed)).toMatchObject({ direction: 'upload', complete: false });
    expect(events.find((e) => e.path === resumed)?.sha256).toBeUndefined();
    expect(events.filter((e) => e.path === remote).map((e) => [e.direction, e.sha256, e.complete]).sort()).toEqual([['download', sha256(content), true], ['upload', sha256(content), true]]);
  });
});

describe('paramiko', () => {
  it('exec with exit status, and sftp put/get, with the host key pinned', async () => {
    const dir = await fsp.mkdtemp(path.join(lab.dir, 'paramiko-'));
    const content = randomBytes(300 * 1024 + 1);
    await fsp.writeFile(path.join(dir, 'up.bin'), content);
    const knownHosts = path.join(dir, 'known_hosts');
    await fsp.writeFile(knownHosts, `[127.0.0.1]:${lab.recorder.port} ${hostKeyLine}\n`);
    const script = `
import sys, paramiko
c = paramiko.SSHClient()
c.load_host_keys(${JSON.stringify(knownHosts)})
c.set_missing_host_key_policy(paramiko.RejectPolicy())
c.connect('127.0.0.1', port=${lab.recorder.port}, username='root@db-1', key_filename=${JSON.stringify(lab.alice.privatePath)}, allow_agent=False, look_for_keys=False)
_, out, _ = c.exec_command('echo paramiko-ok; exit 4')
print(out.read().decode().strip(), out.channel.recv_exit_status())
s = c.open_sftp()
s.put(${JSON.stringify(path.join(dir, 'up.bin'))}, ${JSON.stringify(path.join(dir, 'remote.bin'))})
s.get(${JSON.stringify(path.join(dir, 'remote.bin'))}, ${JSON.stringify(path.join(dir, 'down.bin'))})
s.close()
c.close()
`;
    const before = ids();
    const r = await run(PYTHON, ['-c', script]);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: 'paramiko-ok 4\n' });
    expect(sha256(await fsp.readFile(path.join(dir, 'down.bin')))).toBe(sha256(content));
    const transfers = await transfersOf(before, 2);
    expect(transfers.map((t) => [t.direction, t.sha256, t.complete]).sort()).toEqual([['download', sha256(content), true], ['upload', sha256(content), true]].sort());
    const events = await auditSince(before);
    framed(events);
    expect(events.find((e) => e.event === 'channel_exit')).toMatchObject({ exitStatus: 4 });
    expect(events.find((e) => e.event === 'channel_request' && e.request?.name === 'subsystem')).toMatchObject({ request: { name: 'subsystem', subsystem: 'sftp' } });
    expect(events.filter((e) => e.event === 'file_transfer').map((e) => [e.direction, e.sha256]).sort()).toEqual([['download', sha256(content)], ['upload', sha256(content)]]);
  });

  it('a host key other than the pinned one is refused by paramiko (the recorder is not trusted blindly)', async () => {
    const knownHosts = path.join(lab.dir, 'wrong_known_hosts');
    await fsp.writeFile(knownHosts, `[127.0.0.1]:${lab.recorder.port} ${lab.alice.publicLine.split(' ').slice(0, 2).join(' ')}\n`);
    const r = await run(PYTHON, ['-c', `
import paramiko
c = paramiko.SSHClient()
c.load_host_keys(${JSON.stringify(knownHosts)})
c.set_missing_host_key_policy(paramiko.RejectPolicy())
try:
    c.connect('127.0.0.1', port=${lab.recorder.port}, username='root@db-1', key_filename=${JSON.stringify(lab.alice.privatePath)}, allow_agent=False, look_for_keys=False)
except paramiko.BadHostKeyException:
    print('refused')
`]);
    expect(r.stdout).toBe('refused\n');
  });
});

describe('sshfs', () => {
  it('a file written through the mount is one transfer with its sha256; an append is recorded as the range it wrote, partial', async () => {
    const dir = await fsp.mkdtemp(path.join(lab.dir, 'sshfs-'));
    const exported = path.join(dir, 'exported');
    const mnt = path.join(dir, 'mnt');
    await fsp.mkdir(exported);
    await fsp.mkdir(mnt);
    const ssh = ['ssh', '-F', '/dev/null', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR', '-o', 'User=root@db-1', '-i', lab.alice.privatePath].join(' ');
    const before = ids();
    const mount = await run('sshfs', ['-p', String(lab.recorder.port), '-o', `ssh_command=${ssh}`, `127.0.0.1:${exported}`, mnt]);
    expect(mount.stderr).toBe('');
    expect(mount.code).toBe(0);
    const content = randomBytes(200 * 1024 + 7);
    const tail = randomBytes(1000);
    try {
      // WHEN a file is written through the mount, then appended to, then read back
      await fsp.writeFile(path.join(mnt, 'written.bin'), content);
      await fsp.appendFile(path.join(mnt, 'written.bin'), tail);
      const readBack = await fsp.readFile(path.join(mnt, 'written.bin'));
      expect(readBack.equals(Buffer.concat([content, tail]))).toBe(true);
    } finally {
      const um = spawnSync('fusermount', ['-u', mnt], { encoding: 'utf8' });
      if (um.status !== 0) throw new Error(`fusermount -u failed: ${um.stderr}`);
    }
    expect(sha256(await fsp.readFile(path.join(exported, 'written.bin')))).toBe(sha256(Buffer.concat([content, tail])));
    expect(existsSync(path.join(mnt, 'written.bin'))).toBe(false);
    // THEN the first write is a whole upload with the file's sha256; the append the range it wrote, partial
    const remote = path.join(exported, 'written.bin');
    const transfers = (await transfersOf(before, 2)).filter((t) => t.path === remote && t.direction === 'upload');
    expect(transfers[0]).toMatchObject({ sha256: sha256(content), complete: true, size: content.length });
    const append = transfers.find((t) => t.complete === false);
    expect(append).toMatchObject({ seen: [[content.length, content.length + tail.length]] });
    expect(append?.sha256).toBeUndefined();
    // AND the SIEM gets both writes the same way, and the read back as a whole download of what was read
    const events = (await auditSince(before)).filter((e) => e.event === 'file_transfer' && e.path === remote);
    expect(events.map((e) => [e.direction, e.complete, e.sha256 ?? null])).toEqual([
      ['upload', true, sha256(content)],
      ['upload', false, null],
      ['download', true, sha256(Buffer.concat([content, tail]))],
    ]);
  });
});
