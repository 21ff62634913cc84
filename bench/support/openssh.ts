// Real OpenSSH for the benchmarks: keys from ssh-keygen, an sshd on loopback sized for hundreds of
// connections, and client arguments that read nothing from ~/.ssh. (A small copy of the test fixtures in
// recorder/test/support, which are not compiled into dist/.)
import { execFile } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { child, sleep } from './common.js';

const run = promisify(execFile);
export const SSHD = '/usr/sbin/sshd';

export interface KeyPair {
  readonly privatePath: string;
  /** `ssh-ed25519 AAAA... comment`. */
  readonly publicLine: string;
}

export async function makeKey(dir: string, name: string): Promise<KeyPair> {
  const privatePath = path.join(dir, name);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', privatePath]);
  return { privatePath, publicLine: (await fsp.readFile(`${privatePath}.pub`, 'utf8')).trim() };
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function waitForPort(port: number, timeoutMs = 15000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

export interface Sshd {
  readonly port: number;
  /** `ssh-ed25519 AAAA...`: the pin for the recorder's config. */
  readonly hostKeyLine: string;
  readonly pid: number;
}

/**
 * sshd -D on 127.0.0.1 with its own host key. MaxStartups and MaxSessions are raised so that hundreds of
 * concurrent logins (sessions bench) are not throttled by the target instead of measured at the recorder.
 */
export async function startSshd(dir: string, authorizedKeys: readonly string[]): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: apt-get install -y openssh-server (scripts/ensure-deps.sh does)`);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = await makeKey(dir, 'ssh_host_ed25519_key');
  const authorizedKeysFile = path.join(dir, 'authorized_keys');
  await fsp.writeFile(authorizedKeysFile, authorizedKeys.map((k) => k + '\n').join(''), { mode: 0o600 });
  const port = await freePort();
  const configFile = path.join(dir, 'sshd_config');
  await fsp.writeFile(
    configFile,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey.privatePath}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeysFile}`,
      'StrictModes no',
      'UsePAM no',
      'UseDNS no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'PrintMotd no',
      'PrintLastLog no',
      'MaxStartups 1000:30:2000',
      'MaxSessions 1000',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const proc = child(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const dead = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`sshd exited with ${code}: ${stderr.trim()}`))));
  await Promise.race([waitForPort(port), dead]);
  dead.catch(() => undefined);
  return { port, hostKeyLine: hostKey.publicLine.split(' ').slice(0, 2).join(' '), pid: proc.pid ?? 0 };
}

export interface SshTarget {
  readonly port: number;
  readonly identity: string;
  /** `root@db-1@127.0.0.1` (through the recorder) or `root@127.0.0.1` (direct). */
  readonly user: string;
}

/** Options for ssh, scp and sftp alike (all take -o and -i; the port flag differs: see portArgs). */
export function commonArgs(t: SshTarget, extra: readonly string[] = []): string[] {
  return [
    ...extra,
    '-F', '/dev/null',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=30',
    '-i', t.identity,
  ];
}

/** `ssh [extra] ... -p PORT user@host` (append the command). */
export function sshArgs(t: SshTarget, extra: readonly string[] = []): string[] {
  const at = t.user.lastIndexOf('@');
  return [...commonArgs(t, extra), '-p', String(t.port), '-l', t.user.slice(0, at), t.user.slice(at + 1)];
}

/** `sftp [extra] ... -P PORT user@host` / `scp` alike: the destination is returned apart. */
export function sftpArgs(t: SshTarget, extra: readonly string[] = []): string[] {
  const at = t.user.lastIndexOf('@');
  return [...commonArgs(t, extra), '-P', String(t.port), '-o', `User=${t.user.slice(0, at)}`];
}

/** The host part for sftp/scp after sftpArgs. */
export function hostOf(t: SshTarget): string {
  return t.user.slice(t.user.lastIndexOf('@') + 1);
}
