// `srec keys init DIR` writes a new trail key set (encryption.json, signing.key, signing.pub);
// `srec keys rotate DIR` puts a new current KEK before the others. Keys never go to stdout: only their ids.
import { parseCommand, usageError } from '../../../common/args.js';
import { initKeySet, rotateKeySet, TrailKeyError } from '../trail/crypto/keys.js';

const USAGE =
  'usage: srec keys init DIR | srec keys rotate DIR\n' +
  '  init:   a new key set in DIR: encryption.json (the key-encryption keys), signing.key, signing.pub (0600)\n' +
  '  rotate: a new current key in DIR/encryption.json; the older keys stay, to read older trails\n';

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand('keys', USAGE, args, {});
  if (typeof parsed === 'number') return parsed;
  const [action, dir, ...extra] = parsed.positionals;
  if ((action !== 'init' && action !== 'rotate') || dir === undefined || extra.length > 0) return usageError('keys', USAGE, 'give init or rotate, and one DIR');
  try {
    if (action === 'init') {
      const r = initKeySet(dir);
      process.stdout.write(`key set written to ${dir}: encryption key ${r.kekId}, signing key ${r.keyId}\n`);
    } else {
      const r = rotateKeySet(dir);
      process.stdout.write(`${dir}: new current encryption key ${r.kekId} (${r.keks} keys in all; keep them: older trails need theirs)\n`);
    }
    return 0;
  } catch (err) {
    if (!(err instanceof TrailKeyError) && (err as NodeJS.ErrnoException).code === undefined) throw err;
    process.stderr.write(`srec keys: ${(err as Error).message}\n`);
    return 1;
  }
}
