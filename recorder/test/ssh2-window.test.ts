// ssh2's channel window as the declared patch (patches/ssh2+<version>.patch, applied by patch-package at
// install) sets it: the patch itself applied to ssh2 as published, the install failing when ssh2 changed, the
// recorder reporting not ready without it, and a relayed channel seen from real OpenSSH on both sides (the
// client and the target's sshd log the window the recorder grants them), with large transfers byte-exact.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import { CHANNEL_WINDOW, channelWindowProblem, checkChannelWindow, ssh2ChannelWindow } from '../src/ssh/window.js';
import { collect, freePort, startLab, startRecorder, waitForPort, type Lab, type SshResult } from './support/index.js';
import { makeKey, SSHD } from '../../testing/openssh.js';

const require = createRequire(import.meta.url);
const REPO = path.resolve(path.dirname(require.resolve('../../package.json')));
const SSH2_VERSION = (require('ssh2/package.json') as { version: string }).version;
const PATCH_FILE = path.join(REPO, 'patches', `ssh2+${SSH2_VERSION}.patch`);
const PATCH_PACKAGE = path.join(REPO, 'node_modules', 'patch-package', 'index.js');
const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function run(cmd: string, args: readonly string[], timeoutMs = 120_000, cwd?: string): Promise<SshResult> {
  const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
  return collect(child, Date.now(), timeoutMs, () => child.stdin.end());
}

/** `patch-package` as npm's postinstall runs it, in the project `dir`, with this repository's patches. */
function patchPackage(dir: string, ...extra: string[]): Promise<SshResult> {
  return run(process.execPath, [PATCH_PACKAGE, '--error-on-fail', '--error-on-warn', '--patch-dir', path.relative(dir, path.join(REPO, 'patches')), ...extra], 120_000, dir);
}

describe('patches/ssh2+<version>.patch', () => {
  let dir: string;
  let channelJs: string;
  let protocolJs: string;
  beforeAll(async () => {
    // A project with ssh2 as published: the installed copy with the patch taken back out.
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-window-'));
    await fsp.writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'p', version: '1.0.0', dependencies: { ssh2: SSH2_VERSION } }));
    await fsp.cp(path.dirname(require.resolve('ssh2/package.json')), path.join(dir, 'node_modules', 'ssh2'), { recursive: true });
    const reversed = await patchPackage(dir, '--reverse');
    expect(reversed.code).toBe(0);
    channelJs = path.join(dir, 'node_modules', 'ssh2', 'lib', 'Channel.js');
    protocolJs = path.join(dir, 'node_modules', 'ssh2', 'lib', 'protocol', 'Protocol.js');
  });
  afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

  it('is declared for the installed ssh2 and sets the window the recorder expects', async () => {
    // GIVEN the patch file for the installed version
    const text = await fsp.readFile(PATCH_FILE, 'utf8');
    // THEN it raises ssh2's 2 MiB window to CHANNEL_WINDOW, and puts the missing comma in server-sig-algs
    expect(text).toContain('-const MAX_WINDOW = 2 * 1024 * 1024;\n');
    expect(text).toContain(`+const MAX_WINDOW = ${CHANNEL_WINDOW / MiB} * 1024 * 1024;\n`);
    expect(text).toContain("+    'ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,'\n");
  });

  it('applies to ssh2 as published, and a second run changes nothing', async () => {
    // GIVEN ssh2 as published (2 MiB windows)
    expect(await fsp.readFile(channelJs, 'utf8')).toContain('\nconst MAX_WINDOW = 2 * 1024 * 1024;\n');

    // WHEN patch-package runs as the postinstall does, twice
    const first = await patchPackage(dir);
    const afterFirst = await fsp.readFile(channelJs, 'utf8');
    const second = await patchPackage(dir);

    // THEN the window is the recorder's, server-sig-algs has its comma, and the second run left it all as it was
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`ssh2@${SSH2_VERSION}`);
    expect(afterFirst).toContain(`\nconst MAX_WINDOW = ${CHANNEL_WINDOW / MiB} * 1024 * 1024;\n`);
    expect(await fsp.readFile(protocolJs, 'utf8')).toContain("'ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,'\n      + 'rsa-sha2-512,");
    expect(second.code).toBe(0);
    expect(await fsp.readFile(channelJs, 'utf8')).toBe(afterFirst);
  });

  it('fails the install, naming ssh2 and the patch, when ssh2 changed where the patch applies', async () => {
    // GIVEN an ssh2 whose window line is written some other way (as after an upgrade), patch taken out
    await patchPackage(dir, '--reverse');
    const changed = (await fsp.readFile(channelJs, 'utf8')).replace('const MAX_WINDOW = 2 * 1024 * 1024;', 'const MAX_WINDOW = 2 ** 21;');
    await fsp.writeFile(channelJs, changed);

    // WHEN patch-package runs
    const r = await patchPackage(dir);

    // THEN it fails (npm ci fails with it), naming the package and the patch file; the file is unchanged
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('Failed to apply patch for package ssh2');
    expect(r.stdout + r.stderr).toContain(`ssh2+${SSH2_VERSION}.patch`);
    expect(await fsp.readFile(channelJs, 'utf8')).toBe(changed);
  });

  it('is what the installed ssh2 runs with, and what the recorder expects', () => {
    // GIVEN node_modules as npm ci left it (its postinstall applied the patch)
    const channel = require('ssh2/lib/Channel.js') as { MAX_WINDOW: number; WINDOW_THRESHOLD: number };

    // THEN ssh2's window is the patch's, the recorder's check agrees, and ssh2 re-opens it at half
    expect(channel.MAX_WINDOW).toBe(CHANNEL_WINDOW);
    expect(ssh2ChannelWindow()).toBe(CHANNEL_WINDOW);
    expect(channelWindowProblem()).toBeUndefined();
    expect(channel.WINDOW_THRESHOLD).toBe(CHANNEL_WINDOW / 2);
  });
});

