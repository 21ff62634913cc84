// Where transferred content goes: a CaptureSink opens one CaptureHandle per transfer. FsCaptureSink keeps the
// bytes in `<sessionDir>/files/<n>` (the remote name is the manifest's `path`: a name of the person's choosing
// never becomes part of a file name here, so none is too long, none hostile); MetadataCaptureSink
// (fileTransfers: false) keeps only size + sha256.
//
// SFTP writes and reads carry offsets and may arrive out of order (short reads re-requested later, other clients'
// pipelining), so a handle takes `write(buf, offset)`. The sha256 is computed on the fly over the contiguous prefix;
// a bounded reorder window holds early segments until the gap before them fills. When the window is not enough
// (or a range is written twice), FsCaptureSink reads the capture back at close, and MetadataCaptureSink, which has
// nothing to read back by design, reports no sha256 and says why: content never touches the disk in that mode.
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { TransferDirection, TransferProtocol } from './types.js';
import { describeRanges, RangeSet } from './ranges.js';

export interface CaptureMeta {
  readonly protocol: TransferProtocol;
  readonly direction: TransferDirection;
  /** The remote path (for the record; the capture file is numbered). */
  readonly path: string;
}

export interface CaptureResult {
  /** Highest offset written (the length of the content). */
  readonly size: number;
  /** Payload bytes written. */
  readonly bytes: number;
  /** Absent when the content's hash cannot be known exactly; `note` says why. */
  readonly sha256?: string;
  /** Present when not every byte of `[0, size)` was seen (a resumed or partial transfer): the ranges that were. */
  readonly seen?: [number, number][];
  /** Relative to the session directory; the bytes seen at their offsets (zeros elsewhere when `seen` is set). */
  readonly file?: string;
  readonly note?: string;
}

export interface CaptureHandle {
  /**
   * Queue `buf` at `offset` (default: right after the previous write). Resolves when the bytes are stored;
   * never rejects: a failure is reported by close(). The caller must not modify `buf` afterwards.
   */
  write(buf: Buffer, offset?: number): Promise<void>;
  /**
   * The content was cut (or extended with zeros) to `size`, as SFTP's setstat/fsetstat does: what was written
   * beyond it is gone. Ordered with the writes; never rejects.
   */
  truncate(size: number): Promise<void>;
  /** Flush, hash and release. Never rejects. Writes after close are ignored. */
  close(): Promise<CaptureResult>;
}

export interface CaptureSink {
  open(meta: CaptureMeta): CaptureHandle;
}

/** Bytes the reorder windows of one sink may hold together (shared so many open captures stay bounded). */
interface Budget {
  left: number;
}

const MAX_PENDING_SEGMENTS = 4096;

/** sha256 over offset-addressed writes: hashes the contiguous prefix, holds early segments within a budget. */
export class OffsetHasher {
  private readonly hash: Hash = createHash('sha256');
  private hashed = 0;
  private readonly pending = new Map<number, Buffer>();
  private held = 0;
  private failure: string | undefined;

  constructor(private readonly budget: Budget) {}

  update(buf: Buffer, offset: number): void {
    if (this.failure !== undefined || buf.length === 0) return;
    if (offset === this.hashed) {
      this.consume(buf);
      this.drainPending();
    } else if (offset < this.hashed) {
      this.fail('a range was written more than once');
    } else if (this.pending.has(offset) || this.pending.size >= MAX_PENDING_SEGMENTS || buf.length > this.budget.left) {
      this.fail('data arrived too far out of order to hash on the fly');
    } else {
      this.pending.set(offset, buf);
      this.held += buf.length;
      this.budget.left -= buf.length;
    }
  }

  /**
   * The content was cut to `size`: segments held beyond it are dropped (a write past a gap, taken back), one that
   * spans it is cut. Bytes already hashed cannot be taken back: cutting into them gives up the hash.
   */
  truncate(size: number): void {
    if (this.failure !== undefined) return;
    if (size < this.hashed) return this.fail('a truncate cut content already hashed');
    for (const [offset, buf] of [...this.pending]) {
      if (offset >= size) {
        this.pending.delete(offset);
        this.release(buf.length);
      } else if (offset + buf.length > size) {
        this.pending.set(offset, buf.subarray(0, size - offset));
        this.release(offset + buf.length - size);
      }
    }
  }

  /** The digest when every byte from 0 to `size` was seen exactly once, else why not. Call once. */
  finish(size: number): { sha256?: string; reason?: string } {
    if (this.failure === undefined && (this.pending.size > 0 || this.hashed !== size)) {
      this.fail('the content has gaps');
    }
    if (this.failure !== undefined) return { reason: this.failure };
    return { sha256: this.hash.digest('hex') };
  }

  private consume(buf: Buffer): void {
    this.hash.update(buf);
    this.hashed += buf.length;
  }

  private drainPending(): void {
    for (let next = this.pending.get(this.hashed); next; next = this.pending.get(this.hashed)) {
      this.pending.delete(this.hashed);
      this.release(next.length);
      this.consume(next);
    }
    for (const offset of this.pending.keys()) {
      if (offset < this.hashed) return this.fail('a range was written more than once');
    }
  }

