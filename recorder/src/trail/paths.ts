// Where a session's files live: in the spool while open, on the share once closed (docs/internals.md).
import path from 'node:path';

export const MANIFEST = 'manifest.json';
export const CHANNEL_LOG = 'channels.jsonl.gz';
/** Spool-only: the session's identity, written when it opens so a crash can still be finalized. */
export const SESSION_INFO = '.session.json';
export const INCOMING = '.incoming';
/** Built by the first `srec search` of a session, next to its files; search owns what is inside. */
export const INDEX_DIR = 'index';
/** Captured transfer content (fileTransfers: true); retention may remove it before the session. */
export const FILES_DIR = 'files';

export function castFileName(channel: number): string {
  return `ch-${channel}.cast.gz`;
}

export function spoolRoot(tempFolder: string): string {
  return path.join(tempFolder, 'spool');
}

export function spoolSessionDir(tempFolder: string, sessionId: string): string {
  return path.join(spoolRoot(tempFolder), sessionId);
}

/** `<dataFolder>/<YYYY>/<MM>/<DD>/<sessionId>`, the date of the session's start in UTC. */
export function shareSessionDir(dataFolder: string, sessionId: string, start: Date): string {
  const y = String(start.getUTCFullYear()).padStart(4, '0');
  const m = String(start.getUTCMonth() + 1).padStart(2, '0');
  const d = String(start.getUTCDate()).padStart(2, '0');
  return path.join(dataFolder, y, m, d, sessionId);
}

/** The UTC midnight (ms since the epoch) of the day a share session directory is filed under; NaN for another path. */
export function sessionDirDay(dir: string): number {
  const day = path.dirname(dir);
  const month = path.dirname(day);
  const year = path.dirname(month);
  return Date.parse(`${path.basename(year)}-${path.basename(month)}-${path.basename(day)}T00:00:00Z`);
}

export function incomingDir(dataFolder: string, recorderId: string, sessionId: string): string {
  return path.join(dataFolder, INCOMING, `${recorderId}-${sessionId}`);
}

/** Files of the session that belong in the manifest's file list. */
export function isTrailFile(rel: string): boolean {
  const base = rel.split('/').pop() ?? rel;
  return rel !== MANIFEST && !rel.startsWith(`${INDEX_DIR}/`) && rel !== INDEX_DIR && !base.startsWith('.');
}
