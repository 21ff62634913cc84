import { promises as fsp, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../common/log.js';
import { Counter, Gauge, Registry, valueOf } from '../../common/metrics.js';
import type { SessionIdentity } from '../src/trail/manifest.js';
import { TrailMover } from '../src/trail/mover.js';
import { shareSessionDir, spoolSessionDir } from '../src/trail/paths.js';
import { readChannelLog } from '../src/trail/reader.js';
import { SessionRecording } from '../src/trail/recording.js';
import { readSession, scanSessions } from '../src/trail/sessions.js';
import { recoverSpooledSession, spoolUsage } from '../src/trail/spool.js';
import { sessionIdentity } from './support/identity.js';
import { loadCast } from './support/trail-read.js';

const log = createLogger({ component: 'test', silent: true });

async function tmp(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'srec-trail-'));
}

const identity = (): SessionIdentity => sessionIdentity(new Date('2024-03-05T10:00:00Z'));

/** A clock the test moves by hand. */
function clock(startIso: string) {
  let now = Date.parse(startIso);
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

async function recordExec(tempFolder: string, id: SessionIdentity, c: ReturnType<typeof clock>) {
  const rec = await SessionRecording.create({ tempFolder, identity: id, now: c.now, flushIntervalMs: 20 });
  rec.record({ ch: 0, type: 'open', channel: 'session' });
  rec.record({ ch: 0, type: 'request', request: 'pty-req', accepted: true, term: 'xterm', cols: 100, rows: 30 });
  rec.record({ ch: 0, type: 'request', request: 'exec', accepted: true, command: 'echo marker-123' });
  const cast = rec.openCast(0, { cols: 100, rows: 30, term: 'xterm', command: 'echo marker-123' });
  c.advance(250);
  cast.output(Buffer.from('marker-123\r\n'));
  c.advance(100);
  cast.input(Buffer.from('q'));
  cast.resize(120, 40);
  // A multi-byte character split across two packets stays one character.
  const euro = Buffer.from('€');
  cast.output(euro.subarray(0, 1));
  cast.output(euro.subarray(1));
  rec.record({ ch: 0, type: 'exit', status: 3 });
  rec.record({ ch: 0, type: 'close', bytesIn: 1, bytesOut: 15 });
  return { rec, cast };
}

describe('SessionRecording', () => {
  it('writes an asciicast, a channel log and a manifest listing every file with its sha256', async () => {
    // GIVEN a recording of one exec channel
    const tempFolder = await tmp();
    const id = identity();
    const c = clock(id.start);
    const { rec } = await recordExec(tempFolder, id, c);
    // WHEN it closes
    c.advance(1000);
    const manifest = await rec.close({ complete: true });
    // THEN the manifest describes the session and its channel
    expect(manifest).toMatchObject({ version: 1, sessionId: id.sessionId, user: 'alice', targetUser: 'root', complete: true, recovered: false });
    expect(manifest.end).toBe('2024-03-05T10:00:01.350Z');
    expect(manifest.channels).toEqual([
      { id: 0, type: 'session', kind: 'exec', command: 'echo marker-123', cast: 'ch-0.cast.gz', bytesIn: 1, bytesOut: 15, exitStatus: 3, closed: true },
    ]);
    expect(manifest.files.map((f) => f.path)).toEqual(['ch-0.cast.gz', 'channels.jsonl.gz']);
    expect(manifest.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256) && f.size > 0)).toBe(true);
    // AND the cast is asciicast v2 with timing, input, resize and the whole character
    const dir = spoolSessionDir(tempFolder, id.sessionId);
    const cast = await loadCast(path.join(dir, 'ch-0.cast.gz'));
    expect(cast.header).toMatchObject({ version: 2, width: 100, height: 30, env: { TERM: 'xterm' }, command: 'echo marker-123' });
    expect(cast.events).toEqual([
      [0.25, 'o', 'marker-123\r\n'],
      [0.35, 'i', 'q'],
      [0.35, 'r', '120x40'],
      [0.35, 'o', '€'],
    ]);
    expect(cast.truncated).toBe(false);
    // AND the channel log ends with the session's end
    const entries = (await readChannelLog(dir)).entries;
    expect(entries.map((e) => e.type)).toEqual(['open', 'request', 'request', 'exit', 'close', 'session_end']);
    // AND everything is owner-only
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of manifest.files) expect(statSync(path.join(dir, f.path)).mode & 0o777).toBe(0o600);
  });

  it('leaves decodable files up to the last flush when the recorder dies, and recovery finalizes them', async () => {
    // GIVEN a recording that was flushed and then written to again, never closed (the process "died")
    const tempFolder = await tmp();
    const id = identity();
    const c = clock(id.start);
    const { cast } = await recordExec(tempFolder, id, c);
    await new Promise((r) => setTimeout(r, 100)); // > flushIntervalMs: everything so far is on disk
    const dir = spoolSessionDir(tempFolder, id.sessionId);
    // a torn write at the end of the cast, as a kill in the middle of write() could leave
    await fsp.appendFile(path.join(dir, 'ch-0.cast.gz'), Buffer.from([0x12, 0x34]));
    cast.output(Buffer.from('after-the-flush'));
    // WHEN the spool is recovered
    const { manifest, repaired } = await recoverSpooledSession(dir, 'rec-a');
    // THEN the manifest says so, and the channel has its exit status from the log
    expect(manifest).toMatchObject({ complete: false, recovered: true, user: 'alice' });
    expect(manifest.channels[0]).toMatchObject({ id: 0, kind: 'exec', exitStatus: 3, cast: 'ch-0.cast.gz' });
    expect(repaired).toContain('ch-0.cast.gz');
    // AND the cast decodes cleanly with what was flushed
    const recovered = await loadCast(path.join(dir, 'ch-0.cast.gz'));
    expect(recovered.truncated).toBe(false);
    expect(recovered.events.map((e) => e[2]).join('')).toContain('marker-123');
    // AND the channel log ends with a recovered session_end
    const entries = (await readChannelLog(dir)).entries;
    expect(entries[entries.length - 1]).toMatchObject({ type: 'session_end', complete: false, recovered: true });
    // AND the manifest's hashes match the repaired files
    const second = await recoverSpooledSession(dir, 'rec-a');
    expect(second.manifest).toEqual(manifest);
  });
});

