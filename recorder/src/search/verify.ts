// Integrity of the trail: every file a session's manifest lists is there with its sha256, and nothing
// else is. Transferred files removed by retention (manifest `filesExpired`) are expected to be gone.
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync } from 'node:fs';
import path from 'node:path';
import { INDEX_DIR } from './index-store.js';
import { resolveSession, scanSessions, type SessionRef, type TrailProblem } from './trail-files.js';

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

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Files under the session directory, relative, as the writer lists them: no manifest, no index, no dot files. */
function filesOnDisk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.name.startsWith('.') || (rel === '' && (e.name === 'manifest.json' || e.name === INDEX_DIR))) continue;
    if (e.isDirectory()) out.push(...filesOnDisk(dir, r));
    else out.push(r);
  }
  return out;
}

export async function verifySession(ref: SessionRef): Promise<SessionVerification> {
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
      actual = await sha256File(full);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && m.filesExpired !== undefined && f.path.startsWith('files/')) {
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
  for (const rel of filesOnDisk(ref.dir)) {
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
