// A real OpenSSH server on loopback for tests: its own host key, authorized keys in a temp file.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeKey, type KeyPair } from './keys.js';
import { freePort, waitForPort } from './ports.js';

export const SSHD = '/usr/sbin/sshd';

export interface Sshd {
  readonly port: number;
  readonly dir: string;
  readonly hostKey: KeyPair;
  /** The host key as a pin for recorder config: `ssh-ed25519 AAAA...`. */
  readonly hostKeyLine: string;
  readonly authorizedKeysFile: string;
  /** Add a public key line to the authorized keys (sshd rereads the file per login). */
  authorize(publicLine: string): Promise<void>;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Public key lines allowed to log in (as any user, root included). */
  readonly authorizedKeys?: readonly string[];
  /** Extra sshd_config lines. */
  readonly config?: readonly string[];
  readonly port?: number;
}

export function sshdAvailable(): boolean {
  return existsSync(SSHD) && existsSync('/usr/bin/ssh');
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  if (!sshdAvailable()) throw new Error(`${SSHD} or /usr/bin/ssh missing: apt-get install -y openssh-server openssh-client`);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-sshd-'));
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
      'ListenAddress 127.0.0.1',
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
    waitForPort(port),
    exited.then((code) => {
      throw new Error(`sshd exited with ${code}: ${stderr.trim()}`);
    }),
  ]);
  const hostKeyLine = hostKey.publicLine.split(' ').slice(0, 2).join(' ');
  return {
    port,
    dir,
    hostKey,
    hostKeyLine,
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
