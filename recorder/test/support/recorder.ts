// A recorder for tests: a config file in a temp dir, then either in this process (fast, inspectable) or
// as `srec recorder` in a child process (for SIGKILL / SIGTERM tests).
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import winston from 'winston';
import { startProbeServer } from '../../../common/http.js';
import { createLogger } from '../../../common/log.js';
import { Registry } from '../../../common/metrics.js';
import { createAudit, selectSensitiveEvents } from '../../src/audit/connection.js';
import type { AuditSink } from '../../src/audit/emitter.js';
import type { AuditEvent, AuditEventName, DetailValue, Exposure } from '../../src/audit/event.js';
import type { ChannelTapFactory } from '../../src/channel-tap.js';
import { loadRecorderConfig, type HostConfig, type RecorderConfig, type UserConfig } from '../../src/config.js';
import { startBastion, type BastionOptions } from '../../src/ssh/bastion.js';
import { createRecorderMetrics } from '../../src/ssh/metrics.js';
import { mkdirOwner } from '../../src/trail/fsutil.js';
import { TrailMover, type MoverOptions } from '../../src/trail/mover.js';
import { transferTaps } from '../../src/transfer/tap.js';
import { freePort, makeKey, waitForPort } from '../../../testing/openssh.js';
import { waitFor } from './ports.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface TestRecorderOptions {
  readonly users: readonly UserConfig[];
  readonly hosts: readonly HostConfig[];
  /** Anything else of the config file (tempSizeLimit, audit, ...). */
  readonly extra?: Partial<RecorderConfig>;
  /** @default 'inproc' */
  readonly mode?: 'inproc' | 'process';
  /** The SSH listener's host, as recorder.yaml writes it (`[::]` for both stacks). @default 127.0.0.1 */
  readonly listenHost?: string;
  /** Reuse a directory (config, host key, spool, share) — e.g. to restart after a kill. @default a new temp dir */
  readonly dir?: string;
  /** inproc only: bastion knobs (loginGraceMs, flushIntervalMs, taps, target timeouts...); the limits are the config's `extra.limits`. */
  readonly bastion?: Partial<Pick<BastionOptions, 'loginGraceMs' | 'flushIntervalMs' | 'maxStartups' | 'random' | 'target' | 'spoolHighWater'>>;
  /** inproc only: mover knobs (retryBaseMs, shareCheckIntervalMs...). */
  readonly mover?: Partial<Pick<MoverOptions, 'retryBaseMs' | 'retryMaxMs' | 'shareCheckIntervalMs'>>;
  /** inproc only: the bastion's taps. @default transferTaps(), as `srec recorder` */
  readonly taps?: ChannelTapFactory;
  /** process only: `--grace` seconds. @default 10 */
  readonly graceSeconds?: number;
  /** process only: extra flags for node before the script (e.g. `--require` a preload). @default none */
  readonly nodeArgs?: readonly string[];
}

export interface TestRecorder {
  readonly dir: string;
  readonly port: number;
  readonly probesPort: number;
  readonly configFile: string;
  readonly dataFolder: string;
  readonly tempFolder: string;
  /** JSON log lines so far. */
  logs(): string;
  /** Audit events so far (inproc only). */
  readonly audit: AuditedEvent[];
  metrics(): Promise<string>;
  /** One sample from /metrics, e.g. metric('srec_auth_failures_total{reason="unknown_key"}'); 0 when absent. */
  metric(series: string): Promise<number>;
  readyz(): Promise<{ status: number; body: string }>;
  /** Graceful: SIGTERM (process) or the same shutdown in-process. Resolves with the exit code (process). */
  stop(): Promise<number | null>;
  /** The recorder's process (process mode only). */
  readonly pid?: number;
  /** SIGKILL (process mode only). */
  kill(): Promise<void>;
}

/**
 * An audit event as the bastion tests read it: the identity by the bastion's names (absent while unknown),
 * the event's fields at the top, a data event's bytes as bytes, a request's name with its fields.
 */
