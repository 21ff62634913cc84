// Fail closed when the recording cannot keep up with the session: a real full disk (a small tmpfs as the spool
// or the share), the session's spool quota, and recovery after a crash on a full spool; real OpenSSH throughout.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { collect, openShell, spawnSsh, startLab, waitFor, type Lab, type LabOptions } from './support/index.js';
import { loadSessionCast } from './support/trail-read.js';

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** A tmpfs of `size` at `dir` (the tests run as root); undefined where mounting is not allowed. */
function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch {
    /* not mounted */
  }
}

/** A file of base64 text (printable, so ssh's stdout and the cast's output compare as strings). */
async function textFile(file: string, bytes: number): Promise<string> {
  const text = randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64').slice(0, bytes);
  await fsp.writeFile(file, text);
  return text;
}

/** The output the cast holds, stdout and stderr as written. */
async function castOutput(s: StoredSession, ch = 0): Promise<string> {
  const cast = await loadSessionCast(s, ch);
  return (cast?.events ?? []).filter((e) => e[1] === 'o').map((e) => e[2]).join('');
}

/**
 * What a channel without a pty sent the person, exactly: its raw stdout stream, the record that fails closed.
 * (Its cast is made from it when the channel closes, and is cut short if the spool has no room left then.)
 */
function rawOutput(s: StoredSession, ch = 0): string {
  const name = s.manifest.channels.find((c) => c.id === ch)?.streams?.out;
  if (name === undefined) throw new Error(`channel ${ch} of ${s.id} has no raw stdout`);
  return gunzipSync(readFileSync(path.join(s.dir, name)), { finishFlush: zlibConstants.Z_SYNC_FLUSH }).toString('utf8');
}

async function newSession(lab: Lab, before: ReadonlySet<string>): Promise<StoredSession> {
  return waitFor(() => scanSessions(lab.recorder.dataFolder).sessions.find((s) => !before.has(s.id)), 'the recording on the share', 20000);
}

const ids = (lab: Lab) => new Set(scanSessions(lab.recorder.dataFolder).sessions.map((s) => s.id));

/**
 * A lab whose recorder directory has a tmpfs of `size` as its `sub` folder (`tmp`: the spool, `share`), set up and
 * torn down around the enclosing describe. `lab` stays undefined where tmpfs cannot be mounted.
 */
function labOnTmpfs(sub: 'tmp' | 'share', size: string, recorder: Omit<NonNullable<LabOptions['recorder']>, 'dir'> = {}): { base: string; lab?: Lab } {
  const t: { base: string; lab?: Lab } = { base: '' };
  let mounted = false;
  beforeAll(async () => {
    t.base = await fsp.mkdtemp(path.join(os.tmpdir(), `srec-${sub}-full-`));
    await fsp.mkdir(path.join(t.base, sub), { recursive: true });
    mounted = mountTmpfs(path.join(t.base, sub), size);
    if (mounted) t.lab = await startLab({ recorder: { ...recorder, dir: t.base } });
  });
  afterAll(async () => {
    await t.lab?.stop();
    if (mounted) unmount(path.join(t.base, sub));
  });
  return t;
}

describe('the spool disk fills up mid-session (a 4 MiB tmpfs)', () => {
  const t = labOnTmpfs('tmp', '4m');

  it('the person gets exactly what was recorded, the session ends with a message, and the next session is recorded', async () => {
    if (!t.lab) return console.warn('tmpfs cannot be mounted here; skipped');
    // GIVEN a file bigger than the spool disk
    const big = await textFile(path.join(t.base, 'big.txt'), 10 * 1024 * 1024);
    const before = ids(t.lab);
    // WHEN the person cats it through the recorder
    const r = await t.lab.ssh(`cat ${path.join(t.base, 'big.txt')}`, { timeoutMs: 60000 });
    // THEN the session is ended with a message saying why
    expect(r.stderr).toContain("srec: the session's recording failed (ENOSPC); the session is ended");
    expect(r.stdout.length).toBeLessThan(big.length);
    // AND the recording reaches the share, marked incomplete, holding exactly what the person got
    const s = await newSession(t.lab, before);
    expect(s.manifest.complete).toBe(false);
    const recorded = rawOutput(s);
    expect(recorded.length).toBe(r.stdout.length);
    expect(sha256(recorded)).toBe(sha256(r.stdout));
    expect(big.startsWith(r.stdout)).toBe(true);
    // (the cast made from it afterwards holds as much of it as the full spool took)
    expect(r.stdout.startsWith(await castOutput(s).catch(() => ''))).toBe(true);
    // WHEN the spool has been emptied by the move, the next session
    const again = ids(t.lab);
    const next = await t.lab.ssh('echo recorded-again');
    // THEN is relayed and recorded
    expect(next.stdout).toBe('recorded-again\n');
    const s2 = await newSession(t.lab, again);
    expect(s2.manifest.complete).toBe(true);
    expect(await castOutput(s2)).toBe('recorded-again\n');
  }, 90000);

  it('a recorder killed mid-session on a spool filled to the last byte is recovered at restart', async () => {
    if (!t.lab) return console.warn('tmpfs cannot be mounted here; skipped');
    // GIVEN a recorder (a real `srec recorder` process) killed while a session is open
    await t.lab.recorder.stop();
    await t.lab.restartRecorder({ mode: 'process' });
    const before = ids(t.lab);
    const { done } = await openShell(t.lab.args(), 'echo before-the-kill-$((6*7))', 'before-the-kill-42');
    await t.lab.recorder.kill();
    await done;
    // AND the spool disk filled up to the last byte
    const filler = path.join(t.base, 'tmp', 'filler');
    await fsp.writeFile(filler, Buffer.alloc(8 * 1024 * 1024)).catch((e: NodeJS.ErrnoException) => expect(e.code).toBe('ENOSPC'));
    // WHEN the recorder starts again
    await t.lab.restartRecorder({ mode: 'inproc' });
    // THEN the session is recovered into the share (its reserve made room) and /readyz passes
    const s = await newSession(t.lab, before);
    expect(s.manifest.recovered).toBe(true);
    expect(await castOutput(s)).toContain('before-the-kill-42');
    await fsp.rm(filler, { force: true });
  }, 90000);
});

