// The lines of a gzip file the trail writer wrote (a cast, the channel log), streamed and read as far as
// they can be: a file cut short by a crash yields everything up to the cut, thanks to sync-flush decoding;
// a damaged one yields what came before the damage. Either way the result says so instead of throwing.
// A sealed file (crypto/sealed.ts) is opened record by record on the way: what authenticates is read, and
// the first record that does not (or a missing key) is the problem.
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import zlib from 'node:zlib';
import type { TrailKeys } from './crypto/keys.js';
import { openChunks, type OpenState, type SealBinding } from './crypto/sealed.js';
import { fileChunks, openSessionFile, type SessionFileRef } from './session-file.js';

/** How to open a sealed file: the keys, and what the file must have been sealed for. */
export interface OpenWith {
  readonly keys?: TrailKeys;
  readonly binding?: SealBinding;
}

/** Each line without its newline. false stops the reading (the caller has seen enough); a promise pauses it. */
export type LineSink = (line: string) => void | boolean | Promise<void | boolean>;

export interface LinesRead {
  /** Compressed bytes on disk (0 when the file is missing). */
  readonly bytesRead: number;
  /** Lines handed to the sink, empty ones included. */
  readonly lines: number;
  /** The sink stopped the reading; the file was then not checked any further. */
  readonly stopped: boolean;
  /** Why the file is not whole (missing, empty, damaged, cut short); absent when it is, or when stopped. */
  readonly problem?: string;
}

/**
 * `source`: a session file as its manifest names it (opened only when it is a regular file inside the
 * session, see session-file.ts), or a path the caller chose itself (the spool).
 */
export async function readGzipLines(source: string | SessionFileRef, onLine: LineSink, open: OpenWith = {}): Promise<LinesRead> {
  const how: OpenWith & { name: string } =
    typeof source === 'string'
      ? { ...open, name: source }
      : { keys: source.seal?.keys, ...(source.seal !== undefined ? { binding: { session: source.seal.session, file: source.rel } } : {}), name: source.field };
  let fh: FileHandle;
  try {
    fh = typeof source === 'string' ? await fsp.open(source, 'r') : await openSessionFile(source);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { bytesRead: 0, lines: 0, stopped: false, problem: e.code === 'ENOENT' || e.code === 'ENOTDIR' ? 'file missing' : e.message };
  }
  try {
    return await readLines(fh, onLine, how);
  } finally {
    await fh.close();
  }
}

async function readLines(fh: FileHandle, onLine: LineSink, how: OpenWith & { name: string }): Promise<LinesRead> {
  const size = (await fh.stat()).size;
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let lines = 0;
  let stopped = false;

  const deliver = (line: string): void | Promise<void> => {
    lines++;
    const r = onLine(line);
    if (r === false) stopped = true;
    else if (r !== undefined && r !== true) {
      return r.then((v) => {
        if (v === false) stopped = true;
      });
    }
  };

  const feed = async (text: string): Promise<void> => {
    let from = 0;
    let nl = text.indexOf('\n');
    if (nl >= 0 && rest.length > 0) {
      const r = deliver(rest + text.slice(0, nl));
      if (r !== undefined) await r;
      rest = '';
      from = nl + 1;
      nl = text.indexOf('\n', from);
    }
    while (nl >= 0 && !stopped) {
      const r = deliver(text.slice(from, nl));
      if (r !== undefined) await r;
      from = nl + 1;
      nl = text.indexOf('\n', from);
    }
    rest += text.slice(from);
  };
  const onData = async (chunk: Buffer): Promise<boolean> => {
    await feed(decoder.write(chunk));
    return !stopped;
  };

  // zlib drops the output of the inflate cycle that meets damage (up to 256 KiB here); a damaged file is
  // therefore decoded a second time in 16 KiB cycles, and what the first pass missed is taken from that.
  let read = await gunzipFile(fh, 256 * 1024, 0, onData, how);
  if (read.error !== undefined && !stopped) {
    const second = await gunzipFile(fh, 16 * 1024, read.out, onData, how);
    read = { ...second, error: second.error ?? read.error };
  }
  const seal = read.seal;
  if (stopped) return { bytesRead: size, lines, stopped };
  await feed(decoder.end());
  if (stopped) return { bytesRead: size, lines, stopped };
  // Text after the last newline: a line cut in half (lost), or a whole one in a file without a final newline.
  if (rest.length > 0 && parseJsonLine(rest) !== undefined) await deliver(rest);
  if (stopped) return { bytesRead: size, lines, stopped };

  let problem: string | undefined;
  if (seal.error !== undefined) problem = seal.error;
  else if (read.error !== undefined) problem = `damaged gzip after ${read.out} bytes (${read.error})`;
  else if (lines === 0) problem = size === 0 ? 'empty file' : 'no data';
  else if (seal.sealed && !seal.final) problem = 'truncated (no final sealed record: the writer stopped before closing it)';
  else if (!(seal.sealed ? trailerMatches(read.tail, read.out, read.crc) : await gzipTrailerMatches(fh, size, read.out, read.crc))) problem = `truncated or damaged (no gzip trailer matching the ${read.out} bytes read)`;
  return { bytesRead: size, lines, stopped, ...(problem !== undefined ? { problem } : {}) };
}

