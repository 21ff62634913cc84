// The bytes of a forwarded channel (ssh -L/-D/-W/-J) as they passed, one gzip file per direction in the
// session directory: `ch-<n>.in.raw.gz` (person -> destination) and `ch-<n>.out.raw.gz` (destination ->
// person). Decompressed, each is byte for byte what crossed the recorder; the manifest lists both with
// their sha256, like every file of the session, so `srec verify` checks them.
import type { ChannelStreams } from './channel-log.js';
import { GzipFile, type GzipSeal } from './gzip-file.js';

export function rawStreamFileNames(channel: number): ChannelStreams {
  return { in: `ch-${channel}.in.raw.gz`, out: `ch-${channel}.out.raw.gz` };
}

export interface RawStreamOptions {
  /** The session directory's path for a file name (SessionRecording#filePath). */
  readonly filePath: (name: string) => string;
  /** @default 1000 */
  readonly flushIntervalMs?: number;
  /** Called once, on the first error writing either file. */
  readonly onError?: (err: Error) => void;
  /** How each file is sealed (SessionRecording#gzipSeal). @default plain */
  readonly seal?: (name: string) => GzipSeal | undefined;
}

/** A flow-controlled sink for one direction, as the relay's pump takes it. */
export interface RawSink {
  write(chunk: Buffer): boolean;
  onceDrain(cb: () => void): void;
}

export class RawStreams {
  readonly names: ChannelStreams;
  private readonly files: { readonly in: GzipFile; readonly out: GzipFile };
  private failed = false;
  private closing?: Promise<void>;

  constructor(channel: number, opts: RawStreamOptions) {
    this.names = rawStreamFileNames(channel);
    const onError = (err: Error) => {
      if (this.failed) return;
      this.failed = true;
      opts.onError?.(err);
    };
    const file = (name: string) => {
      const seal = opts.seal?.(name);
      return new GzipFile(opts.filePath(name), { ...(opts.flushIntervalMs !== undefined ? { flushIntervalMs: opts.flushIntervalMs } : {}), ...(seal !== undefined ? { seal } : {}), onError });
    };
    this.files = { in: file(this.names.in), out: file(this.names.out) };
  }

  sink(direction: 'in' | 'out'): RawSink {
    const f = this.files[direction];
    return { write: (chunk) => f.write(chunk), onceDrain: (cb) => f.onceDrain(cb) };
  }

  /** Finish and fsync both files; an error was already reported through onError. Idempotent. */
  close(): Promise<void> {
    // Both settle before the manifest is written, whichever fails.
    this.closing ??= Promise.allSettled([this.files.in.close(), this.files.out.close()]).then(() => undefined);
    return this.closing;
  }
}
