// ssh2's channel window as scripts/patch-ssh2.cjs sets it: the install-time patch itself, the start-up check,
// and a relayed channel seen from real OpenSSH on both sides (the client and the target's sshd log the window
// the recorder grants them), with large transfers through it byte-exact.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import { CHANNEL_WINDOW, checkChannelWindow, ssh2ChannelWindow } from '../src/ssh/window.js';
import { collect, freePort, startLab, waitForPort, type Lab, type SshResult } from './support/index.js';
import { SSHD } from '../../testing/openssh.js';

const require = createRequire(import.meta.url);
const REPO = path.resolve(path.dirname(require.resolve('../../package.json')));
const PATCH = path.join(REPO, 'scripts', 'patch-ssh2.cjs');
const MiB = 1024 * 1024;
const patch = require(PATCH) as {
  CHANNEL_WINDOW_MIB: number;
  patchSource(text: string, mib?: number): { text?: string; from?: number; changed?: boolean; error?: string };
};
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function run(cmd: string, args: readonly string[], timeoutMs = 120_000): Promise<SshResult> {
  const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  return collect(child, Date.now(), timeoutMs, () => child.stdin.end());
}

describe('scripts/patch-ssh2.cjs', () => {
  let dir: string;
  let pristine: string;
  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-window-'));
    // ssh2 1.17's Channel.js as published: the installed (patched) one with its line put back.
    pristine = patch.patchSource(await fsp.readFile(require.resolve('ssh2/lib/Channel.js'), 'utf8'), 2).text as string;
  });
  afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

  it('rewrites exactly the MAX_WINDOW line, and a second run changes nothing', async () => {
    // GIVEN ssh2's Channel.js as published
    const file = path.join(dir, 'Channel.js');
    await fsp.writeFile(file, pristine);
    expect(pristine).toContain('\nconst MAX_WINDOW = 2 * 1024 * 1024;\n');

    // WHEN the script runs on it twice
    const first = await run(process.execPath, [PATCH, file]);
    const afterFirst = await fsp.readFile(file, 'utf8');
    const second = await run(process.execPath, [PATCH, file]);

    // THEN the first run changed that one line only, and the second run left the file as it was
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`2 MiB -> ${patch.CHANNEL_WINDOW_MIB} MiB`);
    expect(afterFirst).toBe(pristine.replace('const MAX_WINDOW = 2 * 1024 * 1024;', `const MAX_WINDOW = ${patch.CHANNEL_WINDOW_MIB} * 1024 * 1024;`));
    expect(afterFirst).not.toBe(pristine);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('already');
    expect(await fsp.readFile(file, 'utf8')).toBe(afterFirst);
  });

  it('fails naming the file and the line it expected when ssh2 no longer has it, and leaves the file alone', async () => {
    // GIVEN a Channel.js whose window is set some other way (as after an ssh2 upgrade)
    const file = path.join(dir, 'Changed.js');
    const changed = pristine.replace('const MAX_WINDOW = 2 * 1024 * 1024;', 'const MAX_WINDOW = 2 ** 21;');
    await fsp.writeFile(file, changed);

    // WHEN the script runs on it
    const r = await run(process.execPath, [PATCH, file]);

    // THEN it fails with the file, the expected line and what to do; the file is unchanged
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain('const MAX_WINDOW = 2 * 1024 * 1024;');
    expect(r.stderr).toContain('update scripts/patch-ssh2.cjs');
    expect(await fsp.readFile(file, 'utf8')).toBe(changed);
  });

  it('is what the installed ssh2 runs with, and what the recorder expects', () => {
    // GIVEN node_modules as npm ci left it (its postinstall ran the script)
    const channel = require('ssh2/lib/Channel.js') as { MAX_WINDOW: number; WINDOW_THRESHOLD: number };

    // THEN ssh2's window is the script's, the recorder's check agrees, and ssh2 re-opens it at half
    expect(CHANNEL_WINDOW).toBe(patch.CHANNEL_WINDOW_MIB * MiB);
    expect(channel.MAX_WINDOW).toBe(CHANNEL_WINDOW);
    expect(ssh2ChannelWindow()).toBe(CHANNEL_WINDOW);
    expect(channel.WINDOW_THRESHOLD).toBe(CHANNEL_WINDOW / 2);
  });
});

describe('checkChannelWindow', () => {
  const logger = () => {
    const warnings: { message: string; meta: Record<string, unknown> }[] = [];
    const log = { warn: (message: string, meta: Record<string, unknown>) => warnings.push({ message, meta }) } as unknown as Logger;
    return { log, warnings };
  };

  it('says nothing when the window is in effect', () => {
    const { log, warnings } = logger();
    expect(checkChannelWindow(log, CHANNEL_WINDOW)).toBe(true);
    expect(warnings).toEqual([]);
  });

  it('warns with the window it found and how to fix it when ssh2 is unpatched', () => {
    // GIVEN ssh2's own 2 MiB window WHEN the recorder checks THEN one warning with both numbers and the fix
    const { log, warnings } = logger();
    expect(checkChannelWindow(log, 2 * MiB)).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/channel window is not patched/);
    expect(warnings[0]?.meta).toMatchObject({ windowBytes: 2 * MiB, expectedBytes: CHANNEL_WINDOW });
    expect(String(warnings[0]?.meta.fix)).toContain('scripts/patch-ssh2.cjs');
  });
});

