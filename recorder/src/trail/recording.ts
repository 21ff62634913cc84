// One recorded session while it is open: its spool directory, channel log and casts. close() finishes
// every file, fsyncs it and writes the manifest; the mover then takes the directory to the share.
// A session may spool at most its quota, and a reserve file held from the start makes room for the manifest
// and the channel log's last lines when the spool's disk is full: a session that cannot go on can still close.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { CastWriter } from './asciicast.js';
import type { TrailKeys } from './crypto/keys.js';
import { finishManifest } from './crypto/manifest-seal.js';
import { sealTransferCopies } from './crypto/seal-files.js';
import { ChannelTable, encodeLogEntry, type ChannelLogEntry } from './channel-log.js';
import { describeFiles } from './digest.js';
import { DIR_MODE, mkdirOwner, writeFileAtomic } from './fsutil.js';
import { GzipFile, type GzipSeal, type SpoolQuota } from './gzip-file.js';
import { buildManifest, type Manifest, type ManifestTransfer, type SessionIdentity } from './manifest.js';
import { writeManifest } from './manifest-file.js';
import { CHANNEL_LOG, SESSION_INFO, castFileName, spoolRoot, spoolSessionDir } from './paths.js';
import { RawStreams } from './raw-stream.js';
import type { SessionFileRef } from './session-file.js';

/** A spool directory's reserve file (a dot file: never listed in the manifest, never copied to the share). */
export const SPOOL_RESERVE = '.reserve';
/** The reserve file's size: room for a manifest and the channel log's end on a full disk. */
export const RESERVE_BYTES = 64 * 1024;
/** Share of `tempSizeLimit` one session may spool: the headroom above the bastion's default high water (0.9). */
export const SESSION_QUOTA_SHARE = 0.1;
/** The channel log may go this far past the quota, so a session ended for its quota still logs how. */
const LOG_SLACK_BYTES = 32 * 1024;

type WithoutT<E> = E extends unknown ? Omit<E, 't'> : never;
export type LogInput = WithoutT<ChannelLogEntry>;

export interface RecordingOptions {
  readonly tempFolder: string;
  readonly identity: SessionIdentity;
  /** ms since the epoch. @default Date.now */
  readonly now?: () => number;
  /** @default 1000 */
  readonly flushIntervalMs?: number;
  /** The first error writing any file of the session. */
  readonly onError?: (err: Error) => void;
  /** Compressed bytes the session's files may take in the spool. @default unlimited */
  readonly quotaBytes?: number;
  /** Sets quotaBytes to SESSION_QUOTA_SHARE of it (the config's tempSizeLimit) unless quotaBytes is given. */
  readonly spoolLimit?: number;
  /** The trail's key set (`trail.keysDir`): files sealed with its current KEK, the manifest signed. @default plain, unsigned */
  readonly keys?: TrailKeys;
}

/** The bytes one session has spooled against its quota; the channel log gets a little slack. */
export class SessionQuota {
  used = 0;
  constructor(readonly limit: number) {}

  /** The view for casts and file copies, and (with `slack`) for the channel log. */
  view(slack = 0): SpoolQuota {
    return {
      take: (bytes) => {
        this.used += bytes;
        return this.used <= this.limit + slack;
      },
      error: () =>
        Object.assign(new Error(`the session's spool quota of ${this.limit} bytes is used up`), { code: 'EDQUOT' }),
    };
  }
}

export class SessionRecording {
  private readonly table = new ChannelTable();
  private readonly casts = new Map<number, CastWriter>();
  /** Casts made from raw streams (openDerivedCast): one that cannot be written whole does not fail the recording. */
  private readonly derived = new Set<number>();
  private readonly transfers: ManifestTransfer[] = [];
  private readonly log: GzipFile;
  private readonly now: () => number;
  private readonly startMs: number;
  private failed?: Error;
  private closed?: Promise<Manifest>;

