// Integrity of the trail: every file a session's manifest lists is there with its sha256, and nothing
// else is. Transferred files removed by retention (manifest `filesExpired`) are expected to be gone.
// Only regular files inside the session directory are opened (trail/session-file.ts): a name that leads
// elsewhere, a FIFO, a device or a link is a finding, never read.
import { sha256File } from '../trail/digest.js';
import { listFiles } from '../trail/fsutil.js';
import { FILES_DIR, isTrailFile } from '../trail/paths.js';
import { UnsafeSessionFile, unsafeName } from '../trail/session-file.js';
import { resolveSession, scanSessions, type StoredSession, type TrailProblem } from '../trail/sessions.js';

/** `invalid-path`: the manifest names something that is not a plain name inside the session; `not-regular`: a FIFO, device, directory or link. */
export type FindingKind = 'missing' | 'changed' | 'unlisted' | 'expired' | 'invalid-path' | 'not-regular';

export interface VerifyFinding {
  /** Relative to the session directory. */
  readonly path: string;
  readonly kind: FindingKind;
  readonly detail: string;
}

export interface SessionVerification {
  readonly id: string;
  readonly dir: string;
  /** Files checked against their sha256. */
  readonly checked: number;
  /** false when a file is missing, changed or unlisted. */
  readonly ok: boolean;
  readonly findings: VerifyFinding[];
}

export interface VerifyResult {
  readonly sessions: SessionVerification[];
  /** Session directories that could not be verified at all (no readable manifest). */
  readonly problems: TrailProblem[];
  readonly ok: boolean;
}

export async function verifySession(ref: StoredSession): Promise<SessionVerification> {
  const m = ref.manifest;
  const findings: VerifyFinding[] = [];
  let checked = 0;
  const listed = new Set<string>();
  const badName = (field: string, rel: string): boolean => {
    const why = unsafeName(rel);
    if (why !== undefined) findings.push({ path: rel, kind: 'invalid-path', detail: `${field} ${why}: the manifest must name a file inside the session directory; not read` });
    return why !== undefined;
  };
  // The other names a manifest holds: their files are among `files` too, and checked there.
  m.channels.forEach((c, i) => c.cast !== undefined && badName(`channels[${i}].cast`, c.cast));
  m.transfers.forEach((t, i) => t.file !== undefined && badName(`transfers[${i}].file`, t.file));
  for (const [i, f] of m.files.entries()) {
    if (badName(`files[${i}].path`, f.path)) continue;
    listed.add(f.path);
    let actual: string;
    try {
      actual = (await sha256File({ dir: ref.dir, rel: f.path, field: `files[${i}].path` })).sha256;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const gone = code === 'ENOENT' || code === 'ENOTDIR';
      if (gone && m.filesExpired !== undefined && f.path.startsWith(`${FILES_DIR}/`)) {
        findings.push({ path: f.path, kind: 'expired', detail: `removed by retention at ${m.filesExpired}` });
      } else if (err instanceof UnsafeSessionFile) {
        findings.push({ path: f.path, kind: 'not-regular', detail: err.message });
      } else {
        findings.push({ path: f.path, kind: 'missing', detail: gone ? 'file missing' : (err as Error).message });
      }
      continue;
    }
    checked++;
    if (actual !== f.sha256.toLowerCase()) {
      findings.push({ path: f.path, kind: 'changed', detail: `sha256 ${actual}, manifest says ${f.sha256}` });
    }
  }
  // Every file the writer would have listed (trail/paths.ts isTrailFile), symlinks and the like included.
  for (const rel of await listFiles(ref.dir, (r) => !isTrailFile(r), { anyType: true })) {
    if (!listed.has(rel)) findings.push({ path: rel, kind: 'unlisted', detail: 'not in the manifest' });
  }
  return { id: ref.id, dir: ref.dir, checked, ok: findings.every((f) => f.kind === 'expired'), findings };
}

/** Verifies one session (id or unique prefix) or all of them. Throws only for a bad folder or id. */
export async function verifySessions(opts: { dataFolder: string; session?: string }): Promise<VerifyResult> {
  const scan = scanSessions(opts.dataFolder);
  const refs = opts.session !== undefined ? [resolveSession(scan.sessions, opts.session)] : scan.sessions;
  const problems = opts.session !== undefined ? [] : scan.problems;
  const sessions: SessionVerification[] = [];
  for (const ref of refs) sessions.push(await verifySession(ref));
  return { sessions, problems, ok: problems.length === 0 && sessions.every((s) => s.ok) };
}
