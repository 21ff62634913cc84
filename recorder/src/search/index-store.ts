// The search index of one session, kept next to its recording in `<sessionDir>/index/`.
//
//   meta.json     version, the cast files it was built from (size + mtime: a changed one means rebuild),
//                 the (channel, stream) groups, counts, and the problems met reading the casts
//   terms.bin     an on-disk hash table: token -> where its postings are (one bucket read per token)
//   postings.bin  per token, the ids of the lines containing it, delta + varint coded
//   lines.bin     the lines, 256 per block, each block a raw-deflated JSON array of
//                 [group, start, end, text, runs?]
//   blocks.bin    float64 offsets of the blocks in lines.bin
//
// A search reads meta.json, one bucket per query token, the postings of those tokens and only the
// blocks holding candidate lines: its cost follows the hits, not the size of the recording.
import { closeSync, fstatSync, mkdirSync, openSync, promises as fsp, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { forEachToken } from './tokens.js';
import { scanTranscript, type Stream, type TranscriptLine } from './transcript.js';
import { castFiles, type SessionRef, type TrailProblem } from './trail-files.js';
import { randomBytes } from 'node:crypto';

export const INDEX_DIR = 'index';
export const INDEX_VERSION = 1;
const LINES_PER_BLOCK = 256;
const TERMS_MAGIC = 'SRECTRM1';

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
  readonly buckets: number;
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

function fileSource(file: string): ByteSource {
  const fd = openSync(file, 'r');
  const size = fstatSync(fd).size;
  return {
    size,
    read(pos, len) {
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const n = readSync(fd, buf, got, len - got, pos + got);
        if (n === 0) throw new Error(`${path.basename(file)}: shorter than its index says`);
        got += n;
      }
      return buf;
    },
    close: () => closeSync(fd),
  };
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The postings of one token while building: delta-varint bytes of increasing line ids. */
interface Posting {
  buf: Uint8Array;
  len: number;
  last: number;
  count: number;
}

function pushVarint(p: Posting, v: number): void {
  if (p.len + 5 > p.buf.length) {
    const bigger = new Uint8Array(p.buf.length * 2);
    bigger.set(p.buf.subarray(0, p.len));
    p.buf = bigger;
  }
  while (v >= 0x80) {
    p.buf[p.len++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  p.buf[p.len++] = v;
}

function decodePostings(buf: Buffer, count: number): Uint32Array {
  const ids = new Uint32Array(count);
  let last = -1;
  let pos = 0;
  for (let k = 0; k < count; k++) {
    let v = 0;
    let shift = 0;
    let b: number;
    do {
      b = buf[pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    last += v;
    ids[k] = last;
  }
  return ids;
}

/** The files of an index, in memory. */
interface IndexFiles {
  readonly meta: IndexMeta;
  readonly terms: Buffer;
  readonly postings: Buffer;
  readonly lines: Buffer;
  readonly blocks: Buffer;
}

/** Builds the index of a session from its casts. */
export async function buildIndexFiles(ref: SessionRef): Promise<IndexFiles & { bytesRead: number; problems: TrailProblem[] }> {
  const sources = stampSources(ref);
  const postings = new Map<string, Posting>();
  const groups: Array<{ channel: number; stream: Stream }> = [];
  const groupOf = new Map<string, number>();
  const blockBufs: Buffer[] = [];
  const pending: Array<Promise<Buffer>> = [];
  let block: StoredLine[] = [];
  let nextId = 0;

  const flushBlock = (): void => {
    if (block.length === 0) return;
    const json = Buffer.from(JSON.stringify(block));
    block = [];
    // Compressed on libuv's pool while this thread goes on reading: the two cores share the work.
    pending.push(
      new Promise((resolve, reject) =>
        zlib.deflateRaw(json, { level: 1 }, (err, out) => (err ? reject(err) : resolve(out))),
      ),
    );
  };

  const add = (l: TranscriptLine): void => {
    const key = `${l.channel}/${l.stream}`;
    let g = groupOf.get(key);
    if (g === undefined) {
      g = groups.length;
      groups.push({ channel: l.channel, stream: l.stream });
      groupOf.set(key, g);
    }
    const id = nextId++;
    block.push(l.runs === undefined ? [g, l.start, l.end, l.text] : [g, l.start, l.end, l.text, l.runs as number[]]);
    if (block.length === LINES_PER_BLOCK) flushBlock();
    forEachToken(l.text, (tok) => {
      let p = postings.get(tok);
      if (p === undefined) {
        p = { buf: new Uint8Array(8), len: 0, last: -1, count: 0 };
        postings.set(tok, p);
      }
      if (p.last === id) return;
      pushVarint(p, id - p.last);
      p.last = id;
      p.count++;
    });
  };

  const scan = await scanTranscript(ref, { line: add });
  flushBlock();
  for (const p of pending) blockBufs.push(await p);

  const offsets = new Float64Array(blockBufs.length + 1);
  let off = 0;
  blockBufs.forEach((b, i) => {
    offsets[i] = off;
    off += b.length;
  });
  offsets[blockBufs.length] = off;

  // Postings, and the hash table of terms pointing into them.
  const buckets = Math.max(1, 2 ** Math.ceil(Math.log2(Math.max(postings.size, 1) / 16)));
  const bucketLines: string[][] = Array.from({ length: buckets }, () => []);
  const postingBufs: Uint8Array[] = [];
  let poff = 0;
  for (const [tok, p] of postings) {
    bucketLines[fnv1a(tok) & (buckets - 1)]!.push(`${tok}\t${poff}\t${p.len}\t${p.count}\n`);
    postingBufs.push(p.buf.subarray(0, p.len));
    poff += p.len;
  }
  const bodies = bucketLines.map((ls) => Buffer.from(ls.join('')));
  const head = Buffer.alloc(16 + 4 * (buckets + 1));
  head.write(TERMS_MAGIC, 0, 'latin1');
  head.writeUInt32LE(buckets, 8);
  let boff = 0;
  bodies.forEach((b, i) => {
    head.writeUInt32LE(boff, 16 + 4 * i);
    boff += b.length;
  });
  head.writeUInt32LE(boff, 16 + 4 * buckets);

  const problems = scan.problems;
  const meta: IndexMeta = {
    version: INDEX_VERSION,
    sessionId: ref.id,
    built: new Date().toISOString(),
    sources,
    groups,
    lines: nextId,
    blocks: blockBufs.length,
    terms: postings.size,
    buckets,
    problems: problems.map((p) => ({ path: path.relative(ref.dir, p.path), message: p.message })),
  };
  return {
    meta,
    terms: Buffer.concat([head, ...bodies]),
    postings: Buffer.concat(postingBufs),
    lines: Buffer.concat(blockBufs),
    blocks: Buffer.from(offsets.buffer),
    bytesRead: scan.bytesRead,
    problems,
  };
}

/** Size and mtime of each cast the index is built from: what makes an index stale. */
function stampSources(ref: SessionRef): SourceStamp[] {
  return castFiles(ref).map(({ file }) => {
    const st = statSync(path.join(ref.dir, file), { throwIfNoEntry: false });
    return { path: file, size: st?.size ?? -1, mtimeMs: st?.mtimeMs ?? -1 };
  });
}

/** mtimes within a millisecond are the same: shares and copies keep different sub-ms precision. */
function sameSources(a: readonly SourceStamp[], b: readonly SourceStamp[]): boolean {
  return a.length === b.length && a.every((s, i) => s.path === b[i]!.path && s.size === b[i]!.size && Math.abs(s.mtimeMs - b[i]!.mtimeMs) < 1);
}

/** Writes the index atomically: a temporary directory renamed into place. Throws when the share refuses. */
function writeIndexFiles(ref: SessionRef, files: IndexFiles): void {
  const tmp = path.join(ref.dir, `.index.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const final = path.join(ref.dir, INDEX_DIR);
  mkdirSync(tmp, { mode: 0o700 });
  try {
    const put = (name: string, data: Buffer | string) => writeFileSync(path.join(tmp, name), data, { mode: 0o600, flag: 'wx' });
    put('terms.bin', files.terms);
    put('postings.bin', files.postings);
    put('lines.bin', files.lines);
    put('blocks.bin', files.blocks);
    put('meta.json', JSON.stringify(files.meta));
    const old = path.join(ref.dir, `.index.old-${process.pid}-${randomBytes(4).toString('hex')}`);
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
  private bucketCount = -1;

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

  /** Opens `<dir>/index/` when it is there, current and of this version; undefined otherwise. */
  static open(ref: SessionRef): SessionIndex | undefined {
    const dir = path.join(ref.dir, INDEX_DIR);
    let meta: IndexMeta;
    try {
      meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as IndexMeta;
    } catch {
      return undefined;
    }
    if (meta.version !== INDEX_VERSION || !Array.isArray(meta.sources) || !sameSources(meta.sources, stampSources(ref))) return undefined;
    const opened: ByteSource[] = [];
    try {
      for (const name of ['terms.bin', 'postings.bin', 'lines.bin', 'blocks.bin']) opened.push(fileSource(path.join(dir, name)));
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

  /** The ids of the lines containing `token`, ascending. */
  lookup(token: string): Uint32Array {
    if (this.bucketCount < 0) this.bucketCount = this.terms.read(8, 4).readUInt32LE(0);
    const b = fnv1a(token) & (this.bucketCount - 1);
    const range = this.terms.read(16 + 4 * b, 8);
    const from = range.readUInt32LE(0);
    const to = range.readUInt32LE(4);
    if (to <= from) return new Uint32Array(0);
    const bodyStart = 16 + 4 * (this.bucketCount + 1);
    const text = this.terms.read(bodyStart + from, to - from).toString('utf8');
    const prefix = token + '\t';
    let at = text.startsWith(prefix) ? 0 : text.indexOf('\n' + prefix);
    if (at < 0) return new Uint32Array(0);
    if (at > 0) at++;
    const entry = text.slice(at + prefix.length, text.indexOf('\n', at)).split('\t').map(Number);
    const [poff, plen, count] = entry as [number, number, number];
    return decodePostings(this.postings.read(poff, plen), count);
  }

  /** Ids of the lines containing every token. */
  candidates(tokens: readonly string[]): Uint32Array {
    const lists = tokens.map((t) => this.lookup(t)).sort((a, b) => a.length - b.length);
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
      block = JSON.parse(zlib.inflateRawSync(this.lines.read(from, to - from)).toString('utf8')) as StoredLine[];
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
  /** true when this call built it from the casts. */
  readonly built: boolean;
  /** Compressed cast bytes read to build it (0 when an existing index was used). */
  readonly bytesRead: number;
  /** Problems reading the casts (damaged, truncated), from this build or the one that made the index. */
  readonly problems: TrailProblem[];
  /** Why the index could not be kept on the share, when it could not. */
  readonly writeError?: string;
}

/**
 * The index of a session: the one next to the recording when it is current, otherwise built now and
 * stored there (atomically, 0600). A share that refuses the write still gets its search answered.
 */
export async function openIndex(ref: SessionRef): Promise<OpenedIndex> {
  const existing = SessionIndex.open(ref);
  if (existing !== undefined) {
    const problems = existing.meta.problems.map((p) => ({ session: ref.id, path: path.join(ref.dir, p.path), message: p.message }));
    return { index: existing, built: false, bytesRead: 0, problems };
  }
  const files = await buildIndexFiles(ref);
  let writeError: string | undefined;
  try {
    writeIndexFiles(ref, files);
  } catch (err) {
    writeError = (err as Error).message;
  }
  return { index: SessionIndex.fromFiles(files), built: true, bytesRead: files.bytesRead, problems: files.problems, writeError };
}

/** Removes a session's index (it is rebuilt by the next search). */
export async function removeIndex(ref: SessionRef): Promise<void> {
  await fsp.rm(path.join(ref.dir, INDEX_DIR), { recursive: true, force: true });
}
