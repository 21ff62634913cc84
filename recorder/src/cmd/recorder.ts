// `srec recorder --config F [--probes host:port] [--grace SECONDS]`: the recording bastion.
// Start-up: recover the spool, check the share, serve probes, listen, start retention. SIGTERM/SIGINT: stop
// accepting, let sessions finish for --grace seconds, end the rest, close and move their recordings.
// File transfers (SFTP, SCP) are captured by the taps it gives the bastion (transfer/tap.ts transferTaps).
// With more than one worker (`workers` in the config, by default the container's CPU) this process is the
// primary and the sessions run in node:cluster workers started with the same command line (ssh/workers.ts).
import cluster from 'node:cluster';
import os from 'node:os';
import { startProbeServer } from '../../../common/http.js';
import { parseCommand, usageError } from '../../../common/args.js';
import { createLogger, errorMessage, type Logger } from '../../../common/log.js';
import { Registry } from '../../../common/metrics.js';
import { ConfigError, loadRecorderConfig } from '../config.js';
import { createAudit, selectSensitiveEvents } from '../audit/connection.js';
import { createAuditSink } from '../audit/emitter.js';
import { Front, startBastion, type Bastion } from '../ssh/bastion.js';
import { WorkerPool, WORKER_ENV, autoWorkers, serveWorker } from '../ssh/workers.js';
import { startRetentionLoop } from '../retention/retention.js';
import { createRecorderMetrics } from '../ssh/metrics.js';
import { checkChannelWindow } from '../ssh/window.js';
import { mkdirOwner } from '../trail/fsutil.js';
import { TrailMover } from '../trail/mover.js';
import { SealIndexer } from '../search/seal-indexer.js';
import { transferTaps } from '../transfer/tap.js';

