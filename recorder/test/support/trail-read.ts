// What the trail writer wrote, read back through the reader the commands ship (recorder/src/trail/reader.ts)
// and collected for assertions: the reader checks the writer.
import path from 'node:path';
import type { CastEvent, CastHeader } from '../../src/trail/asciicast.js';
import { readCast } from '../../src/trail/reader.js';
import type { StoredSession } from '../../src/trail/sessions.js';

export interface LoadedCast {
  readonly header: CastHeader;
  readonly events: CastEvent[];
  /** The reader found the file cut short or damaged; `events` holds what came before. */
  readonly truncated: boolean;
  /** What is wrong, naming the file. */
  readonly problem?: string;
}

/** Every event of a cast; throws when the file has no asciicast v2 header at all. */
export async function loadCast(file: string): Promise<LoadedCast> {
  const events: CastEvent[] = [];
  const r = await readCast(file, { event: (t, code, data) => void events.push([t, code, data]) });
  if (r.header === undefined) throw new Error(`${file}: ${r.problem ?? 'no asciicast header'}`);
  return { header: r.header, events, truncated: !r.complete, ...(r.problem !== undefined ? { problem: `${file}: ${r.problem}` } : {}) };
}

/** The cast of channel `ch` of a stored session, if the manifest lists one. */
export async function loadSessionCast(s: StoredSession, ch: number): Promise<LoadedCast | undefined> {
  const cast = s.manifest.channels.find((c) => c.id === ch)?.cast;
  return cast === undefined ? undefined : loadCast(path.join(s.dir, cast));
}
