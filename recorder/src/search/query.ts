// Keyword search over every session's transcripts: index each session on first use, then look the
// phrase's tokens up, and confirm each candidate line against its real text.
import { resolveSession, scanSessions, type StoredSession, type TrailProblem } from '../trail/sessions.js';
import type { TrailKeys } from '../trail/crypto/keys.js';
import type { BuildOutcome } from './index-store.js';
import type { PoolOptions } from './index-pool.js';
import { indexState, openIndex, type SessionIndex, type IndexedLine } from './index-store.js';
import { timeOfSpan } from './terminal.js';
import { compilePhrase, type Phrase } from './tokens.js';
import type { TermFilters } from './term-filter.js';
import type { Stream } from './transcript.js';

export interface SearchOptions {
  readonly dataFolder: string;
  /** The words, matched as a phrase (whole words at both ends). */
  readonly words: string;
  /** Only this session: its id or a unique prefix. */
  readonly session?: string;
  /** @default false */
  readonly caseSensitive?: boolean;
  /** Only what was typed, or only what was printed. @default both */
  readonly stream?: Stream;
  /** Lines of the same channel and stream shown before and after a hit. @default 2 */
  readonly contextLines?: number;
  /** Stop after this many hits. @default no limit */
  readonly limit?: number;
  /** Each hit as it is found (then `hits` of the result stays empty). */
  readonly onHit?: (hit: SearchHit) => void;
  /** A recording that is damaged, or an index that could not be stored, as it is met. */
  readonly onProblem?: (problem: TrailProblem) => void;
  /** The trail's key set: opens encrypted sessions (their casts, manifests and index). */
  readonly keys?: TrailKeys;
  /**
   * The sessions to search, as the caller already read them (a console's catalog); the share is not walked.
   * @default every session under dataFolder
   */
  readonly sessions?: readonly StoredSession[];
  /** Per-session token filters kept by a long-running caller: only the sessions that may match are opened. */
  readonly filters?: TermFilters;
  /** How missing indexes are built in parallel. @default worker threads on every core (at most 4) */
  readonly pool?: PoolOptions;
}

export interface SearchHit {
  readonly session: string;
  readonly channel: number;
  readonly stream: Stream;
  /** Seconds from the start of the channel's recording (the asciicast time) when the matched text was complete. */
  readonly time: number;
  /** The matched line (long lines are cut around the match). */
  readonly line: string;
  /** The line with up to `contextLines` lines of the same channel and stream before and after it. */
  readonly context: string[];
  readonly user: string;
  readonly targetUser: string;
  readonly host: string;
  /** The session's start, ISO-8601. */
  readonly start: string;
}

export interface SearchStats {
  readonly sessions: number;
  readonly indexesBuilt: number;
  readonly indexesUsed: number;
  /** Compressed cast bytes read (0 when every index already existed). */
  readonly castBytesRead: number;
}

export interface SearchResult {
  readonly hits: SearchHit[];
  readonly problems: TrailProblem[];
  readonly stats: SearchStats;
}

/** Thrown for a query or option that cannot be run (exit 2 in the CLI). */
export class SearchUsageError extends Error {}

const round3 = (t: number) => Math.round(t * 1000) / 1000;

function cut(text: string, at: number, len: number, room: number): string {
  if (text.length <= room) return text;
  const from = Math.max(0, at - Math.floor((room - len) / 2));
  const to = Math.min(text.length, from + room);
  return (from > 0 ? '…' : '') + text.slice(from, to) + (to < text.length ? '…' : '');
}

/** Up to n lines of the same channel and stream next to `hit`, looking no further than 64 lines away. */
function neighbours(index: SessionIndex, hit: IndexedLine, n: number, dir: 1 | -1): string[] {
  const out: string[] = [];
  for (let id = hit.id + dir, steps = 0; out.length < n && steps < 64; id += dir, steps++) {
    const l = index.line(id);
    if (l === undefined) break;
    if (l.channel === hit.channel && l.stream === hit.stream) out.push(cut(l.text, 0, 0, 300));
  }
  return dir === -1 ? out.reverse() : out;
}

