// `srec verify --data DIR [--keys DIR] [ID]`: each file of each session against its manifest's sha256; with
// --keys (the public key is enough) each manifest's signature and every replica's ledger, with the KEKs also
// every sealed record. Exit 0 when everything is intact, 1 naming each problem, 2 on bad usage.
import { verifySessions, type VerifyResult } from '../search/verify.js';
import { formatProblem } from '../trail/sessions.js';
import { parseCommand, usageError } from '../../../common/args.js';
import { keysOption } from './keys-option.js';

const USAGE =
  'usage: srec verify --data DIR [--keys DIR] [--json] [ID]\n' +
  '  --keys DIR: signing.pub checks signatures and the ledgers; encryption.json also opens every sealed record\n';

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand('verify', USAGE, args, { data: { type: 'string' }, keys: { type: 'string' }, json: { type: 'boolean' } });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const fail = (msg: string) => usageError('verify', USAGE, msg);
  if (values.data === undefined) return fail('--data DIR is required');
  if (positionals.length > 1) return fail('give at most one session ID');
  let res: VerifyResult;
  try {
    const keys = keysOption(values.keys);
    res = await verifySessions({ dataFolder: values.data, session: positionals[0], ...(keys !== undefined ? { keys } : {}) });
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
  for (const l of res.ledgers) {
    if (values.json) process.stdout.write(JSON.stringify({ ledger: l.recorder, file: l.file, entries: l.entries, ok: l.problems.length === 0, problems: l.problems }) + '\n');
    else {
      process.stdout.write(`${l.problems.length === 0 ? 'ok  ' : 'FAIL'}  ledger ${l.recorder}  ${l.entries} entries\n`);
      for (const p of l.problems) process.stdout.write(`      out-of-chain: ${l.file}: ${p}\n`);
    }
  }
  for (const d of res.deleted) {
    if (values.json) process.stdout.write(JSON.stringify({ deleted: d.session, recorder: d.recorder, seq: d.seq, dir: d.dir }) + '\n');
    else process.stdout.write(`FAIL  ${d.session}  deleted: ledger ${d.recorder} seq ${d.seq} put it on the share at ${d.dir}; it is gone, and retention did not remove it\n`);
  }
  if (!values.json) {
    const failed = res.sessions.filter((s) => !s.ok).length + res.problems.length + res.deleted.length;
    const ledgersBad = res.ledgers.filter((l) => l.problems.length > 0).length;
    const what = [res.checked.signatures ? 'signatures' : '', res.checked.chain ? 'ledgers' : '', res.checked.records ? 'sealed records' : ''].filter((x) => x !== '');
    process.stdout.write(
      failed === 0 && ledgersBad === 0
        ? `${res.sessions.length} session(s) intact${what.length > 0 ? ` (files, ${what.join(', ')} checked)` : ' (files checked; no --keys: signatures and ledgers not checked, the trail is not tamper-evident without them)'}\n`
        : `${failed} session(s) with missing, changed or unlisted files${ledgersBad > 0 ? `, ${ledgersBad} ledger(s) out of chain` : ''}\n`,
    );
  }
  return res.ok ? 0 : 1;
}