describe('checkChannelWindow', () => {
  const logger = () => {
    const errors: { message: string; meta: Record<string, unknown> }[] = [];
    const log = { error: (message: string, meta: Record<string, unknown>) => errors.push({ message, meta }) } as unknown as Logger;
    return { log, errors };
  };

  it('says nothing when the window is in effect', () => {
    const { log, errors } = logger();
    expect(checkChannelWindow(log, CHANNEL_WINDOW)).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('logs an error with the window it found and how to fix it when ssh2 is unpatched', () => {
    // GIVEN ssh2's own 2 MiB window WHEN the recorder checks THEN one error with both numbers and the fix
    const { log, errors } = logger();
    const problem = checkChannelWindow(log, 2 * MiB);
    expect(problem).toContain(`${2 * MiB} bytes, not the ${CHANNEL_WINDOW} bytes`);
    expect(problem).toContain('patch-package');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/channel window is not patched/);
    expect(errors[0]?.meta).toMatchObject({ windowBytes: 2 * MiB, expectedBytes: CHANNEL_WINDOW, problem });
  });
});

describe('a recorder whose ssh2 runs with its own 2 MiB window', () => {
  it('reports not ready on /readyz, saying why and what to do, and logs it', async () => {
    // GIVEN a recorder process whose ssh2 lost the patch (a preload puts ssh2's own window back, as an install
    // with --ignore-scripts would leave it)
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-window-rec-'));
    const preload = path.join(dir, 'unpatch.cjs');
    await fsp.writeFile(preload, `require(${JSON.stringify(require.resolve('ssh2/lib/Channel.js'))}).MAX_WINDOW = 2 * 1024 * 1024;\n`);
    const key = await makeKey(dir, 'alice');
    const rec = await startRecorder({ mode: 'process', dir, nodeArgs: ['--require', preload], users: [{ name: 'alice', authorizedKeys: [key.publicLine] }], hosts: [] });
    try {
      // WHEN the kubelet asks whether it is ready
      const r = await rec.readyz();

      // THEN no: 503 with the window found, the one expected and the fix; the log says the same
      expect(r.status).toBe(503);
      expect(r.body).toContain(`ssh2's channel window is ${2 * MiB} bytes, not the ${CHANNEL_WINDOW} bytes`);
      expect(r.body).toContain('patch-package');
      expect(rec.logs()).toContain('ssh2 channel window is not patched: not ready');
    } finally {
      await rec.stop();
      await fsp.rm(dir, { recursive: true, force: true });
    }
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

  it('sends OpenSSH a server-sig-algs list it can read: rsa-sha2-512 a name of its own', async () => {
    // WHEN OpenSSH logs in through the recorder and logs the extension the recorder sent
    const r = await run('ssh', lab.args({ host: 'db-debug', extra: ['-o', 'LogLevel=DEBUG1'] }).concat('true'));
    expect(r.code).toBe(0);

    // THEN the list names ECDSA P-521 and RSA/SHA-512 apart (ssh2 as published runs the two together)
    const algs = /kex_input_ext_info: server-sig-algs=<([^>]*)>/.exec(r.stderr)?.[1]?.split(',') ?? [];
    expect(algs).toEqual(expect.arrayContaining(['ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256']));
    expect(algs.some((a) => a.includes('nistp521rsa'))).toBe(false);
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
