// What SftpTracker and ScpTracker share: a feed() that never throws into the relay, `parse_stopped` recorded once,
// capture bookkeeping, and backpressure (how many captured bytes are queued but not yet stored).
import { MetadataCaptureSink, type CaptureHandle, type CaptureMeta, type CaptureResult, type CaptureSink } from './sink.js';
import type { Side, TransferOp, TransferRecord } from './types.js';

export interface TrackerOptions {
  /** Where content goes: FsCaptureSink (fileTransfers: true) or MetadataCaptureSink (fileTransfers: false). */
  readonly sink: CaptureSink;
  /** Each operation for the channel log, in protocol order, called synchronously from feed() or end(). */
  readonly onOp?: (op: TransferOp) => void;
  /** Each transfer, once its capture is closed and hashed (asynchronously; end() waits for all of them). */
  readonly onTransfer?: (t: TransferRecord) => void;
  /** Captured bytes queued but not yet stored above which feed() returns false. @default 8 MiB */
  readonly highWaterMark?: number;
  /** Captures open at once; beyond it a transfer is hashed but its content not kept (bounds file descriptors).
   *  @default 16 */
  readonly maxOpenCaptures?: number;
}

/** A stream that breaks the protocol; the tracker turns it into `parse_stopped`. */
export class ParseError extends Error {}

/** One transfer in progress. */
export interface Capture {
  readonly meta: CaptureMeta;
  /** Extra record fields decided when the transfer starts (SCP: the name the source sent). */
  readonly name?: string;
}

interface OpenCapture extends Capture {
  readonly handle: CaptureHandle;
  readonly note?: string;
  size: number;
  bytes: number;
  closed: boolean;
}

export abstract class TransferTracker {
  private readonly highWaterMark: number;
  private readonly maxOpenCaptures: number;
  private queued = 0;
  private open = 0;
  private waiters: Array<() => void> = [];
  private readonly closing = new Set<Promise<void>>();
  private reported: Promise<void> = Promise.resolve();
  private stoppedReason: string | undefined;
  private ending: Promise<void> | undefined;
  private fallback: MetadataCaptureSink | undefined;

  protected constructor(protected readonly opts: TrackerOptions) {
    this.highWaterMark = opts.highWaterMark ?? 8 * 1024 * 1024;
    this.maxOpenCaptures = opts.maxOpenCaptures ?? 16;
  }

