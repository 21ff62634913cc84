// `srec validate -f CR.yaml`: the CRD's schema and rules, as the API server applies them.
// Exit 0 valid; 1 invalid (each error on its own line with its field path); 2 usage.
import { formatErrors, loadAndValidate } from '../api/load.js';
import { parseArgs } from './args.js';

export async function run(args: string[]): Promise<number> {
  const parsed = parseArgs(args, ['file']);
  const file = 'error' in parsed ? undefined : parsed.values.get('file');
  if ('error' in parsed || file === undefined) {
    process.stderr.write(`srec validate: ${'error' in parsed ? parsed.error : 'missing -f CR.yaml'}\nusage: srec validate -f CR.yaml\n`);
    return 2;
  }
  const r = loadAndValidate(file);
  if (!r.ok) {
    process.stderr.write(`${file}: invalid SessionRecording\n${formatErrors(r.errors)}\n`);
    return 1;
  }
  process.stdout.write(`${file}: valid SessionRecording ${r.cr.metadata.namespace}/${r.cr.metadata.name}\n`);
  return 0;
}
