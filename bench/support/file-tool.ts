// The command line of the small bench tools that read one file and print its top N: `TOOL FILE [N]`.
import { readFileSync } from 'node:fs';

/** The file's JSON and N (default 25); exits 2 with the usage line when no file is given. */
export function fileToolArgs<T>(usage: string): { file: string; n: number; json: T } {
  process.stdout.on('error', () => process.exit(0)); // e.g. piped into head
  const [file, nArg] = process.argv.slice(2);
  if (!file) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  const n = Number(nArg ?? 25);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`N must be a whole number above 0, not ${JSON.stringify(nArg)}\nusage: ${usage}\n`);
    process.exit(2);
  }
  return { file, n, json: JSON.parse(readFileSync(file, 'utf8')) as T };
}
