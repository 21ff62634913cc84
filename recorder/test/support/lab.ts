// The usual setup in one call: a real sshd as target `db-1`, a person `alice` with a key, and a recorder
// in front, plus the OpenSSH client pointed through it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostOf, makeKey, sftpArgs, sshArgs, startSshd, type KeyPair, type Sshd } from '../../../testing/openssh.js';
import type { HostConfig, UserConfig } from '../../src/config.js';
import { startRecorder, type TestRecorder, type TestRecorderOptions } from './recorder.js';
import { scanSessions, type StoredSession } from '../../src/trail/sessions.js';
import { waitFor } from './ports.js';
import { collect, runSsh, typeSudoSuCorrected, type RunOptions, type SshResult } from './ssh.js';

export interface LabOptions {
  /** Overrides for host `db-1` (e.g. `{ fileTransfers: true }`). */
  readonly db1?: Partial<HostConfig>;
  /** More hosts; `lab.host(name, overrides)` makes entries pointing at the lab's sshd. */
  readonly hosts?: (make: (name: string, overrides?: Partial<HostConfig>) => HostConfig) => HostConfig[];
  /** More people besides alice. */
  readonly users?: readonly UserConfig[];
  readonly recorder?: Omit<TestRecorderOptions, 'users' | 'hosts'>;
  /** More sshd_config lines for the target (e.g. `X11Forwarding yes`). */
  readonly sshdConfig?: readonly string[];
}

export interface Lab {
  readonly dir: string;
  readonly sshd: Sshd;
  /** The current recorder (replaced by restartRecorder()). */
  readonly recorder: TestRecorder;
  /** alice's key (authorized on the recorder). */
  readonly alice: KeyPair;
  /** The key the recorder logs in to the target with (authorized on sshd for root). */
  readonly credentials: KeyPair;
  /** A host entry that points at the lab's sshd with the lab's credentials and pinned key. */
  host(name: string, overrides?: Partial<HostConfig>): HostConfig;
  /** ssh arguments for `<targetUser>@<host>@127.0.0.1` through the recorder, command not included. */
  args(opts?: { host?: string; targetUser?: string; identity?: string; extra?: readonly string[] }): string[];
  /** Run the OpenSSH client through the recorder (alice, root@db-1 by default). */
  ssh(command?: string, opts?: RunOptions & { host?: string; targetUser?: string; identity?: string; extra?: readonly string[] }): Promise<SshResult>;
  /** Start the recorder again on the same directory (config, spool, share), e.g. after kill(). */
  restartRecorder(overrides?: Partial<TestRecorderOptions>): Promise<TestRecorder>;
  stop(): Promise<void>;
}

export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-lab-'));
  const alice = await makeKey(dir, 'alice');
  const credentials = await makeKey(dir, 'db-credentials');
  const sshd = await startSshd({ authorizedKeys: [credentials.publicLine], ...(opts.sshdConfig ? { config: opts.sshdConfig } : {}) });
  const host = (name: string, overrides: Partial<HostConfig> = {}): HostConfig => ({
    name,
    address: '127.0.0.1',
    port: sshd.port,
    hostKeys: [sshd.hostKeyLine],
    recording: true,
    credentials: { username: 'root', privateKeyFile: credentials.privatePath },
    ...overrides,
  });
  const recorderOptions: TestRecorderOptions = {
    users: [{ name: 'alice', authorizedKeys: [alice.publicLine] }, ...(opts.users ?? [])],
    hosts: [host('db-1', opts.db1), ...(opts.hosts?.(host) ?? [])],
    dir: path.join(dir, 'recorder'),
    ...opts.recorder,
  };
  let recorder = await startRecorder(recorderOptions).catch(async (err) => {
    await sshd.stop();
    throw err;
  });
  const args: Lab['args'] = (o = {}) =>
    sshArgs(
      { port: recorder.port, identity: o.identity ?? alice.privatePath, destination: `${o.targetUser ?? 'root'}@${o.host ?? 'db-1'}@127.0.0.1` },
      o.extra ?? [],
    );
  return {
    dir,
    sshd,
    get recorder() {
      return recorder;
    },
    alice,
    credentials,
    host,
    args,
    ssh: (command, o = {}) => runSsh([...args(o), ...(command !== undefined ? [command] : [])], o),
    restartRecorder: async (overrides = {}) => {
      recorder = await startRecorder({ ...recorderOptions, ...overrides });
      return recorder;
    },
    stop: async () => {
      await recorder.stop().catch(() => undefined);
      await sshd.stop();
    },
  };
}

/** OpenSSH's sftp as alice through the lab's recorder, running `batch` (sftp -b) as `targetUser` on `host`. */
export async function sftpBatch(lab: Lab, batch: string, opts: { host?: string; targetUser?: string } = {}): Promise<SshResult> {
  const file = path.join(lab.dir, `batch-${randomBytes(4).toString('hex')}`);
  await fsp.writeFile(file, batch);
  const t = { port: lab.recorder.port, identity: lab.alice.privatePath, destination: `${opts.targetUser ?? 'root'}@${opts.host ?? 'db-1'}@127.0.0.1` };
  const child = spawn('sftp', ['-b', file, ...sftpArgs(t), hostOf(t)], { stdio: ['pipe', 'pipe', 'pipe'] });
  return collect(child, Date.now(), 60_000, () => child.stdin.end());
}

/**
 * The console tests' two recordings: alice's shell in which `sudo su` is typed and corrected, then (`gapMs`
 * later, so that it is the newer) an sftp upload of `content` to `remote` on the target; resolves with both as
 * stored on the share.
 */
export async function recordShellAndUpload(lab: Lab, content: Buffer, remote: string, gapMs = 0): Promise<{ shell: StoredSession; upload: StoredSession }> {
  const typed = await typeSudoSuCorrected(lab.args({ extra: ['-tt'] }));
  if (typed.result.code !== 0) throw new Error(`the shell session ended with ${typed.result.code}: ${typed.result.stderr}`);
  if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  const src = path.join(lab.dir, `upload-${randomBytes(4).toString('hex')}.bin`);
  await fsp.writeFile(src, content);
  const up = await sftpBatch(lab, `put ${src} ${remote}\n`);
  if (up.code !== 0) throw new Error(`sftp put ended with ${up.code}: ${up.stderr}`);
  const all = await waitFor(
    async () => {
      const s = scanSessions(lab.recorder.dataFolder).sessions;
      return s.length === 2 && s.some((x) => x.manifest.transfers.length === 1) ? s : undefined;
    },
    'both recordings on the share',
    30_000,
  );
  return { shell: all.find((s) => s.manifest.transfers.length === 0)!, upload: all.find((s) => s.manifest.transfers.length === 1)! };
}
