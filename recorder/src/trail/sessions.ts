// The sessions on the share (docs/internals.md "The trail on the share"): every
// `<dataFolder>/<YYYY>/<MM>/<DD>/<sessionId>/` directory and its manifest. `.incoming`, the retention lock
// and other dot entries are not sessions. A directory that cannot be read is named as a problem and never
// hides the others.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Manifest } from './manifest.js';
import { readManifest } from './manifest-file.js';

/** A session directory whose manifest could be read. */
export interface StoredSession {
  readonly id: string;
  /** Absolute path of the session directory. */
  readonly dir: string;
  readonly manifest: Manifest;
}

/** Something wrong with one recording, named so that a person can find it. */
export interface TrailProblem {
  readonly session?: string;
  readonly path: string;
  readonly message: string;
}

const DIGITS = /^\d+$/;

/** Every `<YYYY>/<MM>/<DD>/<sessionId>` directory under the data folder, oldest day first. */
export function sessionDirs(dataFolder: string): string[] {
  const out: string[] = [];
  const sub = (dir: string, pattern: RegExp): string[] => {
    try {
      return readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && pattern.test(e.name))
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  };
  for (const y of sub(dataFolder, DIGITS)) {
    for (const m of sub(path.join(dataFolder, y), DIGITS)) {
      for (const d of sub(path.join(dataFolder, y, m), DIGITS)) {
        const day = path.join(dataFolder, y, m, d);
        for (const s of sub(day, /^[^.]/)) out.push(path.join(day, s));
      }
    }
  }
  return out;
}

/** The session in `dir`; throws an Error saying why when its manifest is missing or bad. */
export function readSession(dir: string): StoredSession {
  const manifest = readManifest(dir);
  const abs = path.resolve(dir);
  return { id: manifest.sessionId || path.basename(abs), dir: abs, manifest };
}

/** Every session on the share, oldest first; a directory without a readable manifest becomes a problem. */
export function scanSessions(dataFolder: string): { sessions: StoredSession[]; problems: TrailProblem[] } {
  const root = path.resolve(dataFolder);
  const st = statSync(root, { throwIfNoEntry: false });
  if (st === undefined || !st.isDirectory()) throw new Error(`--data ${dataFolder}: not a directory`);
  const sessions: StoredSession[] = [];
  const problems: TrailProblem[] = [];
  for (const dir of sessionDirs(root)) {
    try {
      sessions.push(readSession(dir));
    } catch (err) {
      problems.push({ session: path.basename(dir), path: dir, message: (err as Error).message });
    }
  }
  sessions.sort((a, b) => Date.parse(a.manifest.start) - Date.parse(b.manifest.start) || a.id.localeCompare(b.id));
  return { sessions, problems };
}

/** Finds a session by its full id or a unique prefix of it; the error says which. */
export function resolveSession(sessions: readonly StoredSession[], idOrPrefix: string): StoredSession {
  const exact = sessions.find((s) => s.id === idOrPrefix);
  if (exact !== undefined) return exact;
  const matches = sessions.filter((s) => s.id.startsWith(idOrPrefix));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new Error(`no session with id or id prefix "${idOrPrefix}"`);
  throw new Error(`"${idOrPrefix}" matches ${matches.length} sessions (${matches.map((s) => s.id).join(', ')}); give more of the id`);
}

/** The cast files of a session, in channel order, relative to its directory. */
export function castFiles(s: StoredSession): Array<{ channel: number; file: string }> {
  return s.manifest.channels
    .filter((c) => c.cast !== undefined && c.cast !== '')
    .map((c) => ({ channel: c.id, file: c.cast! }))
    .sort((a, b) => a.channel - b.channel);
}

/** One line for stderr naming the session and the file: `session <id>: <path>: <message>`. */
export function formatProblem(p: TrailProblem): string {
  return p.session !== undefined ? `session ${p.session}: ${p.path}: ${p.message}` : `${p.path}: ${p.message}`;
}
