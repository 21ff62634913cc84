// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): one JSON header line, then one
// `[time, code, data]` line per event. The encoders and decoders are pure; CastWriter streams the encoded
// lines into a GzipFile, reader.ts decodes the lines of a file.
import { isAscii } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import type { GzipFile } from './gzip-file.js';
import { parseJsonLine } from './gzip-lines.js';

export interface CastHeader {
  readonly version: 2;
  readonly width: number;
  readonly height: number;
  /** Unix seconds of the channel's start. */
  readonly timestamp: number;
  readonly command?: string;
  readonly title?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** o: output (stdout and stderr), i: input, r: resize "COLSxROWS", m: marker. */
export type CastEventCode = 'o' | 'i' | 'r' | 'm';
export type CastEvent = readonly [time: number, code: CastEventCode, data: string];

export function encodeHeader(h: CastHeader): string {
  return JSON.stringify(h) + '\n';
}

export function encodeEvent(e: CastEvent): string {
  return JSON.stringify([roundTime(e[0]), e[1], e[2]]) + '\n';
}

/** The header line; throws an Error saying why when it is not one of asciicast v2. */
export function decodeHeader(line: string): CastHeader {
  const h: unknown = JSON.parse(line);
  if (typeof h !== 'object' || h === null || Array.isArray(h) || (h as { version?: unknown }).version !== 2) throw new Error('not an asciicast v2 header');
  return h as CastHeader;
}

/** An event line, or undefined when it is not `[time, code, data]`. Codes other than o, i, r and m are passed on. */
export function decodeEvent(line: string): CastEvent | undefined {
  const ev = parseJsonLine(line);
  if (!Array.isArray(ev) || typeof ev[0] !== 'number' || typeof ev[1] !== 'string' || typeof ev[2] !== 'string') return undefined;
  return ev as unknown as CastEvent;
}

/** Microsecond precision, as asciinema writes. */
function roundTime(t: number): number {
  return Math.max(0, Math.round(t * 1e6) / 1e6);
}

export interface CastStart {
  readonly cols: number;
  readonly rows: number;
  readonly term?: string;
  readonly command?: string;
  /** ms since the epoch. */
  readonly startMs: number;
}

/** A batch bigger than this is handed to the file at once rather than at the end of the event-loop turn. */
const BATCH_BYTES = 256 * 1024;
/** A batch up to this size is copied out and its buffer kept; a bigger one is handed over whole. */
const SMALL_BATCH = 16 * 1024;
const INITIAL_CAPACITY = 4 * 1024;

/** Bytes of a character split across chunks that the decoder holds; unknown counts as some. */
function pendingBytes(decoder: StringDecoder): number {
  return (decoder as StringDecoder & { readonly lastNeed?: number }).lastNeed ?? 1;
}

/**
 * One channel's cast. Output from stdout and stderr is decoded with separate UTF-8 decoders so that a
 * character split across packets is not mangled; both are written as "o" events.
 *
 * Each event is one line (one per SSH packet or keystroke, as asciinema records), encoded straight into a
 * batch buffer, and the lines of one event-loop turn go to the gzip stream as one write, not a zlib job per
 * packet. A chunk of pure ASCII (most terminal output) skips the UTF-8 decoder and is copied as latin1:
 * the same string, at a fraction of the cost. The bytes are those of encodeEvent() (a test compares them).
 */
export class CastWriter {
  private readonly decoders = { o: new StringDecoder('utf8'), e: new StringDecoder('utf8'), i: new StringDecoder('utf8') };
  /** Encoded lines not yet handed to the file: buf[0, len). Small while the channel is quiet. */
  private buf = Buffer.allocUnsafe(INITIAL_CAPACITY);
  private len = 0;
  private scheduled?: NodeJS.Immediate;

  constructor(
    private readonly file: GzipFile,
    private readonly start: CastStart,
    private readonly now: () => number,
  ) {
    const env: Record<string, string> = {};
    if (start.term) env.TERM = start.term;
    file.write(
      encodeHeader({
        version: 2,
        width: start.cols,
        height: start.rows,
        timestamp: Math.floor(start.startMs / 1000),
        ...(start.command !== undefined ? { command: start.command } : {}),
        env,
      }),
    );
    // The header in the file at once: a recording cut back to its last commit (fail closed, on a full spool
    // or past the session's quota) is then still a cast, with no events, not an empty file.
    file.commit().catch(() => undefined);
  }

  get fileName(): string {
    return this.file.path;
  }

  output(data: Buffer): boolean {
    return this.chunk('o', this.decoders.o, data);
  }

  stderr(data: Buffer): boolean {
    return this.chunk('o', this.decoders.e, data);
  }

  input(data: Buffer): boolean {
    return this.chunk('i', this.decoders.i, data);
  }

  resize(cols: number, rows: number): boolean {
    return this.event('r', `${cols}x${rows}`, true);
  }

  onceDrain(cb: () => void): void {
    this.file.onceDrain(cb);
  }

  /** Resolves once every event so far is in the file (GzipFile#commit); rejects when the file failed first. */
  commit(): Promise<void> {
    this.flushBatch();
    return this.file.commit();
  }

  async close(): Promise<void> {
    this.event('o', this.decoders.o.end(), false);
    this.event('o', this.decoders.e.end(), false);
    this.event('i', this.decoders.i.end(), false);
    this.flushBatch();
    await this.file.close();
  }

  private chunk(code: CastEventCode, decoder: StringDecoder, data: Buffer): boolean {
    if (pendingBytes(decoder) === 0 && isAscii(data)) return this.event(code, data.toString('latin1'), true);
    return this.event(code, decoder.write(data), false);
  }

  /** `ascii`: data is known to be ASCII, so its JSON is too. false: the file is behind (pause until onceDrain()). */
  private event(code: CastEventCode, data: string, ascii: boolean): boolean {
    if (data === '' && code !== 'r') return !this.file.needsDrain;
    const head = `[${roundTime((this.now() - this.start.startMs) / 1000)},"${code}",`;
    const body = JSON.stringify(data);
    // A UTF-16 unit is at most 3 bytes of UTF-8.
    this.reserve(head.length + (ascii ? body.length : body.length * 3) + 2);
    this.len += this.buf.write(head, this.len, 'latin1');
    this.len += this.buf.write(body, this.len, ascii ? 'latin1' : 'utf8');
    this.buf[this.len++] = 0x5d; // ]
    this.buf[this.len++] = 0x0a; // \n
    if (this.len >= BATCH_BYTES) return this.flushBatch();
    this.scheduled ??= setImmediate(() => this.flushBatch());
    return !this.file.needsDrain;
  }

  private reserve(bytes: number): void {
    if (this.len + bytes <= this.buf.length) return;
    if (this.len > 0) this.flushBatch();
    if (bytes > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(bytes, Math.min(2 * this.buf.length, 2 * BATCH_BYTES)));
  }

  private flushBatch(): boolean {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.len === 0) return !this.file.needsDrain;
    const len = this.len;
    this.len = 0;
    if (len <= SMALL_BATCH) {
      // Copied out (the file keeps what it is given until zlib has it); a buffer grown by a burst shrinks back.
      const out = Buffer.from(this.buf.subarray(0, len));
      if (this.buf.length > 4 * SMALL_BATCH) this.buf = Buffer.allocUnsafe(INITIAL_CAPACITY);
      return this.file.write(out);
    }
    const out = this.buf.subarray(0, len);
    this.buf = Buffer.allocUnsafe(this.buf.length);
    return this.file.write(out);
  }
}
