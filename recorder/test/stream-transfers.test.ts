// rsync, git and tar over ssh through the recorder, with the real programs and real OpenSSH: each recorded as a
// stream transfer (command, direction, bytes, the raw stream and its sha256), and sent to the SIEM as one
// data_summary per stream instead of byte by byte (audit.bulkData: summary, the default); binary output of
// other commands is summarised too, text still goes out as events.
import { jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { clientOptions } from '../../testing/openssh.js';
import type { ManifestTransfer } from '../src/trail/manifest.js';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { startLab, waitFor, type Lab } from './support/index.js';
import type { AuditedEvent } from './support/recorder.js';

jest.setTimeout(120000);

const run = promisify(execFile);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const AUDIT = { enabled: true, events: ['stdin', 'stdout', 'stderr', 'channel_request'] as const, syslog: { address: '127.0.0.1:5514' } };

let lab: Lab;
let tree: string;

beforeAll(async () => {
  lab = await startLab({ recorder: { extra: { audit: { ...AUDIT, events: [...AUDIT.events] } } } });
  tree = path.join(lab.dir, 'tree');
  await fsp.mkdir(path.join(tree, 'sub'), { recursive: true });
  await fsp.writeFile(path.join(tree, 'a.bin'), randomBytes(200 * 1024));
  await fsp.writeFile(path.join(tree, 'sub', 'b.txt'), 'text in the tree\n'.repeat(100));
});

afterAll(async () => {
  await lab?.stop();
});

/** `ssh` as rsync and git run it: OpenSSH with the lab's options, logging in as root@db-1 through the recorder. */
function sshCommand(l: Lab): string {
  const t = { port: l.recorder.port, identity: l.alice.privatePath, destination: 'root@db-1@127.0.0.1' };
  return ['ssh', ...clientOptions(t), '-p', String(l.recorder.port), '-o', 'User=root@db-1'].join(' ');
}

function sshBytes(l: Lab, command: string, input?: Buffer): Promise<{ code: number | null; stdout: Buffer }> {
  const child = spawn('ssh', [...l.args(), command], { stdio: ['pipe', 'pipe', 'ignore'] });
  const out: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stdin.on('error', () => undefined);
  child.stdin.end(input ?? Buffer.alloc(0));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out) })));
}

const ids = (l: Lab) => new Set(scanSessions(l.recorder.dataFolder).sessions.map((s) => s.id));

async function sessionWithTransfer(l: Lab, before: ReadonlySet<string>): Promise<{ s: StoredSession; t: ManifestTransfer }> {
  return waitFor(() => {
    const s = scanSessions(l.recorder.dataFolder).sessions.find((x) => !before.has(x.id) && x.manifest.transfers.length > 0);
    return s && { s, t: s.manifest.transfers[0]! };
  }, 'the session with its transfer');
}

/** The audit events of a session, once its session_end is in. */
async function eventsOf(l: Lab, sessionId: string): Promise<AuditedEvent[]> {
  return waitFor(() => {
    const mine = l.recorder.audit.filter((e) => e.sessionId === sessionId);
    return mine.some((e) => e.event === 'session_end') ? mine : undefined;
  }, 'the session\'s audit events');
}

async function rawStream(s: StoredSession, file: string): Promise<Buffer> {
  return gunzipSync(await fsp.readFile(path.join(s.dir, file)));
}