describe('the session spool quota (tempSizeLimit)', () => {
  let lab: Lab;
  let dir: string;
  beforeAll(async () => {
    // 4 MiB: a session may spool 10% of it, 419430 bytes.
    lab = await startLab({ recorder: { extra: { tempSizeLimit: '4Mi' } } });
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-quota-'));
  });
  afterAll(() => lab?.stop());

  it('a session that outgrows its quota is ended with a message, and what the person got is what was recorded', async () => {
    // GIVEN output far bigger than the quota
    const big = await textFile(path.join(dir, 'big.txt'), 4 * 1024 * 1024);
    const before = ids(lab);
    // WHEN the person cats it
    const r = await lab.ssh(`cat ${path.join(dir, 'big.txt')}`, { timeoutMs: 60000 });
    // THEN the session is ended for the quota
    expect(r.stderr).toContain("srec: the session's recording failed (EDQUOT); the session is ended");
    // AND the person got exactly the recorded bytes, a prefix of the file
    const s = await newSession(lab, before);
    expect(s.manifest.complete).toBe(false);
    const recorded = rawOutput(s);
    expect(recorded.length).toBe(r.stdout.length);
    expect(sha256(recorded)).toBe(sha256(r.stdout));
    expect(r.stdout.startsWith(await castOutput(s).catch(() => ''))).toBe(true);
    expect(big.startsWith(r.stdout)).toBe(true);
    expect(r.stdout.length).toBeLessThan(big.length);
    // AND the next session is taken and recorded
    expect((await lab.ssh('echo quota-again')).stdout).toBe('quota-again\n');
  }, 90000);
});

describe('/readyz and a share without room for a session (a 12 MiB tmpfs)', () => {
  const t = labOnTmpfs('share', '12m', { mover: { shareCheckIntervalMs: 200, retryBaseMs: 100, retryMaxMs: 500 } });

  it('is 503 while the share has less room than a session needs although a probe still fits, and 200 once it has', async () => {
    if (!t.lab) return console.warn('tmpfs cannot be mounted here; skipped');
    await waitFor(async () => (await t.lab!.recorder.readyz()).status === 200, '/readyz to pass');
    // GIVEN a share filled to all but about 1 MiB
    const filler = path.join(t.base, 'share', 'filler');
    await fsp.writeFile(filler, Buffer.alloc(11 * 1024 * 1024));
    // THEN /readyz fails and says why
    const down = await waitFor(async () => {
      const z = await t.lab!.recorder.readyz();
      return z.status === 503 ? z : undefined;
    }, '/readyz to fail');
    expect(down.body).toContain("a session's files need");
    // WHEN a session runs meanwhile, THEN it is relayed and recorded, waiting in the spool or on the share
    const before = ids(t.lab);
    expect((await t.lab.ssh('echo while-share-full')).stdout).toBe('while-share-full\n');
    // WHEN the room returns
    await fsp.rm(filler);
    // THEN /readyz passes and the recording is on the share
    await waitFor(async () => (await t.lab!.recorder.readyz()).status === 200, '/readyz to pass again');
    const s = await newSession(t.lab, before);
    expect(await castOutput(s)).toBe('while-share-full\n');
  }, 60000);
});
