// Runs `srec <args>` in-process through cli.ts, capturing stdout, stderr and the exit code.
import { main } from '../../../cli.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** srec() with stdout as the bytes written (srec play --raw writes binary). */
export async function srecBytes(...args: string[]): Promise<CliResult & { readonly stdoutBytes: Buffer }> {
  let bytes: Buffer = Buffer.alloc(0);
  const r = await run(args, (b) => (bytes = b));
  return { ...r, stdoutBytes: bytes };
}

export function srec(...args: string[]): Promise<CliResult> {
  return run(args);
}

async function run(args: string[], onStdout?: (b: Buffer) => void): Promise<CliResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  const capture = (sink: Buffer[]) =>
    ((chunk: string | Uint8Array) => {
      sink.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  try {
    const code = await main(args);
    // jest's VM modules make Node warn on stderr during the first dynamic import; that is not srec's output.
    const stderr = Buffer.concat(err).toString('utf8').replace(/^\(node:\d+\) ExperimentalWarning:.*\n(\(Use `node --trace-warnings.*\n)?/gm, '');
    const stdout = Buffer.concat(out);
    onStdout?.(stdout);
    return { code, stdout: stdout.toString('utf8'), stderr };
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
}
