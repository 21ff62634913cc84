// Reading a session's recordings back, for `srec search|play` and for the tests of the writer: its casts,
// streamed event by event, and its channel log. Damage is reported, never thrown: what could be read is
// used, and one bad recording must not hide the others.
import { decodeEvent, decodeHeader, type CastEventCode, type CastHeader } from './asciicast.js';
import { decodeLogEntry, type ChannelLogEntry } from './channel-log.js';
import { readGzipLines } from './gzip-lines.js';
import { CHANNEL_LOG } from './paths.js';
import type { SessionFileRef } from './session-file.js';

export interface CastVisitor {
  header?(h: CastHeader): void;
  /** May return a promise (playback waits between events); reading pauses until it settles. */
  event(t: number, code: CastEventCode, data: string): void | Promise<void>;
}

export interface CastReadResult {
  /** false when the file ended early or was damaged; `problem` says how. */
  readonly complete: boolean;
  readonly problem?: string;
  readonly header?: CastHeader;
  readonly events: number;
  /** Compressed bytes read from the share. */
  readonly bytesRead: number;
}

/**
 * Streams a gzipped asciicast (`ch-<n>.cast.gz`): the header, then each event, times never going back.
 * Event lines that are not `[time, code, data]` are skipped and counted in `problem`. A cast a manifest
 * names is given as a SessionFileRef: anything but a regular file inside the session is a `problem`, unread.
 */
export async function readCast(file: string | SessionFileRef, visit: CastVisitor): Promise<CastReadResult> {
  let header: CastHeader | undefined;
  let fatal: string | undefined;
  let first = true;
  let events = 0;
  let bad = 0;
  let lastT = 0;
  const read = await readGzipLines(file, (line) => {
    if (first) {
      first = false;
      try {
        header = decodeHeader(line);
      } catch (err) {
        fatal = `line 1: ${(err as Error).message.slice(0, 100)}`;
        return false;
      }
      visit.header?.(header);
      return;
    }
    if (line.length === 0) return;
    const ev = decodeEvent(line);
    if (ev === undefined) {
      bad++;
      return;
    }
    const t = ev[0] < lastT ? lastT : ev[0];
    lastT = t;
    events++;
    return visit.event(t, ev[1], ev[2]);
  });
  let problem: string | undefined;
  if (fatal !== undefined) problem = `not an asciicast: ${fatal}`;
  else if (read.problem !== undefined) problem = read.problem;
  else if (header === undefined) problem = 'no asciicast header';
  else if (bad > 0) problem = `${bad} malformed event line(s) skipped`;
  return { complete: problem === undefined, problem, header, events, bytesRead: read.bytesRead };
}

export interface ChannelLog {
  readonly entries: ChannelLogEntry[];
  /** false when the file ended early or was damaged; `entries` holds what came before. */
  readonly complete: boolean;
  readonly problem?: string;
}

/** The channel log (`channels.jsonl.gz`) of the session in `dir`; `seal` opens it when it is sealed (sealOf()). */
export async function readChannelLog(dir: string, seal?: SessionFileRef['seal']): Promise<ChannelLog> {
  const entries: ChannelLogEntry[] = [];
  let bad = 0;
  const read = await readGzipLines({ dir, rel: CHANNEL_LOG, field: CHANNEL_LOG, ...(seal !== undefined ? { seal } : {}) }, (line) => {
    if (line.length === 0) return;
    const e = decodeLogEntry(line);
    if (e === undefined) bad++;
    else entries.push(e);
  });
  const problem = read.problem ?? (bad > 0 ? `${bad} line(s) not a JSON object skipped` : undefined);
  return { entries, complete: problem === undefined, ...(problem !== undefined ? { problem } : {}) };
}
