// `srec syslog-run --config F --stats-port N --listen-port N [...]`: the syslog pod's entry point (see run.ts).
import os from 'node:os';
import { parseOptions } from '../../common/args.js';
import { createLogger, errorMessage } from '../../common/log.js';
import { Registry } from '../../common/metrics.js';
import { projectVersion } from '../../operator/src/paths.js';
import { startSyslogRun } from './run.js';

const USAGE =
  'usage: srec syslog-run --config FILE --stats-port N --listen-port N [--pid-file F] [--rsyslogd PATH]\n' +
  '                       [--probes host:port] [--format syslog|cef] [--queue-size N]\n';

export interface SyslogRunArgs {
  readonly config: string;
  readonly pidFile?: string;
  readonly rsyslogd: string;
  readonly statsPort: number;
  readonly listenPort: number;
  readonly probes: string;
  readonly format: 'syslog' | 'cef';
  readonly queueSize?: number;
}

function port(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${flag}: "${v}" is not a port from 1 to 65535`);
  return n;
}

const OPTIONS = {
  config: { type: 'string' },
  'pid-file': { type: 'string' },
  rsyslogd: { type: 'string' },
  'stats-port': { type: 'string' },
  'listen-port': { type: 'string' },
  probes: { type: 'string' },
  format: { type: 'string' },
  'queue-size': { type: 'string' },
} as const;

/** The arguments, or the message that says what is wrong ('' for --help). */
export function parseSyslogRunArgs(argv: readonly string[]): SyslogRunArgs | string {
  const parsed = parseOptions(argv, OPTIONS, false);
  if ('error' in parsed) return parsed.error;
  if (parsed.help) return '';
  const v = parsed.values;
  try {
    if (v.format !== undefined && v.format !== 'syslog' && v.format !== 'cef') throw new Error(`--format: "${v.format}" is not syslog or cef`);
    let queueSize: number | undefined;
    if (v['queue-size'] !== undefined) {
      queueSize = Number(v['queue-size']);
      if (!Number.isInteger(queueSize) || queueSize < 1) throw new Error(`--queue-size: "${v['queue-size']}" is not a positive integer`);
    }
    if (v.config === undefined) return '--config is required';
    if (v['stats-port'] === undefined) return '--stats-port is required (the statsPort of the rendered rsyslog.conf)';
    if (v['listen-port'] === undefined) return "--listen-port is required (rsyslogd's TCP input)";
    return {
      config: v.config,
      ...(v['pid-file'] !== undefined ? { pidFile: v['pid-file'] } : {}),
      rsyslogd: v.rsyslogd ?? 'rsyslogd',
      statsPort: port(v['stats-port'], '--stats-port'),
      listenPort: port(v['listen-port'], '--listen-port'),
      probes: v.probes ?? '0.0.0.0:9090',
      format: v.format ?? 'syslog',
      ...(queueSize !== undefined ? { queueSize } : {}),
    };
  } catch (err) {
    return errorMessage(err);
  }
}

export async function run(argv: string[]): Promise<number> {
  const args = parseSyslogRunArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(args === '' ? USAGE : `srec syslog-run: ${args}\n${USAGE}`);
    return args === '' ? 0 : 2;
  }
  const log = createLogger({ component: 'syslog' });
  const registry = new Registry();
  let r;
  try {
    r = await startSyslogRun({
      rsyslogd: [args.rsyslogd, '-n', '-f', args.config, ...(args.pidFile ? ['-i', args.pidFile] : [])],
      statsPort: args.statsPort,
      sendPort: args.listenPort,
      probes: args.probes,
      format: args.format,
      hostname: process.env.POD_NAME || os.hostname(),
      registry,
      log,
      version: projectVersion(),
      ...(args.queueSize !== undefined ? { queueSize: args.queueSize } : {}),
    });
  } catch (err) {
    process.stderr.write(`srec syslog-run: ${errorMessage(err)}\n`);
    return 1;
  }
  const started = r;
  const pass = (sig: NodeJS.Signals) => () => started.signal(sig);
  const handlers = (['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map((sig) => [sig, pass(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  const code = await started.exited;
  for (const [sig, h] of handlers) process.off(sig, h);
  return code;
}
