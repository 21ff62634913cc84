// `srec search --data DIR [--session ID] WORDS`: where the words were typed or printed, one JSON object
// a line. Exit 0 with hits, 1 without, 2 on bad usage.
import { searchSessions, SearchUsageError } from '../search/query.js';
import { formatProblem } from '../trail/sessions.js';
import { parseCommand, usageError } from '../../../common/args.js';
import { keysOption } from './keys-option.js';

const USAGE =
  'usage: srec search --data DIR [--keys DIR] [--session ID] [--stream input|output] [--case-sensitive] [--context N] [--limit N] WORDS...\n' +
  '  WORDS are matched as one phrase of whole words, case-insensitively, in what was typed and what was printed.\n';

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand('search', USAGE, args, {
    data: { type: 'string' },
    keys: { type: 'string' },
    session: { type: 'string' },
    stream: { type: 'string' },
    'case-sensitive': { type: 'boolean' },
    context: { type: 'string' },
    limit: { type: 'string' },
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const fail = (msg: string) => usageError('search', USAGE, msg);
  if (values.data === undefined) return fail('--data DIR is required');
  if (positionals.length === 0) return fail('give the WORDS to look for');
  if (values.stream !== undefined && values.stream !== 'input' && values.stream !== 'output') return fail('--stream is input or output');
  const num = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new SearchUsageError(`${name} "${v}" is not a whole number`);
    return n;
  };
  let hits = 0;
  let keys;
  try {
    keys = keysOption(values.keys);
  } catch (err) {
    return fail((err as Error).message);
  }
  try {
    await searchSessions({
      ...(keys !== undefined ? { keys } : {}),
      dataFolder: values.data,
      words: positionals.join(' '),
      session: values.session,
      caseSensitive: values['case-sensitive'] ?? false,
      stream: values.stream as 'input' | 'output' | undefined,
      contextLines: num(values.context, '--context'),
      limit: num(values.limit, '--limit'),
      onHit: (hit) => {
        hits++;
        process.stdout.write(JSON.stringify(hit) + '\n');
      },
      onProblem: (p) => process.stderr.write(`srec search: ${formatProblem(p)}\n`),
    });
  } catch (err) {
    if (err instanceof SearchUsageError) return fail(err.message);
    throw err;
  }
  return hits > 0 ? 0 : 1;
}