  /** Quota accounting; absent when the session has no quota. */
  readonly quota?: SessionQuota;

  /** Rejects (and leaves nothing behind) when the spool cannot take the session's directory and reserve. */
  static async create(opts: RecordingOptions): Promise<SessionRecording> {
    await mkdirOwner(spoolRoot(opts.tempFolder));
    const dir = spoolSessionDir(opts.tempFolder, opts.identity.sessionId);
    await fsp.mkdir(dir, { mode: DIR_MODE });
    try {
      await writeFileAtomic(path.join(dir, SESSION_INFO), JSON.stringify(opts.identity) + '\n');
      // Real blocks (zeros written, fsynced), not a sparse file: freeing it must free space.
      await writeFileAtomic(path.join(dir, SPOOL_RESERVE), Buffer.alloc(RESERVE_BYTES));
    } catch (err) {
      await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
    return new SessionRecording(dir, opts);
  }

  private constructor(
    readonly dir: string,
    private readonly opts: RecordingOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.startMs = Date.parse(opts.identity.start);
    const quota = opts.quotaBytes ?? (opts.spoolLimit !== undefined ? Math.floor(opts.spoolLimit * SESSION_QUOTA_SHARE) : undefined);
    if (quota !== undefined) this.quota = new SessionQuota(quota);
    this.log = this.file(CHANNEL_LOG, LOG_SLACK_BYTES);
  }

  get sessionId(): string {
    return this.opts.identity.sessionId;
  }

  get error(): Error | undefined {
    return this.failed;
  }

  /** Seconds since the session started. */
  elapsed(): number {
    return (this.now() - this.startMs) / 1000;
  }

  /** Append to the channel log; false: the log is behind, wait for onceDrain() before feeding more. */
  record(entry: LogInput): boolean {
    const e = { t: this.elapsed(), ...entry } as ChannelLogEntry;
    this.table.apply(e);
    return this.log.write(encodeLogEntry(e));
  }

  onceDrain(cb: () => void): void {
    this.log.onceDrain(cb);
  }

  /** Resolves once the channel log so far is in its file (GzipFile#commit): what a relayed byte's channel did. */
  commitLog(): Promise<void> {
    return this.log.commit();
  }

  /** The recording's clock, ms since the epoch (for a cast opened after its channel started). */
  nowMs(): number {
    return this.now();
  }

  /** The asciicast of session channel `ch` (shell or exec); `startMs` (default now) is when the channel's program started. */
  openCast(ch: number, start: { cols: number; rows: number; term?: string; command?: string; startMs?: number }): CastWriter {
    const name = castFileName(ch);
    const cast = new CastWriter(this.file(name), { ...start, startMs: start.startMs ?? this.now() }, this.now);
    this.casts.set(ch, cast);
    this.table.setCast(ch, name);
    return cast;
  }

  /**
   * The cast of a pty-less channel, made after the channel (derived-cast.ts): its events carry the times given
   * with setNow(), and it is deflated at the interactive level as it is written (it is written once, fast).
   */
  openDerivedCast(ch: number, start: { cols: number; rows: number; term?: string; command?: string; startMs: number }): { cast: CastWriter; setNow: (ms: number) => void; error: () => Error | undefined } {
    const name = castFileName(ch);
    let at = start.startMs;
    // A cast that cannot be written whole (a full spool, the session's quota) is cut, not the recording's
    // failure: the raw streams it is made from hold every byte, and they are complete.
    let failed: Error | undefined;
    const file = new GzipFile(path.join(this.dir, name), {
      bulkBytesPerInterval: Number.POSITIVE_INFINITY,
      ...(this.quota ? { quota: this.quota.view() } : {}),
      ...(this.gzipSeal(name) !== undefined ? { seal: this.gzipSeal(name)! } : {}),
      onError: (err) => (failed ??= err),
    });
    const cast = new CastWriter(file, start, () => at);
    this.casts.set(ch, cast);
    this.derived.add(ch);
    this.table.setCast(ch, name);
    return { cast, setNow: (ms) => (at = ms), error: () => failed };
  }

  /** A session file of this recording as the trail readers take it (with the seal they open it with). */
  fileRef(name: string): SessionFileRef {
    const keys = this.opts.keys;
    return { dir: this.dir, rel: name, field: name, ...(keys !== undefined && keys.keks.length > 0 ? { seal: { keys, session: this.sessionId } } : {}) };
  }

  async closeCast(ch: number): Promise<void> {
    const cast = this.casts.get(ch);
    if (cast === undefined) return;
    this.casts.delete(ch);
    const derived = this.derived.delete(ch);
    await cast.close().catch((err: Error) => (derived ? undefined : this.fail(err)));
  }

  /**
   * The raw streams of channel `ch` (a session channel without a pty: in, out, err). Written like a cast: under
   * the spool quota, and a write error fails the recording (which ends the session: fail closed).
   */
  openStreams(ch: number): RawStreams {
    const streams = new RawStreams(ch, { open: (name) => this.file(name), stderr: true });
    this.record({ ch, type: 'streams', streams: streams.names });
    return streams;
  }

  addTransfer(t: ManifestTransfer): void {
    this.transfers.push(t);
  }

  /** How a gzip file `name` of this session is sealed; undefined without encryption keys. */
  gzipSeal(name: string): GzipSeal | undefined {
    const keys = this.opts.keys;
    return keys !== undefined && keys.keks.length > 0 ? { keys, binding: { session: this.sessionId, file: name } } : undefined;
  }

  /** A new file in the session directory (e.g. files/<n>), created 0600. */
  filePath(rel: string): string {
    const p = path.resolve(this.dir, rel);
    if (!p.startsWith(this.dir + path.sep)) throw new Error(`recording file "${rel}" is outside the session directory`);
    return p;
  }

  /** Finish every file and write the manifest. Idempotent. */
  close(opts: { complete: boolean; reason?: string }): Promise<Manifest> {
    this.closed ??= this.doClose(opts);
    return this.closed;
  }

  private async doClose(opts: { complete: boolean; reason?: string }): Promise<Manifest> {
    for (const ch of [...this.casts.keys()]) await this.closeCast(ch);
    // The reserve's room is for what follows: the log's end and the manifest.
    await fsp.rm(path.join(this.dir, SPOOL_RESERVE), { force: true });
    this.record({ type: 'session_end', complete: opts.complete && !this.failed, recovered: false, ...(opts.reason ? { reason: opts.reason } : {}) });
    await this.log.close().catch((err: Error) => this.fail(err));
    let transfers: readonly ManifestTransfer[] = this.transfers;
    const keys = this.opts.keys;
    if (keys !== undefined && keys.keks.length > 0) {
      const renamed = await sealTransferCopies(this.dir, this.sessionId, keys);
      transfers = transfers.map((t) => (t.file !== undefined && renamed.has(t.file) ? { ...t, file: renamed.get(t.file)! } : t));
    }
    const manifest = buildManifest({
      identity: this.opts.identity,
      end: new Date(this.now()),
      complete: opts.complete && !this.failed,
      recovered: false,
      channels: this.table.channels(),
      transfers,
      files: await describeFiles(this.dir),
    });
    await writeManifest(this.dir, finishManifest(manifest, keys));
    return manifest;
  }

  private file(name: string, quotaSlack = 0): GzipFile {
    return new GzipFile(path.join(this.dir, name), {
      ...(this.opts.flushIntervalMs !== undefined ? { flushIntervalMs: this.opts.flushIntervalMs } : {}),
      ...(this.quota ? { quota: this.quota.view(quotaSlack) } : {}),
      ...(this.gzipSeal(name) !== undefined ? { seal: this.gzipSeal(name)! } : {}),
      onError: (err) => this.fail(err),
    });
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.opts.onError?.(err);
  }
}
