// `srec render -f CR.yaml`: every object the operator would apply for the CR, as a YAML stream.
// Exit 0; 2 on invalid input (each error with its field path).
import yaml from 'js-yaml';
import { childNames } from '../desired/meta.js';
import { renderObjects } from '../desired/index.js';
import { defaultImages } from '../images.js';
import { crFromArgs } from './cr-file.js';

export async function run(args: string[]): Promise<number> {
  const r = crFromArgs('render', args, 2);
  if (typeof r === 'number') return r;
  const file = r.file;
  const objects = renderObjects(r.cr, { images: defaultImages() });
  const header =
    `# Rendered by srec render from ${file}. Owner references are added in the cluster (they need the CR's uid).\n` +
    `# Not shown: Secret ${childNames(r.cr).hostKey}, the recorder host key, generated once in the cluster.\n`;
  process.stdout.write(header + objects.map((o) => `---\n${yaml.dump(o, { lineWidth: -1, noRefs: true })}`).join(''));
  return 0;
}