  private release(n: number): void {
    this.held -= n;
    this.budget.left += n;
  }

  private fail(reason: string): void {
    this.failure = reason;
    this.release(this.held);
    this.pending.clear();
  }
}

function messageOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.message : String(err);
}

export interface MetadataCaptureSinkOptions {
  /** Bytes held in memory, across all captures of this sink, to hash out-of-order writes. @default 8 MiB */
  readonly reorderWindow?: number;
}

/** fileTransfers: false — size and sha256 only; the content is never stored anywhere. */
export class MetadataCaptureSink implements CaptureSink {
  private readonly budget: Budget;

  constructor(opts: MetadataCaptureSinkOptions = {}) {
    this.budget = { left: opts.reorderWindow ?? 8 * 1024 * 1024 };
  }

  open(_meta: CaptureMeta): CaptureHandle {
    const hasher = new OffsetHasher(this.budget);
    const seen = new RangeSet();
    let size = 0;
    let bytes = 0;
    let next = 0;
    let result: CaptureResult | undefined;
    return {
      write: (buf, offset = next) => {
        if (result === undefined) {
          hasher.update(buf, offset);
          seen.add(offset, offset + buf.length);
          size = Math.max(size, offset + buf.length);
          bytes += buf.length;
          next = offset + buf.length;
        }
        return Promise.resolve();
      },
      truncate: (to) => {
        if (result === undefined) {
          hasher.truncate(to);
          seen.truncate(to);
          size = to;
          next = Math.min(next, to);
        }
        return Promise.resolve();
      },
      close: () => {
        if (result === undefined) {
          const partial = partialResult(seen, size);
          const h = hasher.finish(size);
          result = partial
            ? { size, bytes, ...partial }
            : { size, bytes, ...(h.sha256 !== undefined ? { sha256: h.sha256 } : { note: `no sha256: ${h.reason} (content not kept)` }) };
        }
        return Promise.resolve(result);
      },
    };
  }
}

export interface FsCaptureSinkOptions {
  /** The session directory; captures go to `<dir>/files/<n>` (files 0600, directory 0700). */
  readonly dir: string;
  /** Bytes held in memory, across all captures of this sink, to hash out-of-order writes without reading back. @default 4 MiB */
  readonly reorderWindow?: number;
  /** Largest total gap a capture may leave (sparse file) before its content is given up, so that a lying client
   *  writing at a huge offset cannot make a capture that takes hours to hash. @default 1 GiB */
  readonly maxGap?: number;
}

/** fileTransfers: true — the content in the session's `files/`, written at its offsets. */
export class FsCaptureSink implements CaptureSink {
  private readonly budget: Budget;
  private readonly maxGap: number;
  private seq = 0;
  private filesDir: Promise<void> | undefined;

  constructor(private readonly opts: FsCaptureSinkOptions) {
    this.budget = { left: opts.reorderWindow ?? 4 * 1024 * 1024 };
    this.maxGap = opts.maxGap ?? 1024 * 1024 * 1024;
  }

  open(meta: CaptureMeta): CaptureHandle {
    this.seq += 1;
    return new FsCapture(this, this.seq, new OffsetHasher(this.budget), this.maxGap);
  }

  /** Creates `<dir>/files/<n>` exclusively, taking the next free n if a name is taken. */
  async create(n: number): Promise<{ fh: FileHandle; rel: string }> {
    this.filesDir ??= mkdir(join(this.opts.dir, 'files'), { recursive: true, mode: 0o700 }).then(() => undefined);
    await this.filesDir;
    for (let i = n; ; i = ++this.seq) {
      const rel = `files/${i}`;
      try {
        return { fh: await open(join(this.opts.dir, rel), 'wx+', 0o600), rel };
      } catch (err) {
        if ((err as { code?: string }).code !== 'EEXIST' || i > n + 1000) throw err;
      }
    }
  }

  remove(rel: string): Promise<void> {
    return rm(join(this.opts.dir, rel), { force: true });
  }
}

/** Contiguous writes that go to the file as one writev, once the writes before them are done. */
interface Batch {
  readonly offset: number;
  readonly bufs: Buffer[];
  bytes: number;
  written: Promise<void>;
}

