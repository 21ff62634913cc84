// Reading the trail on the share (docs/internals.md "The trail on the share") for the auditor's tools:
// find session directories, load manifests, stream a cast out of a gzip that may be truncated or damaged.
// Damage is reported, never thrown: one bad recording must not hide the others.
import { createReadStream, promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import zlib from 'node:zlib';

/** The manifest as the auditor's tools read it; fields they do not use are kept in `raw`. */
export interface Manifest {
  readonly version: number;
  readonly sessionId: string;
  readonly connectionId?: string;
  readonly recorder?: string;
  readonly user: string;
  readonly remoteAddress?: string;
  readonly targetUser: string;
  readonly host: { readonly name: string; readonly address?: string; readonly port?: number };
  readonly start: string;
  readonly end?: string;
  readonly complete: boolean;
  readonly recovered: boolean;
  readonly channels: readonly ManifestChannel[];
  readonly transfers: readonly unknown[];
  readonly files: readonly ManifestFile[];
  /** Set by retention when it removed the session's transferred files (`files/`). */
  readonly filesExpired?: string;
  readonly raw: Record<string, unknown>;
}

export interface ManifestChannel {
  readonly id: number;
  readonly type?: string;
  readonly kind?: string;
  readonly command?: string;
  readonly subsystem?: string;
  readonly cast?: string;
}

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** A session directory whose manifest could be read. */
export interface SessionRef {
  readonly id: string;
  /** Absolute path of the session directory. */
  readonly dir: string;
  readonly manifest: Manifest;
}

/** Something wrong with one recording, named so that a person can find it. */
export interface TrailProblem {
  readonly session?: string;
  readonly path: string;
  readonly message: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Checks the fields the tools rely on; the message names the first one that is wrong. */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`manifest.json is not JSON (${(err as Error).message})`);
  }
  if (!isObject(raw)) throw new Error('manifest.json: not a JSON object');
  const need = (field: string): string => {
    const v = str(raw[field]);
    if (v === undefined) throw new Error(`manifest.json: ${field} missing or not a string`);
    return v;
  };
  const sessionId = need('sessionId');
  const start = need('start');
  if (Number.isNaN(Date.parse(start))) throw new Error(`manifest.json: start "${start}" is not an ISO-8601 time`);
  const host = isObject(raw.host) ? raw.host : {};
  const channels = Array.isArray(raw.channels) ? raw.channels : [];
  const files = Array.isArray(raw.files) ? raw.files : undefined;
  if (files === undefined) throw new Error('manifest.json: files missing or not a list');
  const parsedFiles: ManifestFile[] = files.map((f, i) => {
    if (!isObject(f) || typeof f.path !== 'string' || typeof f.sha256 !== 'string') {
      throw new Error(`manifest.json: files[${i}] needs path and sha256`);
    }
    return { path: f.path, size: typeof f.size === 'number' ? f.size : -1, sha256: f.sha256 };
  });
  return {
    version: typeof raw.version === 'number' ? raw.version : 0,
    sessionId,
    connectionId: str(raw.connectionId),
    recorder: str(raw.recorder),
    user: str(raw.user) ?? '',
    remoteAddress: str(raw.remoteAddress),
    targetUser: str(raw.targetUser) ?? '',
    host: {
      name: str(host.name) ?? '',
      address: str(host.address),
      port: typeof host.port === 'number' ? host.port : undefined,
    },
    start,
    end: str(raw.end),
    complete: raw.complete === true,
    recovered: raw.recovered === true,
    channels: channels.filter(isObject).map((c) => ({
      id: typeof c.id === 'number' ? c.id : -1,
      type: str(c.type),
      kind: str(c.kind),
      command: str(c.command),
      subsystem: str(c.subsystem),
      cast: str(c.cast),
    })),
    transfers: Array.isArray(raw.transfers) ? raw.transfers : [],
    files: parsedFiles,
    filesExpired: str(raw.filesExpired),
    raw,
  };
}

const DIGITS = /^\d+$/;

/** Every `<YYYY>/<MM>/<DD>/<sessionId>` directory under the data folder, oldest day first. */
export function sessionDirs(dataFolder: string): string[] {
  const out: string[] = [];
  const sub = (dir: string, pattern: RegExp): string[] => {
    try {
      return readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && pattern.test(e.name))
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  };
  for (const y of sub(dataFolder, DIGITS)) {
    for (const m of sub(path.join(dataFolder, y), DIGITS)) {
      for (const d of sub(path.join(dataFolder, y, m), DIGITS)) {
        const day = path.join(dataFolder, y, m, d);
        for (const s of sub(day, /^[^.]/)) out.push(path.join(day, s));
      }
    }
  }
  return out;
}

/** Loads every session's manifest; a directory without a readable one becomes a problem. */
export function scanSessions(dataFolder: string): { sessions: SessionRef[]; problems: TrailProblem[] } {
  const root = path.resolve(dataFolder);
  const st = statSync(root, { throwIfNoEntry: false });
  if (st === undefined || !st.isDirectory()) throw new Error(`--data ${dataFolder}: not a directory`);
  const sessions: SessionRef[] = [];
  const problems: TrailProblem[] = [];
  for (const dir of sessionDirs(root)) {
    const id = path.basename(dir);
    try {
      const manifest = parseManifest(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
      sessions.push({ id: manifest.sessionId || id, dir, manifest });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const message = e.code === 'ENOENT' ? 'no manifest.json (incomplete or damaged session)' : e.message;
      problems.push({ session: id, path: dir, message });
    }
  }
  sessions.sort((a, b) => Date.parse(a.manifest.start) - Date.parse(b.manifest.start) || a.id.localeCompare(b.id));
  return { sessions, problems };
}

/** Finds a session by its full id or a unique prefix of it; the error says which. */
export function resolveSession(sessions: readonly SessionRef[], idOrPrefix: string): SessionRef {
  const exact = sessions.find((s) => s.id === idOrPrefix);
  if (exact !== undefined) return exact;
  const matches = sessions.filter((s) => s.id.startsWith(idOrPrefix));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new Error(`no session with id or id prefix "${idOrPrefix}"`);
  throw new Error(`"${idOrPrefix}" matches ${matches.length} sessions (${matches.map((s) => s.id).join(', ')}); give more of the id`);
}

/** The cast files of a session, in channel order: `[channelId, relative path]`. */
export function castFiles(ref: SessionRef): Array<{ channel: number; file: string }> {
  return ref.manifest.channels
    .filter((c) => c.cast !== undefined && c.cast !== '')
    .map((c) => ({ channel: c.id, file: c.cast! }))
    .sort((a, b) => a.channel - b.channel);
}

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

/** One line for stderr naming the session and the file: `session <id>: <path>: <message>`. */
export function formatProblem(p: TrailProblem): string {
  return p.session !== undefined ? `session ${p.session}: ${p.path}: ${p.message}` : `${p.path}: ${p.message}`;
}
