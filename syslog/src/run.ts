// The syslog pod's process: runs rsyslogd as its child (signals passed on, exits with it), takes rsyslogd's
// impstats reports on a loopback UDP port, serves them as metrics, and when a forward that lost events
// delivers again, sends one non-sensitive `siem_events_lost` event through rsyslogd and logs it.
// Nothing here writes a file; the reports are counters, never event content.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { startProbeServer, type ProbeServer } from '../../common/http.js';
import { errorMessage, type Logger } from '../../common/log.js';
import { Counter, Gauge, type Registry } from '../../common/metrics.js';
import { FORWARD_ACTIONS } from '../../operator/src/desired/rsyslog-conf.js';
import { LossTracker, parseStats, queueOf, type LossReport, type StatsRecord } from './impstats.js';
import { encodeLossEvent, lossFields } from './notice.js';

export interface SyslogRunOptions {
  /** rsyslogd and its arguments, e.g. `['rsyslogd', '-n', '-f', conf, '-i', pidFile]`. */
  readonly rsyslogd: readonly string[];
  /** UDP port on 127.0.0.1 that the rendered rsyslog.conf sends impstats to (its statsPort). */
  readonly statsPort: number;
  /** rsyslogd's TCP input on loopback, where the loss events go in (and readiness looks). */
  readonly sendPort: number;
  /** `host:port` of /healthz, /readyz, /metrics. */
  readonly probes: string;
  readonly format: 'syslog' | 'cef';
  /** HOSTNAME of the loss events and their `syslogPod`. */
  readonly hostname: string;
  /** spec.syslog.queue.size, served as srec_syslog_queue_capacity of each forward queue. */
  readonly queueSize?: number;
  readonly registry: Registry;
  readonly log: Logger;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** The srec version, for CEF's Device Version. @default '0' */
  readonly version?: string;
}

export interface SyslogRun {
  readonly probesPort: number;
  /** rsyslogd's pid. */
  readonly pid: number | undefined;
  /** Resolves with the exit code (rsyslogd's, or 128 + its signal) once rsyslogd has exited. */
  readonly exited: Promise<number>;
  /** Passes a signal to rsyslogd. */
  signal(sig: NodeJS.Signals): void;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

function metricsOf(registry: Registry) {
  const registers = [registry];
  return {
    lost: new Counter({ name: 'srec_syslog_forward_events_lost_total', help: 'Events a forward lost: dropped from its full in-memory queue or given up (discarded.full + discarded.nf + failed)', labelNames: ['action'], registers }),
    discarded: new Counter({ name: 'srec_syslog_queue_discarded_total', help: 'Messages an rsyslog queue dropped, by reason (full: queue full; nf: discard mark)', labelNames: ['queue', 'reason'], registers }),
    failed: new Counter({ name: 'srec_syslog_action_failed_total', help: 'Messages an rsyslog action gave up on', labelNames: ['action'], registers }),
    suspended: new Counter({ name: 'srec_syslog_action_suspended_total', help: 'Times an rsyslog action was suspended (its target unreachable)', labelNames: ['action'], registers }),
    resumed: new Counter({ name: 'srec_syslog_action_resumed_total', help: 'Times a suspended rsyslog action resumed', labelNames: ['action'], registers }),
    size: new Gauge({ name: 'srec_syslog_queue_size', help: 'Messages held in an rsyslog queue (memory)', labelNames: ['queue'], registers }),
    maxSize: new Gauge({ name: 'srec_syslog_queue_max_size', help: 'Most messages an rsyslog queue has held since rsyslogd started', labelNames: ['queue'], registers }),
    capacity: new Gauge({ name: 'srec_syslog_queue_capacity', help: 'Messages a forward queue holds before it drops (spec.syslog.queue.size)', labelNames: ['queue'], registers }),
    outage: new Gauge({ name: 'srec_syslog_forward_losing', help: '1 from the first report of a loss until the forward delivers again and the loss is reported', labelNames: ['action'], registers }),
    reports: new Counter({ name: 'srec_syslog_loss_events_total', help: 'siem_events_lost events sent, by action', labelNames: ['action'], registers }),
    stats: new Counter({ name: 'srec_syslog_stats_reports_total', help: 'impstats records received from rsyslogd', registers }),
    lastStats: new Gauge({ name: 'srec_syslog_stats_last_timestamp_seconds', help: 'When the last impstats record arrived (unix time)', registers }),
    maxRss: new Gauge({ name: 'srec_syslog_rsyslogd_max_rss_bytes', help: "rsyslogd's peak resident memory (impstats resource-usage maxrss)", registers }),
    up: new Gauge({ name: 'srec_syslog_rsyslogd_up', help: '1 while rsyslogd runs', registers }),
  };
}

/** One octet-counted message to rsyslogd's TCP input on loopback. */
function sendToRsyslogd(port: number, message: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => sock.destroy(new Error('timed out after 5 s')), 5000);
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.once('connect', () => {
      sock.end(`${Buffer.byteLength(message)} ${message}`);
    });
    sock.once('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve();
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const t = setTimeout(() => s.destroy(), 2000);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
    s.once('close', () => resolve(false));
  });
}