describe('stream transfers', () => {
  it('tar cf - (a download): one transfer of the stream, its sha256 that of the bytes the person got, no stdout events', async () => {
    // GIVEN a tree on the target WHEN alice pulls it as a tar stream
    const before = ids(lab);
    const r = await sshBytes(lab, `tar cf - -C ${tree} .`);
    expect(r.code).toBe(0);
    // THEN the recording has it as a tar download whose content is the channel's stdout stream
    const { s, t } = await sessionWithTransfer(lab, before);
    expect(t).toMatchObject({ protocol: 'tar', direction: 'download', path: `tar cf - -C ${tree} .`, size: r.stdout.length, sha256: sha256(r.stdout), file: 'ch-0.out.raw.gz', complete: true });
    expect((await rawStream(s, t.file!)).equals(r.stdout)).toBe(true);
    // AND the SIEM got a file_transfer and one data_summary for stdout, not the bytes
    const events = await eventsOf(lab, s.id);
    expect(events.filter((e) => e.event === 'stdout')).toEqual([]);
    expect(events.find((e) => e.event === 'file_transfer')).toMatchObject({ protocol: 'tar', direction: 'download', sha256: sha256(r.stdout) });
    expect(events.find((e) => e.event === 'data_summary')).toMatchObject({ channel: 0, stream: 'stdout', bytes: r.stdout.length, omittedBytes: r.stdout.length, sha256: sha256(r.stdout), reason: 'bulk_transfer:tar' });
  });

  it('tar xf - (an upload): the transfer is the stream from the person', async () => {
    const archive = (await run('tar', ['cf', '-', '-C', tree, '.'], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 })).stdout;
    const dest = await fsp.mkdtemp(path.join(lab.dir, 'untar-'));
    const before = ids(lab);
    const r = await sshBytes(lab, `tar xf - -C ${dest}`, archive);
    expect(r.code).toBe(0);
    expect(await fsp.readFile(path.join(dest, 'sub', 'b.txt'), 'utf8')).toContain('text in the tree');
    const { s, t } = await sessionWithTransfer(lab, before);
    expect(t).toMatchObject({ protocol: 'tar', direction: 'upload', size: archive.length, sha256: sha256(archive), file: 'ch-0.in.raw.gz', complete: true });
    const events = await eventsOf(lab, s.id);
    expect(events.filter((e) => e.event === 'stdin')).toEqual([]);
    expect(events.find((e) => e.event === 'data_summary')).toMatchObject({ stream: 'stdin', omittedBytes: archive.length, reason: 'bulk_transfer:tar' });
  });

  it('rsync push and pull: recorded as rsync uploads and downloads, and the files arrive', async () => {
    const dest = await fsp.mkdtemp(path.join(lab.dir, 'rsync-'));
    // WHEN alice pushes the tree with rsync over ssh through the recorder
    let before = ids(lab);
    await run('rsync', ['-a', '-e', sshCommand(lab), `${tree}/`, `127.0.0.1:${dest}/`]);
    expect((await fsp.readFile(path.join(dest, 'a.bin'))).equals(await fsp.readFile(path.join(tree, 'a.bin')))).toBe(true);
    // THEN an rsync upload, its stream kept
    const push = await sessionWithTransfer(lab, before);
    expect(push.t).toMatchObject({ protocol: 'rsync', direction: 'upload', file: 'ch-0.in.raw.gz', complete: true });
    expect(push.t.path).toMatch(/^rsync --server /);
    expect(sha256(await rawStream(push.s, push.t.file!))).toBe(push.t.sha256);
    // WHEN she pulls it back
    const back = await fsp.mkdtemp(path.join(lab.dir, 'rsync-back-'));
    before = ids(lab);
    await run('rsync', ['-a', '-e', sshCommand(lab), `127.0.0.1:${dest}/`, `${back}/`]);
    expect(await fsp.readFile(path.join(back, 'sub', 'b.txt'), 'utf8')).toContain('text in the tree');
    const pull = await sessionWithTransfer(lab, before);
    expect(pull.t).toMatchObject({ protocol: 'rsync', direction: 'download', file: 'ch-0.out.raw.gz', complete: true });
    expect(pull.t.path).toMatch(/--sender/);
  });

  it('git clone and push over ssh: git downloads and uploads', async () => {
    // GIVEN a bare repository on the target with one commit
    const repo = path.join(lab.dir, 'repo.git');
    const work = path.join(lab.dir, 'work');
    await run('git', ['init', '-q', '--bare', repo]);
    await run('git', ['init', '-q', work]);
    await fsp.writeFile(path.join(work, 'README'), 'hello\n');
    const git = (cwd: string, ...args: string[]) =>
      run('git', ['-c', 'user.name=alice', '-c', 'user.email=alice@example.invalid', '-c', 'safe.directory=*', ...args], { cwd, env: { ...process.env, GIT_SSH_COMMAND: sshCommand(lab) } });
    await git(work, 'add', 'README');
    await git(work, 'commit', '-q', '-m', 'first');
    // WHEN alice pushes through the recorder
    let before = ids(lab);
    await git(work, 'push', '-q', `ssh://127.0.0.1:${lab.recorder.port}${repo}`, 'HEAD:refs/heads/main');
    const push = await sessionWithTransfer(lab, before);
    expect(push.t).toMatchObject({ protocol: 'git', direction: 'upload', complete: true });
    expect(push.t.path).toMatch(/^git-receive-pack /);
    // WHEN she clones it back
    const clone = path.join(lab.dir, 'clone');
    before = ids(lab);
    await git(lab.dir, 'clone', '-q', '-b', 'main', `ssh://127.0.0.1:${lab.recorder.port}${repo}`, clone);
    expect(await fsp.readFile(path.join(clone, 'README'), 'utf8')).toBe('hello\n');
    const pull = await sessionWithTransfer(lab, before);
    expect(pull.t).toMatchObject({ protocol: 'git', direction: 'download', complete: true });
  });
});

