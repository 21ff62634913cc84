// Transferred-file copies are written at their offsets as the transfer goes (SFTP writes out of order), so
// they are sealed whole when the session closes (or is recovered), each under a new name: `files/<n>`, the
// remote basename being content too. The plain copy lives only in the spool, and only until then.
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FILE_MODE, fsyncDir, fsyncPath, listFiles } from '../fsutil.js';
import { framingTransform } from '../gzip-file.js';
import { FILES_DIR } from '../paths.js';
import type { TrailKeys } from './keys.js';
import { isSealed, Sealer } from './sealed.js';

async function sealedAlready(file: string): Promise<boolean> {
  const fh = await fsp.open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, 8, 0);
    return isSealed(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/**
 * Seals every plain file under `<dir>/files/` (a sealed one is left as it is: recovery may run twice).
 * Returns old name -> new name, relative to `dir`, for the manifest's transfers.
 */
export async function sealTransferCopies(dir: string, sessionId: string, keys: TrailKeys): Promise<Map<string, string>> {
  const renamed = new Map<string, string>();
  let rels: string[];
  try {
    rels = await listFiles(path.join(dir, FILES_DIR), (r) => r.startsWith('.'));
  } catch {
    return renamed;
  }
  const taken = new Set(rels);
  let next = 1;
  for (const r of rels) {
    const from = path.join(dir, FILES_DIR, r);
    if (await sealedAlready(from)) continue;
    // Copies are numbered already (`files/<n>`) and keep their name; an older `<n>-<basename>` loses the basename.
    const n = /^(\d+)-/.exec(r)?.[1];
    let name = /^\d+$/.test(r) ? r : n !== undefined && !taken.has(n) ? n : undefined;
    while (name === undefined || (name !== r && taken.has(name))) name = `x${next++}`;
    taken.add(name);
    const rel = `${FILES_DIR}/${name}`;
    const tmp = path.join(dir, FILES_DIR, `.${name}.seal`);
    await pipeline(createReadStream(from), framingTransform(new Sealer(keys, { session: sessionId, file: rel })), createWriteStream(tmp, { mode: FILE_MODE, flags: 'w' }));
    await fsyncPath(tmp);
    await fsp.rename(tmp, path.join(dir, rel));
    if (rel !== `${FILES_DIR}/${r}`) await fsp.rm(from);
    await fsyncDir(path.join(dir, FILES_DIR));
    if (rel !== `${FILES_DIR}/${r}`) renamed.set(`${FILES_DIR}/${r}`, rel);
  }
  return renamed;
}
