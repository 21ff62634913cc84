// Integrity of the trail: every file a session's manifest lists is there with its sha256, and nothing
// else is. Transferred files removed by retention (manifest `filesExpired`) are expected to be gone.
import path from 'node:path';
import { sha256File } from '../trail/digest.js';
import { listFiles } from '../trail/fsutil.js';
import { FILES_DIR, isTrailFile } from '../trail/paths.js';
import { resolveSession, scanSessions, type StoredSession, type TrailProblem } from '../trail/sessions.js';

export type FindingKind = 'missing' | 'changed' | 'unlisted' | 'expired' | 'invalid-path';

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
  for (const f of m.files) {
    const full = path.resolve(ref.dir, f.path);
    const rel = path.relative(ref.dir, full);
    if (rel.startsWith('..') || path.isAbsolute(rel) || rel === '') {
      findings.push({ path: f.path, kind: 'invalid-path', detail: 'the manifest names a file outside the session directory' });
      continue;
    }
    listed.add(rel.split(path.sep).join('/'));
    let actual: string;
    try {
      actual = (await sha256File(full)).sha256;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && m.filesExpired !== undefined && f.path.startsWith(`${FILES_DIR}/`)) {
        findings.push({ path: f.path, kind: 'expired', detail: `removed by retention at ${m.filesExpired}` });
      } else {
        findings.push({ path: f.path, kind: 'missing', detail: code === 'ENOENT' ? 'file missing' : (err as Error).message });
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
