// Reading a session's casts and channel log back whole, for the tests of the writer (sessions.ts walks
// the share). A damaged file is reported (`problem`) with what came before it.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { CastEvent, CastHeader } from './asciicast.js';
import type { ChannelLogEntry } from './channel-log.js';
import { completeLines, gunzipTolerant, parseJsonLines } from './decode.js';
import { CHANNEL_LOG } from './paths.js';
import type { StoredSession } from './sessions.js';

export interface ChannelLog {
  readonly entries: ChannelLogEntry[];
  /** The file was cut short or damaged; `entries` holds what came before. */
  readonly truncated: boolean;
  readonly problem?: string;
}

export async function readChannelLog(session: StoredSession | string): Promise<ChannelLog> {
  const dir = typeof session === 'string' ? session : session.dir;
  const r = await readJsonLinesGz(path.join(dir, CHANNEL_LOG));
  return { entries: r.values as ChannelLogEntry[], truncated: r.truncated, ...(r.problem ? { problem: r.problem } : {}) };
}

export interface Cast {
  readonly header: CastHeader;
  readonly events: CastEvent[];
  readonly truncated: boolean;
  readonly problem?: string;
}

/** An asciicast v2 file (`ch-<n>.cast.gz` or plain `.cast`). */
export async function readCast(file: string): Promise<Cast> {
  const r = await readJsonLinesGz(file);
  const [header, ...rest] = r.values;
  const h = header as CastHeader | undefined;
  if (h === undefined || typeof h !== 'object' || h.version !== 2) {
    throw new Error(`${file}: not an asciicast v2 file${r.problem ? ` (${r.problem})` : ''}`);
  }
  const events = rest.filter(
    (e): e is CastEvent => Array.isArray(e) && typeof e[0] === 'number' && typeof e[1] === 'string' && typeof e[2] === 'string',
  );
  const bad = rest.length - events.length;
  const problem = [r.problem, bad > 0 ? `${bad} malformed event lines skipped` : undefined].filter(Boolean).join('; ');
  return { header: h, events, truncated: r.truncated, ...(problem ? { problem } : {}) };
}

/** The cast of channel `ch` of a session, if it has one. */
export async function readSessionCast(session: StoredSession, ch: number): Promise<Cast | undefined> {
  const c = session.manifest.channels.find((x) => x.id === ch);
  if (c?.cast === undefined) return undefined;
  return readCast(path.join(session.dir, c.cast));
}

async function readJsonLinesGz(file: string): Promise<{ values: unknown[]; truncated: boolean; problem?: string }> {
  let raw: Buffer;
  try {
    raw = await fsp.readFile(file);
  } catch (err) {
    throw new Error(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const gz = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  const decoded = gz ? await gunzipTolerant(raw) : { data: raw, truncated: false };
  const { text, dropped } = completeLines(decoded.data);
  const { values, badLines } = parseJsonLines(text);
  const problems: string[] = [];
  if (decoded.truncated) problems.push(`compressed data damaged or cut short${'error' in decoded && decoded.error ? ` (${decoded.error})` : ''}`);
  if (dropped > 0) problems.push(`last line incomplete (${dropped} bytes dropped)`);
  if (badLines > 0) problems.push(`${badLines} lines are not JSON`);
  return { values, truncated: decoded.truncated || dropped > 0, ...(problems.length ? { problem: `${file}: ${problems.join('; ')}` } : {}) };
}
