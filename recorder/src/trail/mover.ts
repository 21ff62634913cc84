// Spool -> share. A closed session is copied to `<dataFolder>/.incoming/<recorderId>-<id>/` (each file
// fsynced), renamed into `<YYYY>/<MM>/<DD>/<id>` (atomic on one filesystem) and then removed from the spool.
// Failed moves are retried with backoff; at start-up every spool a crash left behind is finalized and moved.
import { constants as fsc, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../../common/log.js';
import { backoffDelay } from '../../../common/backoff.js';
import { errorMessage } from '../../../common/log.js';
import type { Counter, Gauge } from '../../../common/metrics.js';
import { settlesWithin } from '../../../common/timeout.js';
import { FILE_MODE, exists, fsyncDir, fsyncPath, mkdirOwner } from './fsutil.js';
import { INCOMING, MANIFEST, incomingDir, shareSessionDir, spoolSessionDir } from './paths.js';
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
}

interface Pending {
  attempts: number;
  timer?: NodeJS.Timeout;
}

export class TrailMover {
  private readonly pending = new Map<string, Pending>();
  private share: { ok: boolean; reason?: string } = { ok: false, reason: 'the share has not been checked yet' };
  private chain: Promise<unknown> = Promise.resolve();
  private checkTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: MoverOptions) {}

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
      const dir = spoolSessionDir(this.opts.tempFolder, id);
      try {
        const wasOpen = (await readSpoolManifest(dir)) === undefined;
        const r = await recoverSpooledSession(dir, this.opts.recorderId);
        if (wasOpen) {
          recovered += 1;
          this.opts.log.warn('recovered session left open by a stopped recorder', { sessionId: id, repaired: r.repaired });
        }
        this.enqueue(id);
        queued += 1;
      } catch (err) {
        this.opts.log.error('cannot recover spooled session; left in the spool', { sessionId: id, dir, error: errorMessage(err) });
      }
    }
    return { recovered, queued };
  }

  /** A closed session (its spool directory has a manifest) to move now. */
  enqueue(sessionId: string): void {
    if (this.closed) return;
    if (!this.pending.has(sessionId)) this.pending.set(sessionId, { attempts: 0 });
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

  /** Write, fsync and remove a probe file under `.incoming`. */
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
      this.share = { ok: true };
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

  private schedule(id: string, delayMs: number): void {
    const p = this.pending.get(id);
    if (!p || this.closed) return;
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
      if (!p) return;
      try {
        const final = await this.moveOne(id);
        this.pending.delete(id);
        this.updateGauge();
        this.opts.log.info('recording moved to the share', { sessionId: id, dir: final, attempts: p.attempts + 1 });
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
  private async moveOne(id: string): Promise<string> {
    const src = spoolSessionDir(this.opts.tempFolder, id);
    const manifest = await readSpoolManifest(src);
    if (!manifest) throw new Error(`spool ${src} has no manifest`);
    const final = shareSessionDir(this.opts.dataFolder, id, new Date(manifest.start));
    if (await exists(path.join(final, MANIFEST))) {
      // An earlier attempt renamed it but stopped before cleaning the spool.
      await fsp.rm(src, { recursive: true, force: true });
      return final;
    }
    const inc = incomingDir(this.opts.dataFolder, this.opts.recorderId, id);
    await fsp.rm(inc, { recursive: true, force: true });
    await mkdirOwner(inc);
    const dirs = new Set<string>([inc]);
    for (const f of [...manifest.files.map((x) => x.path), MANIFEST]) {
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