export interface BytesRead {
  /** Decompressed bytes handed to the sink. */
  readonly bytes: number;
  readonly stopped: boolean;
  /** Why the file is not whole (missing, damaged, cut short, does not open); absent when it is, or when stopped. */
  readonly problem?: string;
}

/**
 * The exact decompressed bytes of a session's gzip file (a raw stream), streamed to `onData`, opened record by
 * record when sealed; read as far as it can be, like readGzipLines. `onData` returns false to stop, a promise to pause.
 */
export async function readGzipBytes(source: SessionFileRef, onData: (chunk: Buffer) => void | boolean | Promise<void | boolean>): Promise<BytesRead> {
  const how: OpenWith & { name: string } = { keys: source.seal?.keys, ...(source.seal !== undefined ? { binding: { session: source.seal.session, file: source.rel } } : {}), name: source.field };
  let fh: FileHandle;
  try {
    fh = await openSessionFile(source);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { bytes: 0, stopped: false, problem: e.code === 'ENOENT' || e.code === 'ENOTDIR' ? 'file missing' : e.message };
  }
  try {
    const size = (await fh.stat()).size;
    let bytes = 0;
    let stopped = false;
    const sink = async (chunk: Buffer): Promise<boolean> => {
      bytes += chunk.length;
      const r = await onData(chunk);
      if (r === false) stopped = true;
      return !stopped;
    };
    let read = await gunzipFile(fh, 256 * 1024, 0, sink, how);
    if (read.error !== undefined && !stopped) {
      const second = await gunzipFile(fh, 16 * 1024, read.out, sink, how);
      read = { ...second, error: second.error ?? read.error };
    }
    if (stopped) return { bytes, stopped };
    const seal = read.seal;
    let problem: string | undefined;
    if (seal.error !== undefined) problem = seal.error;
    else if (read.error !== undefined) problem = `damaged gzip after ${read.out} bytes (${read.error})`;
    else if (size === 0) problem = 'empty file';
    else if (seal.sealed && !seal.final) problem = 'truncated (no final sealed record: the writer stopped before closing it)';
    else if (!(seal.sealed ? trailerMatches(read.tail, read.out, read.crc) : await gzipTrailerMatches(fh, size, read.out, read.crc))) problem = `truncated or damaged (no gzip trailer matching the ${read.out} bytes read)`;
    return { bytes, stopped, ...(problem !== undefined ? { problem } : {}) };
  } finally {
    await fh.close();
  }
}

/** The JSON value of a line, or undefined when it is not JSON (a torn or damaged line). */
export function parseJsonLine(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Streams the decompressed bytes of a gzip file to `onData` (which returns false to stop), skipping the
 * first `skip` of them. Sync-flush decoding yields everything up to a cut instead of failing.
 */
async function gunzipFile(
  fh: FileHandle,
  cycle: number,
  skip: number,
  onData: (chunk: Buffer) => Promise<boolean>,
  how: OpenWith & { name: string },
): Promise<{ out: number; crc: number; error?: string; seal: OpenState; tail: Buffer }> {
  let out = 0;
  let crc = 0;
  let error: string | undefined;
  const seal: OpenState = { sealed: false, final: false, bytesIn: 0 };
  let tail: Buffer = Buffer.alloc(0);
  const gunzip = zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: cycle });
  // The last bytes of the (opened) gzip stream: a sealed file's trailer is inside its last record.
  async function* keepTail(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const c of chunks) {
      tail = c.length >= 8 ? c.subarray(c.length - 8) : Buffer.concat([tail, c]).subarray(-8);
      yield c;
    }
  }
  // From the start each time, on the one descriptor opened (and checked) for the whole reading.
  const input = Readable.from(keepTail(openChunks(fileChunks(fh), how.keys, how.binding, how.name, seal)), { objectMode: false });
  input.on('error', (err) => gunzip.destroy(err));
  input.pipe(gunzip);
  try {
    for await (let chunk of gunzip as AsyncIterable<Buffer>) {
      const from = out;
      out += chunk.length;
      crc = zlib.crc32(chunk, crc);
      if (out <= skip) continue;
      if (from < skip) chunk = chunk.subarray(skip - from);
      if (!(await onData(chunk))) break;
    }
  } catch (err) {
    error = (err as Error).message;
  } finally {
    input.destroy();
    gunzip.destroy();
  }
  return { out, crc, error, seal, tail };
}

function trailerMatches(tail: Buffer, length: number, crc: number): boolean {
  return tail.length === 8 && tail.readUInt32LE(0) === crc >>> 0 && tail.readUInt32LE(4) === length % 2 ** 32;
}

/** A finished gzip member ends with the CRC-32 and length of its content; a crashed writer's file does not. */
async function gzipTrailerMatches(fh: FileHandle, size: number, length: number, crc: number): Promise<boolean> {
  if (size < 18) return false;
  const buf = Buffer.alloc(8);
  await fh.read(buf, 0, 8, size - 8);
  return buf.readUInt32LE(0) === crc >>> 0 && buf.readUInt32LE(4) === length % 2 ** 32;
}