describe('binary output of other commands', () => {
  it('leaves non-UTF-8 chunks out of the data events and summarises them; text still goes out', async () => {
    // WHEN alice cats a binary file, then a text line, without a pty
    const before = ids(lab);
    // (apart in time: sshd would otherwise read the binary's last bytes and the line as one chunk, not text)
    const r = await sshBytes(lab, `cat ${path.join(tree, 'a.bin')}; sleep 0.3; echo text-after-binary`);
    expect(r.code).toBe(0);
    const s = await waitFor(() => scanSessions(lab.recorder.dataFolder).sessions.find((x) => !before.has(x.id)), 'the session');
    const events = await eventsOf(lab, s.id);
    // THEN the summary counts what was left out, with the sha256 of the whole stream
    const summary = events.find((e) => e.event === 'data_summary') as (AuditedEvent & { omittedBytes?: number; bytes?: number; reason?: string }) | undefined;
    expect(summary).toMatchObject({ stream: 'stdout', bytes: r.stdout.length, sha256: sha256(r.stdout), reason: 'binary' });
    expect(summary!.omittedBytes).toBeGreaterThan(100 * 1024);
    // AND the text that followed was sent as it is
    const sent = Buffer.concat(events.filter((e) => e.event === 'stdout').map((e) => e.data!)).toString();
    expect(sent).toContain('text-after-binary');
  });

  it('sends bulk text up to the stream’s budget (1 MiB, then 256 KiB/s) and summarises the rest as text_rate', async () => {
    // WHEN alice cats 8 MiB of log text without a pty
    const log = path.join(lab.dir, 'big.log');
    const lines = Array.from({ length: 8 * 1024 * 1024 / 64 }, (_, i) => `${String(i).padStart(12, '0')} GET /index.html 200 log line of text`.padEnd(63, '.') + '\n');
    await fsp.writeFile(log, lines.join(''));
    const before = ids(lab);
    const started = Date.now();
    const r = await sshBytes(lab, `cat ${log}`);
    const seconds = (Date.now() - started) / 1000;
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(8 * 1024 * 1024);
    const s = await waitFor(() => scanSessions(lab.recorder.dataFolder).sessions.find((x) => !before.has(x.id)), 'the session');
    const events = await eventsOf(lab, s.id);
    // THEN the SIEM got at most the burst plus the rate for the session's time, the start of the log among it
    const out = Buffer.concat(events.filter((e) => e.event === 'stdout').map((e) => e.data!));
    expect(out.length).toBeGreaterThanOrEqual(1024 * 1024 - 64 * 1024);
    expect(out.length).toBeLessThanOrEqual(1024 * 1024 + 256 * 1024 * (seconds + 1));
    expect(out.subarray(0, 64).toString()).toBe(lines[0]);
    // AND one summary says what was left out, with the sha256 of all 8 MiB the person got
    const summary = events.find((e) => e.event === 'data_summary');
    expect(summary).toMatchObject({ stream: 'stdout', bytes: r.stdout.length, sha256: sha256(r.stdout), reason: 'text_rate', omittedBytes: r.stdout.length - out.length });
  });
});

describe('audit.bulkData: events', () => {
  it('sends every byte of a bulk transfer as data events', async () => {
    const all = await startLab({ recorder: { extra: { audit: { ...AUDIT, events: [...AUDIT.events], bulkData: 'events' } } } });
    try {
      const before = ids(all);
      const r = await sshBytes(all, `tar cf - -C ${tree} .`);
      const { s } = await sessionWithTransfer(all, before);
      const events = await eventsOf(all, s.id);
      expect(Buffer.concat(events.filter((e) => e.event === 'stdout').map((e) => e.data!)).equals(r.stdout)).toBe(true);
      expect(events.filter((e) => e.event === 'data_summary')).toEqual([]);
    } finally {
      await all.stop();
    }
  });
});