/** Below IOV_MAX (1024 on Linux), and a bound on what one write holds. */
const MAX_BATCH_BUFFERS = 512;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** Every byte of `bufs` at `offset`, whatever writev's short writes leave. */
async function writevAll(fh: FileHandle, bufs: Buffer[], offset: number): Promise<void> {
  let rest = bufs;
  for (let pos = offset; rest.length > 0; ) {
    let { bytesWritten } = await fh.writev(rest, pos);
    if (bytesWritten === 0) throw new Error('the file takes no more bytes');
    pos += bytesWritten;
    let i = 0;
    while (i < rest.length && bytesWritten >= rest[i]!.length) bytesWritten -= rest[i++]!.length;
    rest = rest.slice(i);
    if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
}

class FsCapture implements CaptureHandle {
  private file: Promise<{ fh: FileHandle; rel: string }> | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** The writes not handed to the file yet, while they continue one another. */
  private batch: Batch | undefined;
  private size = 0;
  private bytes = 0;
  private next = 0;
  private error: string | undefined;
  private result: Promise<CaptureResult> | undefined;
  private truncated = false;
  private readonly seen = new RangeSet();

  constructor(
    private readonly sink: FsCaptureSink,
    private readonly n: number,
    private readonly hasher: OffsetHasher,
    private readonly maxGap: number,
  ) {}

  write(buf: Buffer, offset = this.next): Promise<void> {
    if (this.result !== undefined) return Promise.resolve();
    this.hasher.update(buf, offset);
    this.seen.add(offset, offset + buf.length);
    this.size = Math.max(this.size, offset + buf.length);
    this.bytes += buf.length;
    this.next = offset + buf.length;
    if (this.error !== undefined) return Promise.resolve();
    if (!this.truncated && this.size - this.bytes > this.maxGap) {
      this.error = `writes leave gaps over ${this.maxGap} bytes`;
      return Promise.resolve();
    }
    // A write that continues the batch still waiting for its turn joins it: while one write(2) is on libuv's
    // pool, the chunks that come in meanwhile go out as one writev, not one call (and one promise) each.
    const b = this.batch;
    if (b !== undefined && b.offset + b.bytes === offset && b.bufs.length < MAX_BATCH_BUFFERS && b.bytes < MAX_BATCH_BYTES) {
      b.bufs.push(buf);
      b.bytes += buf.length;
      return b.written;
    }
    const batch: Batch = { offset, bufs: [buf], bytes: buf.length, written: Promise.resolve() };
    this.batch = batch;
    this.chain = batch.written = this.chain.then(async () => {
      if (this.batch === batch) this.batch = undefined;
      if (this.error !== undefined) return;
      try {
        await writevAll((await this.opened()).fh, batch.bufs, batch.offset);
      } catch (err) {
        this.error = messageOf(err);
      }
    });
    return batch.written;
  }

  truncate(size: number): Promise<void> {
    if (this.result !== undefined) return Promise.resolve();
    // The hash on the fly covered bytes now cut or left gaps now gone: the copy is read back at close instead.
    this.truncated = true;
    this.seen.truncate(size);
    this.size = size;
    this.next = Math.min(this.next, size);
    // Later writes must not join a batch written before the cut.
    this.batch = undefined;
    if (this.error !== undefined) return Promise.resolve();
    this.chain = this.chain.then(async () => {
      if (this.error !== undefined) return;
      try {
        await (await this.opened()).fh.truncate(size);
      } catch (err) {
        this.error = messageOf(err);
      }
    });
    return this.chain;
  }

  close(): Promise<CaptureResult> {
    this.result ??= this.finish();
    return this.result;
  }

  private opened(): Promise<{ fh: FileHandle; rel: string }> {
    this.file ??= this.sink.create(this.n);
    return this.file;
  }

  private async finish(): Promise<CaptureResult> {
    await this.chain;
    const hashed = this.hasher.finish(this.size);
    // Bytes never seen are zeros in the copy: a hash of it would claim content nobody saw.
    const partial = partialResult(this.seen, this.size);
    let sha256 = this.truncated ? undefined : hashed.sha256;
    let rel: string | undefined;
    try {
      const file = await this.opened();
      rel = file.rel;
      if (this.error === undefined) {
        try {
          if (!partial) sha256 ??= await hashFile(file.fh, this.size);
          await file.fh.sync();
        } catch (err) {
          this.error = messageOf(err);
        }
      }
      await file.fh.close();
    } catch (err) {
      this.error ??= messageOf(err);
    }
    if (this.error !== undefined) {
      // `file` promises exactly the content hashed; a partial copy would break that, so it goes.
      if (rel !== undefined) await this.sink.remove(rel).catch(() => undefined);
      return {
        size: this.size,
        bytes: this.bytes,
        ...(sha256 !== undefined ? { sha256 } : {}),
        note: `content not kept: ${this.error}`,
      };
    }
    if (partial) return { size: this.size, bytes: this.bytes, ...partial, ...(rel ? { file: rel } : {}) };
    return { size: this.size, bytes: this.bytes, ...(sha256 !== undefined ? { sha256 } : {}), ...(rel ? { file: rel } : {}) };
  }
}

/** For a capture that did not see every byte: the ranges it saw and the note that says so; undefined when it saw all. */
function partialResult(seen: RangeSet, size: number): { seen: [number, number][]; note: string } | undefined {
  if (seen.coversAll(size)) return undefined;
  const ranges = seen.list();
  return { seen: ranges, note: `partial: only ${describeRanges(ranges, size)} (a resumed or partial transfer); no sha256` };
}

async function hashFile(fh: FileHandle, size: number): Promise<string> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1024 * 1024);
  for (let pos = 0; pos < size; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
    if (bytesRead === 0) throw new Error('the capture is shorter than its writes');
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return hash.digest('hex');
}
