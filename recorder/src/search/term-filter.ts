// For a search process that lives on (the console): per session, a Bloom filter of its index's token
// hashes, made once from the index, so that a search opens only the sessions that may hold every word of
// it instead of all of them. 10 bits a token and 7 probes: about 1% of the sessions that lack a word are
// opened anyway, never one that has it skipped. A session with no current index yet has no filter and is
// searched as before (which builds its index); its filter is made by a later search.
import type { StoredSession } from '../trail/sessions.js';
import { SessionIndex } from './index-store.js';

const BITS_PER_TERM = 10;
const PROBES = 7;

/** A second hash from the first (the token hashes are already well mixed): murmur3's finaliser. */
function rehash(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 1;
}

export class Bloom {
  private readonly bits: Uint8Array;
  private readonly size: number;

  constructor(hashes: Uint32Array) {
    this.size = Math.max(64, hashes.length * BITS_PER_TERM);
    this.bits = new Uint8Array(Math.ceil(this.size / 8));
    for (const h of hashes) this.add(h);
  }

  private add(h: number): void {
    const step = rehash(h);
    for (let i = 0, x = h >>> 0; i < PROBES; i++, x = (x + step) >>> 0) {
      const b = x % this.size;
      this.bits[b >>> 3]! |= 1 << (b & 7);
    }
  }

  has(h: number): boolean {
    const step = rehash(h);
    for (let i = 0, x = h >>> 0; i < PROBES; i++, x = (x + step) >>> 0) {
      const b = x % this.size;
      if ((this.bits[b >>> 3]! & (1 << (b & 7))) === 0) return false;
    }
    return true;
  }

  get bytes(): number {
    return this.bits.length;
  }
}

export class TermFilters {
  private readonly filters = new Map<string, Bloom>();

  /** Whether `ref` may hold every token (by hash); true when it has no filter yet. */
  mayContain(ref: StoredSession, hashes: readonly number[]): boolean {
    let f = this.filters.get(ref.dir);
    if (f === undefined) {
      f = this.make(ref);
      if (f === undefined) return true;
    }
    for (const h of hashes) if (!f.has(h)) return false;
    return true;
  }

  /** Makes the filter of `ref` now, if it has none and its index is there. */
  prepare(ref: StoredSession): void {
    if (!this.filters.has(ref.dir)) this.make(ref);
  }

  /** Drops the filters of sessions no longer on the share. */
  keepOnly(dirs: ReadonlySet<string>): void {
    for (const d of this.filters.keys()) if (!dirs.has(d)) this.filters.delete(d);
  }

  get size(): number {
    return this.filters.size;
  }

  /** Bytes the filters hold. */
  get bytes(): number {
    let n = 0;
    for (const f of this.filters.values()) n += f.bytes;
    return n;
  }

  private make(ref: StoredSession): Bloom | undefined {
    const index = SessionIndex.open(ref);
    if (index === undefined) return undefined;
    try {
      const f = new Bloom(index.termHashes());
      this.filters.set(ref.dir, f);
      return f;
    } catch {
      return undefined;
    } finally {
      index.close();
    }
  }
}
