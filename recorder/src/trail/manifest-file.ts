// manifest.json on disk: the only code that reads or writes it. The writer writes it last; readers get
// it checked by parseManifest(); retention notes in it what it removed.
import path from 'node:path';
import type { TrailKeys } from './crypto/keys.js';
import { openManifest, signExpiry } from './crypto/manifest-seal.js';
import { writeFileAtomic } from './fsutil.js';
import { parseManifest, type Manifest } from './manifest.js';
import { MANIFEST } from './paths.js';
import { readSessionFileSync } from './session-file.js';

/** Far above any real manifest (one line per file and transfer); a larger one is not read into memory. */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/**
 * The manifest of the session in `dir` as stored (content sealed when the session was encrypted); the Error
 * says why there is none a person can use. Like every file of a session, it is read only when it is a
 * regular file (a FIFO or a link is refused, unopened). With `keys`, the sealed content is opened
 * (openManifest: a key that cannot open it throws, named).
 */
export function readManifest(dir: string, keys?: TrailKeys): Manifest {
  const stored = readStoredManifest(dir);
  return keys === undefined ? stored : openManifest(stored, keys);
}

function readStoredManifest(dir: string): Manifest {
  let text: string;
  try {
    text = readSessionFileSync({ dir, rel: MANIFEST, field: MANIFEST }, MAX_MANIFEST_BYTES).toString('utf8');
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

/**
 * Notes that retention deleted the session's `files/` (so that `srec verify` expects them gone); the rest is
 * kept as stored (its signature still holds). With the signing key the note is signed, so that it cannot be
 * added by hand to excuse deleted files.
 */
export async function markFilesExpired(dir: string, when: Date, keys?: TrailKeys): Promise<void> {
  const stored = readStoredManifest(dir);
  const at = when.toISOString();
  const sig = signExpiry(stored, at, keys);
  await writeManifest(dir, { ...stored, filesExpired: at, ...(sig !== undefined ? { filesExpiredSignature: sig } : {}) });
}
