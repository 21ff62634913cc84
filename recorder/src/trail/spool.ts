// The spool in tempFolder: how full it is, which sessions it holds, and crash recovery — a directory
// without a manifest was open when the recorder stopped; finalize it from what reached the disk.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { CastWriter, decodeEvent } from './asciicast.js';
import { ChannelTable, decodeLogEntry, encodeLogEntry, type ChannelStreams } from './channel-log.js';
import { deriveCast } from './derived-cast.js';
import type { TrailKeys } from './crypto/keys.js';
import { finishManifest } from './crypto/manifest-seal.js';
import { sealTransferCopies } from './crypto/seal-files.js';
import { sealBuffer } from './crypto/sealed.js';
import { describeFiles } from './digest.js';
import { FILE_MODE, exists, fsyncDir, listFiles } from './fsutil.js';
import { GzipFile } from './gzip-file.js';
import { readGzipLines } from './gzip-lines.js';
import { buildManifest, type Manifest, type SessionIdentity } from './manifest.js';
import { readManifest, writeManifest } from './manifest-file.js';
import { CHANNEL_LOG, MANIFEST, SESSION_INFO, castFileName, spoolRoot } from './paths.js';
import type { SessionFileRef } from './session-file.js';

/** Bytes used by every file in the spool. Directories the mover removes meanwhile are skipped. */
export async function spoolUsage(tempFolder: string): Promise<number> {
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        try {
          total += (await fsp.stat(p)).size;
        } catch {
          /* removed meanwhile */
        }
      }
    }
  };
  await walk(spoolRoot(tempFolder));
  return total;
}

