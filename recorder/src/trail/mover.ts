// Spool -> share. A closed session is copied to `<dataFolder>/.incoming/<recorderId>-<id>/` (each file
// fsynced), renamed into `<YYYY>/<MM>/<DD>/<id>` (atomic on one filesystem) and then removed from the spool.
// Failed moves are retried with backoff; at start-up every spool a crash left behind is finalized and moved,
// and one that cannot be finalized yet (a full spool disk) is retried with backoff until it can.
// /readyz: the share takes writes and has room for a session's files (the biggest one waiting, at least
// `shareMinFreeBytes`), not merely a probe's few bytes.
import { constants as fsc, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../../common/log.js';
import { backoffDelay } from '../../../common/backoff.js';
import { errorMessage } from '../../../common/log.js';
import type { Counter, Gauge } from '../../../common/metrics.js';
import { settlesWithin } from '../../../common/timeout.js';
import type { TrailKeys } from './crypto/keys.js';
import { manifestHash } from './crypto/manifest-seal.js';
import { FILE_MODE, exists, fsyncDir, fsyncPath, mkdirOwner } from './fsutil.js';
import { Ledger } from './ledger.js';
import { INCOMING, MANIFEST, incomingDir, shareSessionDir, spoolSessionDir } from './paths.js';
import { SPOOL_RESERVE } from './recording.js';
import { readSpoolManifest, recoverSpooledSession, spooledSessions } from './spool.js';

export interface MoverOptions {
  readonly tempFolder: string;
  readonly dataFolder: string;
  /** This replica's name; keeps replicas' `.incoming` entries apart. */
  readonly recorderId: string;
  readonly log: Logger;
  readonly pendingGauge?: Gauge;
  readonly failureCounter?: Counter;
  /** @default 1000 */
  readonly retryBaseMs?: number;
  /** @default 60000 */
  readonly retryMaxMs?: number;
  /** How often the share's writability is checked for /readyz. @default 10000 */
  readonly shareCheckIntervalMs?: number;
  /** @default Math.random */
  readonly random?: () => number;
  /** /readyz fails while the share has less room than this (or than the biggest recording waiting). @default 8 MiB */
  readonly shareMinFreeBytes?: number;
  /** The trail's key set: recovery seals as a clean close does; with the signing key, every move is chained in this replica's ledger. */
  readonly keys?: TrailKeys;
  /** Each recording once it is on the share (its final directory), e.g. to index it. */
  readonly onMoved?: (dir: string, sessionId: string) => void;
}

interface Pending {
  attempts: number;
  timer?: NodeJS.Timeout;
  /** The recording's bytes, once its manifest was read. */
  bytes?: number;
  /** Not finalized yet: recovery failed and is retried. */
  unrecovered?: boolean;
}

const DEFAULT_SHARE_MIN_FREE = 8 * 1024 * 1024;

export class TrailMover {
  private readonly pending = new Map<string, Pending>();
  private share: { ok: boolean; reason?: string } = { ok: false, reason: 'the share has not been checked yet' };
  private chain: Promise<unknown> = Promise.resolve();
  private checkTimer?: NodeJS.Timeout;
  private closed = false;
  private ledgerOpen?: Promise<Ledger>;

  constructor(private readonly opts: MoverOptions) {}

  /** This replica's ledger, opened on first use (the share may not be there at start); undefined without a signing key. */
  ledger(): Promise<Ledger> | undefined {
    if (this.opts.keys?.signingKey === undefined) return undefined;
    this.ledgerOpen ??= Ledger.open(this.opts.dataFolder, this.opts.recorderId, this.opts.keys);
    // A failed open (share down) is tried again on the next use.
    this.ledgerOpen.catch(() => (this.ledgerOpen = undefined));
    return this.ledgerOpen;
  }

  /** Finalize and queue whatever the spool holds, check the share, and keep checking it. */
  async start(): Promise<void> {
    await this.checkShare();
    await this.recover();
    const every = this.opts.shareCheckIntervalMs ?? 10000;
    this.checkTimer = setInterval(() => void this.checkShare(), every);
    this.checkTimer.unref();
  }

  /** Every spool directory: finalize it if it was left open, then queue its move. */
  async recover(): Promise<{ recovered: number; queued: number }> {
    await this.removeStaleIncoming();
    let recovered = 0;
    let queued = 0;
    for (const id of await spooledSessions(this.opts.tempFolder)) {
      const r = await this.recoverOne(id);
      if (r === 'recovered') recovered += 1;
      if (r !== 'failed') queued += 1;
      else this.retryRecovery(id);
    }
    return { recovered, queued };
  }

  private async recoverOne(id: string): Promise<'recovered' | 'closed' | 'failed'> {
    const dir = spoolSessionDir(this.opts.tempFolder, id);
    try {
      const wasOpen = (await readSpoolManifest(dir)) === undefined;
      // The stopped session's reserve is what gives its recovery room on a full disk.
      if (wasOpen) await fsp.rm(path.join(dir, SPOOL_RESERVE), { force: true });
      const r = await recoverSpooledSession(dir, this.opts.recorderId, this.opts.keys);
      if (wasOpen) this.opts.log.warn('recovered session left open by a stopped recorder', { sessionId: id, repaired: r.repaired });
      const p = this.pending.get(id);
      if (p) p.unrecovered = false;
      this.enqueue(id);
      return wasOpen ? 'recovered' : 'closed';
    } catch (err) {
      this.opts.log.error('cannot recover spooled session yet; will retry', { sessionId: id, dir, error: errorMessage(err) });
      return 'failed';
    }
  }

  /** Recovery failed (e.g. ENOSPC): try again with backoff; space may return as other recordings move. */
  private retryRecovery(id: string): void {
    if (this.closed) return;
    const p = this.pending.get(id) ?? { attempts: 0 };
    p.unrecovered = true;
    p.attempts += 1;
    this.pending.set(id, p);
    this.updateGauge();
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      p.timer = undefined;
      this.chain = this.chain.then(async () => {
        if ((await this.recoverOne(id)) === 'failed') this.retryRecovery(id);
      });
    }, this.backoff(p.attempts));
    p.timer.unref();
  }

  /** Sessions a worker that died left in the spool: finalized (recovered) and moved, as at start-up. */
  async recoverSessions(ids: readonly string[]): Promise<void> {
    const work = this.chain.then(async () => {
      for (const id of ids) if ((await this.recoverOne(id)) === 'failed') this.retryRecovery(id);
    });
    this.chain = work.catch(() => undefined);
    await work;
  }

  /** A closed session (its spool directory has a manifest) to move now. */
  enqueue(sessionId: string): void {
    if (this.closed) return;
    const known = this.pending.get(sessionId);
    if (!known) this.pending.set(sessionId, { attempts: 0 });
    else if (known.unrecovered === false) known.attempts = 0;
    this.updateGauge();
    this.schedule(sessionId, 0);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** For /readyz: the share takes writes. */
  ready(): { ok: boolean; reason?: string } {
    return this.share;
  }

  /** Try every pending move once more, now (shutdown). Resolves when done or after `timeoutMs`. */
  async flush(timeoutMs: number): Promise<void> {
    const ids = [...this.pending.keys()];
    for (const id of ids) {
      const p = this.pending.get(id);
      if (p?.timer) clearTimeout(p.timer);
    }
    const work = (async () => {
      for (const id of ids) await this.run(id);
    })();
    await settlesWithin(work, timeoutMs);
  }

  close(): void {
    this.closed = true;
    if (this.checkTimer) clearInterval(this.checkTimer);
    for (const p of this.pending.values()) if (p.timer) clearTimeout(p.timer);
  }

  /** Write, fsync and remove a probe file under `.incoming`; then see that a session's files fit. */
  async checkShare(): Promise<boolean> {
    const probe = path.join(this.opts.dataFolder, INCOMING, `.probe-${this.opts.recorderId}`);
    const wasOk = this.share.ok;
    try {
      await mkdirOwner(path.dirname(probe));
      const fh = await fsp.open(probe, 'w', FILE_MODE);
      try {
        await fh.writeFile('probe\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.unlink(probe);
      this.share = await this.roomOnShare();
    } catch (err) {
      this.share = { ok: false, reason: `dataFolder ${this.opts.dataFolder} is not writable: ${errorMessage(err)}` };
      if (wasOk) this.opts.log.error('share not writable; recordings stay in the spool', { dataFolder: this.opts.dataFolder, error: errorMessage(err) });
    }
    if (this.share.ok && !wasOk) {
      // Back again: retry everything waiting instead of waiting out each backoff.
      for (const id of this.pending.keys()) this.schedule(id, 0);
    }
    return this.share.ok;
  }

  /** The share's free bytes against what a session's files need: the biggest waiting, at least shareMinFreeBytes. */
  private async roomOnShare(): Promise<{ ok: boolean; reason?: string }> {
    const st = await fsp.statfs(this.opts.dataFolder);
    const free = st.bavail * st.bsize;
    let need = this.opts.shareMinFreeBytes ?? DEFAULT_SHARE_MIN_FREE;
    for (const p of this.pending.values()) need = Math.max(need, p.bytes ?? 0);
    if (free >= need) return { ok: true };
    return { ok: false, reason: `dataFolder ${this.opts.dataFolder} has ${free} bytes free; a session's files need ${need}` };
  }

  private schedule(id: string, delayMs: number): void {
    const p = this.pending.get(id);
    if (!p || this.closed || p.unrecovered) return;
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      p.timer = undefined;
      void this.run(id);
    }, delayMs);
    p.timer.unref();
  }

  /** One attempt, serialized with every other move of this replica. */
  private run(id: string): Promise<void> {
    const next = this.chain.then(async () => {
      const p = this.pending.get(id);
      if (!p || p.unrecovered) return;
      try {
        const final = await this.moveOne(id, p);
        this.pending.delete(id);
        this.updateGauge();
        this.opts.log.info('recording moved to the share', { sessionId: id, dir: final, attempts: p.attempts + 1 });
        this.opts.onMoved?.(final, id);
      } catch (err) {
        p.attempts += 1;
        this.opts.failureCounter?.inc();
        const delay = this.backoff(p.attempts);
        this.opts.log.warn('recording move failed; will retry', { sessionId: id, attempts: p.attempts, retryInMs: delay, error: errorMessage(err) });
        void this.checkShare();
        this.schedule(id, delay);
      }
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  private backoff(attempts: number): number {
    const base = this.opts.retryBaseMs ?? 1000;
    const max = this.opts.retryMaxMs ?? 60000;
    return backoffDelay(attempts, { baseMs: base, maxMs: max, jitter: [0.5, 1] }, this.opts.random);
  }

  /** Copy, fsync, rename, then drop the spool copy. Returns the final directory. */
  private async moveOne(id: string, p: Pending): Promise<string> {
    const src = spoolSessionDir(this.opts.tempFolder, id);
    const manifest = await readSpoolManifest(src);
    if (!manifest) throw new Error(`spool ${src} has no manifest`);
    p.bytes = manifest.files.reduce((n, f) => n + f.size, 0);
    const final = shareSessionDir(this.opts.dataFolder, id, new Date(manifest.start));
    if (await exists(path.join(final, MANIFEST))) {
      // An earlier attempt renamed it but stopped before cleaning the spool.
      await fsp.rm(src, { recursive: true, force: true });
      return final;
    }
    const inc = incomingDir(this.opts.dataFolder, this.opts.recorderId, id);
    await fsp.rm(inc, { recursive: true, force: true });
    try {
      await this.copyIn(src, inc, manifest.files.map((x) => x.path));
    } catch (err) {
      // A half copy on a full share would take the room the next attempt needs.
      await fsp.rm(inc, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
    // In the ledger before it is on the share: a crash between the two re-runs the move, which finds the entry.
    const ledger = this.ledger();
    if (ledger !== undefined) {
      const l = await ledger;
      const hash = manifestHash(manifest);
      if (!l.has('sealed', id, hash)) {
        const e = await l.append('sealed', id, path.relative(this.opts.dataFolder, final), hash);
        this.opts.log.info('ledger appended', { sessionId: id, ledger: l.file, seq: e.seq, head: l.position.head, manifest: hash });
      }
    }
    const parent = path.dirname(final);
    await mkdirOwner(parent);
    await fsp.rename(inc, final);
    // The rename and any date directories it needed must survive a power cut too.
    for (let d = parent; d.startsWith(this.opts.dataFolder) && d !== path.dirname(this.opts.dataFolder); d = path.dirname(d)) {
      await fsyncDir(d);
      if (d === this.opts.dataFolder) break;
    }
    await fsyncDir(path.dirname(inc));
    await fsp.rm(src, { recursive: true, force: true });
    return final;
  }

  /** Copy the files and the manifest into `inc`, each fsynced, and the directories too. */
  private async copyIn(src: string, inc: string, files: readonly string[]): Promise<void> {
    await mkdirOwner(inc);
    const dirs = new Set<string>([inc]);
    for (const f of [...files, MANIFEST]) {
      const to = path.join(inc, f);
      if (path.dirname(to) !== inc) {
        await mkdirOwner(path.dirname(to));
        dirs.add(path.dirname(to));
      }
      await fsp.copyFile(path.join(src, f), to, fsc.COPYFILE_EXCL);
      await fsp.chmod(to, FILE_MODE);
      await fsyncPath(to);
    }
    for (const d of [...dirs].reverse()) await fsyncDir(d);
  }

  private async removeStaleIncoming(): Promise<void> {
    const dir = path.join(this.opts.dataFolder, INCOMING);
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch {
      return;
    }
    // Only this replica's: another replica may be copying right now.
    const mine = (n: string) => n.startsWith(`${this.opts.recorderId}-`) && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(n.slice(this.opts.recorderId.length + 1));
    for (const n of names.filter(mine)) {
      await fsp.rm(path.join(dir, n), { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private updateGauge(): void {
    this.opts.pendingGauge?.set(this.pending.size);
  }
}
