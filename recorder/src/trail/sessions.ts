// The sessions on the share (docs/internals.md "The trail on the share"): every
// `<dataFolder>/<YYYY>/<MM>/<DD>/<sessionId>/` directory and its manifest. `.incoming`, the retention lock
// and other dot entries are not sessions. A directory that cannot be read is named as a problem and never
// hides the others; a symbolic link where a directory belongs is named too, and never followed.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { TrailKeys } from './crypto/keys.js';
import type { Manifest } from './manifest.js';
import { readManifest } from './manifest-file.js';
import type { SessionFileRef } from './session-file.js';

/** A session directory whose manifest could be read. */
export interface StoredSession {
  readonly id: string;
  /** Absolute path of the session directory. */
  readonly dir: string;
  /** With the keys: the sealed content opened. Without: as stored (content fields absent when sealed). */
  readonly manifest: Manifest;
  /** The manifest as on the share: what its signature covers. */
  readonly stored: Manifest;
  /** The keys the session was read with: its files are opened with them. */
  readonly keys?: TrailKeys;
}

/** Something wrong with one recording, named so that a person can find it. */
export interface TrailProblem {
  readonly session?: string;
  readonly path: string;
  readonly message: string;
}

const DIGITS = /^\d+$/;

/**
 * Every `<YYYY>/<MM>/<DD>/<sessionId>` directory under the data folder, oldest day first. Only real
 * directories: a symbolic link in their place could lead out of the share, so it is handed to `onLink`
 * (with what it stands for) and not followed.
 */
export function sessionDirs(dataFolder: string, onLink?: (link: string, level: 'year' | 'month' | 'day' | 'session') => void): string[] {
  const out: string[] = [];
  const sub = (dir: string, pattern: RegExp, level: 'year' | 'month' | 'day' | 'session'): string[] => {
    try {
      // withFileTypes answers from lstat: a link to a directory is a link here, not a directory.
      const entries = readdirSync(dir, { withFileTypes: true }).filter((e) => pattern.test(e.name));
      for (const e of entries) if (e.isSymbolicLink()) onLink?.(path.join(dir, e.name), level);
      return entries
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  };
  for (const y of sub(dataFolder, DIGITS, 'year')) {
    for (const m of sub(path.join(dataFolder, y), DIGITS, 'month')) {
      for (const d of sub(path.join(dataFolder, y, m), DIGITS, 'day')) {
        const day = path.join(dataFolder, y, m, d);
        for (const s of sub(day, /^[^.]/, 'session')) out.push(path.join(day, s));
      }
    }
  }
  return out;
}

/**
 * The session in `dir`; throws an Error saying why when its manifest is missing or bad, or when `keys`
 * cannot open its sealed content.
 */
export function readSession(dir: string, keys?: TrailKeys): StoredSession {
  const stored = readManifest(dir);
  const manifest = keys !== undefined ? readManifest(dir, keys) : stored;
  const abs = path.resolve(dir);
  return { id: manifest.sessionId || path.basename(abs), dir: abs, manifest, stored, ...(keys !== undefined ? { keys } : {}) };
}

/** How the files of `s` are opened: with its keys, sealed for it. */
export function sealOf(s: StoredSession): NonNullable<SessionFileRef['seal']> {
  return { session: s.manifest.sessionId, ...(s.keys !== undefined ? { keys: s.keys } : {}) };
}

/** Every session on the share, oldest first; a directory without a readable manifest becomes a problem. */
export function scanSessions(dataFolder: string, opts: { readonly keys?: TrailKeys } = {}): { sessions: StoredSession[]; problems: TrailProblem[] } {
  const root = path.resolve(dataFolder);
  const st = statSync(root, { throwIfNoEntry: false });
  if (st === undefined || !st.isDirectory()) throw new Error(`--data ${dataFolder}: not a directory`);
  const sessions: StoredSession[] = [];
  const problems: TrailProblem[] = [];
  const onLink = (link: string, level: string) =>
    problems.push({
      ...(level === 'session' ? { session: path.basename(link) } : {}),
      path: link,
      message: `a symbolic link where a ${level} directory belongs; not followed (sessions are read only from real directories inside the share: remove the link, or move the session it points to into the share)`,
    });
  for (const dir of sessionDirs(root, onLink)) {
    try {
      sessions.push(readSession(dir, opts.keys));
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

/** A cast a session's manifest names: `ref` for the trail readers, which open only a regular file inside the session. */
export interface CastFile {
  readonly channel: number;
  /** As the manifest has it, relative to the session directory (not checked: the readers do). */
  readonly file: string;
  readonly ref: SessionFileRef;
}

/** The cast files of a session, in channel order. */
export function castFiles(s: StoredSession): CastFile[] {
  return s.manifest.channels
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.cast !== undefined && c.cast !== '')
    .map(({ c, i }) => ({ channel: c.id, file: c.cast!, ref: { dir: s.dir, rel: c.cast!, field: `channels[${i}].cast`, seal: sealOf(s) } }))
    .sort((a, b) => a.channel - b.channel);
}

/** A raw stream a session's manifest names: the exact bytes of one direction of a channel. */
export interface RawStreamFile {
  readonly channel: number;
  /** `in`: from the person; `out`: to the person (stdout, or the far end of a tunnel); `err`: stderr. */
  readonly lane: 'in' | 'out' | 'err';
  readonly file: string;
  readonly ref: SessionFileRef;
}

/** The raw streams of a session (channels without a pty, forwarded channels), in channel order. */
export function rawStreamFiles(s: StoredSession): RawStreamFile[] {
  const out: RawStreamFile[] = [];
  s.manifest.channels.forEach((c, i) => {
    for (const lane of ['in', 'out', 'err'] as const) {
      const file = c.streams?.[lane];
      if (typeof file === 'string' && file !== '') out.push({ channel: c.id, lane, file, ref: { dir: s.dir, rel: file, field: `channels[${i}].streams.${lane}`, seal: sealOf(s) } });
    }
  });
  return out.sort((a, b) => a.channel - b.channel);
}

/** One line for stderr naming the session and the file: `session <id>: <path>: <message>`. */
export function formatProblem(p: TrailProblem): string {
  return p.session !== undefined ? `session ${p.session}: ${p.path}: ${p.message}` : `${p.path}: ${p.message}`;
}
