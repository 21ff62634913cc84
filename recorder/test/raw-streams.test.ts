// Lossless recording of session channels without a pty, with real OpenSSH: the exact bytes of stdin, stdout and
// stderr as raw streams beside the cast (which holds text), listed in the manifest with their sha256.
import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readChannelLog } from '../src/trail/reader.js';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { startLab, waitFor, type Lab } from './support/index.js';
import { srecBytes as srec } from './support/run-cli.js';

jest.setTimeout(60000);

let lab: Lab;
/** Every byte value, then random bytes: not UTF-8, so a cast alone could not hold it. */
let binary: Buffer;
let binaryFile: string;

beforeAll(async () => {
  lab = await startLab();
  binary = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(300 * 1024)]);
  binaryFile = path.join(lab.dir, 'binary.bin');
  await fsp.writeFile(binaryFile, binary);
});

afterAll(async () => {
  await lab?.stop();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** ssh through the recorder with binary stdin and stdout/stderr kept as bytes. */
function sshBytes(command: string, input?: Buffer, extra: readonly string[] = []): Promise<{ code: number | null; stdout: Buffer; stderr: Buffer }> {
  const child = spawn('ssh', [...lab.args({ extra }), command], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.on('error', () => undefined);
  child.stdin.end(input ?? Buffer.alloc(0));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err) })));
}

async function newSession(before: ReadonlySet<string>): Promise<StoredSession> {
  return waitFor(() => scanSessions(lab.recorder.dataFolder).sessions.find((s) => !before.has(s.id)), 'the recording on the share');
}

const ids = () => new Set(scanSessions(lab.recorder.dataFolder).sessions.map((s) => s.id));
const gunzipIn = async (s: StoredSession, name: string) => gunzipSync(await fsp.readFile(path.join(s.dir, name)));

describe('raw streams of a session channel without a pty', () => {
  it('keep binary stdout and stdin byte for byte, with their sha256 in the manifest', async () => {
    // GIVEN alice WHEN she pipes binary data in and gets binary data back (an exec without a pty)
    const before = ids();
    const sent = randomBytes(200 * 1024);
    const r = await sshBytes(`cat > /dev/null; cat ${binaryFile}`, sent);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(binary)).toBe(true);
    // THEN the channel's raw streams hold exactly what she sent and what she got
    const s = await newSession(before);
    const ch = s.manifest.channels[0]!;
    expect(ch).toMatchObject({ kind: 'exec', streams: { in: 'ch-0.in.raw.gz', out: 'ch-0.out.raw.gz', err: 'ch-0.err.raw.gz' } });
    expect((await gunzipIn(s, ch.streams!.in)).equals(sent)).toBe(true);
    expect((await gunzipIn(s, ch.streams!.out)).equals(binary)).toBe(true);
    expect((await gunzipIn(s, ch.streams!.err!)).length).toBe(0);
    // AND the manifest lists each with its sha256 (of the file), so verify checks them; the cast is still there
    const listed = new Map(s.manifest.files.map((f) => [f.path, f.sha256]));
    for (const name of [ch.streams!.in, ch.streams!.out, ch.streams!.err!]) {
      expect(listed.get(name)).toBe(sha256(await fsp.readFile(path.join(s.dir, name))));
    }
    expect(ch.cast).toBe('ch-0.cast.gz');
    // AND the channel log names them
    const log = (await readChannelLog(s.dir)).entries.filter((e) => (e as { ch?: number }).ch === 0);
    expect(log).toContainEqual(expect.objectContaining({ type: 'streams', streams: ch.streams }));
  });

  it('give back the exact bytes with srec play --raw, which the cast cannot hold', async () => {
    // GIVEN a session whose command printed binary output and read binary input
    const before = ids();
    const sent = randomBytes(64 * 1024);
    expect((await sshBytes(`cat > /dev/null; cat ${binaryFile}; echo on-stderr >&2`, sent)).code).toBe(0);
    const s = await newSession(before);
    // WHEN the auditor asks for each direction's raw stream
    const out = await srec('play', '--data', lab.recorder.dataFolder, s.id, '--raw', 'out');
    const inn = await srec('play', '--data', lab.recorder.dataFolder, s.id, '--raw', 'in', '--channel', '0');
    const err = await srec('play', '--data', lab.recorder.dataFolder, s.id, '--raw', 'err');
    // THEN each is exactly what crossed; the terminal replay of the same channel is not (binary became U+FFFD)
    expect([out.code, inn.code, err.code]).toEqual([0, 0, 0]);
    expect(out.stdoutBytes.equals(binary)).toBe(true);
    expect(inn.stdoutBytes.equals(sent)).toBe(true);
    expect(err.stdout).toBe('on-stderr\n');
    const replay = await srec('play', '--data', lab.recorder.dataFolder, s.id, '--speed', '1000');
    expect(replay.stdoutBytes.equals(binary)).toBe(false);
    // AND a channel without one, or a bad lane, is a named error
    const none = await srec('play', '--data', lab.recorder.dataFolder, s.id, '--raw', 'out', '--channel', '7');
    expect(none).toMatchObject({ code: 1 });
    expect(none.stderr).toContain(`session ${s.id} has no raw out stream for channel 7 (raw streams are kept for channels without a pty and for forwarded channels; channels with one: 0)`);
    const bad = await srec('play', '--data', lab.recorder.dataFolder, s.id, '--raw', 'stdout');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--raw "stdout": give in (what the person sent), out (what came back) or err (stderr)');
  });

  it('keep stderr apart from stdout', async () => {
    // GIVEN alice WHEN her command writes the binary to stderr and a line to stdout
    const before = ids();
    const r = await sshBytes(`cat ${binaryFile} >&2; echo on-stdout`);
    expect(r.stderr.equals(binary)).toBe(true);
    // THEN each stream has its own bytes
    const s = await newSession(before);
    const ch = s.manifest.channels[0]!;
    expect((await gunzipIn(s, ch.streams!.err!)).equals(binary)).toBe(true);
    expect((await gunzipIn(s, ch.streams!.out)).toString()).toBe('on-stdout\n');
  });

  it('are not made for a terminal (a pty): its cast is the record', async () => {
    // GIVEN alice WHEN she runs a command with a pty (-tt)
    const before = ids();
    const r = await sshBytes('echo with-a-pty', undefined, ['-tt']);
    expect(r.stdout.toString()).toContain('with-a-pty');
    // THEN there is a cast and no raw stream
    const s = await newSession(before);
    expect(s.manifest.channels[0]).toMatchObject({ cast: 'ch-0.cast.gz' });
    expect(s.manifest.channels[0]!.streams).toBeUndefined();
    expect(s.manifest.files.filter((f) => f.path.endsWith('.raw.gz'))).toEqual([]);
  });
});
