// Integrity of the trail: every file a session's manifest lists is there with its sha256, and nothing
// else is. Transferred files removed by retention (manifest `filesExpired`) are expected to be gone.
// Only regular files inside the session directory are opened (trail/session-file.ts): a name that leads
// elsewhere, a FIFO, a device or a link is a finding, never read.
//
// With a key set: every manifest's signature (the public key is enough), every replica's ledger and each
// session's place in it; with the encryption keys too, every sealed record of every file and the index.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { TrailKeys } from '../trail/crypto/keys.js';
import { expiryProblem, manifestHash, manifestSignatureProblem } from '../trail/crypto/manifest-seal.js';
import { openBufferSync } from '../trail/crypto/sealed.js';
import { sha256File } from '../trail/digest.js';
import { readLedgers, type LedgerEntry } from '../trail/ledger.js';
import { listFiles } from '../trail/fsutil.js';
import { FILES_DIR, INDEX_DIR, isTrailFile } from '../trail/paths.js';
import { readSessionFileSync, UnsafeSessionFile, unsafeName } from '../trail/session-file.js';
import { resolveSession, scanSessions, type StoredSession, type TrailProblem } from '../trail/sessions.js';

/** `invalid-path`: the manifest names something that is not a plain name inside the session; `not-regular`: a FIFO, device, directory or link. */
export type FindingKind =
  | 'missing'
  | 'changed'
  | 'unlisted'
  | 'expired'
  | 'invalid-path'
  | 'not-regular'
  /** No signature where the key set expects one. */
  | 'unsigned'
  /** A signature that does not verify, or by another key. */
  | 'signature'
  /** Not in its recorder's ledger (truncated ledger, or copied in from elsewhere). */
  | 'out-of-chain'
  /** In the ledger with another manifest hash: the session was replaced. */
  | 'replaced'
  /** A sealed file (or the manifest's sealed content) that does not open: changed bytes, cut, swapped, another key. */
  | 'undecryptable'
  /** The search index does not belong to the session (swapped) or does not open. */
  | 'index';

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

export interface LedgerVerification {
  readonly recorder: string;
  readonly file: string;
  readonly entries: number;
  readonly problems: readonly string[];
}

/** A session the ledger says was put on the share, gone without retention's `expired` entry. */
export interface DeletedSession {
  readonly session: string;
  readonly recorder: string;
  readonly seq: number;
  readonly dir: string;
}

export interface VerifyResult {
  readonly sessions: SessionVerification[];
  /** Session directories that could not be verified at all (no readable manifest). */
  readonly problems: TrailProblem[];
  /** What was checked beyond the files' sha256: needs --keys (signatures, chain with a public key; records with the KEKs). */
  readonly checked: { readonly signatures: boolean; readonly chain: boolean; readonly records: boolean };
  readonly ledgers: LedgerVerification[];
  readonly deleted: DeletedSession[];
  readonly ok: boolean;
}

export async function verifySession(ref: StoredSession, keys?: TrailKeys): Promise<SessionVerification> {
  const m = ref.stored;
  const openRecords = keys !== undefined && keys.keks.length > 0 && m.sealed !== undefined;
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
    let sealProblem: string | undefined;
    try {
      const r = await sha256File({ dir: ref.dir, rel: f.path, field: `files[${i}].path` }, openRecords ? { keys, binding: { session: m.sessionId, file: f.path } } : undefined);
      actual = r.sha256;
      if (r.seal !== undefined) {
        if (!r.seal.sealed) sealProblem = 'not sealed, though the session is encrypted (replaced with plain bytes)';
        else if (r.seal.error !== undefined) sealProblem = r.seal.error;
        else if (!r.seal.final) sealProblem = 'cut short: no final sealed record';
      }
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
    if (sealProblem !== undefined) findings.push({ path: f.path, kind: 'undecryptable', detail: sealProblem });
  }
  if (keys?.publicKey !== undefined) {
    const sig = manifestSignatureProblem(m, keys);
    if (sig !== undefined) findings.push({ path: 'manifest.json', kind: m.signature === undefined ? 'unsigned' : 'signature', detail: sig });
    const exp = expiryProblem(m, keys);
    if (exp !== undefined) findings.push({ path: 'manifest.json', kind: 'signature', detail: exp });
  }
  if (openRecords) {
    if (ref.manifest === ref.stored) {
      // scanSessions opened it already when it could; here it could not, or the session was read without keys.
      try {
        openBufferSync(keys, { session: m.sessionId, file: 'manifest.json' }, Buffer.from(m.sealed!, 'base64'), 'manifest.json sealed');
      } catch (err) {
        findings.push({ path: 'manifest.json', kind: 'undecryptable', detail: (err as Error).message });
      }
    }
    findings.push(...indexFindings(ref, keys));
  }
  // Every file the writer would have listed (trail/paths.ts isTrailFile), symlinks and the like included.
  for (const rel of await listFiles(ref.dir, (r) => !isTrailFile(r), { anyType: true })) {
    if (!listed.has(rel)) findings.push({ path: rel, kind: 'unlisted', detail: 'not in the manifest' });
  }
  return { id: ref.id, dir: ref.dir, checked, ok: findings.every((f) => f.kind === 'expired'), findings };
}

