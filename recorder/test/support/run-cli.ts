// Runs `srec <args>` in-process through cli.ts, capturing stdout, stderr and the exit code.
import { main } from '../../../cli.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout as the bytes written (srec play --raw writes binary). */
  readonly stdoutBytes: Buffer;
}

export async function srec(...args: string[]): Promise<CliResult> {
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
    const stdoutBytes = Buffer.concat(out);
    return { code, stdout: stdoutBytes.toString('utf8'), stderr, stdoutBytes };
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
}
