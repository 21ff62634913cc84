// `srec verify --data DIR [ID]`: each file of each session against its manifest's sha256.
// Exit 0 when everything is intact, 1 naming each missing, changed or unlisted file, 2 on bad usage.
import { verifySessions, type VerifyResult } from '../search/verify.js';
import { formatProblem } from '../trail/sessions.js';
import { parseCommand, usageError } from '../../../common/args.js';

const USAGE = 'usage: srec verify --data DIR [--json] [ID]\n';

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand('verify', USAGE, args, { data: { type: 'string' }, json: { type: 'boolean' } });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const fail = (msg: string) => usageError('verify', USAGE, msg);
  if (values.data === undefined) return fail('--data DIR is required');
  if (positionals.length > 1) return fail('give at most one session ID');
  let res: VerifyResult;
  try {
    res = await verifySessions({ dataFolder: values.data, session: positionals[0] });
  } catch (err) {
    return fail((err as Error).message);
  }
  for (const p of res.problems) process.stderr.write(`srec verify: ${formatProblem(p)}\n`);
  for (const s of res.sessions) {
    if (values.json) {
      process.stdout.write(JSON.stringify({ session: s.id, dir: s.dir, ok: s.ok, checked: s.checked, findings: s.findings }) + '\n');
      continue;
    }
    const bad = s.findings.filter((f) => f.kind !== 'expired');
    const expired = s.findings.length - bad.length;
    const note = expired > 0 ? ` (${expired} transferred file(s) expired by retention)` : '';
    process.stdout.write(`${s.ok ? 'ok  ' : 'FAIL'}  ${s.id}  ${s.checked} file(s) checked${note}\n`);
    for (const f of bad) process.stdout.write(`      ${f.kind}: ${s.dir}/${f.path}: ${f.detail}\n`);
  }
  if (!values.json) {
    const failed = res.sessions.filter((s) => !s.ok).length + res.problems.length;
    process.stdout.write(failed === 0 ? `${res.sessions.length} session(s) intact\n` : `${failed} session(s) with missing, changed or unlisted files\n`);
  }
  return res.ok ? 0 : 1;
}
