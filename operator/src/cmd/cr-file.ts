// `-f CR.yaml`, as `srec validate`, `render` and `syslog-config` take it: the file read and checked as the
// API server would (schema and CEL rules), each problem printed with its field path.
import { parseCommand, usageError } from '../../../common/args.js';
import { formatErrors, loadAndValidate } from '../api/load.js';
import type { SessionRecording } from '../api/types.js';

/**
 * The valid SessionRecording of `-f FILE`, or the exit code when there is none: 0 after --help, 2 for bad
 * usage, `invalidExit` for a file that is not a valid SessionRecording.
 */
export function crFromArgs(name: string, args: string[], invalidExit: number): { cr: SessionRecording; file: string } | number {
  const usage = `usage: srec ${name} -f CR.yaml\n`;
  const parsed = parseCommand(name, usage, args, { file: { type: 'string', short: 'f' } }, false);
  if (typeof parsed === 'number') return parsed;
  const file = parsed.values.file;
  if (file === undefined) return usageError(name, usage, '-f CR.yaml is required');
  const r = loadAndValidate(file);
  if (!r.ok) {
    process.stderr.write(`${file}: invalid SessionRecording\n${formatErrors(r.errors)}\n`);
    return invalidExit;
  }
  return { cr: r.cr, file };
}
