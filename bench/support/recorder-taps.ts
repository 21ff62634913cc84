// `srec recorder` with SFTP/SCP capture wired in: the same start-up as recorder/src/cmd/recorder.ts plus
// `taps: transferTaps()`. Used by the sftp benchmark only while the production command does not wire the
// taps yet (bench/sftp.ts checks and says which one ran). Arguments: recorder --config F [--grace S].
import os from 'node:os';
import { startProbeServer } from '../../common/http.js';
import { createLogger } from '../../common/log.js';
import { Registry } from '../../common/metrics.js';
import { createBastionAudit } from '../../recorder/src/audit/bastion-port.js';
import { createAuditSink } from '../../recorder/src/audit/emitter.js';
import { loadRecorderConfig } from '../../recorder/src/config.js';
import { startBastion } from '../../recorder/src/ssh/bastion.js';
import { createRecorderMetrics } from '../../recorder/src/ssh/metrics.js';
import { mkdirOwner } from '../../recorder/src/trail/fsutil.js';
import { TrailMover } from '../../recorder/src/trail/mover.js';
import { transferTaps } from '../../recorder/src/transfer/tap.js';

const args = process.argv.slice(2);
const configFile = args[args.indexOf('--config') + 1];
if (!configFile) throw new Error('usage: recorder-taps.js recorder --config FILE');
process.umask(0o077);
const log = createLogger({ component: 'recorder' });
const config = loadRecorderConfig(configFile);
const registry = new Registry();
const metrics = createRecorderMetrics(registry);
const audit = createBastionAudit(createAuditSink(config.audit.syslog ? { syslog: config.audit.syslog } : {}, registry, log));
await mkdirOwner(config.tempFolder);
const mover = new TrailMover({
  tempFolder: config.tempFolder,
  dataFolder: config.dataFolder,
  recorderId: process.env.POD_NAME || os.hostname(),
  log,
  pendingGauge: metrics.recordingsPending,
  failureCounter: metrics.moveFailures,
});
await mover.start();
const probes = await startProbeServer({ listen: config.probes, registry, ready: () => mover.ready() });
const bastion = await startBastion({
  config,
  log,
  metrics,
  audit,
  recorderId: process.env.POD_NAME || os.hostname(),
  recordingClosed: (id) => mover.enqueue(id),
  taps: transferTaps(),
});
log.info('recorder ready', { listen: config.listen });
await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
await bastion.close(1000);
await mover.flush(10000);
mover.close();
await probes.close();
await audit.close();