export async function startSyslogRun(opts: SyslogRunOptions): Promise<SyslogRun> {
  const now = opts.now ?? (() => new Date());
  const { log } = opts;
  const m = metricsOf(opts.registry);
  const forwards = Object.values(FORWARD_ACTIONS);
  const tracker = new LossTracker(forwards);
  /** Last size of each forward queue: what rsyslogd holds in memory, lost if it exits now. */
  const held = new Map<string, number>();
  if (opts.queueSize !== undefined) for (const a of forwards) m.capacity.set({ queue: queueOf(a) }, opts.queueSize);

  const report = async (r: LossReport): Promise<void> => {
    const at = now();
    log.warn('forward lost events', lossFields(r));
    try {
      await sendToRsyslogd(opts.sendPort, encodeLossEvent(r, { at, hostname: opts.hostname, format: opts.format, ...(opts.version ? { version: opts.version } : {}) }));
      m.reports.inc({ action: r.action });
      log.info('loss event sent', { action: r.action, count: r.count });
    } catch (err) {
      log.error('loss event not sent', { action: r.action, count: r.count, error: errorMessage(err) });
    }
  };

  const onRecord = (rec: StatsRecord): void => {
    const at = now();
    m.stats.inc();
    m.lastStats.set(at.getTime() / 1000);
    const v = rec.values;
    if (rec.origin === 'core.queue') {
      m.size.set({ queue: rec.name }, v.size ?? 0);
      m.maxSize.set({ queue: rec.name }, v.maxqsize ?? 0);
      const action = forwards.find((a) => queueOf(a) === rec.name);
      if (action) held.set(action, v.size ?? 0);
    }
    if (rec.name === 'resource-usage' && v.maxrss !== undefined) m.maxRss.set(v.maxrss * 1024);
    const step = tracker.observe(rec, at);
    if (step) {
      const { action, delta: d } = step;
      const queue = queueOf(action);
      if (d.discardedFull) m.discarded.inc({ queue, reason: 'full' }, d.discardedFull);
      if (d.discardedNf) m.discarded.inc({ queue, reason: 'nf' }, d.discardedNf);
      if (d.failed) m.failed.inc({ action }, d.failed);
      if (d.suspended) m.suspended.inc({ action }, d.suspended);
      if (d.resumed) m.resumed.inc({ action }, d.resumed);
      const lost = d.discardedFull + d.discardedNf + d.failed;
      if (lost) m.lost.inc({ action }, lost);
      m.outage.set({ action }, tracker.inOutage(action) ? 1 : 0);
      if (step.report) void report(step.report);
    }
  };

  const stats = dgram.createSocket('udp4');
  stats.on('message', (b) => {
    const rec = parseStats(b.toString('utf8'));
    if (rec) onRecord(rec);
  });
  stats.on('error', (err) => log.error('stats socket', { error: errorMessage(err) }));
  await new Promise<void>((resolve, reject) => {
    stats.once('error', reject);
    stats.bind(opts.statsPort, '127.0.0.1', () => resolve());
  });

  const [bin, ...args] = opts.rsyslogd;
  if (!bin) throw new Error('rsyslogd: no command');
  // stdout and stderr are the container's: rsyslogd reopens /dev/stdout, which must be that pipe.
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  let running = true;
  m.up.set(1);
  let accepting = false;
  const readiness = setInterval(() => {
    void canConnect(opts.sendPort).then((ok) => (accepting = ok));
  }, 2000);
  readiness.unref();
  void canConnect(opts.sendPort).then((ok) => (accepting = ok));

  let probes: ProbeServer | undefined;
  const exited = new Promise<number>((resolve) => {
    const done = (code: number | null, sig: NodeJS.Signals | null): void => {
      running = false;
      m.up.set(0);
      clearInterval(readiness);
      // The in-memory queues die with rsyslogd: say how many events that was, as far as the last report knows.
      const lostAtExit = Object.fromEntries([...held].filter(([, n]) => n > 0));
      log.info('rsyslogd exited', { code, signal: sig, heldInMemory: lostAtExit });
      stats.close();
      void (probes?.close() ?? Promise.resolve()).then(() => resolve(code ?? 128 + (sig ? (SIGNALS[sig] ?? 1) : 1)));
    };
    child.once('exit', done);
    child.once('error', (err) => {
      log.error('rsyslogd did not start', { error: errorMessage(err) });
      done(127, null);
    });
  });

  probes = await startProbeServer({
    listen: opts.probes,
    registry: opts.registry,
    healthy: () => (running ? { ok: true } : { ok: false, reason: 'rsyslogd exited' }),
    ready: () =>
      !running ? { ok: false, reason: 'rsyslogd exited' } : accepting ? { ok: true } : { ok: false, reason: `rsyslogd not accepting on ${opts.sendPort}` },
  });
  log.info('syslog started', { pid: child.pid, probes: probes.port, stats: opts.statsPort });

  return {
    probesPort: probes.port,
    pid: child.pid,
    exited,
    signal: (sig) => {
      if (running) child.kill(sig);
    },
  };
}
