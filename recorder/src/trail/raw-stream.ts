// The bytes of a channel as they passed, one gzip file per direction in the session directory: a forwarded
// channel's (ssh -L/-D/-W/-J) and a session channel's without a pty, whose bytes need not be text (rsync, tar,
// `cat` of a binary): `ch-<n>.in.raw.gz` (from the person), `ch-<n>.out.raw.gz` (to the person; a session's
// stdout) and `ch-<n>.err.raw.gz` (a session's stderr). Decompressed, each is byte for byte what crossed the
// recorder; the manifest lists them with their sha256, like every file of the session, so `srec verify` checks them.
import { createHash, type Hash } from 'node:crypto';
import type { ChannelStreams } from './channel-log.js';
import type { GzipFile } from './gzip-file.js';

export type RawLane = 'in' | 'out' | 'err';

export function rawStreamFileNames(channel: number, withStderr = false): ChannelStreams {
  return { in: `ch-${channel}.in.raw.gz`, out: `ch-${channel}.out.raw.gz`, ...(withStderr ? { err: `ch-${channel}.err.raw.gz` } : {}) };
}

export interface RawStreamOptions {
  /** Opens one stream's file: the recording's (with its spool quota and error handling), or a plain GzipFile. */
  readonly open: (name: string) => GzipFile;
  /** A session channel's stderr gets a file of its own. @default false */
  readonly stderr?: boolean;
}

/** A flow-controlled sink for one direction, as the relay's pump takes it. */
export interface RawSink {
  write(chunk: Buffer): boolean;
  onceDrain(cb: () => void): void;
}

export class RawStreams {
  readonly names: ChannelStreams;
  private readonly files: Partial<Record<RawLane, GzipFile>>;
  /** The sha256 and length of each stream's bytes (not of its gzip file): what a stream transfer reports. */
  private readonly hashes: Partial<Record<RawLane, { hash: Hash; bytes: number }>> = {};
  private closing?: Promise<void>;

  constructor(channel: number, opts: RawStreamOptions) {
    this.names = rawStreamFileNames(channel, opts.stderr ?? false);
    this.files = { in: opts.open(this.names.in), out: opts.open(this.names.out), ...(this.names.err ? { err: opts.open(this.names.err) } : {}) };
  }

  sink(lane: RawLane): RawSink {
    const f = this.files[lane];
    if (f === undefined) throw new Error(`no raw stream for ${lane}`);
    const h = (this.hashes[lane] ??= { hash: createHash('sha256'), bytes: 0 });
    return {
      write: (chunk) => {
        h.hash.update(chunk);
        h.bytes += chunk.length;
        return f.write(chunk);
      },
      onceDrain: (cb) => f.onceDrain(cb),
    };
  }

  /** The bytes that passed on `lane` so far: their count and sha256 (once per lane: the hash is finished). */
  digest(lane: RawLane): { bytes: number; sha256: string } {
    const h = this.hashes[lane] ?? { hash: createHash('sha256'), bytes: 0 };
    return { bytes: h.bytes, sha256: h.hash.digest('hex') };
  }

  /** Resolves once every byte written so far is in the files (GzipFile#commit): the fail-closed seam. */
  async commit(): Promise<void> {
    await Promise.all(Object.values(this.files).map((f) => f.commit()));
  }

  /** Finish and fsync the files; an error was already reported through the file's onError. Idempotent. */
  close(): Promise<void> {
    // All settle before the manifest is written, whichever fails.
    this.closing ??= Promise.allSettled(Object.values(this.files).map((f) => f.close())).then(() => undefined);
    return this.closing;
  }
}
