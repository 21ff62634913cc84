// `--keys DIR` of the auditor tools: the key set loaded, or a message saying what is wrong with it.
import { loadTrailKeys, type TrailKeys } from '../trail/crypto/keys.js';

/** undefined without --keys; throws an Error naming the file and what to do when DIR cannot be used. */
export function keysOption(dir: string | undefined): TrailKeys | undefined {
  if (dir === undefined) return undefined;
  try {
    return loadTrailKeys(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`--keys ${dir}: ${e.code === 'EACCES' ? 'not readable' : e.message}`);
  }
}
