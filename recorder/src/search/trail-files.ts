// Streaming a cast out of a gzip that may be truncated or damaged, for the auditor's tools (the sessions
// and their manifests come from trail/sessions.ts). Damage is reported, never thrown.
import { createReadStream, promises as fsp } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import zlib from 'node:zlib';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The asciicast v2 header fields the tools use. */
export interface CastHeader {
  readonly version: number;
  readonly width: number;
  readonly height: number;
  readonly timestamp?: number;
  readonly [key: string]: unknown;
}

export type CastEventCode = 'o' | 'i' | 'r' | 'm';

export interface CastReadResult {
  /** false when the file ended early or was damaged; `problem` says how. */
  readonly complete: boolean;
  readonly problem?: string;
  readonly header?: CastHeader;
  readonly events: number;
  /** Compressed bytes read from the share. */
  readonly bytesRead: number;
}

export interface CastVisitor {
  header?(h: CastHeader): void;
  /** May return a promise (playback waits between events); reading pauses until it settles. */
  event(t: number, code: CastEventCode, data: string): void | Promise<void>;
}

/**
 * Streams a gzipped asciicast: the header, then each event. A truncated gzip (a crash before the file
 * was finished) yields everything up to the cut, thanks to sync-flush decoding; a damaged one yields what
 * came before the damage. Either way the result says so instead of throwing.
 */
export async function readCast(file: string, visit: CastVisitor): Promise<CastReadResult> {
  let size: number;
  try {
    size = (await fsp.stat(file)).size;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { complete: false, problem: e.code === 'ENOENT' ? 'file missing' : e.message, events: 0, bytesRead: 0 };
  }
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let lineNo = 0;
  let events = 0;
  let bad = 0;
  let header: CastHeader | undefined;
  let fatal: string | undefined;
  let lastT = 0;

  const onLine = (line: string): void | Promise<void> => {
    lineNo++;
    if (fatal !== undefined) return;
    if (lineNo === 1) {
      try {
        const h: unknown = JSON.parse(line);
        if (!isObject(h) || h.version !== 2) throw new Error('not an asciicast v2 header');
        header = h as unknown as CastHeader;
        visit.header?.(header);
      } catch (err) {
        fatal = `line 1: ${(err as Error).message.slice(0, 100)}`;
      }
      return;
    }
    if (line.length === 0) return;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      bad++;
      return;
    }
    if (!Array.isArray(ev) || typeof ev[0] !== 'number' || typeof ev[1] !== 'string' || typeof ev[2] !== 'string') {
      bad++;
      return;
    }
    const t = ev[0] < lastT ? lastT : ev[0];
    lastT = t;
    events++;
    return visit.event(t, ev[1] as CastEventCode, ev[2]);
  };

  const feed = async (text: string): Promise<void> => {
    let from = 0;
    let nl = text.indexOf('\n');
    if (nl >= 0 && rest.length > 0) {
      const r = onLine(rest + text.slice(0, nl));
      if (r !== undefined) await r;
      rest = '';
      from = nl + 1;
      nl = text.indexOf('\n', from);
    }
    while (nl >= 0) {
      const r = onLine(text.slice(from, nl));
      if (r !== undefined) await r;
      from = nl + 1;
      nl = text.indexOf('\n', from);
    }
    rest += text.slice(from);
  };

  // zlib drops the output of the inflate cycle that meets damage (up to 256 KiB here); a damaged file is
  // therefore decoded a second time in 16 KiB cycles, and what the first pass missed is taken from that.
  let first = await gunzipFile(file, 256 * 1024, 0, async (chunk) => {
    await feed(decoder.write(chunk));
    return fatal === undefined;
  });
  if (first.error !== undefined && fatal === undefined) {
    const second = await gunzipFile(file, 16 * 1024, first.out, async (chunk) => {
      await feed(decoder.write(chunk));
      return fatal === undefined;
    });
    first = { ...second, error: second.error ?? first.error };
  }
  const { out, crc } = first;
  const streamError = first.error;
  await feed(decoder.end());
  const partial = rest; // text after the last newline: an event cut in half, or a file without a final newline
  let whole = false;
  try {
    JSON.parse(partial);
    whole = partial.length > 0;
  } catch {
    /* the cut-off event is lost */
  }
  if (whole) await onLine(partial);

  let problem: string | undefined;
  if (fatal !== undefined) problem = `not an asciicast: ${fatal}`;
  else if (streamError !== undefined) problem = `damaged gzip after ${out} bytes (${streamError})`;
  else if (lineNo === 0) problem = size === 0 ? 'empty file' : 'no data';
  else if (!(await gzipTrailerMatches(file, size, out, crc))) problem = `truncated or damaged (no gzip trailer matching the ${out} bytes read)`;
  if (problem === undefined && header === undefined) problem = 'no asciicast header';
  if (problem === undefined && bad > 0) problem = `${bad} malformed event line(s) skipped`;
  return { complete: problem === undefined, problem, header, events, bytesRead: size };
}

/**
 * Streams the decompressed bytes of a gzip file to `onData` (which returns false to stop), skipping the
 * first `skip` of them. Sync-flush decoding yields everything up to a cut instead of failing.
 */
async function gunzipFile(
  file: string,
  cycle: number,
  skip: number,
  onData: (chunk: Buffer) => Promise<boolean>,
): Promise<{ out: number; crc: number; error?: string }> {
  let out = 0;
  let crc = 0;
  let error: string | undefined;
  const gunzip = zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: cycle });
  const input = createReadStream(file, { highWaterMark: 1024 * 1024 });
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
  return { out, crc, error };
}

/** A finished gzip member ends with the CRC-32 and length of its content; a crashed writer's file does not. */
async function gzipTrailerMatches(file: string, size: number, length: number, crc: number): Promise<boolean> {
  if (size < 18) return false;
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(8);
    await fh.read(buf, 0, 8, size - 8);
    return buf.readUInt32LE(0) === crc >>> 0 && buf.readUInt32LE(4) === length % 2 ** 32;
  } finally {
    await fh.close();
  }
}