export interface AuditedEvent {
  readonly exposure: Exposure;
  readonly event: AuditEventName;
  readonly timestamp: string;
  readonly connectionId: string;
  readonly sessionId?: string;
  readonly username?: string;
  readonly targetUsername?: string;
  readonly hostId?: string;
  readonly hostAddress?: string;
  readonly remoteAddress: string;
  readonly channel?: number;
  readonly data?: Buffer;
  readonly request?: { readonly name: string; readonly [detail: string]: DetailValue };
  readonly reason?: string;
  readonly message?: string;
  /** A refusal's detail for operators (which host, its address). */
  readonly detail?: string;
  readonly recording?: boolean;
  readonly recorder?: string;
  readonly bytesIn?: number;
  readonly bytesOut?: number;
  readonly protocol?: 'sftp' | 'scp';
  readonly direction?: 'upload' | 'download';
  readonly path?: string;
  readonly size?: number;
  readonly sha256?: string;
  readonly complete?: boolean;
  /** forward_open / forward_close / forward_refused: the policy's kind, the channel type or request, where to. */
  readonly kind?: string;
  readonly type?: string;
  readonly destination?: string;
  readonly origin?: string;
  /** data_summary: the stream, its bytes, and what was left out of the data events. */
  readonly stream?: string;
  readonly bytes?: number;
  readonly omittedBytes?: number;
  readonly omittedChunks?: number;
  /** channel_exit / session_end: how the command ended. */
  readonly exitStatus?: number;
  readonly exitSignal?: string;
  readonly coreDumped?: boolean;
  readonly seq?: number;
}

function audited(e: AuditEvent): AuditedEvent {
  const fields: Record<string, DetailValue> = { ...e.details };
  const { data, encoding, request } = fields;
  for (const k of ['data', 'encoding', 'part', 'parts', 'request']) delete fields[k];
  const known = (k: string, v: string) => (v === '' ? {} : { [k]: v });
  const view = {
    exposure: e.exposure,
    event: e.event,
    timestamp: e.timestamp,
    connectionId: e.connectionID,
    ...known('sessionId', e.sessionID),
    ...known('username', e.username),
    ...known('targetUsername', e.targetUsername),
    ...known('hostId', e.hostID),
    ...known('hostAddress', e.hostAddress),
    remoteAddress: e.remoteAddress,
    ...(typeof data === 'string' ? { data: Buffer.from(data, encoding === 'base64' ? 'base64' : 'utf8') } : {}),
  };
  if (typeof request !== 'string') return { ...view, ...fields } as AuditedEvent;
  const { channel, seq, ...requestFields } = fields;
  return { ...view, ...(channel !== undefined ? { channel } : {}), request: { name: request, ...requestFields }, seq } as AuditedEvent;
}

/** Writes `<dir>/recorder.yaml` (+ host key) and returns its path. */
export async function writeRecorderConfig(dir: string, opts: Pick<TestRecorderOptions, 'users' | 'hosts' | 'extra' | 'listenHost'>, ports: { listen: number; probes: number }): Promise<string> {
  const hostKeyFile = path.join(dir, 'host_key');
  try {
    await fsp.access(hostKeyFile);
  } catch {
    await makeKey(dir, 'host_key');
  }
  const config: RecorderConfig = {
    listen: `${opts.listenHost ?? '127.0.0.1'}:${ports.listen}`,
    probes: `127.0.0.1:${ports.probes}`,
    hostKeyFile,
    dataFolder: path.join(dir, 'share'),
    tempFolder: path.join(dir, 'tmp'),
    users: opts.users,
    hosts: opts.hosts,
    // One process unless a test asks for workers (workers.test.ts): each process of a test recorder
    // transpiles the sources again at start.
    workers: 1,
    ...opts.extra,
  };
  const file = path.join(dir, 'recorder.yaml');
  await fsp.writeFile(file, yaml.dump(config));
  return file;
}