const USAGE = 'usage: srec recorder --config FILE [--probes host:port] [--grace SECONDS]\n';

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand('recorder', USAGE, argv, { config: { type: 'string', short: 'c' }, probes: { type: 'string' }, grace: { type: 'string' } }, false);
  if (typeof parsed === 'number') return parsed;
  const { config: configFile, probes: probesListen, grace = '10' } = parsed.values;
  if (configFile === undefined) return usageError('recorder', USAGE, '--config is required');
  const graceSeconds = Number(grace);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) return usageError('recorder', USAGE, '--grace: a number of seconds, 0 or more');
  // Everything the recorder creates (spool, share, probes) is for its own user only.
  process.umask(0o077);
  const log = createLogger({ component: 'recorder' });
  if (cluster.isWorker) return runWorker(configFile, log.child({ worker: Number(process.env[WORKER_ENV]), pid: process.pid }));
  // Checked before anything else so that the log says it first; /readyz stays 503 while it holds.
  const windowProblem = checkChannelWindow(log);

  let config;
  try {
    config = loadRecorderConfig(configFile);
  } catch (err) {
    process.stderr.write(`srec recorder: ${err instanceof ConfigError ? err.message : errorMessage(err)}\n`);
    return 2;
  }

  const recorderId = process.env.POD_NAME || os.hostname();
  const workers = config.workers ?? autoWorkers();
  const registry = new Registry();
  const metrics = createRecorderMetrics(registry);

  await mkdirOwner(config.tempFolder);
  // Every session is searchable the moment it is on the share: no auditor waits for a first search.
  const indexer = new SealIndexer({
    log: log.child({ component: 'indexer' }),
    indexed: metrics.sessionsIndexed,
    ...(config.trail !== undefined ? { keysDir: config.trail.keysDir, keys: config.trail.keys } : {}),
  });
  const mover = new TrailMover({
    tempFolder: config.tempFolder,
    dataFolder: config.dataFolder,
    recorderId,
    log,
    pendingGauge: metrics.recordingsPending,
    failureCounter: metrics.moveFailures,
    ...(config.trail !== undefined ? { keys: config.trail.keys } : {}),
    onMoved: (dir) => indexer.add(dir),
  });
  await mover.start();

  // One worker: the sessions run here, with this process's audit connection. More: in the pool's workers.
  const single = workers === 1 ? createAudit(createAuditSink(config.audit.syslog ? { syslog: config.audit.syslog } : {}, registry, log), { sensitiveEvents: selectSensitiveEvents(config.audit), bulkData: config.audit.bulkData }) : undefined;
  const front = single === undefined ? new Front({ config, log, metrics }) : undefined;
  const pool =
    front === undefined
      ? undefined
      : new WorkerPool({ count: workers, log, events: front.events, recordingClosed: (id) => mover.enqueue(id), recoverSessions: (ids) => mover.recoverSessions(ids), servingGauge: metrics.workers });
  if (pool === undefined) metrics.workers.set(1);
  const ready = () => {
    if (windowProblem !== undefined) return { ok: false, reason: windowProblem };
    if (pool !== undefined && pool.serving === 0) return { ok: false, reason: 'no recorder worker is serving sessions' };
    return mover.ready();
  };
  const probes = await startProbeServer({ listen: probesListen ?? config.probes, registry, ...(pool !== undefined ? { collect: () => pool.metrics(registry) } : {}), ready });
  let bastion: Bastion;
  try {
    if (single !== undefined) {
      bastion = await startBastion({ config, log, metrics, audit: single, taps: transferTaps(), recorderId, recordingClosed: (id) => mover.enqueue(id) });
    } else {
      await pool!.start();
      const port = await front!.listen(pool!);
      bastion = {
        port,
        get connections() {
          return pool!.connections;
        },
        close: async (graceMs) => {
          front!.stop();
          await pool!.close(graceMs);
        },
      };
    }
  } catch (err) {
    log.error('cannot serve', { listen: config.listen, workers, error: errorMessage(err) });
    await pool?.close(0);
    mover.close();
    await indexer.close();
    await probes.close();
    return 1;
  }
  // Every replica runs the loop; the lock file on the share lets one of them at a time do a pass.
  const retention = startRetentionLoop({
    dataFolder: config.dataFolder,
    trailExpiryDays: config.retention.trailExpiryDays,
    transferredFilesExpiryDays: config.retention.transferredFilesExpiryDays,
    log: log.child({ component: 'retention' }),
    ...(config.trail !== undefined ? { keys: config.trail.keys } : {}),
    ledger: () => mover.ledger(),
    lock: { holder: `${recorderId}-${process.pid}` },
  });
  if (config.trail === undefined) log.warn('trail not encrypted or signed: no trail.keysDir (recordings are readable and changeable by whoever can write the share)', {});
  log.info('recorder ready', { recorderId, encrypted: (config.trail?.keys.keks.length ?? 0) > 0, signed: config.trail?.keys.signingKey !== undefined, listen: config.listen, probesPort: probes.port, workers, hosts: config.hosts.length, users: config.users.length });

  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info('shutting down', { signal, graceSeconds, sessions: bastion.connections });
  // A retention pass in flight finishes (it holds the lock) while the sessions wind down.
  await Promise.all([retention.stop(), bastion.close(graceSeconds * 1000)]);
  await mover.flush(10000);
  if (mover.pendingCount > 0) log.warn('recordings left in the spool; the next start moves them', { pending: mover.pendingCount });
  mover.close();
  await indexer.close();
  await probes.close();
  await single?.close();
  log.info('stopped');
  return 0;
}

/** A worker of the primary above: the sessions it is given, with its own audit connection and metrics. */
async function runWorker(configFile: string, log: Logger): Promise<number> {
  let config;
  try {
    config = loadRecorderConfig(configFile);
  } catch (err) {
    log.error('cannot load the config', { error: err instanceof ConfigError ? err.message : errorMessage(err) });
    return 2;
  }
  const registry = new Registry();
  const metrics = createRecorderMetrics(registry);
  const sink = createAuditSink(config.audit.syslog ? { syslog: config.audit.syslog } : {}, registry, log);
  const audit = createAudit(sink, { sensitiveEvents: selectSensitiveEvents(config.audit), bulkData: config.audit.bulkData });
  await serveWorker({ config, log, metrics, audit, registry, taps: transferTaps(), recorderId: process.env.POD_NAME || os.hostname() });
  // Stopped: whatever handle is left (a target's socket closing slowly) does not hold the primary's shutdown.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
