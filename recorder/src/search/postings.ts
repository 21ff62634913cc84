// Token -> line postings, built at the speed of the bytes: a token is a 32-bit hash computed while its
// characters are scanned (no substring, no string key, no object per token); the (hash, line id) pairs are
// sorted by hash in bounded segments and delta+varint coded. Two tokens with the same hash share a list; that only adds candidate
// lines, which the phrase check on the real text rejects.
//
// On disk (terms.bin): "SRECTRM2", u32 bucketBits, u32 terms; (2^bucketBits + 1) u32 entry indexes,
// bucket b = hash >>> (32 - bucketBits); then 16-byte entries: u32 hash, u32 count, u32 offset, u32 length
// into postings.bin, in hash order. A lookup reads two directory slots and one bucket (about 8 entries).
/** Longer tokens are cut: the index sees their first MAX_TOKEN characters. */
export const MAX_TOKEN = 64;
export const TERMS_MAGIC = 'SRECTRM2';
const WORD_RE = /[\p{L}\p{N}_]/u;

const wordCache = new Map<number, number>(); // non-ASCII code unit -> lower-cased code, or -1 when not a word char

/** The lower-cased code of a word character, or -1 for a separator. ASCII inline; the rest cached. */
function wordCode(c: number): number {
  if (c < 0x80) {
    if (c >= 0x61 && c <= 0x7a) return c;
    if (c >= 0x41 && c <= 0x5a) return c | 0x20;
    if ((c >= 0x30 && c <= 0x39) || c === 0x5f) return c;
    return -1;
  }
  let v = wordCache.get(c);
  if (v === undefined) {
    const ch = String.fromCharCode(c);
    if (!WORD_RE.test(ch)) v = -1;
    else {
      const l = ch.toLowerCase();
      v = l.length === 1 ? l.charCodeAt(0) : c;
    }
    if (wordCache.size < 65536) wordCache.set(c, v);
  }
  return v;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Calls `each` with the hash of every token of `text`: the same hashes the builder stores. */
export function forEachTokenHash(text: string, each: (hash: number) => void): void {
  const n = text.length;
  let h = FNV_OFFSET;
  let len = 0;
  for (let i = 0; i <= n; i++) {
    const w = i < n ? wordCode(text.charCodeAt(i)) : -1;
    if (w >= 0) {
      if (len < MAX_TOKEN) h = Math.imul(h ^ w, FNV_PRIME);
      len++;
    } else if (len > 0) {
      each(h >>> 0 || 1);
      h = FNV_OFFSET;
      len = 0;
    }
  }
}

// The builder appends (hash, line id) pairs as they come, sequentially: no lookup per token. A full
// segment is sorted by hash with a stable radix sort (line ids stay ascending within a hash) and encoded
// into a run: distinct hashes in order, each with its ids delta+varint coded. serialize() merges the runs.
// Memory stays bounded by the segment and the encoded runs, whatever the size of the recording.
const SEGMENT = 1 << 20;

/** A sorted, encoded segment: per distinct hash (ascending), its ids' varints in `bytes[ends[t-1], ends[t])`. */
interface Run {
  readonly hashes: Uint32Array;
  readonly counts: Uint32Array;
  readonly first: Uint32Array;
  readonly last: Uint32Array;
  readonly ends: Uint32Array;
  /** The first varint of a term is its first id + 1 (a delta from -1), as the reader expects. */
  readonly bytes: Uint8Array;
}

function writeVarint(out: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) {
    out[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[pos++] = v;
  return pos;
}

/** Sorts pairs by hash, stably: three passes of 11, 11 and 10 bits. The sorted pairs end in h1/i1. */
function radixSort(h0: Uint32Array, i0: Uint32Array, h1: Uint32Array, i1: Uint32Array, n: number): void {
  const c0 = new Uint32Array(2048);
  const c1 = new Uint32Array(2048);
  const c2 = new Uint32Array(1024);
  for (let k = 0; k < n; k++) {
    const h = h0[k]!;
    c0[h & 0x7ff]!++;
    c1[(h >>> 11) & 0x7ff]!++;
    c2[h >>> 22]!++;
  }
  const prefix = (c: Uint32Array) => {
    let sum = 0;
    for (let b = 0; b < c.length; b++) {
      const x = c[b]!;
      c[b] = sum;
      sum += x;
    }
  };
  prefix(c0);
  prefix(c1);
  prefix(c2);
  for (let k = 0; k < n; k++) {
    const h = h0[k]!;
    const d = c0[h & 0x7ff]!++;
    h1[d] = h;
    i1[d] = i0[k]!;
  }
  for (let k = 0; k < n; k++) {
    const h = h1[k]!;
    const d = c1[(h >>> 11) & 0x7ff]!++;
    h0[d] = h;
    i0[d] = i1[k]!;
  }
  for (let k = 0; k < n; k++) {
    const h = h0[k]!;
    const d = c2[h >>> 22]!++;
    h1[d] = h;
    i1[d] = i0[k]!;
  }
}

export class PostingsBuilder {
  /** @param segment pairs sorted at a time (tests make it small to exercise the merge) */
  constructor(private readonly segment = SEGMENT) {}

  private hashes = new Uint32Array(1 << 14);
  private ids = new Uint32Array(1 << 14);
  private n = 0;
  private readonly runs: Run[] = [];
  // Scratch for sorting and coding a segment, kept from one segment to the next.
  private sortedHashes = new Uint32Array(0);
  private sortedIds = new Uint32Array(0);
  private coded = new Uint8Array(0);

  /** Adds every token of a line. Lines must come with ascending ids. */
  addLine(text: string, id: number): void {
    const n = text.length;
    // A line of n characters has at most (n + 1) / 2 tokens: room for all of them, then no check per token.
    const room = (n + 1) >>> 1;
    if (this.n + room > this.hashes.length) this.makeRoom(room);
    const hashes = this.hashes;
    const ids = this.ids;
    let at = this.n;
    let h = FNV_OFFSET;
    let len = 0;
    for (let i = 0; i <= n; i++) {
      let w: number;
      if (i < n) {
        const c = text.charCodeAt(i);
        // ASCII inline: this loop sees every character of the recording
        if (c >= 0x61 && c <= 0x7a) w = c;
        else if (c >= 0x41 && c <= 0x5a) w = c | 0x20;
        else if ((c >= 0x30 && c <= 0x39) || c === 0x5f) w = c;
        else if (c < 0x80) w = -1;
        else w = wordCode(c);
      } else w = -1;
      if (w >= 0) {
        if (len < MAX_TOKEN) h = Math.imul(h ^ w, FNV_PRIME);
        len++;
      } else if (len > 0) {
        hashes[at] = h >>> 0 || 1;
        ids[at++] = id;
        h = FNV_OFFSET;
        len = 0;
      }
    }
    this.n = at;
  }

  /** Adds one token's hash (non-zero) to a line. */
  add(hash: number, id: number): void {
    if (this.n === this.hashes.length) this.makeRoom(1);
    this.hashes[this.n] = hash;
    this.ids[this.n++] = id;
  }

  /** Grows the pair buffer up to a segment; past that, sorts the pending pairs into a run. */
  private makeRoom(need: number): void {
    if (this.n + need > this.segment && this.n > 0) this.flush();
    if (this.n + need <= this.hashes.length) return;
    let cap = this.hashes.length * 2;
    while (cap < this.n + need) cap *= 2;
    const hashes = new Uint32Array(cap);
    const ids = new Uint32Array(cap);
    hashes.set(this.hashes.subarray(0, this.n));
    ids.set(this.ids.subarray(0, this.n));
    this.hashes = hashes;
    this.ids = ids;
  }

  /** Sorts and encodes the pending pairs into a run. */
  private flush(): void {
    const n = this.n;
    if (n === 0) return;
    if (this.sortedHashes.length < n) {
      this.sortedHashes = new Uint32Array(this.hashes.length);
      this.sortedIds = new Uint32Array(this.hashes.length);
      this.coded = new Uint8Array(5 * this.hashes.length); // 5 bytes per id at most
    }
    const sh = this.sortedHashes;
    const si = this.sortedIds;
    radixSort(this.hashes, this.ids, sh, si, n);
    this.n = 0;
    let terms = 0;
    for (let k = 0; k < n; k++) if (k === 0 || sh[k] !== sh[k - 1]) terms++;
    const hashes = new Uint32Array(terms);
    const counts = new Uint32Array(terms);
    const first = new Uint32Array(terms);
    const last = new Uint32Array(terms);
    const ends = new Uint32Array(terms);
    const bytes = this.coded;
    let pos = 0;
    let t = 0;
    let k = 0;
    while (k < n) {
      const h = sh[k]!;
      let id = si[k]!;
      let prev = -1;
      let c = 0;
      hashes[t] = h;
      first[t] = id;
      for (;;) {
        let v = id - prev;
        while (v >= 0x80) {
          bytes[pos++] = (v & 0x7f) | 0x80;
          v >>>= 7;
        }
        bytes[pos++] = v;
        c++;
        prev = id;
        do k++;
        while (k < n && si[k] === prev && sh[k] === h); // the same token twice on a line
        if (k >= n || sh[k] !== h) break;
        id = si[k]!;
      }
      counts[t] = c;
      last[t] = prev;
      ends[t++] = pos;
    }
    this.runs.push({ hashes, counts, first, last, ends, bytes: bytes.slice(0, pos) });
  }

  /** The term table and the postings, ready to be written, and how many distinct terms. */
  serialize(): { terms: Buffer; postings: Buffer; count: number } {
    this.flush();
    const merged = this.runs.length === 1 ? this.runs[0]! : mergeRuns(this.runs);
    this.runs.length = 0;
    this.runs.push(merged);
    const n = merged.hashes.length;
    const bits = Math.max(0, Math.min(24, Math.ceil(Math.log2(Math.max(n, 1) / 8))));
    const buckets = 2 ** bits;
    // The hashes are sorted, so the buckets (their top bits) are too: the directory is a running count.
    const out = new Uint32Array(4 + buckets + 1 + 4 * n);
    Buffer.from(out.buffer).write(TERMS_MAGIC, 0, 'latin1');
    out[2] = bits;
    out[3] = n;
    const dir = 4;
    const entries = 4 + buckets + 1;
    let b = 0;
    for (let e = 0; e < n; e++) {
      const h = merged.hashes[e]!;
      const bucket = bits === 0 ? 0 : h >>> (32 - bits);
      while (b <= bucket) out[dir + b++] = e;
      const at = entries + 4 * e;
      const start = e === 0 ? 0 : merged.ends[e - 1]!;
      out[at] = h;
      out[at + 1] = merged.counts[e]!;
      out[at + 2] = start;
      out[at + 3] = merged.ends[e]! - start;
    }
    while (b <= buckets) out[dir + b++] = n;
    // Typed arrays are little-endian on every platform srec runs on (x86-64, arm64).
    const p = merged.bytes;
    return { terms: Buffer.from(out.buffer), postings: Buffer.from(p.buffer, p.byteOffset, p.byteLength), count: n };
  }
}

const MERGE_WAYS = 16;

/** Merges runs by hash; a hash in several runs gets their ids in run order (ascending), re-coded at the seams. */
function mergeRuns(runs: readonly Run[]): Run {
  if (runs.length > MERGE_WAYS) {
    const groups: Run[] = [];
    for (let i = 0; i < runs.length; i += MERGE_WAYS) groups.push(mergeRuns(runs.slice(i, i + MERGE_WAYS)));
    return mergeRuns(groups);
  }
  let maxTerms = 0;
  let maxBytes = 0;
  for (const r of runs) {
    maxTerms += r.hashes.length;
    maxBytes += r.bytes.length;
  }
  const hashes = new Uint32Array(maxTerms);
  const counts = new Uint32Array(maxTerms);
  const first = new Uint32Array(maxTerms);
  const last = new Uint32Array(maxTerms);
  const ends = new Uint32Array(maxTerms);
  const bytes = new Uint8Array(maxBytes);
  const k = runs.length;
  const pos = new Array<number>(k).fill(0);
  let t = -1;
  let out = 0;
  for (;;) {
    // The run whose next hash is the smallest; the earliest run on a tie (its ids come first).
    let r = -1;
    let h = 0;
    for (let j = 0; j < k; j++) {
      const run = runs[j]!;
      if (pos[j]! < run.hashes.length && (r < 0 || run.hashes[pos[j]!]! < h)) {
        r = j;
        h = run.hashes[pos[j]!]!;
      }
    }
    if (r < 0) break;
    const run = runs[r]!;
    const e = pos[r]!;
    let from = e === 0 ? 0 : run.ends[e - 1]!;
    const to = run.ends[e]!;
    if (t >= 0 && hashes[t] === h) {
      // Continue the list: skip the run's first varint (first id + 1) and code the gap from the last id.
      while (run.bytes[from++]! & 0x80);
      const f = run.first[e]!;
      let c = run.counts[e]!;
      if (f === last[t]) c--; // the same line at the end of one run and the start of the next
      else out = writeVarint(bytes, out, f - last[t]!);
      counts[t]! += c;
    } else {
      if (t >= 0) ends[t] = out;
      t++;
      hashes[t] = h;
      first[t] = run.first[e]!;
      counts[t] = run.counts[e]!;
    }
    bytes.set(run.bytes.subarray(from, to), out);
    out += to - from;
    last[t] = run.last[e]!;
    pos[r] = e + 1;
  }
  if (t >= 0) ends[t] = out;
  const terms = t + 1;
  return {
    hashes: hashes.slice(0, terms),
    counts: counts.slice(0, terms),
    first: first.slice(0, terms),
    last: last.slice(0, terms),
    ends: ends.slice(0, terms),
    bytes: bytes.slice(0, out),
  };
}

/** Decodes `count` delta+varint line ids. */
export function decodePostings(buf: Uint8Array, count: number): Uint32Array {
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

/** Where a hash's postings are, read through `read(pos, len)` from terms.bin; undefined when absent. */
export function findTerm(read: (pos: number, len: number) => Buffer, bits: number, hash: number): { count: number; offset: number; length: number } | undefined {
  const b = bits === 0 ? 0 : hash >>> (32 - bits);
  const range = read(16 + 4 * b, 8);
  const from = range.readUInt32LE(0);
  const to = range.readUInt32LE(4);
  if (to <= from) return undefined;
  const entriesAt = 16 + 4 * (2 ** bits + 1);
  const entries = read(entriesAt + 16 * from, 16 * (to - from));
  for (let e = 0; e < to - from; e++) {
    if (entries.readUInt32LE(16 * e) === hash) {
      return { count: entries.readUInt32LE(16 * e + 4), offset: entries.readUInt32LE(16 * e + 8), length: entries.readUInt32LE(16 * e + 12) };
    }
  }
  return undefined;
}
