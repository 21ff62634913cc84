// What every benchmark shares: the result line on stdout, progress on stderr, BENCH_SCALE, temporary
// directories and child processes that are cleaned up however the run ends, and /proc readings.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/support -> ../..; from dist/bench/support -> ../../..). */
export const REPO = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    dir = path.dirname(dir);
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'srec') return dir;
    } catch {
      // keep going up
    }
  }
  throw new Error('cannot find the repository root (package.json named srec) above bench/');
})();

/** BENCH_SCALE: multiplies sizes, counts and durations (0.1 for a quick look). @default 1 */
export const SCALE = (() => {
  const s = Number(process.env.BENCH_SCALE ?? '1');
  if (!Number.isFinite(s) || s <= 0) throw new Error(`BENCH_SCALE="${process.env.BENCH_SCALE}" is not a positive number`);
  return s;
})();

/** `n * SCALE`, rounded, at least `min`. */
export function scaled(n: number, min = 1): number {
  return Math.max(min, Math.round(n * SCALE));
}

export interface Result {
  readonly bench: string;
  readonly metric: string;
  readonly value: number | null;
  readonly unit: string;
  readonly baseline: number | null;
  readonly ratio: number | null;
  /** The target, in words: e.g. ">= 0.95x recording off". Absent for context-only lines. */
  readonly target?: string;
  readonly met?: boolean;
  /** Anything a reader needs to read the number right (sizes, counts, what the baseline is). */
  readonly note?: string;
}

const round = (v: number | null): number | null => (v === null || !Number.isFinite(v) ? null : Number(v.toPrecision(4)));

/** One JSON object a line on stdout. */
/**
 * BENCH_TRAIL_KEYS=1: the recorder and the trail writer run with a key set (`srec keys init`): every file
 * sealed, manifests signed, the ledger kept; the auditor tools get --keys. Metrics then end in `.sealed`.
 */
export const TRAIL_KEYS = process.env.BENCH_TRAIL_KEYS === '1';

export function emit(r: Result): void {
  const line = {
    bench: r.bench,
    metric: TRAIL_KEYS ? `${r.metric}.sealed` : r.metric,
    value: round(r.value),
    unit: r.unit,
    baseline: round(r.baseline),
    ratio: round(r.ratio),
    ...(r.target !== undefined ? { target: r.target, met: r.met ?? false } : {}),
    ...(r.note !== undefined ? { note: r.note } : {}),
    ...(SCALE !== 1 ? { scale: SCALE } : {}),
  };
  process.stdout.write(JSON.stringify(line) + '\n');
}

const t0 = Date.now();
export function progress(bench: string, msg: string): void {
  process.stderr.write(`[bench ${bench} +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function sortedCopy(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

export const median = (xs: readonly number[]): number => percentile(sortedCopy(xs), 50);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- cleanup: temp dirs and children go away on success, failure and Ctrl-C ----

const cleanups: Array<() => Promise<void> | void> = [];

/** Run `fn` at the end of the benchmark (last registered, first run). */
export function atEnd(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

export async function runCleanups(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`cleanup failed: ${(err as Error).message}\n`);
    }
  }
}

/** A temporary directory, removed at the end unless BENCH_KEEP=1. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(process.env.BENCH_TMPDIR ?? os.tmpdir(), `srec-bench-${prefix}-`));
  atEnd(() => {
    if (process.env.BENCH_KEEP === '1') process.stderr.write(`kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Spawn a child that is killed (SIGTERM, then SIGKILL) at the end if still running. */
export function child(cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  const c = spawn(cmd, [...args], { stdio: 'ignore', ...opts });
  c.on('error', () => undefined);
  atEnd(() => stopChild(c));
  return c;
}

export async function stopChild(c: ChildProcess, graceMs = 5000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}

/** Resolves with the exit code (or the signal name) once `c` exits. */
export function exited(c: ChildProcess): Promise<number | string> {
  if (c.exitCode !== null) return Promise.resolve(c.exitCode);
  if (c.signalCode !== null) return Promise.resolve(c.signalCode);
  return new Promise((r) => c.once('exit', (code, sig) => r(code ?? sig ?? -1)));
}

// ---- /proc ----

/**
 * `pid` and its child processes (a recorder's node:cluster workers): every measurement below counts the
 * whole tree, so that a recorder is measured the same with one worker or several.
 */
export function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // gone, or a kernel without the children file: the process alone
  }
  return [pid, ...children.flatMap((c) => processTree(c))];
}

/** Resident set size of `pid` and its child processes in bytes (VmRSS, summed). */
export function rssBytes(pid: number): number {
  let sum = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      sum += m ? Number(m[1]) * 1024 : 0;
    } catch {
      if (p === pid) return NaN;
    }
  }
  return sum;
}

/** User + system CPU seconds used so far by `pid` and its live child processes. */
export function cpuSeconds(pid: number): number {
  let sum = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
      sum += (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      // a child that ended meanwhile
    }
  }
  return sum;
}

/**
 * CPU seconds of the main threads (JavaScript) of `pid` and its child processes, and of all their other
 * threads (libuv pool: zlib, fs, crypto); `workers` is the main threads of the children alone.
 */
export function threadCpuSeconds(pid: number): { main: number; others: number; workers: number } {
  let main = 0;
  let others = 0;
  let workers = 0;
  for (const p of processTree(pid)) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${p}/task/${tid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const s = (Number(f[11]) + Number(f[12])) / 100;
        if (Number(tid) === p) {
          main += s;
          if (p !== pid) workers += s;
        } else others += s;
      } catch {
        // the thread ended meanwhile
      }
    }
  }
  return { main, others, workers };
}

export const MiB = 1024 * 1024;
