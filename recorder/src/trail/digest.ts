// The sha256 of a session's files: listed in the manifest when the writer closes the session, checked
// against it by `srec verify`. Kept apart so that a search, which reads manifests, does not load crypto.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { TrailKeys } from './crypto/keys.js';
import { openChunks, type OpenState, type SealBinding } from './crypto/sealed.js';
import { listFiles } from './fsutil.js';
import type { ManifestFile } from './manifest.js';
import { isTrailFile } from './paths.js';
import { fileChunks, openSessionFile, type SessionFileRef } from './session-file.js';

/**
 * `file`: a path the caller chose (the spool), or a file a manifest names (read only if regular and inside the
 * session). With `open` (the keys and what the file is), the same pass opens every sealed record too: `seal`
 * then says whether the file was sealed, whole, and the first record that did not authenticate.
 */
export async function sha256File(file: string | SessionFileRef, open?: { keys?: TrailKeys; binding: SealBinding }): Promise<{ sha256: string; size: number; seal?: OpenState }> {
  const fh = typeof file === 'string' ? await fsp.open(file, 'r') : await openSessionFile(file);
  try {
    const hash = createHash('sha256');
    let size = 0;
    async function* hashed(): AsyncGenerator<Buffer> {
      for await (const chunk of fileChunks(fh)) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    }
    if (open === undefined) {
      for await (const _ of hashed());
      return { sha256: hash.digest('hex'), size };
    }
    const seal: OpenState = { sealed: false, final: false, bytesIn: 0 };
    for await (const _ of openChunks(hashed(), open.keys, open.binding, open.binding.file, seal));
    // A record that failed stops the opening; the hash must cover the whole file all the same.
    if (seal.error !== undefined) return { ...(await sha256File(file)), seal };
    return { sha256: hash.digest('hex'), size, seal };
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
