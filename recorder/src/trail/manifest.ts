// manifest.json: who, from where, to which target, when, which channels, and every file with its sha256
// (docs/internals.md). Written last, atomically; its presence in a spool directory means "closed".
import path from 'node:path';
import type { ManifestChannel } from './channel-log.js';
import { listFiles, sha256File } from './fsutil.js';
import { isTrailFile } from './paths.js';

export interface SessionIdentity {
  readonly sessionId: string;
  readonly connectionId: string;
  /** The recorder replica that wrote the session (pod name or hostname). */
  readonly recorder: string;
  readonly user: string;
  readonly remoteAddress: string;
  readonly targetUser: string;
  readonly host: { readonly name: string; readonly address: string; readonly port: number };
  /** ISO-8601. */
  readonly start: string;
}

export interface ManifestTransfer {
  readonly channel: number;
  readonly protocol: 'sftp' | 'scp';
  readonly direction: 'upload' | 'download';
  readonly path: string;
  /** Length of the content (the highest offset written). */
  readonly size: number;
  /** Absent when it cannot be known exactly (`note` says why). */
  readonly sha256?: string;
  /** The copy, relative to the session directory (`files/<n>-<name>`); absent with fileTransfers: false. */
  readonly file?: string;
  /** The transfer ended the normal way (SFTP close ok, SCP final ack ok). Absent in manifests before it existed. */
  readonly complete?: boolean;
  /** Payload bytes seen: less than `size` when ranges were skipped (resumed), more when rewritten. */
  readonly bytes?: number;
  /** What went wrong or is missing, for a human. */
  readonly note?: string;
}

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface Manifest extends SessionIdentity {
  readonly version: 1;
  readonly end: string;
  /** false when the recorder stopped before the session ended (see `recovered`). */
  readonly complete: boolean;
  /** true when finalized at start-up from a spool a crashed recorder left. */
  readonly recovered: boolean;
  readonly channels: readonly ManifestChannel[];
  readonly transfers: readonly ManifestTransfer[];
  readonly files: readonly ManifestFile[];
  /** Set by retention (ISO-8601) when it deleted `files/`: verify then expects those files gone. */
  readonly filesExpired?: string;
}

/** sha256 and size of every file of a session directory (not manifest.json, index/ or dot files). */
export async function describeFiles(dir: string): Promise<ManifestFile[]> {
  const rels = await listFiles(dir, (rel) => !isTrailFile(rel));
  const out: ManifestFile[] = [];
  for (const rel of rels) out.push({ path: rel, ...(await sha256File(path.join(dir, rel))) });
  return out;
}

export function buildManifest(args: {
  readonly identity: SessionIdentity;
  readonly end: Date;
  readonly complete: boolean;
  readonly recovered: boolean;
  readonly channels: readonly ManifestChannel[];
  readonly transfers?: readonly ManifestTransfer[];
  readonly files: readonly ManifestFile[];
}): Manifest {
  const { identity } = args;
  return {
    version: 1,
    sessionId: identity.sessionId,
    connectionId: identity.connectionId,
    recorder: identity.recorder,
    user: identity.user,
    remoteAddress: identity.remoteAddress,
    targetUser: identity.targetUser,
    host: identity.host,
    start: identity.start,
    end: args.end.toISOString(),
    complete: args.complete,
    recovered: args.recovered,
    channels: args.channels,
    transfers: args.transfers ?? [],
    files: args.files,
  };
}

/** A manifest read from disk, checked enough that callers can rely on the fields they use. */
export function parseManifest(text: string, source: string): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not JSON: ${(err as Error).message}`);
  }
  const o = m as Partial<Manifest> | null;
  if (o === null || typeof o !== 'object' || o.version !== 1 || typeof o.sessionId !== 'string' || typeof o.start !== 'string' || !Array.isArray(o.files) || !Array.isArray(o.channels)) {
    throw new Error(`${source}: not a version 1 session manifest (sessionId, start, channels, files)`);
  }
  const parsed = o as Manifest;
  return { ...parsed, transfers: Array.isArray(parsed.transfers) ? parsed.transfers : [] };
}