describe('TrailMover', () => {
  it('moves a closed session to <data>/<YYYY>/<MM>/<DD>/<id> and empties the spool', async () => {
    // GIVEN a closed session in the spool
    const tempFolder = await tmp();
    const dataFolder = await tmp();
    const id = identity();
    const { rec } = await recordExec(tempFolder, id, clock(id.start));
    await rec.close({ complete: true });
    const registry = new Registry();
    const pending = new Gauge({ name: 'srec_recordings_pending', help: 'p', registers: [registry] });
    const mover = new TrailMover({ tempFolder, dataFolder, recorderId: 'rec-a', log, pendingGauge: pending, retryBaseMs: 20 });
    // WHEN the mover starts
    await mover.start();
    await waitFor(() => mover.pendingCount === 0);
    mover.close();
    // THEN the session is on the share, readable, and gone from the spool
    const final = shareSessionDir(dataFolder, id.sessionId, new Date(id.start));
    expect(final).toBe(path.join(dataFolder, '2024', '03', '05', id.sessionId));
    const stored = readSession(final);
    expect(stored.manifest.sessionId).toBe(id.sessionId);
    expect(await fsp.readdir(path.join(tempFolder, 'spool'))).toEqual([]);
    expect(await fsp.readdir(path.join(dataFolder, '.incoming'))).toEqual([]);
    expect(statSync(path.join(dataFolder, '2024')).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(final, 'manifest.json')).mode & 0o777).toBe(0o600);
    expect(valueOf(pending)).toBe(0);
  });

  it('keeps recordings spooled while the share is unwritable, reports not ready, and moves them once it is back', async () => {
    // GIVEN a share whose .incoming is a file, so nothing can be written there
    const tempFolder = await tmp();
    const dataFolder = await tmp();
    await fsp.writeFile(path.join(dataFolder, '.incoming'), 'in the way');
    const id = identity();
    const { rec } = await recordExec(tempFolder, id, clock(id.start));
    await rec.close({ complete: true });
    const registry = new Registry();
    const failures = new Counter({ name: 'srec_recording_move_failures_total', help: 'f', registers: [registry] });
    const mover = new TrailMover({ tempFolder, dataFolder, recorderId: 'rec-a', log, failureCounter: failures, retryBaseMs: 20, retryMaxMs: 50, shareCheckIntervalMs: 30 });
    // WHEN the mover starts
    await mover.start();
    await waitFor(() => valueOf(failures) >= 2);
    // THEN it is not ready (once its share check has run: every 30 ms), says why, and the session is still in the spool
    await waitFor(() => !mover.ready().ok);
    expect(mover.ready()).toMatchObject({ ok: false, reason: expect.stringContaining('is not writable') });
    expect(mover.pendingCount).toBe(1);
    expect(await spoolUsage(tempFolder)).toBeGreaterThan(0);
    // WHEN the share is fixed
    await fsp.rm(path.join(dataFolder, '.incoming'));
    await waitFor(() => mover.pendingCount === 0);
    // THEN the session arrived and the mover is ready (again at its next share check)
    await waitFor(() => mover.ready().ok);
    mover.close();
    const { sessions, problems: skipped } = scanSessions(dataFolder);
    expect(sessions.map((s) => s.id)).toEqual([id.sessionId]);
    expect(skipped).toEqual([]);
  });
});

describe('reader', () => {
  it('names a damaged session and a damaged cast without hiding the good ones', async () => {
    // GIVEN one good session, one directory with a broken manifest, and a cut-short cast
    const tempFolder = await tmp();
    const dataFolder = await tmp();
    const id = identity();
    const { rec } = await recordExec(tempFolder, id, clock(id.start));
    await rec.close({ complete: true });
    const mover = new TrailMover({ tempFolder, dataFolder, recorderId: 'rec-a', log });
    await mover.start();
    await waitFor(() => mover.pendingCount === 0);
    mover.close();
    const bad = path.join(dataFolder, '2024', '03', '05', 'not-a-session');
    await fsp.mkdir(bad, { recursive: true });
    await fsp.writeFile(path.join(bad, 'manifest.json'), '{"version": 1');
    const good = shareSessionDir(dataFolder, id.sessionId, new Date(id.start));
    const castFile = path.join(good, 'ch-0.cast.gz');
    const full = await fsp.readFile(castFile);
    await fsp.writeFile(castFile, full.subarray(0, full.length - 12));
    // WHEN the share is listed and the cast read
    const { sessions, problems } = scanSessions(dataFolder);
    const skipped = problems.map((p) => ({ path: p.path, reason: p.message }));
    const cast = await loadCast(castFile);
    // THEN the good session is listed, the bad one named with a reason
    expect(sessions.map((s) => s.id)).toEqual([id.sessionId]);
    expect(skipped).toEqual([{ path: bad, reason: expect.stringContaining('not JSON') }]);
    // AND the cut cast still yields its events, flagged as truncated
    expect(cast.truncated).toBe(true);
    expect(cast.problem).toContain(castFile);
    expect(cast.events[0]).toEqual([0.25, 'o', 'marker-123\r\n']);
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
