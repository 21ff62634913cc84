// Retention of the trail: sessions older than trailExpiryDays are deleted, the transferred files
// (`files/`) of sessions older than transferredFilesExpiryDays are deleted and the manifest notes it
// (`filesExpired`, so that `srec verify` expects them gone). One replica at a time, by a lock file.
import { promises as fsp, rmdirSync } from 'node:fs';
import path from 'node:path';
import type { TrailKeys } from '../trail/crypto/keys.js';
import { manifestHash } from '../trail/crypto/manifest-seal.js';
import type { Ledger } from '../trail/ledger.js';
import { markFilesExpired } from '../trail/manifest-file.js';
import { FILES_DIR, sessionDirDay } from '../trail/paths.js';
import { readSession, sessionDirs } from '../trail/sessions.js';
import { acquireLock, defaultHolder, type LockContent } from './lock.js';

export const LOCK_FILE = '.retention.lock';
const DAY_MS = 86_400_000;

/** The part of a logger retention uses (common/log.ts's winston logger fits). */
export interface RetentionLog {
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
}

export interface RetentionOptions {
  readonly dataFolder: string;
  /** Sessions older than this are deleted; 0 keeps them forever. */
  readonly trailExpiryDays: number;
  /** Transferred files of sessions older than this are deleted; 0 keeps them forever. */
  readonly transferredFilesExpiryDays: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
  readonly log: RetentionLog;
  /** With the signing key, `filesExpired` is signed. */
  readonly keys?: TrailKeys;
  /** This replica's ledger: each removed session gets an `expired` entry, so verify knows it was retention. */
  readonly ledger?: () => Promise<Ledger> | undefined;
  readonly lock?: {
    /** Who holds the lock, written into it. @default `<hostname>-<pid>` */
    readonly holder?: string;
    /** A lock whose heartbeat is older than this is taken over. @default 1 hour */
    readonly staleAfterMs?: number;
  };
}

export interface RetentionReport {
  /** false when another replica held the lock. */
  readonly ran: boolean;
  readonly heldBy?: LockContent;
  /** Session ids (or directory names when the manifest was unreadable) deleted. */
  readonly removedSessions: string[];
  /** Session ids whose transferred files were deleted. */
  readonly expiredFiles: string[];
  readonly errors: Array<{ readonly path: string; readonly message: string }>;
}

/** When a session stopped growing: its end, or, without a readable manifest, the end of the day in its path. */
function sessionTime(dir: string): { id: string; time: number; filesExpired: boolean; hasFiles: boolean; readable: boolean; hash?: string } {
  try {
    const { manifest: m, stored } = readSession(dir);
    return {
      id: m.sessionId,
      hash: manifestHash(stored),
      time: Date.parse(m.end),
      filesExpired: m.filesExpired !== undefined,
      hasFiles: m.files.some((f) => f.path.startsWith(`${FILES_DIR}/`)),
      readable: true,
    };
  } catch {
    const day = sessionDirDay(dir) + DAY_MS;
    return { id: path.basename(dir), time: Number.isNaN(day) ? Infinity : day, filesExpired: false, hasFiles: false, readable: false };
  }
}

/** Removes now-empty day, month and year directories above a deleted session. */
function pruneEmptyParents(sessionDir: string, dataFolder: string): void {
  let dir = path.dirname(sessionDir);
  for (let i = 0; i < 3 && dir.startsWith(dataFolder) && dir !== dataFolder; i++) {
    try {
      rmdirSync(dir);
    } catch {
      return; // not empty (or already gone): stop climbing
    }
    dir = path.dirname(dir);
  }
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += await dirBytes(p);
    else n += (await fsp.stat(p).catch(() => ({ size: 0 }))).size;
  }
  return n;
}

