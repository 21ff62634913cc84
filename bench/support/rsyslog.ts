// A real rsyslogd in the foreground with a generated config (a small copy of recorder/test/support's):
// its stdout is a pipe (`| cat`), as a container runtime gives it, and kept in memory only.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { atEnd, sleep } from './common.js';
import { waitForPort } from './openssh.js';

export function rsyslogdPath(): string {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    const p = path.join(d, 'rsyslogd');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('rsyslogd not found: apt-get install -y rsyslog (scripts/ensure-deps.sh does)');
}

export interface Rsyslogd {
  readonly pid: number;
  /** Bytes rsyslogd printed on stdout (non-sensitive events, impstats). */
  stdoutBytes(): number;
  /** The latest impstats counters (format="json") per queue or action name, e.g. "sensitive-forward queue". */
  stats(): Record<string, Record<string, number>>;
  stop(): Promise<void>;
}

export async function startRsyslogd(opts: { conf: string; dir: string; port: number }): Promise<Rsyslogd> {
  fs.mkdirSync(opts.dir, { recursive: true });
  const confFile = path.join(opts.dir, 'rsyslog.conf');
  const pidFile = path.join(opts.dir, 'rsyslogd.pid');
  fs.writeFileSync(confFile, opts.conf);
  const c: ChildProcess = spawn('/bin/sh', ['-c', '"$@" | cat', 'sh', rsyslogdPath(), '-n', '-f', confFile, '-i', pidFile], {
    cwd: opts.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = 0;
  let err = '';
  let partial = '';
  const stats: Record<string, Record<string, number>> = {};
  c.stdout?.on('data', (b: Buffer) => {
    out += b.length;
    // Only impstats lines are parsed (and kept); every other line is dropped here, in memory.
    const lines = (partial + b.toString('utf8')).split('\n');
    partial = (lines.pop() ?? '').slice(-100_000);
    for (const line of lines) {
      const tag = line.indexOf('rsyslogd-pstats:');
      const i = tag < 0 ? -1 : line.indexOf('{', tag);
      if (i < 0) continue;
      try {
        const o = JSON.parse(line.slice(i)) as Record<string, unknown>;
        const nums = Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
        stats[String(o.name)] = nums;
      } catch {
        // not a stats line after all
      }
    }
  });
  c.stderr?.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  const stop = async () => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    try {
      process.kill(Number(fs.readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
    } catch {
      if (c.pid) process.kill(-c.pid, 'SIGTERM');
    }
    const t = setTimeout(() => c.pid && process.kill(-c.pid, 'SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  };
  atEnd(stop);
  const dead = new Promise<never>((_, reject) => c.once('exit', (code) => reject(new Error(`rsyslogd exited with ${code}: ${err}`))));
  await Promise.race([waitForPort(opts.port, 15_000), dead]);
  dead.catch(() => undefined);
  while (!fs.existsSync(pidFile)) await sleep(50);
  return { pid: Number(fs.readFileSync(pidFile, 'utf8').trim()), stdoutBytes: () => out, stats: () => structuredClone(stats), stop };
}

/** Every regular file under `roots` holding `needle`, with its size (missing roots are skipped). */
export function filesContaining(roots: readonly string[], needle: string): Array<{ file: string; bytes: number; occurrences: number }> {
  const want = Buffer.from(needle);
  const hits: Array<{ file: string; bytes: number; occurrences: number }> = [];
  const walk = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) for (const n of fs.readdirSync(p)) walk(path.join(p, n));
    else if (st.isFile()) {
      let data: Buffer;
      try {
        data = fs.readFileSync(p);
      } catch {
        return;
      }
      let n = 0;
      for (let i = data.indexOf(want); i >= 0; i = data.indexOf(want, i + want.length)) n++;
      if (n > 0) hits.push({ file: p, bytes: st.size, occurrences: n });
    }
  };
  for (const r of roots) walk(r);
  return hits;
}
