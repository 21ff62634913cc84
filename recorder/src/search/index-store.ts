// The search index of one session, kept next to its recording in `<sessionDir>/index/`.
//
//   meta.json     version, the cast files it was built from (size + mtime: a changed one means rebuild),
//                 the (channel, stream) groups, counts, and the problems met reading the casts
//   terms.bin     token hash -> where its postings are (postings.ts: one small bucket read per token)
//   postings.bin  per token, the ids of the lines containing it, delta + varint coded
//   lines.bin     the lines, 64 per block, each block a raw-deflated JSON array of
//                 [group, start, end, text, runs?]
//   blocks.bin    float64 offsets of the blocks in lines.bin
//
// A search reads meta.json, one bucket per query token, the postings of those tokens and only the
// blocks holding candidate lines: its cost follows the hits, not the size of the recording.
//
// The index of an encrypted session is derived from its content and sealed like it: each file sealed
// whole for the session and its name (trail/crypto/sealed.ts), read by record. An index that does not
// open (plain where the session is sealed, another session's, altered) is rebuilt, never trusted.
import { closeSync, fstatSync, mkdirSync, promises as fsp, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { openBufferSync, sealBuffer, SealedRandomReader } from '../trail/crypto/sealed.js';
import { INDEX_DIR } from '../trail/paths.js';
import { checkSessionFile, openSessionFileSync, readSessionFileSync, type SessionFileRef } from '../trail/session-file.js';
import { castFiles, type StoredSession, type TrailProblem } from '../trail/sessions.js';
import { decodePostings, findTerm, PostingsBuilder, TERMS_MAGIC } from './postings.js';
import type { TextLine } from './terminal.js';
import type { Stream } from './transcript.js';

export const INDEX_VERSION = 2;
const LINES_PER_BLOCK = 64;

export interface SourceStamp {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface IndexMeta {
  readonly version: number;
  readonly sessionId: string;
  readonly built: string;
  readonly sources: readonly SourceStamp[];
  readonly groups: ReadonlyArray<{ readonly channel: number; readonly stream: Stream }>;
  readonly lines: number;
  readonly blocks: number;
  readonly terms: number;
  /** Problems met while reading the casts, paths relative to the session directory. */
  readonly problems: ReadonlyArray<{ readonly path: string; readonly message: string }>;
}

/** One line as stored: its group (channel + stream), times, text and per-part times. */
export interface IndexedLine {
  readonly id: number;
  readonly channel: number;
  readonly stream: Stream;
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly runs?: readonly number[];
}

type StoredLine = [number, number, number, string, number[]?];

/** Random access to the bytes of one index file, from disk or from memory. */
interface ByteSource {
  readonly size: number;
  read(pos: number, len: number): Buffer;
  close(): void;
}

function memorySource(buf: Buffer): ByteSource {
  return { size: buf.length, read: (pos, len) => buf.subarray(pos, pos + len), close: () => {} };
}

/** The index of this session is sealed: the session is, and the keys can open it. */
export function sealsIndex(ref: StoredSession): boolean {
  return ref.stored.sealed !== undefined;
}

/** A file of the index, opened like every session file: only a regular one inside the session (else throws: rebuild). */
function fileSource(ref: SessionFileRef, session?: StoredSession): ByteSource {
  const file = ref.rel;
  const fd = openSessionFileSync(ref);
  const size = fstatSync(fd).size;
  const raw = (pos: number, len: number): Buffer => {
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, pos + got);
      if (n === 0) throw new Error(`${file}: shorter than its index says`);
      got += n;
    }
    return buf;
  };
  if (session !== undefined && sealsIndex(session)) {
    try {
      const sealed = new SealedRandomReader(raw, size, session.keys, { session: session.manifest.sessionId, file }, file);
      return { size: sealed.size, read: (pos, len) => sealed.read(pos, len), close: () => closeSync(fd) };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }
  return { size, read: raw, close: () => closeSync(fd) };
}

/** The files of an index, in memory. */
export interface IndexFiles {
  readonly meta: IndexMeta;
  readonly terms: Buffer;
  readonly postings: Buffer;
  readonly lines: Buffer;
  readonly blocks: Buffer;
}

/** Builds the index of a session from its casts. */
export async function buildIndexFiles(ref: StoredSession): Promise<IndexFiles & { bytesRead: number; problems: TrailProblem[] }> {
  const sources = stampSources(ref);
  const postings = new PostingsBuilder();
  const groups: Array<{ channel: number; stream: Stream }> = [];
  // One deflate stream on libuv's pool (the other core) while this thread reads on; a full flush after each
  // block makes every block inflatable on its own from its offset.
  const deflate = zlib.createDeflateRaw({ level: 1 });
  const compressed: Buffer[] = [];
  let compressedBytes = 0;
  deflate.on('data', (c: Buffer) => {
    compressed.push(c);
    compressedBytes += c.length;
  });
  const blockEnds: number[] = [];
  let block: StoredLine[] = [];
  let nextId = 0;

  const flushBlock = (): void => {
    if (block.length === 0) return;
    deflate.write(JSON.stringify(block));
    block = [];
    deflate.flush(zlib.constants.Z_FULL_FLUSH, () => blockEnds.push(compressedBytes));
  };

  let g = -1;
  const add = (l: TextLine, channel: number, stream: Stream): void => {
    const cur = groups[g];
    if (cur === undefined || cur.channel !== channel || cur.stream !== stream) {
      g = groups.findIndex((x) => x.channel === channel && x.stream === stream);
      if (g < 0) g = groups.push({ channel, stream }) - 1;
    }
    const id = nextId++;
    block.push(l.runs === undefined ? [g, l.start, l.end, l.text] : [g, l.start, l.end, l.text, l.runs as number[]]);
    if (block.length === LINES_PER_BLOCK) flushBlock();
    postings.addLine(l.text, id);
  };

  // Loaded here: a search that finds every index current never needs the cast reader.
  const { scanTranscript } = await import('./transcript.js');
  const scan = await scanTranscript(ref, { line: add });
  flushBlock();
  await new Promise<void>((resolve, reject) => {
    deflate.once('error', reject);
    deflate.end(() => resolve());
  });
  const offsets = new Float64Array(blockEnds.length + 1);
  blockEnds.forEach((end, i) => (offsets[i + 1] = end));
  const terms = postings.serialize();

  const problems = scan.problems;
  const meta: IndexMeta = {
    version: INDEX_VERSION,
    sessionId: ref.id,
    built: new Date().toISOString(),
    sources,
    groups,
    lines: nextId,
    blocks: blockEnds.length,
    terms: terms.count,
    problems: problems.map((p) => ({ path: path.relative(ref.dir, p.path), message: p.message })),
  };
  return {
    meta,
    terms: terms.terms,
    postings: terms.postings,
    lines: Buffer.concat(compressed),
    blocks: Buffer.from(offsets.buffer),
    bytesRead: scan.bytesRead,
    problems,
  };
}

/** Size and mtime of each cast the index is built from: what makes an index stale. */
function stampSources(ref: StoredSession): SourceStamp[] {
  return castFiles(ref).map(({ file, ref: cast }) => {
    const st = checkSessionFile(cast).stat;
    return { path: file, size: st?.size ?? -1, mtimeMs: st?.mtimeMs ?? -1 };
  });
}

/** mtimes within a millisecond are the same: shares and copies keep different sub-ms precision. */
function sameSources(a: readonly SourceStamp[], b: readonly SourceStamp[]): boolean {
  return a.length === b.length && a.every((s, i) => s.path === b[i]!.path && s.size === b[i]!.size && Math.abs(s.mtimeMs - b[i]!.mtimeMs) < 1);
}

/** A name no other writer uses at the same time (mkdir refuses a clash anyway); not a secret, so no crypto to load. */
const uniqueSuffix = (): string => `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;

/** Writes the index atomically: a temporary directory renamed into place. Throws when the share refuses. */
export function writeIndexFiles(ref: StoredSession, files: IndexFiles): void {
  const tmp = path.join(ref.dir, `.index.tmp-${uniqueSuffix()}`);
  const final = path.join(ref.dir, INDEX_DIR);
  mkdirSync(tmp, { mode: 0o700 });
  try {
    const seal = sealsIndex(ref) && ref.keys !== undefined;
    const put = (name: string, data: Buffer | string) =>
      writeFileSync(
        path.join(tmp, name),
        seal ? sealBuffer(ref.keys!, { session: ref.manifest.sessionId, file: `${INDEX_DIR}/${name}` }, typeof data === 'string' ? Buffer.from(data, 'utf8') : data) : data,
        { mode: 0o600, flag: 'wx' },
      );
    put('terms.bin', files.terms);
    put('postings.bin', files.postings);
    put('lines.bin', files.lines);
    put('blocks.bin', files.blocks);
    put('meta.json', JSON.stringify(files.meta));
    const old = path.join(ref.dir, `.index.old-${uniqueSuffix()}`);
    let moved = false;
    try {
      renameSync(final, old);
      moved = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      renameSync(tmp, final);
    } catch (err) {
      // Another search put its index there first: theirs is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
    if (moved) rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** A session's index opened for queries. */
export class SessionIndex {
  private readonly blockCache = new Map<number, StoredLine[]>();
  private bucketBits = -1;

  private constructor(
    readonly meta: IndexMeta,
    private readonly terms: ByteSource,
    private readonly postings: ByteSource,
    private readonly lines: ByteSource,
    private readonly blocks: ByteSource,
  ) {}

  static fromFiles(f: IndexFiles): SessionIndex {
    return new SessionIndex(f.meta, memorySource(f.terms), memorySource(f.postings), memorySource(f.lines), memorySource(f.blocks));
  }

  /** The meta.json of `<dir>/index/` when it is there, current and of this version; undefined otherwise. */
  static currentMeta(ref: StoredSession): IndexMeta | undefined {
    let meta: IndexMeta;
    try {
      const rel = `${INDEX_DIR}/meta.json`;
      let bytes = readSessionFileSync({ dir: ref.dir, rel, field: rel }, 64 * 1024 * 1024);
      if (sealsIndex(ref)) bytes = openBufferSync(ref.keys, { session: ref.manifest.sessionId, file: rel }, bytes, rel);
      meta = JSON.parse(bytes.toString('utf8')) as IndexMeta;
    } catch {
      return undefined;
    }
    const shapeOk =
      meta !== null &&
      typeof meta === 'object' &&
      meta.version === INDEX_VERSION &&
      meta.sessionId === ref.manifest.sessionId &&
      Array.isArray(meta.sources) &&
      Array.isArray(meta.groups) &&
      Array.isArray(meta.problems) &&
      Number.isInteger(meta.lines) &&
      Number.isInteger(meta.blocks);
    // Anything else (older version, damaged, another tool's) is rebuilt rather than trusted.
    return shapeOk && sameSources(meta.sources, stampSources(ref)) ? meta : undefined;
  }

  /**
   * Opens `<dir>/index/` when it is there, current and of this version; undefined otherwise.
   * @param meta its meta.json when the caller has just checked it with currentMeta()
   */
  static open(ref: StoredSession, meta: IndexMeta | undefined = SessionIndex.currentMeta(ref)): SessionIndex | undefined {
    if (meta === undefined) return undefined;
    const opened: ByteSource[] = [];
    try {
      for (const name of ['terms.bin', 'postings.bin', 'lines.bin', 'blocks.bin']) {
        const rel = `${INDEX_DIR}/${name}`;
        opened.push(fileSource({ dir: ref.dir, rel, field: rel }, ref));
      }
      const [terms, postings, lines, blocks] = opened as [ByteSource, ByteSource, ByteSource, ByteSource];
      if (blocks.size !== 8 * (meta.blocks + 1) || terms.read(0, 8).toString('latin1') !== TERMS_MAGIC) throw new Error('bad index');
      return new SessionIndex(meta, terms, postings, lines, blocks);
    } catch {
      for (const s of opened) s.close();
      return undefined;
    }
  }

  close(): void {
    for (const s of [this.terms, this.postings, this.lines, this.blocks]) s.close();
  }

  /** The ids of the lines containing a token with this hash, ascending. */
  lookup(hash: number): Uint32Array {
    if (this.bucketBits < 0) this.bucketBits = this.terms.read(8, 4).readUInt32LE(0);
    const term = findTerm((pos, len) => this.terms.read(pos, len), this.bucketBits, hash);
    if (term === undefined) return new Uint32Array(0);
    return decodePostings(this.postings.read(term.offset, term.length), term.count);
  }

  /** Every token hash of the session, in hash order (terms.bin's entries): what a TermFilter is made of. */
  termHashes(): Uint32Array {
    const head = this.terms.read(8, 8);
    const bits = head.readUInt32LE(0);
    const n = head.readUInt32LE(4);
    const entries = this.terms.read(16 + 4 * (2 ** bits + 1), 16 * n);
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = entries.readUInt32LE(16 * i);
    return out;
  }

  /** Ids of the lines containing every token (by hash). */
  candidates(hashes: readonly number[]): Uint32Array {
    const lists = hashes.map((h) => this.lookup(h)).sort((a, b) => a.length - b.length);
    let acc = lists[0] ?? new Uint32Array(0);
    for (const other of lists.slice(1)) {
      if (acc.length === 0) break;
      const keep: number[] = [];
      let j = 0;
      for (let i = 0; i < acc.length; i++) {
        const v = acc[i]!;
        while (j < other.length && other[j]! < v) j++;
        if (j < other.length && other[j] === v) keep.push(v);
      }
      acc = Uint32Array.from(keep);
    }
    return acc;
  }

  line(id: number): IndexedLine | undefined {
    if (id < 0 || id >= this.meta.lines) return undefined;
    const blockNo = Math.floor(id / LINES_PER_BLOCK);
    let block = this.blockCache.get(blockNo);
    if (block === undefined) {
      const pos = this.blocks.read(8 * blockNo, 16);
      const from = pos.readDoubleLE(0);
      const to = pos.readDoubleLE(8);
      const raw = zlib.inflateRawSync(this.lines.read(from, to - from), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      block = JSON.parse(raw.toString('utf8')) as StoredLine[];
      if (this.blockCache.size > 64) this.blockCache.clear();
      this.blockCache.set(blockNo, block);
    }
    const rec = block[id % LINES_PER_BLOCK];
    if (rec === undefined) return undefined;
    const [g, start, end, text, runs] = rec;
    const group = this.meta.groups[g];
    if (group === undefined) return undefined;
    return { id, channel: group.channel, stream: group.stream, start, end, text, ...(runs ? { runs } : {}) };
  }
}

export interface OpenedIndex {
  readonly index: SessionIndex;
  /** true when this search built it from the casts. */
  readonly built: boolean;
  /** Compressed cast bytes read to build it (0 when an existing index was used). */
  readonly bytesRead: number;
  /** Problems reading the casts (damaged, truncated), from this build or the one that made the index. */
  readonly problems: TrailProblem[];
  /** Why the index could not be kept on the share, when it could not. */
  readonly writeError?: string;
}

/** What building (and trying to store) a session's index gave; `files` only when they could not be stored. */
export interface BuildOutcome {
  readonly bytesRead: number;
  readonly problems: TrailProblem[];
  readonly writeError?: string;
  readonly files?: IndexFiles;
}

/**
 * Which sessions have a current index (by its meta.json, kept by session directory) and which, having
 * casts, have a missing, stale or damaged one: what a search must build.
 */
export function indexState(refs: readonly StoredSession[]): { current: Map<string, IndexMeta>; toBuild: StoredSession[] } {
  const current = new Map<string, IndexMeta>();
  const toBuild: StoredSession[] = [];
  for (const r of refs) {
    const meta = SessionIndex.currentMeta(r);
    if (meta !== undefined) current.set(r.dir, meta);
    else if (castFiles(r).length > 0) toBuild.push(r);
  }
  return { current, toBuild };
}

/** Builds a session's index and stores it next to the recording (atomically, 0600) when the share lets it. */
export async function buildAndStore(ref: StoredSession): Promise<BuildOutcome> {
  const files = await buildIndexFiles(ref);
  try {
    writeIndexFiles(ref, files);
    return { bytesRead: files.bytesRead, problems: files.problems };
  } catch (err) {
    return { bytesRead: files.bytesRead, problems: files.problems, writeError: (err as Error).message, files };
  }
}

/**
 * The index of a session: the one next to the recording when it is current, otherwise built now (or
 * taken from `prebuilt`, built by a worker for this search) and stored there. A share that refuses the
 * write still gets its search answered.
 */
export async function openIndex(ref: StoredSession, prebuilt?: BuildOutcome, meta?: IndexMeta): Promise<OpenedIndex> {
  if (prebuilt?.files !== undefined) {
    return { index: SessionIndex.fromFiles(prebuilt.files), built: true, bytesRead: prebuilt.bytesRead, problems: prebuilt.problems, writeError: prebuilt.writeError };
  }
  const existing = SessionIndex.open(ref, meta);
  if (existing !== undefined) {
    if (prebuilt !== undefined) return { index: existing, built: true, bytesRead: prebuilt.bytesRead, problems: prebuilt.problems };
    const problems = existing.meta.problems.map((p) => ({ session: ref.id, path: path.join(ref.dir, p.path), message: p.message }));
    return { index: existing, built: false, bytesRead: 0, problems };
  }
  const out = await buildAndStore(ref);
  const files = out.files;
  const index = files !== undefined ? SessionIndex.fromFiles(files) : SessionIndex.open(ref);
  if (index === undefined) throw new Error('the index just stored cannot be opened');
  return { index, built: true, bytesRead: out.bytesRead, problems: out.problems, writeError: out.writeError };
}

/** Removes a session's index (it is rebuilt by the next search). */
export async function removeIndex(ref: StoredSession): Promise<void> {
  await fsp.rm(path.join(ref.dir, INDEX_DIR), { recursive: true, force: true });
}
