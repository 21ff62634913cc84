// Durable, owner-only file operations: what "written" means for a recording (fsync, atomic rename, 0600/0700).
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** mkdir -p with owner-only directories. */
export async function mkdirOwner(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
}

export async function fsyncPath(p: string): Promise<void> {
  const fh = await fsp.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Make a rename or a new entry in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  await fsyncPath(dir);
}

/** Write a small file so that a reader sees the old content or the new, never a torn one. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  const fh = await fsp.open(tmp, 'w', FILE_MODE);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

/**
 * Every regular file under `dir`, as paths relative to it with `/` separators, sorted. `anyType` lists
 * symlinks, sockets and the like too: for `srec verify`, a planted one is as foreign as a planted file.
 */
export async function listFiles(dir: string, skip: (rel: string) => boolean = () => false, opts: { readonly anyType?: boolean } = {}): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await fsp.readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (skip(r)) continue;
      if (e.isDirectory()) await walk(r);
      else if (e.isFile() || opts.anyType) out.push(r);
    }
  };
  await walk('');
  return out.sort();
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}
