// A gzip file written as it streams. A sync flush every `flushIntervalMs` puts everything written so far
// into whole deflate blocks on disk, so a recorder killed mid-session leaves a file that decodes up to the
// last flush; close() finishes the stream and fsyncs it.
import { createWriteStream, type WriteStream } from 'node:fs';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { FILE_MODE } from './fsutil.js';

export interface GzipFileOptions {
  /** @default 1000 */
  readonly flushIntervalMs?: number;
  /** Called once, on the first error opening or writing the file. */
  readonly onError?: (err: Error) => void;
}

export class GzipFile {
  private readonly gzip: zlib.Gzip;
  private readonly out: WriteStream;
  private readonly timer: NodeJS.Timeout;
  private readonly drainWaiters: (() => void)[] = [];
  private dirty = false;
  private closing?: Promise<number>;
  private err?: Error;
  /** Uncompressed bytes accepted. */
  written = 0;

  constructor(
    readonly path: string,
    private readonly opts: GzipFileOptions = {},
  ) {
    // 'wx': one writer per file; an existing file is a bug, never something to overwrite.
    this.out = createWriteStream(path, { flags: 'wx', mode: FILE_MODE, autoClose: false });
    this.gzip = zlib.createGzip({ level: 6 });
    this.gzip.pipe(this.out);
    const fail = (e: Error) => this.fail(e);
    this.out.on('error', fail);
    this.gzip.on('error', fail);
    this.gzip.on('drain', () => this.runDrainWaiters());
    this.timer = setInterval(() => this.flush(), opts.flushIntervalMs ?? 1000);
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
    return this.gzip.write(buf);
  }

  onceDrain(cb: () => void): void {
    if (this.err || this.closing) return void setImmediate(cb);
    this.drainWaiters.push(cb);
  }

  /** Push everything written so far to the file as complete deflate blocks. */
  flush(): Promise<void> {
    if (!this.dirty || this.err || this.closing) return Promise.resolve();
    this.dirty = false;
    return new Promise((resolve) => this.gzip.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
  }

  /** Finish the gzip stream, fsync and close. Resolves to the compressed size; rejects if the file failed. */
  close(): Promise<number> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<number> {
    clearInterval(this.timer);
    this.runDrainWaiters();
    if (!this.err) {
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        this.out.once('finish', done);
        this.out.once('error', done);
        this.gzip.end();
      });
    }
    const fd = (this.out as WriteStream & { fd?: number | null }).fd;
    if (typeof fd === 'number') {
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
    return this.out.bytesWritten;
  }

  private fail(e: Error): void {
    if (this.err) return;
    this.err = e;
    clearInterval(this.timer);
    this.runDrainWaiters();
    this.opts.onError?.(e);
  }

  private runDrainWaiters(): void {
    const waiters = this.drainWaiters.splice(0);
    for (const w of waiters) w();
  }
}
