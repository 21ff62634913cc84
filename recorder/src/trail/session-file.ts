// Opening a file a manifest names, on a share nobody should have to trust: only a plain relative name,
// only a regular file, only inside the session directory. A FIFO, a device, a directory or a symbolic link
// (anywhere on the way) is refused before anything could block on it or read outside the session.
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, realpathSync, type Stats } from 'node:fs';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { TrailKeys } from './crypto/keys.js';

/** A file of a session as a manifest (or the format) names it. */
export interface SessionFileRef {
  /** The session directory. */
  readonly dir: string;
  /** The name from the manifest, relative to `dir`. */
  readonly rel: string;
  /** Where the name comes from, for messages: `channels[0].cast`, `files[2].path`, `channels.jsonl.gz`. */
  readonly field: string;
  /** The keys to open the file with when it is sealed, and the session it must be sealed for. */
  readonly seal?: { readonly keys?: TrailKeys; readonly session: string };
}

/** The file is there but must not be read (bad name, not a regular file, outside the session). */
export class UnsafeSessionFile extends Error {
  override readonly name = 'UnsafeSessionFile';
}

// O_NONBLOCK: should a FIFO appear between the checks and the open, open() returns instead of waiting for a writer.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Why `rel` is not a plain relative name inside a directory, or undefined when it is one. */
export function unsafeName(rel: string): string | undefined {
  if (rel === '') return 'is empty';
  if (rel.includes('\0')) return 'contains a NUL byte';
  if (rel.startsWith('/') || path.isAbsolute(rel)) return 'is an absolute path';
  const parts = rel.split('/');
  if (parts.includes('..')) return 'has a ".." part';
  if (parts.some((p) => p === '' || p === '.')) return 'has an empty or "." part';
  return undefined;
}

/** The full path of a ref for messages; a bad name is shown as the manifest has it, not normalized away. */
export function refPath(ref: SessionFileRef): string {
  return unsafeName(ref.rel) === undefined ? path.join(ref.dir, ref.rel) : `${ref.dir}/${ref.rel}`;
}

function what(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

const refuse = (ref: SessionFileRef, why: string): UnsafeSessionFile =>
  new UnsafeSessionFile(
    `${ref.field === ref.rel ? ref.rel : `${ref.field} "${ref.rel}"`} ${why}; not read: only regular files inside the session directory are (restore the session from a trusted copy, or find out who changed it)`,
  );

/**
 * lstat of the file `ref` names, every directory on the way checked to be a real directory. Throws
 * UnsafeSessionFile for anything but a regular file inside the session, the ENOENT error when it is missing.
 */
export function lstatSessionFile(ref: SessionFileRef): Stats {
  const bad = unsafeName(ref.rel);
  if (bad !== undefined) throw refuse(ref, bad);
  const parts = ref.rel.split('/');
  let at = ref.dir;
  for (let i = 0; ; i++) {
    at = path.join(at, parts[i]!);
    const st = lstatSync(at);
    const last = i === parts.length - 1;
    if (last ? !st.isFile() : !st.isDirectory()) {
      const part = last ? '' : ` (its part "${parts.slice(0, i + 1).join('/')}")`;
      throw refuse(ref, `is${part} ${what(st)}${last ? ', not a regular file' : ''}`);
    }
    if (last) return st;
  }
}

/** What is wrong with the file `ref` names (missing, unsafe), or undefined with its Stats. */
export function checkSessionFile(ref: SessionFileRef): { stat?: Stats; problem?: string; missing?: boolean } {
  try {
    return { stat: lstatSessionFile(ref) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return { problem: 'file missing', missing: true };
    return { problem: e.message };
  }
}

/** After open: the descriptor is a regular file, and (where /proc tells) it is the file inside the session. */
function checkOpened(ref: SessionFileRef, fd: number): void {
  const st = fstatSync(fd);
  if (!st.isFile()) throw refuse(ref, `is ${what(st)}, not a regular file`);
  let actual: string;
  try {
    actual = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return; // no /proc: the lstat walk and O_NOFOLLOW are what we have
  }
  // realpath(3) in one call: Node's own realpathSync lstat()s every part of the path from JavaScript, which
  // was most of a repeated search's time (a few files opened per session).
  const expected = path.join(realpathSync.native(ref.dir), ref.rel);
  if (actual !== expected) throw refuse(ref, `resolves to ${actual}, outside the session directory`);
}

/** Opens the file `ref` names for reading, safely (see the top of this file). */
export async function openSessionFile(ref: SessionFileRef): Promise<FileHandle> {
  lstatSessionFile(ref);
  const fh = await fsp.open(path.join(ref.dir, ref.rel), OPEN_FLAGS).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ELOOP' ? refuse(ref, 'is a symbolic link') : err;
  });
  try {
    checkOpened(ref, fh.fd);
  } catch (err) {
    await fh.close();
    throw err;
  }
  return fh;
}

/** openSessionFile() for synchronous readers: a descriptor the caller closes. */
export function openSessionFileSync(ref: SessionFileRef): number {
  lstatSessionFile(ref);
  let fd: number;
  try {
    fd = openSync(path.join(ref.dir, ref.rel), OPEN_FLAGS);
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code === 'ELOOP' ? refuse(ref, 'is a symbolic link') : err;
  }
  try {
    checkOpened(ref, fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** The whole content of a small session file (a manifest, an index's meta.json), read safely. */
export function readSessionFileSync(ref: SessionFileRef, maxBytes = Infinity): Buffer {
  const fd = openSessionFileSync(ref);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      if (total > maxBytes) throw new UnsafeSessionFile(`${ref.field} is larger than ${maxBytes} bytes; not read (a session's manifest is far smaller: find out who changed it)`);
      const buf = Buffer.allocUnsafe(64 * 1024);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
    }
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

/**
 * The content of an open file, chunk by chunk from the start. A stream made from the handle would not do:
 * destroying it (a reader that stops early) closes the descriptor under the handle.
 */
export async function* fileChunks(fh: FileHandle, chunkSize = 1024 * 1024): AsyncGenerator<Buffer> {
  let pos = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(chunkSize);
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) return;
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}