export async function startRecorder(opts: TestRecorderOptions): Promise<TestRecorder> {
  const dir = opts.dir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-rec-')));
  await fsp.mkdir(dir, { recursive: true });
  const ports = { listen: await freePort(), probes: await freePort() };
  const configFile = await writeRecorderConfig(dir, opts, ports);
  const config = loadRecorderConfig(configFile);
  const common = {
    dir,
    configFile,
    port: ports.listen,
    probesPort: ports.probes,
    dataFolder: config.dataFolder,
    tempFolder: config.tempFolder,
    metrics: async () => (await fetch(`http://127.0.0.1:${ports.probes}/metrics`)).text(),
    readyz: async () => {
      const r = await fetch(`http://127.0.0.1:${ports.probes}/readyz`);
      return { status: r.status, body: await r.text() };
    },
  };
  const metric = async (series: string) => {
    const text = await common.metrics();
    const line = text.split('\n').find((l) => l.startsWith(series + ' '));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };

  if ((opts.mode ?? 'inproc') === 'process') {
    let out = '';
    const child: ChildProcess = spawn(
      process.execPath,
      [...(opts.nodeArgs ?? []), '--import', path.join(here, '../../../testing/ts-register.mjs'), path.join(here, 'srec-main.ts'), 'recorder', '--config', configFile, '--grace', String(opts.graceSeconds ?? 10)],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAME: 'test-recorder' } },
    );
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await Promise.race([
      waitFor(() => out.includes('"recorder ready"'), 'the recorder to start', 60000),
      exited.then((code) => {
        throw new Error(`recorder exited with ${code}: ${out}`);
      }),
    ]);
    await waitForPort(ports.listen);
    return {
      ...common,
      audit: [],
      ...(child.pid !== undefined ? { pid: child.pid } : {}),
      logs: () => out,
      metric,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        return exited;
      },
      kill: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    };
  }

  // In this process: the same wiring as cmd/recorder.ts, with logs and audit events captured.
  let out = '';
  const log = createLogger({ component: 'recorder', level: 'debug' });
  log.clear();
  log.add(
    new winston.transports.Stream({
      stream: new Writable({
        write(chunk: Buffer, _enc, cb) {
          out += chunk.toString();
          cb();
        },
      }),
    }),
  );
  const events: AuditedEvent[] = [];
  // The front end `srec recorder` uses, its events collected instead of sent (emitJson: the data events' own way).
  const collector: AuditSink = { emit: (e) => void events.push(audited(e)), emitJson: (e) => void events.push(audited(e)), close: async () => undefined };
  const audit = createAudit(collector, { sensitiveEvents: selectSensitiveEvents(config.audit), bulkData: config.audit.bulkData });
  const registry = new Registry();
  const metrics = createRecorderMetrics(registry);
  await mkdirOwner(config.tempFolder);
  const mover = new TrailMover({
    tempFolder: config.tempFolder,
    dataFolder: config.dataFolder,
    recorderId: 'test-recorder',
    log,
    pendingGauge: metrics.recordingsPending,
    failureCounter: metrics.moveFailures,
    retryBaseMs: 100,
    retryMaxMs: 1000,
    shareCheckIntervalMs: 200,
    ...(config.trail !== undefined ? { keys: config.trail.keys } : {}),
    ...opts.mover,
  });
  await mover.start();
  const probes = await startProbeServer({ listen: config.probes, registry, ready: () => mover.ready() });
  const bastion = await startBastion({
    config,
    log,
    metrics,
    audit,
    recorderId: 'test-recorder',
    recordingClosed: (id) => mover.enqueue(id),
    flushIntervalMs: 200,
    taps: opts.taps ?? transferTaps(),
    ...opts.bastion,
  });
  let stopped = false;
  return {
    ...common,
    audit: events,
    logs: () => out,
    metric,
    stop: async () => {
      if (stopped) return 0;
      stopped = true;
      await bastion.close(2000);
      await mover.flush(5000);
      mover.close();
      await probes.close();
      return 0;
    },
    kill: async () => {
      throw new Error('kill() needs mode: "process"');
    },
  };
}