function searchOne(ref: StoredSession, index: SessionIndex, phrase: Phrase, opts: SearchOptions): SearchHit[] {
  const hits: SearchHit[] = [];
  const m = ref.manifest;
  const ctx = opts.contextLines ?? 2;
  for (const id of index.candidates(phrase.hashes)) {
    const l = index.line(id);
    if (l === undefined || (opts.stream !== undefined && l.stream !== opts.stream)) continue;
    phrase.re.lastIndex = 0;
    const match = phrase.re.exec(l.text);
    if (match === null) continue;
    const line = cut(l.text, match.index, match[0].length, 1000);
    hits.push({
      session: ref.id,
      channel: l.channel,
      stream: l.stream,
      time: round3(timeOfSpan(l, match.index, match.index + match[0].length)),
      line,
      context: [...neighbours(index, l, ctx, -1), line, ...neighbours(index, l, ctx, 1)],
      user: m.user,
      targetUser: m.targetUser,
      host: m.host.name,
      start: m.start,
    });
  }
  return hits.sort((a, b) => a.channel - b.channel || a.time - b.time || (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
}

/**
 * Searches the sessions under `dataFolder` (or one of them). Damaged recordings are searched as far as
 * they can be read and reported in `problems`; they never stop the search of the others.
 */
export async function searchSessions(opts: SearchOptions): Promise<SearchResult> {
  let phrase: Phrase;
  try {
    phrase = compilePhrase(opts.words, { caseSensitive: opts.caseSensitive });
  } catch (err) {
    throw new SearchUsageError((err as Error).message);
  }
  const problems: TrailProblem[] = [];
  const problem = (p: TrailProblem) => {
    problems.push(p);
    opts.onProblem?.(p);
  };
  let scan: ReturnType<typeof scanSessions>;
  try {
    scan = opts.sessions !== undefined ? { sessions: [...opts.sessions], problems: [] } : scanSessions(opts.dataFolder, opts.keys !== undefined ? { keys: opts.keys } : {});
  } catch (err) {
    throw new SearchUsageError((err as Error).message);
  }
  let refs = scan.sessions;
  if (opts.session !== undefined) {
    try {
      refs = [resolveSession(refs, opts.session)];
    } catch (err) {
      throw new SearchUsageError((err as Error).message);
    }
  } else {
    scan.problems.forEach(problem);
  }

  // An encrypted session cannot be searched without its keys; its index is never rebuilt in the clear.
  const locked = refs.filter((r) => r.stored.sealed !== undefined && (opts.keys === undefined || opts.keys.keks.length === 0));
  for (const r of locked) problem({ session: r.id, path: r.dir, message: 'skipped: encrypted; give --keys DIR holding the trail\'s encryption.json' });
  if (locked.length > 0) refs = refs.filter((r) => !locked.includes(r));
  const searched = refs.length;
  if (opts.filters !== undefined) refs = refs.filter((r) => opts.filters!.mayContain(r, phrase.hashes));
  const hits: SearchHit[] = [];
  let found = 0;
  let built = 0;
  let used = 0;
  let bytes = 0;
  // The worker pool (and worker_threads) is loaded only when there is something to build: a repeated
  // search starts faster without it.
  const { current, toBuild } = indexState(refs);
  const prebuilt =
    toBuild.length >= 2
      ? await (await import('./index-pool.js')).prebuildIndexes(toBuild, { ...opts.pool, ...(opts.keys !== undefined ? { keysDir: opts.keys.dir } : {}) })
      : new Map<string, BuildOutcome>();
  for (const ref of refs) {
    if (opts.limit !== undefined && found >= opts.limit) break;
    let opened: Awaited<ReturnType<typeof openIndex>>;
    try {
      opened = await openIndex(ref, prebuilt.get(ref.dir), current.get(ref.dir));
      prebuilt.delete(ref.dir);
    } catch (err) {
      problem({ session: ref.id, path: ref.dir, message: `skipped: ${(err as Error).message}` });
      continue;
    }
    const { index } = opened;
    if (opened.built) built++;
    else used++;
    bytes += opened.bytesRead;
    opened.problems.forEach(problem);
    if (opened.writeError !== undefined) {
      problem({ session: ref.id, path: ref.dir, message: `index not stored (${opened.writeError}); searched the recordings directly` });
    }
    try {
      for (const hit of searchOne(ref, index, phrase, opts)) {
        if (opts.limit !== undefined && found >= opts.limit) break;
        found++;
        if (opts.onHit !== undefined) opts.onHit(hit);
        else hits.push(hit);
      }
    } catch (err) {
      problem({ session: ref.id, path: ref.dir, message: `index unreadable, skipped: ${(err as Error).message}` });
    } finally {
      index.close();
    }
  }
  return { hits, problems, stats: { sessions: searched, indexesBuilt: built, indexesUsed: used, castBytesRead: bytes } };
}
