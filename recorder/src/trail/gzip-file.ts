// A gzip file written as it streams. A sync flush every `flushIntervalMs` puts everything written so far
// into whole deflate blocks on disk, so a recorder killed mid-session leaves a file that decodes up to the
// last flush; close() finishes the stream and fsyncs it.
//
// The level follows the rate. Interactive output is deflated at level 6 as it comes (casts stay small).
// Bulk output (more than `bulkBytesPerInterval` in one flush interval: a `cat` of a large file, a tarball
// through `ssh`) is stored (level 0: gzip framing and a CRC, no deflate) so that recording costs the
// session almost nothing; deflate runs at about 30 MiB/s of input per core here, far slower than the relay.
// close() then repacks such a file at level 6 after the session, on zlib's pool threads, before the
// manifest is written: the spool holds the stored bytes meanwhile, the share only ever gets the repacked
// file. Level 0 is still a valid gzip stream, so a recorder killed before the repack leaves a file that
// recovery and every reader handle as before, only bigger. Buffers of 1 MiB on both streams let the relay
// run ahead while the pool thread works, instead of pausing the channel on every packet.
//
// commit() is the fail-closed seam: it resolves once everything written so far is in the file (sync-flushed,
// write(2) done), and the relay forwards a chunk only after that. When the file fails (ENOSPC, the session's
// spool quota), it is cut back to the last commit, so that it holds exactly what was forwarded.
//
// A change of level ends the current gzip member and starts another (a series of members is one valid
// gzip file to every reader): zlib's deflateParams() is not reliable here (Node 20's zlib ignores it).
//
// With a key set (`seal`), the compressed bytes go to the file as sealed records (crypto/sealed.ts): a commit
// seals what it flushed as a record of its own, so what was committed is what a reader can open after a crash.
import { createReadStream, createWriteStream, promises as fsp, type WriteStream } from 'node:fs';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { TrailKeys } from './crypto/keys.js';
import { framingFor, openChunks, type Framing, type OpenState, type SealBinding } from './crypto/sealed.js';
import { FILE_MODE, fsyncDir, fsyncPath } from './fsutil.js';

/** zlib levels for interactive and for bulk output. */
export const INTERACTIVE_LEVEL = 6;
export const BULK_LEVEL = 0;
const BUFFER_BYTES = 1 << 20;

export interface GzipFileOptions {
  /** @default 1000 */
  readonly flushIntervalMs?: number;
  /** More input than this in one flush interval switches to the bulk level. @default 1 MiB */
  readonly bulkBytesPerInterval?: number;
  /** Called once, on the first error opening or writing the file. */
  readonly onError?: (err: Error) => void;
  /** Charged with every compressed byte before it counts as written; false fails the file (its error says why). */
  readonly quota?: SpoolQuota;
  /** Encrypt the file at rest: the key set (its current KEK) and what the file is. @default plain gzip */
  readonly seal?: GzipSeal;
}

/** What a session file is sealed with and for. */
export interface GzipSeal {
  readonly keys: TrailKeys;
  readonly binding: SealBinding;
}

/** The bytes a session may still put in the spool. */
export interface SpoolQuota {
  /** false: no room for `bytes` more; `error()` then says why. */
  take(bytes: number): boolean;
  error(): Error;
}

interface FlowWaiter {
  readonly target: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

export class GzipFile {
  private member: zlib.Gzip;
  private readonly out: WriteStream;
  private readonly timer: NodeJS.Timeout;
  private readonly drainWaiters: (() => void)[] = [];
  private dirty = false;
  /** Input since the last flush tick, for the level choice. */
  private intervalBytes = 0;
  private level = INTERACTIVE_LEVEL;
  /** Some of the file was stored at the bulk level: close() repacks it. */
  private stored = false;
  /** While one member ends and the next is not started yet: input waits here, in order. */
  private switching?: { queued: Buffer[]; done: Promise<void> };
  private readonly bulkBytes: number;
  private closing?: Promise<number>;
  private err?: Error;
  /** Compressed bytes handed to the file stream. */
  private flowed = 0;
  /** Compressed bytes up to the last commit: whole deflate blocks, in the file. */
  private committed = 0;
  private readonly flowWaiters: FlowWaiter[] = [];
  /** Sealed records, or the compressed bytes as they are. */
  private readonly framing: Framing;
  /** Bytes handed to the file stream (records and header included): the file's length once written. */
  private fileBytes = 0;
  /** Uncompressed bytes accepted. */
  written = 0;

