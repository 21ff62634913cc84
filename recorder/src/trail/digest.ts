// The sha256 of a session's files: listed in the manifest when the writer closes the session, checked
// against it by `srec verify`. Kept apart so that a search, which reads manifests, does not load crypto.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { listFiles } from './fsutil.js';
import type { ManifestFile } from './manifest.js';
import { isTrailFile } from './paths.js';
import { fileChunks, openSessionFile, type SessionFileRef } from './session-file.js';

/** `file`: a path the caller chose (the spool), or a file a manifest names (read only if regular and inside the session). */
export async function sha256File(file: string | SessionFileRef): Promise<{ sha256: string; size: number }> {
  const fh = typeof file === 'string' ? await fsp.open(file, 'r') : await openSessionFile(file);
  try {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of fileChunks(fh)) {
      hash.update(chunk);
      size += chunk.length;
    }
    return { sha256: hash.digest('hex'), size };
  } finally {
    await fh.close();
  }
}

/** sha256 and size of every file of a session directory (not manifest.json, index/ or dot files). */
export async function describeFiles(dir: string): Promise<ManifestFile[]> {
  const rels = await listFiles(dir, (rel) => !isTrailFile(rel));
  const out: ManifestFile[] = [];
  for (const rel of rels) out.push({ path: rel, ...(await sha256File(path.join(dir, rel))) });
  return out;
}
