// The cast of a session channel without a pty, made from its raw streams when the channel closes rather than
// as its bytes flow. While the channel runs, the relay keeps the exact bytes (raw-stream.ts) and only marks
// when how many bytes went which way (CastMarks: a few numbers per 20 ms of traffic); the asciicast encoding
// and its deflate then run once, after the person's command has finished, instead of on every packet of a
// bulk transfer. The cast is the same asciicast it always was (text; U+FFFD for what is not UTF-8), with the
// timing of the marks. A recording recovered after a crash has the raw streams and no marks: its cast is made
// from the bytes alone, every event at the channel's last mark.
import type { CastWriter } from './asciicast.js';
import { readGzipBytes } from './gzip-lines.js';
import type { SessionFileRef } from './session-file.js';

export type CastLane = 'in' | 'out' | 'err';
const LANES: readonly CastLane[] = ['in', 'out', 'err'];

/** Consecutive chunks of one lane this close together are one mark (and one cast event). */
const COALESCE_MS = 20;
/** No mark spans more than this many bytes (the cast gets events of a size a player handles). */
const MAX_MARK_BYTES = 1 << 20;

/** When (ms on the recording's clock) how many bytes passed on which lane, in order. Compact: three numbers a mark. */
export class CastMarks {
  private t = new Float64Array(256);
  private n = new Float64Array(256);
  private lane = new Uint8Array(256);
  private count = 0;

  add(tMs: number, lane: CastLane, bytes: number): void {
    if (bytes === 0) return;
    const l = LANES.indexOf(lane);
    const last = this.count - 1;
    if (last >= 0 && this.lane[last] === l && tMs - this.t[last]! < COALESCE_MS && this.n[last]! + bytes <= MAX_MARK_BYTES) {
      this.n[last]! += bytes;
      return;
    }
    if (this.count === this.t.length) this.grow();
    this.t[this.count] = tMs;
    this.n[this.count] = bytes;
    this.lane[this.count] = l;
    this.count++;
  }

  get length(): number {
    return this.count;
  }

  *entries(): Generator<{ tMs: number; lane: CastLane; bytes: number }> {
    for (let i = 0; i < this.count; i++) yield { tMs: this.t[i]!, lane: LANES[this.lane[i]!]!, bytes: this.n[i]! };
  }

  private grow(): void {
    const size = this.t.length * 2;
    const t = new Float64Array(size);
    t.set(this.t);
    const n = new Float64Array(size);
    n.set(this.n);
    const lane = new Uint8Array(size);
    lane.set(this.lane);
    [this.t, this.n, this.lane] = [t, n, lane];
  }
}

/** A raw stream read in slices of a given length, with at most ~4 MiB read ahead. */
class LaneReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private done = false;
  private wake: (() => void) | undefined;
  private resume: (() => void) | undefined;
  readonly finished: Promise<string | undefined>;

  constructor(ref: SessionFileRef) {
    this.finished = readGzipBytes(ref, (c) => {
      this.chunks.push(c);
      this.have += c.length;
      this.poke();
      if (this.have > 4 << 20) return new Promise<void>((r) => (this.resume = r));
    }).then(
      (r) => this.end(r.problem === 'file missing' || r.problem === 'empty file' ? undefined : r.problem),
      (err: Error) => this.end(err.message),
    );
  }

  /** Up to `n` bytes (fewer only at the end of the stream). */
  async take(n: number): Promise<Buffer> {
    while (this.have < n && !this.done) await new Promise<void>((r) => (this.wake = r));
    const out: Buffer[] = [];
    let left = Math.min(n, this.have);
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.length <= left) {
        out.push(c);
        this.chunks.shift();
        left -= c.length;
      } else {
        out.push(c.subarray(0, left));
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    const got = out.length === 1 ? out[0]! : Buffer.concat(out);
    this.have -= got.length;
    if (this.have <= 4 << 20) {
      const r = this.resume;
      this.resume = undefined;
      r?.();
    }
    return got;
  }

  private end(problem: string | undefined): string | undefined {
    this.done = true;
    this.poke();
    return problem;
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

/**
 * Writes the events of a pty-less channel into `cast` from its raw streams, at the times of `marks`; bytes
 * beyond the marks (none, unless the marks were lost) come last, at `endMs`. `setNow` moves the cast's clock.
 * Resolves with the first problem reading a stream (the cast then has what could be read), or undefined.
 */
export async function deriveCast(opts: {
  readonly cast: CastWriter;
  readonly setNow: (ms: number) => void;
  readonly streams: Readonly<Partial<Record<CastLane, SessionFileRef>>>;
  readonly marks?: CastMarks;
  readonly endMs: number;
}): Promise<string | undefined> {
  const readers: Partial<Record<CastLane, LaneReader>> = {};
  for (const lane of LANES) {
    const ref = opts.streams[lane];
    if (ref !== undefined) readers[lane] = new LaneReader(ref);
  }
  const put = async (lane: CastLane, data: Buffer): Promise<void> => {
    if (data.length === 0) return;
    const c = opts.cast;
    const ok = lane === 'in' ? c.input(data) : lane === 'out' ? c.output(data) : c.stderr(data);
    if (!ok) await new Promise<void>((r) => c.onceDrain(r));
  };
  for (const m of opts.marks?.entries() ?? []) {
    const r = readers[m.lane];
    if (r === undefined) continue;
    opts.setNow(m.tMs);
    await put(m.lane, await r.take(m.bytes));
  }
  opts.setNow(opts.endMs);
  for (const lane of LANES) {
    const r = readers[lane];
    if (r === undefined) continue;
    for (let piece = await r.take(MAX_MARK_BYTES); piece.length > 0; piece = await r.take(MAX_MARK_BYTES)) await put(lane, piece);
  }
  const problems = await Promise.all(LANES.map((l) => readers[l]?.finished));
  return problems.find((p) => p !== undefined);
}