  constructor(
    readonly path: string,
    private readonly opts: GzipFileOptions = {},
  ) {
    // 'wx': one writer per file; an existing file is a bug, never something to overwrite.
    this.out = createWriteStream(path, { flags: 'wx', mode: FILE_MODE, autoClose: false, highWaterMark: BUFFER_BYTES });
    this.out.on('error', (e) => this.fail(e));
    this.out.on('drain', () => this.member.resume());
    this.framing = opts.seal !== undefined ? framingFor(opts.seal.keys, opts.seal.binding) : framingFor(undefined, { session: '', file: '' });
    const head = this.framing.start();
    if (head !== undefined) this.toFile(head);
    this.committed = this.fileBytes;
    this.bulkBytes = opts.bulkBytesPerInterval ?? BUFFER_BYTES;
    this.member = this.startMember(INTERACTIVE_LEVEL);
    this.timer = setInterval(() => this.tick(), opts.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  get error(): Error | undefined {
    return this.err;
  }

  /** false: stop feeding until onceDrain() fires (the file is behind). */
  write(data: string | Buffer): boolean {
    if (this.err || this.closing) return true;
    this.dirty = true;
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.written += buf.length;
    this.intervalBytes += buf.length;
    if (this.level !== BULK_LEVEL && this.intervalBytes > this.bulkBytes) this.setLevel(BULK_LEVEL);
    if (this.switching) {
      this.switching.queued.push(buf);
      return false;
    }
    return this.member.write(buf);
  }

  /** The last write() returned false and the file has not drained yet. */
  get needsDrain(): boolean {
    return !this.err && !this.closing && (this.switching !== undefined || this.member.writableNeedDrain);
  }

  /** The zlib level in use (or being switched to). */
  get compressionLevel(): number {
    return this.level;
  }

  onceDrain(cb: () => void): void {
    if (this.err || this.closing) return void setImmediate(cb);
    this.drainWaiters.push(cb);
  }

  /** Push everything written so far to the file as complete deflate blocks. */
  flush(): Promise<void> {
    if (!this.dirty || this.err || this.closing || this.switching) return Promise.resolve();
    this.dirty = false;
    return new Promise((resolve) => this.member.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
  }

  /**
   * Resolves once everything written so far is in the file as whole deflate blocks (write(2) returned; not
   * fsynced); rejects with the file's error when it failed before that. What was written before a commit that
   * resolved is what the file keeps, whatever happens afterwards.
   */
  async commit(): Promise<void> {
    if (this.switching) await this.switching.done;
    if (this.err) throw this.err;
    if (this.closing) {
      await this.closing;
      return;
    }
    const member = this.member;
    // A sync flush with nothing new is a no-op in zlib, so concurrent commits cost one flush.
    await new Promise<void>((resolve) => member.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    // Output zlib produced but the pipe has not taken yet (the file stream is behind) is still ours to wait for.
    const target = this.flowed + member.readableLength;
    if (this.flowed < target) await new Promise<void>((resolve, reject) => this.flowWaiters.push({ target, resolve, reject }));
    if (this.err) throw this.err;
    // Sealed: what the flush produced becomes a record now, not when a record's worth has gathered.
    const rec = this.framing.flush();
    if (rec !== undefined) this.toFile(rec);
    const length = this.fileBytes;
    // Writes complete in order: an empty write's callback fires after every earlier one.
    await new Promise<void>((resolve, reject) => this.out.write(Buffer.alloc(0), (e) => (e || this.err ? reject(this.err ?? e) : resolve())));
    if (this.err) throw this.err;
    this.committed = Math.max(this.committed, length);
  }

  /** Finish the gzip stream, fsync and close. Resolves to the compressed size; rejects if the file failed. */
  close(): Promise<number> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private startMember(level: number): zlib.Gzip {
    // zlib streams take the Transform options too (highWaterMark); the types do not say so.
    // A stored member passes everything through: bigger output chunks mean fewer callbacks. An interactive
    // one keeps zlib's 16 KiB, which is held per open file (hundreds of idle sessions).
    const chunkSize = level === BULK_LEVEL ? 64 * 1024 : zlib.constants.Z_DEFAULT_CHUNK;
    const member = zlib.createGzip({ level, chunkSize, highWaterMark: BUFFER_BYTES } as zlib.ZlibOptions);
    member.on('error', (e) => this.fail(e));
    member.on('drain', () => this.runDrainWaiters());
    // Not pipe(): every byte goes through the framing, and a commit's record must follow its bytes in order.
    member.on('data', (chunk: Buffer) => this.output(member, chunk));
    return member;
  }

  /** End the current member once everything before has gone through it; then start one at `level`. */
  private endMember(): Promise<void> {
    const member = this.member;
    return new Promise<void>((resolve) => {
      member.once('end', resolve);
      member.once('error', () => resolve());
      member.end();
    });
  }

  /** Hands bytes to the file stream, pausing the member while the stream is behind (what pipe() did). */
  private toFile(data: Buffer, member?: zlib.Gzip): void {
    this.fileBytes += data.length;
    if (!this.out.write(data) && member !== undefined) member.pause();
  }

  private output(member: zlib.Gzip, chunk: Buffer): void {
    if (this.err) return;
    const bytes = chunk.length;
    this.flowed += bytes;
    if (this.opts.quota && !this.opts.quota.take(bytes)) return this.fail(this.opts.quota.error());
    for (const rec of this.framing.push(chunk)) this.toFile(rec, member);
    for (let i = this.flowWaiters.length - 1; i >= 0; i--) {
      const w = this.flowWaiters[i]!;
      if (this.flowed >= w.target) {
        this.flowWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private tick(): void {
    if (this.level !== INTERACTIVE_LEVEL && this.intervalBytes <= this.bulkBytes / 4) this.setLevel(INTERACTIVE_LEVEL);
    this.intervalBytes = 0;
    void this.flush();
  }

  private setLevel(level: number): void {
    if (this.err || this.closing || this.switching) return;
    this.level = level;
    if (level === BULK_LEVEL) this.stored = true;
    const queued: Buffer[] = [];
    const done = this.endMember().then(() => {
      if (this.err) return;
      this.member = this.startMember(level);
      this.switching = undefined;
      for (const b of queued) this.member.write(b);
      if (!this.member.writableNeedDrain) this.runDrainWaiters();
    });
    this.switching = { queued, done };
  }

  private async doClose(): Promise<number> {
    clearInterval(this.timer);
    if (this.switching) await this.switching.done;
    this.runDrainWaiters();
    if (!this.err) {
      await this.endMember();
      const last = this.err ? undefined : this.framing.end();
      if (last !== undefined) this.toFile(last);
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        this.out.once('finish', done);
        this.out.once('error', done);
        this.out.end();
      });
    }
    if (this.err) await this.settleOut();
    const fd = (this.out as WriteStream & { fd?: number | null }).fd;
    if (typeof fd === 'number') {
      try {
        // A failed file keeps what was committed (and so forwarded), not a torn tail of what was not.
        if (this.err) fs.ftruncateSync(fd, this.committed);
      } catch {
        /* the cut is best effort: readers stop at the torn tail anyway */
      }
      try {
        if (!this.err) fs.fsyncSync(fd);
      } catch (e) {
        this.fail(e as Error);
      }
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    if (this.err) throw this.err;
    if (this.stored) return this.repack();
    return this.out.bytesWritten;
  }

  /**
   * Deflate a file that was (partly) stored during the session, at the interactive level, into a temporary
   * file renamed over it. A failure (a full disk) keeps the stored file, which is complete and valid.
   */
  private async repack(): Promise<number> {
    const tmp = path.join(path.dirname(this.path), `.${path.basename(this.path)}.repack`);
    const seal = this.opts.seal;
    const state: OpenState = { sealed: false, final: false, bytesIn: 0 };
    try {
      // Sealed: opened record by record, sealed again under a new data key.
      const input = createReadStream(this.path, { highWaterMark: BUFFER_BYTES });
      await pipeline(
        seal !== undefined ? Readable.from(openChunks(input, seal.keys, seal.binding, this.path, state)) : input,
        zlib.createGunzip({ chunkSize: BUFFER_BYTES }),
        zlib.createGzip({ level: INTERACTIVE_LEVEL, chunkSize: 256 * 1024 }),
        ...(seal !== undefined ? [framingTransform(framingFor(seal.keys, seal.binding))] : []),
        createWriteStream(tmp, { flags: 'w', mode: FILE_MODE }),
      );
      if (state.error !== undefined) throw new Error(state.error);
      await fsyncPath(tmp);
      await fsp.rename(tmp, this.path);
      await fsyncDir(path.dirname(this.path));
    } catch {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
    return (await fsp.stat(this.path)).size;
  }

  /** After a failure: let the file stream finish or give up whatever it was writing, so the cut is last. */
  private async settleOut(): Promise<void> {
    const out = this.out;
    // Failed by its own error: what it had not issued yet is dropped, nothing is in flight.
    if (out.errored || out.destroyed || out.closed || out.writableFinished) return;
    const settled = new Promise<void>((resolve) => {
      out.once('finish', resolve);
      out.once('close', resolve);
      out.once('error', () => resolve());
    });
    if (!out.destroyed && !out.writableEnded) out.end();
    if (out.closed || out.writableFinished) return;
    await settled;
  }

  private fail(e: Error): void {
    if (this.err) return;
    this.err = e;
    clearInterval(this.timer);
    // Nothing more reaches the file (output() drops it); what is in flight is cut off at close().
    // Drained into nothing, so that a member being ended (a level switch) still ends.
    this.member.resume();
    for (const w of this.flowWaiters.splice(0)) w.reject(e);
    this.runDrainWaiters();
    this.opts.onError?.(e);
  }

  private runDrainWaiters(): void {
    const waiters = this.drainWaiters.splice(0);
    for (const w of waiters) w();
  }
}

/** A framing as a stream stage, for files sealed in one pass (the repack). */
export function framingTransform(f: Framing): Transform {
  let started = false;
  const head = (t: Transform) => {
    if (started) return;
    started = true;
    const h = f.start();
    if (h !== undefined) t.push(h);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      head(this);
      for (const r of f.push(chunk)) this.push(r);
      cb();
    },
    flush(cb) {
      head(this);
      const last = f.end();
      if (last !== undefined) this.push(last);
      cb();
    },
  });
}