/** An index that is there must open for this session: each file sealed for it, meta.json naming it. */
function indexFindings(ref: StoredSession, keys: TrailKeys): VerifyFinding[] {
  let names: string[];
  try {
    names = readdirSync(path.join(ref.dir, INDEX_DIR)).sort();
  } catch {
    return [];
  }
  const out: VerifyFinding[] = [];
  for (const name of names) {
    const rel = `${INDEX_DIR}/${name}`;
    try {
      const plain = openBufferSync(keys, { session: ref.stored.sessionId, file: rel }, readSessionFileSync({ dir: ref.dir, rel, field: rel }, 1 << 30), rel);
      if (name === 'meta.json' && (JSON.parse(plain.toString('utf8')) as { sessionId?: unknown }).sessionId !== ref.stored.sessionId) {
        out.push({ path: rel, kind: 'index', detail: 'built for another session' });
      }
    } catch (err) {
      out.push({ path: rel, kind: 'index', detail: `${(err as Error).message}; the next srec search rebuilds it (remove index/ to do it now)` });
    }
  }
  return out;
}

/** Each session's place in its recorder's ledger, and the ledgers' sessions gone from the share. */
function chainFindings(dataFolder: string, refs: readonly StoredSession[], all: readonly StoredSession[], keys: TrailKeys, whole: boolean) {
  const ledgers = readLedgers(dataFolder, keys);
  const sealed = new Map<string, LedgerEntry>();
  const expired = new Set<string>();
  for (const l of ledgers) {
    for (const e of l.entries) {
      if (e.kind === 'sealed') sealed.set(`${e.recorder} ${e.session}`, e);
      else expired.add(e.session);
    }
  }
  const perSession = new Map<string, VerifyFinding[]>();
  for (const ref of refs) {
    const m = ref.stored;
    const e = sealed.get(`${m.recorder} ${m.sessionId}`);
    const l = ledgers.find((x) => x.recorder === m.recorder);
    const f: VerifyFinding[] = [];
    if (e === undefined) {
      const where = l === undefined ? `there is no ledger of recorder ${m.recorder} on this share` : `ledger ${path.basename(l.file)} (${l.entries.length} entries) does not have it`;
      f.push({ path: 'manifest.json', kind: 'out-of-chain', detail: `not in the chain: ${where} (the ledger was cut, or the session was copied in from elsewhere)` });
    } else if (e.manifest !== manifestHash(m)) {
      f.push({ path: 'manifest.json', kind: 'replaced', detail: `ledger ${e.recorder} seq ${e.seq} chained manifest ${e.manifest.slice(0, 16)}…, this one hashes to ${manifestHash(m).slice(0, 16)}…: the session was replaced` });
    }
    perSession.set(ref.dir, f);
  }
  const deleted: DeletedSession[] = [];
  if (whole) {
    const present = new Set(all.map((s) => s.stored.sessionId));
    for (const e of sealed.values()) {
      if (present.has(e.session) || expired.has(e.session)) continue;
      // A directory there but unreadable is named among the problems already; only a gone one is deleted.
      let there = false;
      try {
        there = readdirSync(path.join(dataFolder, path.dirname(e.dir))).includes(path.basename(e.dir));
      } catch {
        /* its day directory is gone too */
      }
      if (!there) deleted.push({ session: e.session, recorder: e.recorder, seq: e.seq, dir: e.dir });
    }
  }
  return { ledgers: ledgers.map((l) => ({ recorder: l.recorder, file: l.file, entries: l.entries.length, problems: l.problems })), perSession, deleted };
}

/**
 * Verifies one session (id or unique prefix) or all of them. Throws only for a bad folder or id. With
 * `keys` (only the public key needed), signatures and the chain are checked; with the KEKs, the records too.
 */
export async function verifySessions(opts: { dataFolder: string; session?: string; keys?: TrailKeys }): Promise<VerifyResult> {
  const keys = opts.keys;
  // Read as stored: a manifest whose sealed part does not open is a finding of its session, not a reason to skip it.
  const scan = scanSessions(opts.dataFolder);
  const refs = opts.session !== undefined ? [resolveSession(scan.sessions, opts.session)] : scan.sessions;
  const problems = opts.session !== undefined ? [] : scan.problems;
  const sessions: SessionVerification[] = [];
  const chain = keys?.publicKey !== undefined ? chainFindings(opts.dataFolder, refs, scan.sessions, keys, opts.session === undefined) : undefined;
  for (const ref of refs) {
    const v = await verifySession(ref, keys);
    const more = chain?.perSession.get(ref.dir) ?? [];
    sessions.push(more.length === 0 ? v : { ...v, ok: false, findings: [...v.findings, ...more] });
  }
  const ledgers = chain?.ledgers ?? [];
  const deleted = chain?.deleted ?? [];
  return {
    sessions,
    problems,
    checked: { signatures: keys?.publicKey !== undefined, chain: chain !== undefined, records: keys !== undefined && keys.keks.length > 0 },
    ledgers,
    deleted,
    ok: problems.length === 0 && sessions.every((s) => s.ok) && deleted.length === 0 && ledgers.every((l) => l.problems.length === 0),
  };
}