/** One pass of retention over the share. Never throws for a single session; errors are reported and logged. */
export async function runRetention(opts: RetentionOptions): Promise<RetentionReport> {
  const now = opts.now ?? (() => new Date());
  const root = path.resolve(opts.dataFolder);
  const staleAfterMs = opts.lock?.staleAfterMs ?? 3_600_000;
  const attempt = await acquireLock(path.join(root, LOCK_FILE), { holder: opts.lock?.holder ?? defaultHolder(), staleAfterMs, now });
  if (!attempt.acquired) {
    opts.log.info('retention skipped: another replica holds the lock', { holder: attempt.heldBy?.holder, heartbeat: attempt.heldBy?.heartbeat });
    return { ran: false, heldBy: attempt.heldBy, removedSessions: [], expiredFiles: [], errors: [] };
  }
  const report: RetentionReport = { ran: true, removedSessions: [], expiredFiles: [], errors: [] };
  try {
    const t0 = now().getTime();
    const trailCutoff = opts.trailExpiryDays > 0 ? t0 - opts.trailExpiryDays * DAY_MS : -Infinity;
    const filesCutoff = opts.transferredFilesExpiryDays > 0 ? t0 - opts.transferredFilesExpiryDays * DAY_MS : -Infinity;
    let lastBeat = t0;
    for (const dir of sessionDirs(root)) {
      const s = sessionTime(dir);
      try {
        if (s.time < trailCutoff) {
          const bytes = await dirBytes(dir);
          // Before the removal: a session gone without its `expired` entry is a deleted one to verify.
          const ledger = s.hash !== undefined ? opts.ledger?.() : undefined;
          if (ledger !== undefined) await (await ledger).append('expired', s.id, path.relative(root, dir), s.hash!);
          await fsp.rm(dir, { recursive: true, force: true });
          pruneEmptyParents(dir, root);
          report.removedSessions.push(s.id);
          opts.log.info('retention removed session', {
            sessionId: s.id,
            dir,
            ended: new Date(s.time).toISOString(),
            bytes,
            ...(s.readable ? {} : { note: 'manifest unreadable; aged by its directory date' }),
          });
        } else if (s.time < filesCutoff && s.readable && !s.filesExpired) {
          const files = path.join(dir, FILES_DIR);
          const bytes = await dirBytes(files);
          const present = await fsp.stat(files).then(() => true, () => false);
          if (!present && !s.hasFiles) continue; // nothing was transferred: leave the manifest alone
          if (present) await fsp.rm(files, { recursive: true, force: true });
          await markFilesExpired(dir, now(), opts.keys);
          report.expiredFiles.push(s.id);
          if (present) opts.log.info('retention removed transferred files', { sessionId: s.id, dir: files, bytes });
        }
      } catch (err) {
        const message = (err as Error).message;
        report.errors.push({ path: dir, message });
        opts.log.warn('retention could not clean a session', { sessionId: s.id, dir, error: message });
      }
      if (now().getTime() - lastBeat > staleAfterMs / 4) {
        lastBeat = now().getTime();
        await attempt.lock.refresh();
      }
    }
    opts.log.info('retention done', { removedSessions: report.removedSessions.length, expiredFiles: report.expiredFiles.length, errors: report.errors.length });
  } finally {
    await attempt.lock.release();
  }
  return report;
}

export interface RetentionLoop {
  /** Runs a pass now (waiting for one in flight first). */
  runNow(): Promise<RetentionReport | undefined>;
  /** Stops the timer and waits for a pass in flight. */
  stop(): Promise<void>;
}

/**
 * Runs retention at start and then every `intervalMs` (default 1 hour), for the recorder process.
 * A failed pass is logged and the next one runs on schedule.
 */
export function startRetentionLoop(opts: RetentionOptions & { readonly intervalMs?: number }): RetentionLoop {
  const interval = opts.intervalMs ?? 3_600_000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let inFlight: Promise<RetentionReport | undefined> = Promise.resolve(undefined);
  const pass = (): Promise<RetentionReport | undefined> => {
    inFlight = inFlight.then(() =>
      runRetention(opts).catch((err: unknown) => {
        opts.log.warn('retention pass failed', { error: (err as Error).message });
        return undefined;
      }),
    );
    return inFlight;
  };
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      void pass().then(() => schedule(interval));
    }, delay);
    timer.unref();
  };
  schedule(0);
  return {
    runNow: pass,
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await inFlight;
    },
  };
}
