// A lock file on the share so that one recorder replica at a time runs retention: created with O_EXCL,
// holding who took it and when; a holder that died is taken over after `staleAfterMs`.
// Retention is idempotent (deleting what is already gone is a no-op), so the narrow race of two replicas
// taking over the same stale lock at once costs duplicate work, not data.
import { promises as fsp } from 'node:fs';
import os from 'node:os';

export interface LockContent {
  readonly holder: string;
  readonly pid: number;
  readonly host: string;
  /** ISO-8601, from the injected clock; refreshed while the holder works. */
  readonly heartbeat: string;
}

export interface HeldLock {
  /** Rewrites the heartbeat so that others do not take the lock over. */
  refresh(): Promise<void>;
  release(): Promise<void>;
}

export type LockAttempt = { readonly acquired: true; readonly lock: HeldLock } | { readonly acquired: false; readonly heldBy: LockContent | undefined };

export function defaultHolder(): string {
  return `${os.hostname()}-${process.pid}`;
}

async function readLock(file: string): Promise<LockContent | undefined> {
  try {
    const c = JSON.parse(await fsp.readFile(file, 'utf8')) as LockContent;
    return typeof c.holder === 'string' && typeof c.heartbeat === 'string' ? c : undefined;
  } catch {
    return undefined;
  }
}

export async function acquireLock(file: string, opts: { holder: string; staleAfterMs: number; now: () => Date }): Promise<LockAttempt> {
  const content = (): string =>
    JSON.stringify({ holder: opts.holder, pid: process.pid, host: os.hostname(), heartbeat: opts.now().toISOString() } satisfies LockContent) + '\n';
  const create = async (): Promise<boolean> => {
    try {
      const fh = await fsp.open(file, 'wx', 0o600);
      try {
        await fh.writeFile(content());
        await fh.sync();
      } finally {
        await fh.close();
      }
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  };
  const held: HeldLock = {
    async refresh() {
      const cur = await readLock(file);
      if (cur?.holder === opts.holder) await fsp.writeFile(file, content(), { mode: 0o600 });
    },
    async release() {
      const cur = await readLock(file);
      if (cur?.holder === opts.holder) await fsp.rm(file, { force: true });
    },
  };
  if (await create()) return { acquired: true, lock: held };

  const cur = await readLock(file);
  // An unreadable lock (its holder died between creating and writing it) ages by its mtime.
  let since: number;
  if (cur !== undefined) since = Date.parse(cur.heartbeat);
  else {
    const st = await fsp.stat(file).catch(() => undefined);
    if (st === undefined) return (await create()) ? { acquired: true, lock: held } : { acquired: false, heldBy: await readLock(file) };
    since = st.mtimeMs;
  }
  if (!(opts.now().getTime() - since > opts.staleAfterMs)) return { acquired: false, heldBy: cur };
  await fsp.rm(file, { force: true });
  if (await create()) return { acquired: true, lock: held };
  return { acquired: false, heldBy: await readLock(file) };
}
