// `srec render -f CR.yaml`: every object the operator would apply for the CR, as a YAML stream.
// Exit 0; 2 on invalid input (each error with its field path).
import yaml from 'js-yaml';
import { formatErrors, loadAndValidate } from '../api/load.js';
import { childNames } from '../desired/meta.js';
import { renderObjects } from '../desired/index.js';
import { defaultImages } from '../images.js';
import { parseArgs } from './args.js';

export async function run(args: string[]): Promise<number> {
  const parsed = parseArgs(args, ['file']);
  const file = 'error' in parsed ? undefined : parsed.values.get('file');
  if ('error' in parsed || file === undefined) {
    process.stderr.write(`srec render: ${'error' in parsed ? parsed.error : 'missing -f CR.yaml'}\nusage: srec render -f CR.yaml\n`);
    return 2;
  }
  const r = loadAndValidate(file);
  if (!r.ok) {
    process.stderr.write(`${file}: invalid SessionRecording\n${formatErrors(r.errors)}\n`);
    return 2;
  }
  const objects = renderObjects(r.cr, { images: defaultImages() });
  const header =
    `# Rendered by srec render from ${file}. Owner references are added in the cluster (they need the CR's uid).\n` +
    `# Not shown: Secret ${childNames(r.cr).hostKey}, the recorder host key, generated once in the cluster.\n`;
  process.stdout.write(header + objects.map((o) => `---\n${yaml.dump(o, { lineWidth: -1, noRefs: true })}`).join(''));
  return 0;
}
