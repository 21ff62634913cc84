// The recorder as it runs in production: `srec recorder --config F` in its own process (so its RSS and CPU
// are its own), with a config file written here. BENCH_CPU_PROF=DIR runs it under `node --cpu-prof`.
import { type ChildProcess } from 'node:child_process';
import { mkdirSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import type { HostConfig, RecorderConfig } from '../../common/recorder-config/types.js';
import { initKeySet } from '../../recorder/src/trail/crypto/keys.js';
import { TRAIL_KEYS } from './common.js';
import { freePort, makeKey, startSshd, waitForPort, type KeyPair, type Sshd, type SshTarget } from '../../testing/openssh.js';
import { REPO, atEnd, child, exited, stopChild, threadCpuSeconds } from './common.js';

export interface BenchRecorder {
  readonly pid: number;
  readonly port: number;
  readonly probesPort: number;
  readonly dataFolder: string;
  readonly tempFolder: string;
  metrics(): Promise<string>;
  /** Sum of every sample of a metric family (all label sets), 0 when absent. */
  metric(name: string, labelFilter?: string): Promise<number>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<void>;
}

export interface RecorderOptions {
  readonly dir: string;
  readonly users: RecorderConfig['users'];
  readonly hosts: readonly HostConfig[];
  readonly audit?: RecorderConfig['audit'];
  /** Extra node flags (e.g. --max-old-space-size). */
  readonly nodeArgs?: readonly string[];
  /**
   * The script to run instead of bin/srec.js (it gets the same arguments). BENCH_RECORDER_ENTRY sets it for
   * every benchmark: e.g. a patched copy of dist/ for an experiment.
   */
  readonly entry?: string;
  /** recorder.yaml `workers`. @default BENCH_RECORDER_WORKERS, else the recorder's own sizing (the CPU) */
  readonly workers?: number;
}

export async function startRecorder(opts: RecorderOptions): Promise<BenchRecorder> {
  await fsp.mkdir(opts.dir, { recursive: true });
  const hostKey = await makeKey(opts.dir, 'host_key');
  const port = await freePort();
  const probesPort = await freePort();
  const config: RecorderConfig = {
    listen: `127.0.0.1:${port}`,
    probes: `127.0.0.1:${probesPort}`,
    hostKeyFile: hostKey.privatePath,
    dataFolder: path.join(opts.dir, 'share'),
    tempFolder: path.join(opts.dir, 'tmp'),
    users: opts.users,
    hosts: opts.hosts,
    ...(opts.audit ? { audit: opts.audit } : {}),
    ...((opts.workers ?? process.env.BENCH_RECORDER_WORKERS) !== undefined ? { workers: Number(opts.workers ?? process.env.BENCH_RECORDER_WORKERS) } : {}),
    // Every benchmark session comes from 127.0.0.1, many at once: as BENCH_SSHD_CONFIG does for sshd.
    limits: { maxStartups: '1000:30:2000', perSourceMaxStartups: 1000, maxSessionsPerConnection: 1000, maxChannelsPerConnection: 1000 },
  };
  if (TRAIL_KEYS) {
    const keysDir = path.join(opts.dir, 'trail-keys');
    initKeySet(keysDir);
    (config as { trail?: RecorderConfig['trail'] }).trail = { keysDir };
  }
  const configFile = path.join(opts.dir, 'recorder.yaml');
  await fsp.writeFile(configFile, yaml.dump(config));
  const prof = process.env.BENCH_CPU_PROF;
  if (prof) await fsp.mkdir(prof, { recursive: true });
  const nodeArgs = [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(prof)}`] : []), ...(opts.nodeArgs ?? [])];
  const proc: ChildProcess = child(process.execPath, [...nodeArgs, opts.entry ?? process.env.BENCH_RECORDER_ENTRY ?? path.join(REPO, 'bin', 'srec.js'), 'recorder', '--config', configFile, '--grace', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, POD_NAME: 'bench-recorder', SREC_LOG_LEVEL: process.env.SREC_LOG_LEVEL ?? 'warn' },
  });
  let out = '';
  const keep = (c: Buffer) => {
    out += c.toString();
    if (out.length > 100_000) out = out.slice(-50_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const dead = exited(proc).then((code) => {
    throw new Error(`the recorder exited with ${code}: ${out.slice(-2000)}`);
  });
  await Promise.race([waitForPort(port, '127.0.0.1', 30000), dead]);
  dead.catch(() => undefined);
  const metrics = async () => (await fetch(`http://127.0.0.1:${probesPort}/metrics`)).text();
  return {
    pid: proc.pid ?? 0,
    port,
    probesPort,
    dataFolder: config.dataFolder!,
    tempFolder: config.tempFolder!,
    metrics,
    metric: async (name, labelFilter) => {
      let sum = 0;
      for (const line of (await metrics()).split('\n')) {
        if (line.startsWith('#') || !(line.startsWith(name + ' ') || line.startsWith(name + '{'))) continue;
        if (labelFilter !== undefined && !line.includes(labelFilter)) continue;
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return sum;
    },
    stop: () => stopChild(proc, 20000),
  };
}

/** A target sshd, keys, and a recorder in front with host `rec` (recording on) and `norec` (recording off). */
export interface Lab {
  readonly dir: string;
  readonly sshd: Sshd;
  readonly recorder: BenchRecorder;
  readonly alice: KeyPair;
  readonly credentials: KeyPair;
  /** Straight to sshd, as root with the recorder's credentials. */
  readonly direct: SshTarget;
  /** Through the recorder to host `rec` or `norec`. */
  via(host: 'rec' | 'norec'): SshTarget;
}

export interface LabOptions {
  readonly fileTransfers?: boolean;
  readonly audit?: RecorderConfig['audit'];
  readonly entry?: string;
  readonly nodeArgs?: readonly string[];
  readonly workers?: number;
}

/**
 * The target sshd is sized for hundreds of concurrent logins (sessions bench), so that they are measured
 * at the recorder, not throttled by the target.
 */
const BENCH_SSHD_CONFIG = ['UseDNS no', 'PrintMotd no', 'PrintLastLog no', 'MaxStartups 1000:30:2000', 'MaxSessions 1000'];

export async function startLab(dir: string, opts: LabOptions = {}): Promise<Lab> {
  mkdirSync(dir, { recursive: true });
  const alice = await makeKey(dir, 'alice');
  const credentials = await makeKey(dir, 'target-credentials');
  const sshd = await startSshd({ dir: path.join(dir, 'sshd'), authorizedKeys: [credentials.publicLine], config: BENCH_SSHD_CONFIG });
  atEnd(() => sshd.stop());
  const host = (name: string, recording: boolean): HostConfig => ({
    name,
    address: '127.0.0.1',
    port: sshd.port,
    hostKeys: [sshd.hostKeyLine],
    recording,
    fileTransfers: opts.fileTransfers ?? false,
    credentials: { username: 'root', privateKeyFile: credentials.privatePath },
  });
  const recorder = await startRecorder({
    dir: path.join(dir, 'recorder'),
    users: [{ name: 'alice', authorizedKeys: [alice.publicLine] }],
    hosts: [host('rec', true), host('norec', false)],
    ...(opts.audit ? { audit: opts.audit } : {}),
    ...(opts.entry ? { entry: opts.entry } : {}),
    ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
    ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
  });
  return {
    dir,
    sshd,
    recorder,
    alice,
    credentials,
    direct: { port: sshd.port, identity: credentials.privatePath, destination: 'root@127.0.0.1', connectTimeoutSeconds: 30 },
    via: (h) => ({ port: recorder.port, identity: alice.privatePath, destination: `root@${h}@127.0.0.1`, connectTimeoutSeconds: 30 }),
  };
}

/**
 * Until the recorder has no session open and no recording waiting to move (a bulk cast is repacked at level 6
 * after its session: ~30 s per GiB here), so that one measurement's afterwork does not run into the next.
 */
export async function waitMoved(r: BenchRecorder, timeoutMs = 300_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await r.metric('srec_sessions_open')) === 0 && (await r.metric('srec_recordings_pending')) === 0) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`the recordings did not reach the share within ${timeoutMs / 1000} s`);
}

/**
 * waitMoved, then until the recorder has used under 2% of a core for a whole second: its seal indexer and
 * zlib's pool threads go on after the move, and would be measured with whatever runs next.
 */
export async function waitIdle(r: BenchRecorder, timeoutMs = 300_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  await waitMoved(r, timeoutMs);
  const total = () => {
    const t = threadCpuSeconds(r.pid);
    return t.main + t.others;
  };
  while (Date.now() < until) {
    const c0 = total();
    await new Promise((res) => setTimeout(res, 1000));
    if (total() - c0 < 0.02) return;
  }
  throw new Error(`the recorder was still busy after ${timeoutMs / 1000} s`);
}