  /**
   * Give the tracker a chunk the relay has seen, in the order the relay saw them (both sides), before or in the
   * same tick as relaying it. Never throws. Returns false when the capture is behind: the caller should pause
   * both sources and wait for drained() before reading more.
   */
  feed(side: Side, chunk: Buffer): boolean {
    if (this.stoppedReason === undefined && this.ending === undefined && chunk.length > 0) {
      try {
        this.parse(side, chunk);
      } catch (err) {
        this.stop(err instanceof ParseError ? err.message : `internal error: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return this.queued <= this.highWaterMark;
  }

  /** True while feed() would return false. */
  get behind(): boolean {
    return this.queued > this.highWaterMark;
  }

  /** Captured bytes queued but not yet stored. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Resolves at once when not behind, else when the queue is down to half the high-water mark. */
  drained(): Promise<void> {
    if (this.queued <= this.highWaterMark) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Why parsing stopped, if it did. */
  get stopped(): string | undefined {
    return this.stoppedReason;
  }

  /**
   * The channel is closed: report requests left unanswered, close transfers still open (complete: false), and
   * resolve once every transfer has been reported. Never rejects; further feed() calls are ignored.
   */
  end(): Promise<void> {
    this.ending ??= (async () => {
      if (this.stoppedReason === undefined) {
        try {
          this.finishStream();
        } catch (err) {
          this.stop(`internal error: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      while (this.closing.size > 0) await Promise.all([...this.closing]);
    })();
    return this.ending;
  }

  /** Parse one chunk; throw ParseError on a protocol violation. */
  protected abstract parse(side: Side, chunk: Buffer): void;
  /** End of the channel while parsing is healthy. */
  protected abstract finishStream(): void;
  /** Parsing stopped: close every open capture with complete: false and this note, drop all state. */
  protected abstract abort(note: string): void;

  protected stop(reason: string): void {
    if (this.stoppedReason !== undefined) return;
    this.stoppedReason = reason;
    this.emitOp({ op: 'parse_stopped', reason });
    try {
      this.abort(`parsing stopped: ${reason}`);
    } catch {
      // abort only closes captures; nothing left to save if it fails
    }
  }

  protected emitOp(op: TransferOp): void {
    try {
      this.opts.onOp?.(op);
    } catch {
      // a failing listener must not stop the relay or the parsing
    }
  }

  protected openCapture(meta: CaptureMeta, name?: string): Capture {
    let handle: CaptureHandle;
    let note: string | undefined;
    if (this.open >= this.maxOpenCaptures) {
      this.fallback ??= new MetadataCaptureSink();
      handle = this.fallback.open(meta);
      note = `content not kept: more than ${this.maxOpenCaptures} files open at once on this channel`;
    } else {
      try {
        handle = this.opts.sink.open(meta);
      } catch (err) {
        this.fallback ??= new MetadataCaptureSink();
        handle = this.fallback.open(meta);
        note = `content not kept: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    this.open += 1;
    const c: OpenCapture = { meta, handle, size: 0, bytes: 0, closed: false, ...(name !== undefined ? { name } : {}), ...(note ? { note } : {}) };
    return c;
  }

  protected writeCapture(capture: Capture, buf: Buffer, offset?: number): void {
    const c = capture as OpenCapture;
    if (c.closed || buf.length === 0) return;
    c.size = Math.max(c.size, (offset ?? c.bytes) + buf.length);
    c.bytes += buf.length;
    let done: Promise<void>;
    try {
      done = c.handle.write(buf, offset);
    } catch {
      done = Promise.resolve();
    }
    const n = buf.length;
    this.queued += n;
    void done
      .catch(() => undefined)
      .then(() => {
        this.queued -= n;
        if (this.queued <= this.highWaterMark / 2 && this.waiters.length > 0) {
          const waiters = this.waiters;
          this.waiters = [];
          for (const w of waiters) w();
        }
      });
  }

  /** The server cut the file to `size` (SFTP setstat/fsetstat): so is the capture. */
  protected truncateCapture(capture: Capture, size: number): void {
    const c = capture as OpenCapture;
    if (c.closed) return;
    c.size = size;
    try {
      void c.handle.truncate(size).catch(() => undefined);
    } catch {
      // a failing handle reports at close
    }
  }

  protected closeCapture(capture: Capture, complete: boolean, note?: string): void {
    const c = capture as OpenCapture;
    if (c.closed) return;
    c.closed = true;
    this.open -= 1;
    const built = (async (): Promise<TransferRecord> => {
      let r: CaptureResult;
      try {
        r = await c.handle.close();
      } catch (err) {
        r = { size: c.size, bytes: c.bytes, note: `capture failed: ${err instanceof Error ? err.message : String(err)}` };
      }
      const notes = [note, c.note, r.note].filter((n): n is string => n !== undefined && n !== '');
      const record: TransferRecord = {
        protocol: c.meta.protocol,
        direction: c.meta.direction,
        path: c.meta.path,
        ...(c.name !== undefined ? { name: c.name } : {}),
        size: r.size,
        bytes: r.bytes,
        ...(r.sha256 !== undefined ? { sha256: r.sha256 } : {}),
        ...(r.seen !== undefined ? { seen: r.seen } : {}),
        ...(r.file !== undefined ? { file: r.file } : {}),
        // A file of which only some bytes were seen did not cross complete, whatever the protocol said.
        complete: complete && r.seen === undefined,
        ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
      };
      return record;
    })();
    // Captures close in parallel, but are reported in the order the protocol finished them.
    const p = this.reported.then(async () => {
      const record = await built;
      try {
        this.opts.onTransfer?.(record);
      } catch {
        // a failing listener must not break the others
      }
    });
    this.reported = p;
    this.closing.add(p);
    void p.finally(() => this.closing.delete(p));
  }
}