/** Session ids with a directory in the spool. */
export async function spooledSessions(tempFolder: string): Promise<string[]> {
  const root = spoolRoot(tempFolder);
  if (!(await exists(root))) return [];
  const entries = await fsp.readdir(root, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
}

/** The manifest of a spooled session; undefined while it is open (or when a crash left it unreadable). */
export async function readSpoolManifest(dir: string): Promise<Manifest | undefined> {
  try {
    return readManifest(dir);
  } catch {
    return undefined;
  }
}

export interface RecoveryResult {
  readonly manifest: Manifest;
  /** Files whose damaged tail was cut off (relative paths). */
  readonly repaired: readonly string[];
}

/**
 * Make a spool directory left by a stopped recorder into a closed session: every gzip file cut back to
 * its last whole line and completed, a `session_end` appended to the channel log, a manifest with
 * `complete: false, recovered: true`. A directory that already has a manifest is returned as is.
 * With `keys`, the same rules as a clean close: every file sealed (what the crashed writer sealed is opened
 * with the same keys), transferred-file copies sealed, the manifest's content sealed and the manifest signed.
 */
export async function recoverSpooledSession(dir: string, recorder: string, keys?: TrailKeys): Promise<RecoveryResult> {
  const existing = await readSpoolManifest(dir);
  if (existing) return { manifest: existing, repaired: [] };

  const identity = await readIdentity(dir, recorder);
  const startMs = Date.parse(identity.start);
  const repaired: string[] = [];
  let lastMtime = startMs;
  const files = await listFiles(dir, (rel) => rel.startsWith('.') || rel === MANIFEST);
  for (const rel of files) lastMtime = Math.max(lastMtime, (await fsp.stat(path.join(dir, rel))).mtimeMs);

  // Casts: keep whole events, and count bytes for channels the log never saw closed.
  const castBytes = new Map<number, { bytesIn: number; bytesOut: number }>();
  for (const rel of files) {
    const m = /^ch-(\d+)\.cast\.gz$/.exec(rel);
    if (!m) continue;
    const { lines, changed } = await wholeLines(path.join(dir, rel), keys, identity.sessionId, rel);
    if (changed) {
      await rewriteGzip(path.join(dir, rel), lines, keys, identity.sessionId, rel);
      repaired.push(rel);
    }
    let bytesIn = 0;
    let bytesOut = 0;
    for (const line of lines.slice(1)) {
      const ev = decodeEvent(line);
      if (ev?.[1] === 'i') bytesIn += Buffer.byteLength(ev[2]);
      if (ev?.[1] === 'o') bytesOut += Buffer.byteLength(ev[2]);
    }
    castBytes.set(Number(m[1]), { bytesIn, bytesOut });
  }

  // Channel log: replay it, then say how it ended.
  const logPath = path.join(dir, CHANNEL_LOG);
  const table = new ChannelTable();
  let logLines: string[] = [];
  let lastT = 0;
  if (files.includes(CHANNEL_LOG)) {
    logLines = (await wholeLines(logPath, keys, identity.sessionId, CHANNEL_LOG)).lines;
    for (const line of logLines) {
      const e = decodeLogEntry(line);
      if (e === undefined) continue;
      if (typeof e.t === 'number') lastT = Math.max(lastT, e.t);
      table.apply(e);
    }
    repaired.push(CHANNEL_LOG);
  }
  for (const rel of files) {
    const m = /^ch-(\d+)\.cast\.gz$/.exec(rel);
    if (m) table.setCast(Number(m[1]), rel);
  }
  for (const [ch, b] of castBytes) table.estimateBytes(ch, b.bytesIn, b.bytesOut);
  const endT = Math.max(lastT, (lastMtime - startMs) / 1000);
  // A channel without a pty gets its cast when it closes (derived-cast.ts); one the stop cut off gets it now,
  // from its raw streams, without the timing its marks had: every event at the last time the log knows.
  for (const c of table.channels()) {
    if (c.type !== 'session' || c.streams === undefined || c.cast !== undefined) continue;
    const name = castFileName(c.id);
    if (await deriveRecoveredCast(dir, name, c, { startMs, endMs: startMs + endT * 1000, session: identity.sessionId, ...(keys !== undefined ? { keys } : {}) })) {
      table.setCast(c.id, name);
      repaired.push(name);
    }
  }
  const end = encodeLogEntry({ t: endT, type: 'session_end', complete: false, recovered: true, reason: 'the recorder stopped during the session' });
  await rewriteGzip(logPath, [...logLines, end.trimEnd()], keys, identity.sessionId, CHANNEL_LOG);
  if (keys !== undefined && keys.keks.length > 0) await sealTransferCopies(dir, identity.sessionId, keys);

  const manifest = buildManifest({
    identity,
    end: new Date(startMs + endT * 1000),
    complete: false,
    recovered: true,
    channels: table.channels(),
    files: await describeFiles(dir),
  });
  await writeManifest(dir, finishManifest(manifest, keys));
  return { manifest, repaired: [...new Set(repaired)] };
}

/** The cast of a recovered pty-less channel from its raw streams; false when it could not be written. */
async function deriveRecoveredCast(
  dir: string,
  name: string,
  c: { readonly id: number; readonly command?: string; readonly streams?: ChannelStreams },
  at: { readonly startMs: number; readonly endMs: number; readonly session: string; readonly keys?: TrailKeys },
): Promise<boolean> {
  const sealed = at.keys !== undefined && at.keys.keks.length > 0;
  let failed: Error | undefined;
  const file = new GzipFile(path.join(dir, name), {
    bulkBytesPerInterval: Number.POSITIVE_INFINITY,
    ...(sealed ? { seal: { keys: at.keys!, binding: { session: at.session, file: name } } } : {}),
    onError: (err) => (failed ??= err),
  });
  let now = at.endMs;
  const cast = new CastWriter(file, { cols: 80, rows: 24, ...(c.command !== undefined ? { command: c.command } : {}), startMs: at.startMs }, () => now);
  const ref = (rel: string, lane: string): SessionFileRef => ({ dir, rel, field: `channels[${c.id}].streams.${lane}`, ...(sealed ? { seal: { keys: at.keys!, session: at.session } } : {}) });
  const st = c.streams!;
  await deriveCast({ cast, setNow: (ms) => (now = ms), streams: { in: ref(st.in, 'in'), out: ref(st.out, 'out'), ...(st.err !== undefined ? { err: ref(st.err, 'err') } : {}) }, endMs: at.endMs }).catch(
    (err: Error) => (failed ??= err),
  );
  await cast.close().catch((err: Error) => (failed ??= err));
  if (failed !== undefined) await fsp.rm(path.join(dir, name), { force: true });
  return failed === undefined;
}

async function readIdentity(dir: string, recorder: string): Promise<SessionIdentity> {
  try {
    const o = JSON.parse(await fsp.readFile(path.join(dir, SESSION_INFO), 'utf8')) as SessionIdentity;
    if (typeof o.sessionId === 'string' && typeof o.start === 'string') return o;
  } catch {
    /* fall through: the identity file itself was lost */
  }
  const st = await fsp.stat(dir);
  return {
    sessionId: path.basename(dir),
    connectionId: 'unknown',
    recorder,
    user: 'unknown',
    remoteAddress: 'unknown',
    targetUser: 'unknown',
    host: { name: 'unknown', address: 'unknown', port: 0 },
    start: new Date(st.birthtimeMs || st.mtimeMs).toISOString(),
  };
}

/** The whole lines of a gzip file as every reader will read them; `changed`: the file is not whole and needs rewriting. */
async function wholeLines(file: string, keys: TrailKeys | undefined, session: string, rel: string): Promise<{ lines: string[]; changed: boolean }> {
  const lines: string[] = [];
  const read = await readGzipLines(file, (line) => void lines.push(line), { ...(keys !== undefined ? { keys } : {}), binding: { session, file: rel } });
  return { lines, changed: read.problem !== undefined };
}

async function rewriteGzip(file: string, lines: readonly string[], keys: TrailKeys | undefined, session: string, rel: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.repair`);
  const fh = await fsp.open(tmp, 'w', FILE_MODE);
  try {
    const gz = zlib.gzipSync(Buffer.from(lines.map((l) => l + '\n').join(''), 'utf8'));
    await fh.writeFile(keys !== undefined && keys.keks.length > 0 ? sealBuffer(keys, { session, file: rel }, gz) : gz);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}
