// `srec sessions --data DIR [--json]`: the recorded sessions, who, target, when, how long, how big.
import { listSessions, type SessionSummary } from '../search/sessions.js';
import { formatProblem } from '../trail/sessions.js';
import { keysOption } from './keys-option.js';
import { parseCommand, usageError } from '../../../common/args.js';

const USAGE = 'usage: srec sessions --data DIR [--keys DIR] [--json]\n';

function duration(s: number | undefined): string {
  if (s === undefined) return '-';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m${String(sec).padStart(2, '0')}s` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

function status(s: SessionSummary): string {
  if (s.damaged.length > 0) return 'damaged';
  if (s.recovered) return 'recovered';
  return s.complete ? 'complete' : 'incomplete';
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n') + '\n';
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand('sessions', USAGE, args, { data: { type: 'string' }, keys: { type: 'string' }, json: { type: 'boolean' } }, false);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.data === undefined) return usageError('sessions', USAGE, '--data DIR is required');
  let listed: ReturnType<typeof listSessions>;
  try {
    listed = listSessions(values.data, keysOption(values.keys));
  } catch (err) {
    process.stderr.write(`srec sessions: ${(err as Error).message}\n`);
    return 2;
  }
  for (const p of listed.problems) process.stderr.write(`srec sessions: ${formatProblem(p)}\n`);
  if (values.json) {
    for (const s of listed.sessions) {
      const { dir: _dir, ...rest } = s;
      process.stdout.write(JSON.stringify({ ...rest, status: status(s) }) + '\n');
    }
    return 0;
  }
  const rows = [['ID', 'USER', 'TARGET', 'START', 'DURATION', 'SIZE', 'STATUS']];
  for (const s of listed.sessions) {
    rows.push([s.id, s.user, s.target, s.start.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), duration(s.duration), bytes(s.size), status(s)]);
  }
  process.stdout.write(listed.sessions.length === 0 ? 'no sessions\n' : table(rows));
  return 0;
}
