// The sessions on the share as the console lists them: a cache of their manifests, refreshed by walking the
// share's day directories (cheap) and reading only the manifests it has not seen. Requests name a session
// by its id; the directory always comes from the walker (trail/), never from the request.
import type { TrailKeys } from '../../recorder/src/trail/crypto/keys.js';
import { readSession, sessionDirs, type StoredSession } from '../../recorder/src/trail/sessions.js';

export type SessionStatus = 'complete' | 'incomplete' | 'recovered';

/** One row of the connections list (GET /api/sessions). */
export interface SessionRow {
  readonly id: string;
  readonly user: string;
  readonly targetUser: string;
  readonly host: string;
  readonly hostAddress: string;
  readonly remoteAddress: string;
  readonly start: string;
  readonly end: string;
  /** Seconds; absent without an end time. */
  readonly duration?: number;
  readonly status: SessionStatus;
  readonly channels: number;
  readonly transfers: number;
  /** Bytes of the session's files as the manifest lists them. */
  readonly size: number;
}

export interface SessionFilter {
  /** The person (exact). */
  readonly user?: string;
  readonly targetUser?: string;
  readonly host?: string;
  /** Sessions that started at or after this time (ms since the epoch). */
  readonly from?: number;
  /** Sessions that started before this time (ms since the epoch). */
  readonly to?: number;
  readonly status?: SessionStatus;
  readonly hasTransfers?: boolean;
}

export interface Page<T> {
  readonly items: T[];
  readonly total: number;
  readonly page: number;
  readonly pageSize: number;
}

interface Entry {
  readonly row: SessionRow;
  readonly dir: string;
  readonly startMs: number;
  /** As read when the catalog first met it: what a search across sessions starts from. */
  readonly stored: StoredSession;
}

function rowOf(s: StoredSession): SessionRow {
  const m = s.manifest;
  const endMs = Date.parse(m.end);
  const startMs = Date.parse(m.start);
  return {
    id: s.id,
    user: m.user,
    targetUser: m.targetUser,
    host: m.host.name,
    hostAddress: m.host.port === 22 ? m.host.address : `${m.host.address}:${m.host.port}`,
    remoteAddress: m.remoteAddress,
    start: m.start,
    end: m.end,
    ...(Number.isNaN(endMs) || Number.isNaN(startMs) ? {} : { duration: Math.max(0, (endMs - startMs) / 1000) }),
    status: m.recovered ? 'recovered' : m.complete ? 'complete' : 'incomplete',
    channels: m.channels.length,
    transfers: m.transfers.length,
    size: m.files.reduce((n, f) => n + Math.max(f.size, 0), 0),
  };
}

export function matches(row: SessionRow, startMs: number, f: SessionFilter): boolean {
  if (f.user !== undefined && row.user !== f.user) return false;
  if (f.targetUser !== undefined && row.targetUser !== f.targetUser) return false;
  if (f.host !== undefined && row.host !== f.host) return false;
  if (f.from !== undefined && !(startMs >= f.from)) return false;
  if (f.to !== undefined && !(startMs < f.to)) return false;
  if (f.status !== undefined && row.status !== f.status) return false;
  if (f.hasTransfers !== undefined && row.transfers > 0 !== f.hasTransfers) return false;
  return true;
}

export interface CatalogOptions {
  readonly dataFolder: string;
  /** The trail's key set: encrypted sessions are listed with their sealed content opened. */
  readonly keys?: TrailKeys;
  /** A walk of the share is reused for this long. @default 1000 */
  readonly refreshMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export class Catalog {
  private byDir = new Map<string, Entry>();
  private byId = new Map<string, Entry>();
  /** Newest first. */
  private sorted: Entry[] = [];
  private refreshedAt = -Infinity;
  /** Directories whose manifest could not be read, with why (a session still being moved has none yet). */
  private unreadable = new Map<string, string>();

  constructor(private readonly opts: CatalogOptions) {}

  /** Walks the share again unless it was walked within refreshMs; reads the manifests of new directories. */
  refresh(force = false): void {
    const now = (this.opts.now ?? Date.now)();
    if (!force && now - this.refreshedAt < (this.opts.refreshMs ?? 1000)) return;
    this.refreshedAt = now;
    const next = new Map<string, Entry>();
    const unreadable = new Map<string, string>();
    for (const dir of sessionDirs(this.opts.dataFolder)) {
      const known = this.byDir.get(dir);
      if (known !== undefined) {
        next.set(dir, known);
        continue;
      }
      try {
        const s = readSession(dir, this.opts.keys);
        next.set(dir, { row: rowOf(s), dir: s.dir, startMs: Date.parse(s.manifest.start), stored: s });
      } catch (err) {
        unreadable.set(dir, (err as Error).message);
      }
    }
    this.byDir = next;
    this.unreadable = unreadable;
    this.byId = new Map([...next.values()].map((e) => [e.row.id, e]));
    this.sorted = [...next.values()].sort((a, b) => b.startMs - a.startMs || (a.row.id < b.row.id ? -1 : 1));
  }

  list(filter: SessionFilter, page = 1, pageSize = 50): Page<SessionRow> {
    this.refresh();
    const all = this.sorted.filter((e) => matches(e.row, e.startMs, filter));
    const p = Math.max(1, Math.floor(page));
    return { items: all.slice((p - 1) * pageSize, p * pageSize).map((e) => e.row), total: all.length, page: p, pageSize };
  }

  /** Every session, newest first, as read when first met (manifests are not read again). */
  all(): StoredSession[] {
    this.refresh();
    return this.sorted.map((e) => e.stored);
  }

  /** The distinct people, target users and hosts, for the filter's choices. */
  facets(): { users: string[]; targetUsers: string[]; hosts: string[] } {
    this.refresh();
    const set = (f: (r: SessionRow) => string) => [...new Set(this.sorted.map((e) => f(e.row)))].sort();
    return { users: set((r) => r.user), targetUsers: set((r) => r.targetUser), hosts: set((r) => r.host) };
  }

  /** The session with exactly this id, its manifest read again; undefined when there is none. */
  get(id: string): StoredSession | undefined {
    this.refresh();
    let e = this.byId.get(id);
    if (e === undefined) {
      this.refresh(true);
      e = this.byId.get(id);
    }
    if (e === undefined) return undefined;
    try {
      return readSession(e.dir, this.opts.keys);
    } catch {
      return undefined;
    }
  }

  get size(): number {
    return this.byDir.size;
  }

  problems(): Array<{ path: string; message: string }> {
    return [...this.unreadable].map(([path, message]) => ({ path, message }));
  }
}