describe('a channel relayed by the recorder', () => {
  let lab: Lab;
  let debugSshd: ChildProcess;
  let sshdLog: string;

  beforeAll(async () => {
    // A second sshd on the lab's config (same host key and authorized keys) that logs at DEBUG1 to a file:
    // its log shows the window the recorder's leg to the target grants.
    const port = await freePort();
    lab = await startLab({ db1: { fileTransfers: true }, hosts: (make) => [make('db-debug', { port }), make('db-norec', { recording: false })] });
    sshdLog = path.join(lab.dir, 'sshd-debug.log');
    debugSshd = spawn(
      SSHD,
      ['-D', '-f', path.join(lab.sshd.dir, 'sshd_config'), '-o', `Port=${port}`, '-o', 'LogLevel=DEBUG1', '-o', `PidFile=${path.join(lab.dir, 'sshd-debug.pid')}`, '-E', sshdLog],
      { stdio: 'ignore' },
    );
    await waitForPort(port);
  });
  afterAll(async () => {
    debugSshd?.kill('SIGTERM');
    await lab?.stop();
  });

  it('grants the patched window on both legs: to the person\'s ssh and to the target\'s sshd', async () => {
    // WHEN OpenSSH logs in through the recorder to the debug sshd and runs a command
    const r = await run('ssh', lab.args({ host: 'db-debug', extra: ['-o', 'LogLevel=DEBUG2'] }).concat('echo relayed'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('relayed\n');

    // THEN the client saw the recorder confirm its session channel with the patched window
    expect(r.stderr).toMatch(new RegExp(`channel 0: open confirm rwindow ${CHANNEL_WINDOW} rmax \\d+`));
    // AND the target's sshd saw the recorder open its channel with the same window
    const log = await fsp.readFile(sshdLog, 'utf8');
    expect(log).toMatch(new RegExp(`server_input_channel_open: ctype session rchan \\d+ win ${CHANNEL_WINDOW} max \\d+`));
  });

  it('carries an sftp put and get of many windows byte-exact (file capture on)', async () => {
    // GIVEN 40 MiB + 1 of noise (five windows and a bit)
    const content = randomBytes(5 * CHANNEL_WINDOW + 1);
    const local = path.join(lab.dir, 'big.bin');
    const back = path.join(lab.dir, 'back.bin');
    const remote = path.join(lab.dir, 'remote-big.bin');
    await fsp.writeFile(local, content);
    const batch = path.join(lab.dir, 'batch');
    await fsp.writeFile(batch, `put ${local} ${remote}\nget ${remote} ${back}\n`);

    // WHEN sftp puts it through the recorder and gets it back
    const r = await run('sftp', ['-b', batch, '-F', '/dev/null', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR', '-o', 'User=root@db-1', '-i', lab.alice.privatePath, '-P', String(lab.recorder.port), '127.0.0.1']);

    // THEN both copies are the original
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sha256(await fsp.readFile(remote))).toBe(sha256(content));
    expect(sha256(await fsp.readFile(back))).toBe(sha256(content));
  });

  it('carries a command\'s stdin and stdout of many windows byte-exact', async () => {
    // GIVEN 40 MiB + 1 of noise, and a host with recording off (the relay alone)
    const content = randomBytes(5 * CHANNEL_WINDOW + 1);
    const remote = path.join(lab.dir, 'remote-cat.bin');
    const local = path.join(lab.dir, 'cat-back.bin');

    // WHEN it goes to the target through `cat >` and comes back through `cat`
    const up = spawn('ssh', lab.args({ host: 'db-norec' }).concat(`cat > ${remote}`), { stdio: ['pipe', 'ignore', 'pipe'] });
    const upDone = new Promise<number | null>((resolve) => up.once('close', resolve));
    up.stdin.end(content);
    expect(await upDone).toBe(0);
    const out = createWriteStream(local);
    await new Promise<void>((resolve) => out.once('open', () => resolve()));
    const down = spawn('ssh', lab.args({ host: 'db-norec' }).concat(`cat ${remote}`), { stdio: ['ignore', out, 'pipe'] });
    expect(await new Promise<number | null>((resolve) => down.once('close', resolve))).toBe(0);
    out.close();

    // THEN both ends hold the original
    expect(sha256(await fsp.readFile(remote))).toBe(sha256(content));
    expect(sha256(await fsp.readFile(local))).toBe(sha256(content));
  });
});
