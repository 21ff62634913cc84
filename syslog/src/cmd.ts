// `srec syslog-run --config F --stats-port N --listen-port N [...]`: the syslog pod's entry point (see run.ts).
import os from 'node:os';
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

/** The arguments, or the message that says what is wrong ('' for --help). */
export function parseSyslogRunArgs(argv: readonly string[]): SyslogRunArgs | string {
  const a: { -readonly [K in keyof SyslogRunArgs]?: SyslogRunArgs[K] } = { rsyslogd: 'rsyslogd', probes: '0.0.0.0:9090', format: 'syslog' };
  try {
    for (let i = 0; i < argv.length; i++) {
      const flag = argv[i] ?? '';
      if (flag === '-h' || flag === '--help') return '';
      const value = (): string => {
        const v = argv[++i];
        if (v === undefined) throw new Error(`${flag} needs a value`);
        return v;
      };
      if (flag === '--config') a.config = value();
      else if (flag === '--pid-file') a.pidFile = value();
      else if (flag === '--rsyslogd') a.rsyslogd = value();
      else if (flag === '--stats-port') a.statsPort = port(value(), flag);
      else if (flag === '--listen-port') a.listenPort = port(value(), flag);
      else if (flag === '--probes') a.probes = value();
      else if (flag === '--format') {
        const f = value();
        if (f !== 'syslog' && f !== 'cef') throw new Error(`--format: "${f}" is not syslog or cef`);
        a.format = f;
      } else if (flag === '--queue-size') {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new Error(`--queue-size: "${v}" is not a positive integer`);
        a.queueSize = n;
      } else throw new Error(`unknown argument "${flag}"`);
    }
  } catch (err) {
    return errorMessage(err);
  }
  if (a.config === undefined) return '--config is required';
  if (a.statsPort === undefined) return '--stats-port is required (the statsPort of the rendered rsyslog.conf)';
  if (a.listenPort === undefined) return "--listen-port is required (rsyslogd's TCP input)";
  return a as SyslogRunArgs;
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
