// `srec validate -f CR.yaml`: the CRD's schema and rules, as the API server applies them.
// Exit 0 valid; 1 invalid (each error on its own line with its field path); 2 usage.
import { crFromArgs } from './cr-file.js';

export async function run(args: string[]): Promise<number> {
  const r = crFromArgs('validate', args, 1);
  if (typeof r === 'number') return r;
  process.stdout.write(`${r.file}: valid SessionRecording ${r.cr.metadata.namespace}/${r.cr.metadata.name}\n`);
  return 0;
}
