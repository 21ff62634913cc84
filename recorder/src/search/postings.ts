// Token -> line postings, built at the speed of the bytes: a token is a 32-bit hash computed while its
// characters are scanned (no substring, no string key, no object per token), its line ids go delta+varint
// coded into a chunked byte arena. Two tokens with the same hash share a list; that only adds candidate
// lines, which the phrase check on the real text rejects.
//
// On disk (terms.bin): "SRECTRM2", u32 bucketBits, u32 terms; (2^bucketBits + 1) u32 entry indexes,
// bucket b = hash >>> (32 - bucketBits); then 16-byte entries: u32 hash, u32 count, u32 offset, u32 length
// into postings.bin. A lookup reads two directory slots and one bucket (about 8 entries).
/** Longer tokens are cut: the index sees their first MAX_TOKEN characters. */
export const MAX_TOKEN = 64;
export const TERMS_MAGIC = 'SRECTRM2';
const CHUNK = 16; // 12 bytes of varints, then the int32 index of the next chunk
const CHUNK_DATA = 12;
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

// A slot of the open-addressing table: 8 int32s side by side, so that a token touches one cache line.
const S = 8;
const KEY = 0; // the hash (0: empty slot)
const LAST = 1; // the last line id added
const COUNT = 2; // how many line ids
const HEAD = 3; // first chunk
const TAIL = 4; // current chunk
const TAIL_LEN = 5; // bytes used in the current chunk
const BYTES = 6; // bytes of varints in all chunks

export class PostingsBuilder {
  private cap = 1 << 16;
  private slots = new Int32Array(this.cap * S);
  private arena = new Uint8Array(1 << 20);
  private chunks = 0;
  size = 0;

  /** Adds every token of a line. */
  addLine(text: string, id: number): void {
    const n = text.length;
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
        this.add(h >>> 0 || 1, id);
        h = FNV_OFFSET;
        len = 0;
      }
    }
  }

  add(hash: number, id: number): void {
    const key = hash | 0;
    let slots = this.slots;
    let mask = this.cap - 1;
    let s = (Math.imul(hash, 0x9e3779b1) >>> 0) & mask;
    let at: number;
    while (true) {
      at = s * S;
      const k = slots[at + KEY]!;
      if (k === key) break;
      if (k === 0) {
        if ((this.size + 1) * 2 > this.cap) {
          this.grow();
          slots = this.slots;
          mask = this.cap - 1;
          s = (Math.imul(hash, 0x9e3779b1) >>> 0) & mask;
          continue;
        }
        const c = this.newChunk();
        slots[at + KEY] = key;
        slots[at + LAST] = -1;
        slots[at + HEAD] = c;
        slots[at + TAIL] = c;
        this.size++;
        break;
      }
      s = (s + 1) & mask;
    }
    if (slots[at + LAST] === id) return;
    let delta = id - slots[at + LAST]!;
    slots[at + LAST] = id;
    slots[at + COUNT]!++;
    do {
      let byte = delta & 0x7f;
      delta >>>= 7;
      if (delta !== 0) byte |= 0x80;
      if (slots[at + TAIL_LEN] === CHUNK_DATA) {
        const c = this.newChunk();
        const t = slots[at + TAIL]! * CHUNK + CHUNK_DATA;
        const a = this.arena;
        a[t] = c & 0xff;
        a[t + 1] = (c >>> 8) & 0xff;
        a[t + 2] = (c >>> 16) & 0xff;
        a[t + 3] = c >>> 24;
        slots[at + TAIL] = c;
        slots[at + TAIL_LEN] = 0;
      }
      this.arena[slots[at + TAIL]! * CHUNK + slots[at + TAIL_LEN]!++] = byte;
      slots[at + BYTES]!++;
    } while (delta !== 0);
  }

  private newChunk(): number {
    if ((this.chunks + 1) * CHUNK > this.arena.length) {
      const bigger = new Uint8Array(this.arena.length * 2);
      bigger.set(this.arena);
      this.arena = bigger;
    }
    return this.chunks++;
  }

  private grow(): void {
    const old = this.slots;
    const oldCap = this.cap;
    this.cap *= 2;
    this.slots = new Int32Array(this.cap * S);
    const mask = this.cap - 1;
    for (let i = 0; i < oldCap; i++) {
      const k = old[i * S + KEY]!;
      if (k === 0) continue;
      let s = (Math.imul(k >>> 0, 0x9e3779b1) >>> 0) & mask;
      while (this.slots[s * S + KEY] !== 0) s = (s + 1) & mask;
      for (let j = 0; j < S; j++) this.slots[s * S + j] = old[i * S + j]!;
    }
  }

  /** The term table and the postings, ready to be written. */
  serialize(): { terms: Buffer; postings: Buffer } {
    const n = this.size;
    const slots = this.slots;
    const bits = Math.max(0, Math.min(24, Math.ceil(Math.log2(Math.max(n, 1) / 8))));
    const buckets = 2 ** bits;
    const bucketOf = (h: number) => (bits === 0 ? 0 : h >>> (32 - bits));
    // Counting sort of the used slots by bucket.
    const dir = new Uint32Array(buckets + 1);
    let total = 0;
    for (let at = 0; at < slots.length; at += S) {
      if (slots[at + KEY] === 0) continue;
      dir[bucketOf(slots[at + KEY]! >>> 0) + 1]!++;
      total += slots[at + BYTES]!;
    }
    for (let b = 0; b < buckets; b++) dir[b + 1]! += dir[b]!;
    const order = new Int32Array(n);
    const fill = dir.slice(0, buckets);
    for (let at = 0; at < slots.length; at += S) {
      if (slots[at + KEY] !== 0) order[fill[bucketOf(slots[at + KEY]! >>> 0)]!++] = at;
    }

    const postings = new Uint8Array(total);
    const head = new Uint32Array(4 + buckets + 1);
    Buffer.from(head.buffer).write(TERMS_MAGIC, 0, 'latin1');
    head[2] = bits;
    head[3] = n;
    head.set(dir, 4);
    const entries = new Uint32Array(4 * n);
    const a = this.arena;
    let off = 0;
    for (let e = 0; e < n; e++) {
      const at = order[e]!;
      const start = off;
      const tail = slots[at + TAIL]!;
      let c = slots[at + HEAD]!;
      while (true) {
        const base = c * CHUNK;
        const len = c === tail ? slots[at + TAIL_LEN]! : CHUNK_DATA;
        for (let k = 0; k < len; k++) postings[off++] = a[base + k]!;
        if (c === tail) break;
        c = a[base + 12]! | (a[base + 13]! << 8) | (a[base + 14]! << 16) | (a[base + 15]! << 24);
      }
      entries[4 * e] = slots[at + KEY]! >>> 0;
      entries[4 * e + 1] = slots[at + COUNT]!;
      entries[4 * e + 2] = start;
      entries[4 * e + 3] = off - start;
    }
    // Typed arrays are little-endian on every platform srec runs on (x86-64, arm64).
    return {
      terms: Buffer.concat([Buffer.from(head.buffer), Buffer.from(entries.buffer)]),
      postings: Buffer.from(postings.buffer),
    };
  }
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
