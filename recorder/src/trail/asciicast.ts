// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): one JSON header line, then one
// `[time, code, data]` line per event. The encoders are pure; CastWriter streams them into a GzipFile.
import { StringDecoder } from 'node:string_decoder';
import type { GzipFile } from './gzip-file.js';

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

/**
 * One channel's cast. Output from stdout and stderr is decoded with separate UTF-8 decoders so that a
 * character split across packets is not mangled; both are written as "o" events.
 *
 * Each event is encoded as it comes (one line per SSH packet or keystroke, as asciinema records) and the
 * lines of one event-loop turn go to the gzip stream as one write, not a zlib job per packet. Events are
 * not merged: joining large strings costs V8 more than the separate lines cost gzip.
 */
export class CastWriter {
  private readonly decoders = { o: new StringDecoder('utf8'), e: new StringDecoder('utf8'), i: new StringDecoder('utf8') };
  /** Encoded lines not yet handed to the file. */
  private batch: Buffer[] = [];
  private batchBytes = 0;
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
  }

  get fileName(): string {
    return this.file.path;
  }

  output(data: Buffer): boolean {
    return this.event('o', this.decoders.o.write(data));
  }

  stderr(data: Buffer): boolean {
    return this.event('o', this.decoders.e.write(data));
  }

  input(data: Buffer): boolean {
    return this.event('i', this.decoders.i.write(data));
  }

  resize(cols: number, rows: number): boolean {
    return this.event('r', `${cols}x${rows}`);
  }

  onceDrain(cb: () => void): void {
    this.file.onceDrain(cb);
  }

  async close(): Promise<void> {
    this.event('o', this.decoders.o.end());
    this.event('o', this.decoders.e.end());
    this.event('i', this.decoders.i.end());
    this.flushBatch();
    await this.file.close();
  }

  /** false: the file is behind; the caller pauses its source until onceDrain(). */
  private event(code: CastEventCode, data: string): boolean {
    if (data === '' && code !== 'r') return !this.file.needsDrain;
    const line = Buffer.from(encodeEvent([(this.now() - this.start.startMs) / 1000, code, data]), 'utf8');
    this.batch.push(line);
    this.batchBytes += line.length;
    if (this.batchBytes >= BATCH_BYTES) return this.flushBatch();
    this.scheduled ??= setImmediate(() => this.flushBatch());
    return !this.file.needsDrain;
  }

  private flushBatch(): boolean {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.batch.length === 0) return !this.file.needsDrain;
    const data = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch, this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
    return this.file.write(data);
  }
}
