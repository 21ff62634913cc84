// Shell pipelines for bulk data, so that no byte passes through this process.
import { spawn } from 'node:child_process';

/** POSIX single-quote `s` for a shell command line. */
export function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export const cmdline = (argv: readonly string[]): string => argv.map(q).join(' ');

export interface ShellResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time in seconds. */
  readonly seconds: number;
}

/** `bash -c script`; stdout and stderr collected (keep them small). */
export function sh(script: string, timeoutMs = 600_000): Promise<ShellResult> {
  const t0 = process.hrtime.bigint();
  const c = spawn('bash', ['-c', `set -o pipefail; ${script}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}

/** Like sh(), but throws with the command's stderr when it fails. */
export async function shOk(script: string, what: string, timeoutMs?: number): Promise<ShellResult> {
  const r = await sh(script, timeoutMs);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim().slice(-1000)}`);
  return r;
}
