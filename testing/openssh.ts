// Real OpenSSH for the tests and the benchmarks: keys from ssh-keygen, an sshd on loopback with its own
// host key, free ports, and client arguments that read nothing from ~/.ssh.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SSHD = '/usr/sbin/sshd';

export interface KeyPair {
  readonly privatePath: string;
  readonly publicPath: string;
  /** `ssh-ed25519 AAAA... comment`, as in authorized_keys. */
  readonly publicLine: string;
}

/** `ssh-keygen -t <type> -N '' -f <dir>/<name>`. */
export async function makeKey(dir: string, name: string, type: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519'): Promise<KeyPair> {
  const privatePath = path.join(dir, name);
  await run('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', name, '-f', privatePath]);
  const publicLine = (await fsp.readFile(`${privatePath}.pub`, 'utf8')).trim();
  return { privatePath, publicPath: `${privatePath}.pub`, publicLine };
}

/** A TCP port nothing listens on right now (the OS picks it; a race with other processes is possible but rare). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once `host:port` accepts TCP connections. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Sshd {
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  readonly hostKey: KeyPair;
  /** The host key as a pin for recorder config: `ssh-ed25519 AAAA...`. */
  readonly hostKeyLine: string;
  readonly authorizedKeysFile: string;
  /** Add a public key line to the authorized keys (sshd rereads the file per login). */
  authorize(publicLine: string): Promise<void>;
  /** SIGTERM, wait for the exit, remove `dir`. */
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Public key lines allowed to log in (as any user, root included). */
  readonly authorizedKeys?: readonly string[];
  /** Extra sshd_config lines (the benchmarks raise MaxStartups and MaxSessions). */
  readonly config?: readonly string[];
  readonly port?: number;
  /** The address sshd listens on (the real node's pods reach the host at its veth address). @default 127.0.0.1 */
  readonly listenAddress?: string;
  /** Where the host key, config and pid file go. @default a new temporary directory */
  readonly dir?: string;
}

export function sshdAvailable(): boolean {
  return existsSync(SSHD) && existsSync('/usr/bin/ssh');
}

/** `sshd -D` on 127.0.0.1 (or listenAddress) with its own host key; resolves once it accepts connections. */
export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  if (!sshdAvailable()) throw new Error(`${SSHD} or /usr/bin/ssh missing: apt-get install -y openssh-server openssh-client (scripts/ensure-deps.sh does)`);
  const dir = opts.dir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-sshd-')));
  await fsp.mkdir(dir, { recursive: true });
  // sshd's privilege separation wants this directory (Debian keeps it under /run).
  await fsp.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = await makeKey(dir, 'ssh_host_ed25519_key');
  const authorizedKeysFile = path.join(dir, 'authorized_keys');
  await fsp.writeFile(authorizedKeysFile, (opts.authorizedKeys ?? []).map((k) => k + '\n').join(''), { mode: 0o600 });
  const port = opts.port ?? (await freePort());
  const configFile = path.join(dir, 'sshd_config');
  await fsp.writeFile(
    configFile,
    [
      `Port ${port}`,
      `ListenAddress ${opts.listenAddress ?? '127.0.0.1'}`,
      `HostKey ${hostKey.privatePath}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeysFile}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'AllowTcpForwarding yes',
      'AcceptEnv LANG LC_* SREC_*',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      ...(opts.config ?? []),
      '',
    ].join('\n'),
  );
  const proc: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  await Promise.race([
    waitForPort(port, opts.listenAddress ?? '127.0.0.1', 15000),
    exited.then((code) => {
      throw new Error(`sshd exited with ${code}: ${stderr.trim()}`);
    }),
  ]);
  return {
    port,
    pid: proc.pid ?? 0,
    dir,
    hostKey,
    hostKeyLine: hostKey.publicLine.split(' ').slice(0, 2).join(' '),
    authorizedKeysFile,
    authorize: (line) => fsp.appendFile(authorizedKeysFile, line + '\n'),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

export interface SshTarget {
  /** The SSH port: the recorder's, or sshd's for a direct login. */
  readonly port: number;
  /** Private key file (-i). */
  readonly identity: string;
  /** `root@db-1@127.0.0.1` (through the recorder) or `root@127.0.0.1` (direct). */
  readonly destination: string;
  /** @default /dev/null (no host key is remembered; StrictHostKeyChecking=no) */
  readonly knownHostsFile?: string;
  /** @default 10 */
  readonly connectTimeoutSeconds?: number;
}

/**
 * Options for ssh, sftp and scp alike (all take -F, -o and -i; the port flag differs). `extra` comes first
 * because ssh keeps the first value it sees of an option (so `-o LogLevel=INFO` there wins).
 */
export function clientOptions(t: SshTarget, extra: readonly string[] = []): string[] {
  return [
    ...extra,
    '-F', '/dev/null',
    '-o', `UserKnownHostsFile=${t.knownHostsFile ?? '/dev/null'}`,
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'LogLevel=ERROR',
    '-o', `ConnectTimeout=${t.connectTimeoutSeconds ?? 10}`,
    '-i', t.identity,
  ];
}

/** `ssh [extra] ... -p PORT destination`; append a command if wanted. */
export function sshArgs(t: SshTarget, extra: readonly string[] = []): string[] {
  return [...clientOptions(t, extra), '-p', String(t.port), t.destination];
}

/** `sftp` / `scp` options (`-P PORT`, the login user as -o User); the host comes apart: hostOf(). */
export function sftpArgs(t: SshTarget, extra: readonly string[] = []): string[] {
  const at = t.destination.lastIndexOf('@');
  return [...clientOptions(t, extra), '-P', String(t.port), '-o', `User=${t.destination.slice(0, at)}`];
}

/** The host part of the destination, for sftp/scp after sftpArgs. */
export function hostOf(t: SshTarget): string {
  return t.destination.slice(t.destination.lastIndexOf('@') + 1);
}
