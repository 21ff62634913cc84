// The sessions on the share, summarised for `srec sessions` and for the other tools' output.
import type { TrailKeys } from '../trail/crypto/keys.js';
import { FILES_DIR } from '../trail/paths.js';
import { checkSessionFile } from '../trail/session-file.js';
import { scanSessions, type StoredSession, type TrailProblem } from '../trail/sessions.js';

export interface SessionSummary {
  readonly id: string;
  readonly dir: string;
  /** The person, from the key they authenticated with. */
  readonly user: string;
  readonly targetUser: string;
  readonly host: string;
  /** `targetUser@host`. */
  readonly target: string;
  readonly start: string;
  readonly end?: string;
  /** Seconds; undefined when the session has no end time. */
  readonly duration?: number;
  /** Bytes of the session's files as the manifest lists them. */
  readonly size: number;
  readonly complete: boolean;
  readonly recovered: boolean;
  /** Files the manifest lists that are missing or of another size on the share (`srec verify` tells more). */
  readonly damaged: readonly string[];
}

export function summarize(ref: StoredSession): SessionSummary {
  const m = ref.manifest;
  const endMs = Date.parse(m.end);
  const damaged: string[] = [];
  for (const [i, f] of m.files.entries()) {
    if (m.filesExpired !== undefined && f.path.startsWith(`${FILES_DIR}/`)) continue;
    const { stat, problem, missing } = checkSessionFile({ dir: ref.dir, rel: f.path, field: `files[${i}].path` });
    if (missing) damaged.push(`${f.path} missing`);
    else if (stat === undefined) damaged.push(problem!);
    else if (f.size >= 0 && stat.size !== f.size) damaged.push(`${f.path} is ${stat.size} bytes, manifest says ${f.size}`);
  }
  return {
    id: ref.id,
    dir: ref.dir,
    user: m.user,
    targetUser: m.targetUser,
    host: m.host.name,
    target: `${m.targetUser}@${m.host.name}`,
    start: m.start,
    end: m.end,
    duration: Number.isNaN(endMs) ? undefined : Math.max(0, (endMs - Date.parse(m.start)) / 1000),
    size: m.files.reduce((n, f) => n + Math.max(f.size, 0), 0),
    complete: m.complete,
    recovered: m.recovered,
    damaged,
  };
}

/**
 * Every session on the share, oldest first. Directories whose manifest cannot be read are left out and
 * named in `problems`; sessions with missing or resized files are listed, flagged, and named too.
 */
export function listSessions(dataFolder: string, keys?: TrailKeys): { sessions: SessionSummary[]; problems: TrailProblem[] } {
  const { sessions, problems } = scanSessions(dataFolder, keys !== undefined ? { keys } : {});
  const out = sessions.map(summarize);
  for (const s of out) {
    for (const d of s.damaged) problems.push({ session: s.id, path: s.dir, message: d });
  }
  return { sessions: out, problems };
}
