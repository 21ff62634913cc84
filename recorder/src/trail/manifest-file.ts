// manifest.json on disk: the only code that reads or writes it. The writer writes it last; readers get
// it checked by parseManifest(); retention notes in it what it removed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './fsutil.js';
import { parseManifest, type Manifest } from './manifest.js';
import { MANIFEST } from './paths.js';

/** The manifest of the session in `dir`; the Error says why there is none a person can use. */
export function readManifest(dir: string): Manifest {
  let text: string;
  try {
    text = readFileSync(path.join(dir, MANIFEST), 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(e.code === 'ENOENT' ? `no ${MANIFEST} (incomplete or damaged session)` : e.message);
  }
  return parseManifest(text);
}

/** Atomically, owner-only: a reader sees the old manifest or the new one, never a torn one. */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(path.join(dir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
}

/** Notes that retention deleted the session's `files/` (so that `srec verify` expects them gone); the rest is kept as read. */
export async function markFilesExpired(dir: string, when: Date): Promise<void> {
  await writeManifest(dir, { ...readManifest(dir), filesExpired: when.toISOString() });
}
