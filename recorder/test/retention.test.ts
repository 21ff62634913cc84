import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LOCK_FILE, runRetention, startRetentionLoop, type RetentionLog } from '../src/retention/retention.js';
import { verifySessions } from '../src/search/verify.js';
import { readManifest } from '../src/trail/manifest-file.js';
import { tempDataFolder, writeSession } from './support/trail-fixture.js';

/** A log that keeps what it was told. */
function memoryLog(): RetentionLog & { lines: Array<[string, Record<string, unknown> | undefined]> } {
  const lines: Array<[string, Record<string, unknown> | undefined]> = [];
  return { lines, info: (m, meta) => lines.push([m, meta]), warn: (m, meta) => lines.push([m, meta]) };
}

const day = (iso: string) => new Date(`${iso}T12:00:00Z`);
const events: Array<[number, 'o', string]> = [[1, 'o', 'hi\r\n']];

describe('runRetention', () => {
  let data: ReturnType<typeof tempDataFolder>;
  beforeEach(() => (data = tempDataFolder()));
  afterEach(() => data.cleanup());

  it('deletes sessions past trailExpiryDays and the transferred files of sessions past transferredFilesExpiryDays', async () => {
    // GIVEN sessions 200, 100 and 10 days old on 2025-09-01, each with a transferred file
    const now = () => day('2025-09-01');
    const old = writeSession({ dataFolder: data.dir, start: day('2025-02-13'), channels: [{ id: 0, events }], files: { 'a.txt': 'a' } });
    const mid = writeSession({ dataFolder: data.dir, start: day('2025-05-24'), channels: [{ id: 0, events }], files: { 'b.txt': 'b' } });
    const recent = writeSession({ dataFolder: data.dir, start: day('2025-08-22'), channels: [{ id: 0, events }], files: { 'c.txt': 'c' } });
    const noFiles = writeSession({ dataFolder: data.dir, start: day('2025-05-25'), channels: [{ id: 0, events }] });
    const log = memoryLog();
    // WHEN retention keeps the trail 180 days and transferred files 30 days
    const report = await runRetention({ dataFolder: data.dir, trailExpiryDays: 180, transferredFilesExpiryDays: 30, now, log });
    // THEN the 200-day-old session is gone, with its now-empty date directories
    expect(report).toMatchObject({ ran: true, removedSessions: [old.id], expiredFiles: [mid.id], errors: [] });
    expect(existsSync(old.dir)).toBe(false);
    expect(existsSync(path.join(data.dir, '2025', '02'))).toBe(false);
    // AND the 100-day-old one lost its files/ only, and its manifest says when
    expect(existsSync(path.join(mid.dir, 'files'))).toBe(false);
    expect(existsSync(path.join(mid.dir, 'ch-0.cast.gz'))).toBe(true);
    expect(readManifest(mid.dir)).toEqual({ ...mid.manifest, filesExpired: '2025-09-01T12:00:00.000Z' });
    // AND the recent one and the one without transfers are untouched
    expect(existsSync(path.join(recent.dir, 'files', '1-c.txt'))).toBe(true);
    expect(readManifest(noFiles.dir)).toEqual(noFiles.manifest);
    // AND the log says what was removed
    expect(log.lines.map(([m, meta]) => [m, meta?.sessionId])).toEqual([
      ['retention removed session', old.id],
      ['retention removed transferred files', mid.id],
      ['retention done', undefined],
    ]);
    // AND verify still passes: expired files are expected to be gone
    expect((await verifySessions({ dataFolder: data.dir })).ok).toBe(true);
    // AND the lock is released
    expect(existsSync(path.join(data.dir, LOCK_FILE))).toBe(false);
  });

  it('keeps everything when the expiry is 0, and ages a session without a readable manifest by its directory date', async () => {
    const s = writeSession({ dataFolder: data.dir, start: day('2020-01-01'), channels: [{ id: 0, events }] });
    const junk = path.join(data.dir, '2020', '01', '02', 'half-written');
    mkdirSync(junk, { recursive: true });
    const now = () => day('2025-09-01');
    let report = await runRetention({ dataFolder: data.dir, trailExpiryDays: 0, transferredFilesExpiryDays: 0, now, log: memoryLog() });
    expect(report.removedSessions).toEqual([]);
    report = await runRetention({ dataFolder: data.dir, trailExpiryDays: 365, transferredFilesExpiryDays: 0, now, log: memoryLog() });
    expect(report.removedSessions.sort()).toEqual([s.id, 'half-written'].sort());
    expect(existsSync(path.join(data.dir, '2020'))).toBe(false);
  });

  it('does nothing while another replica holds the lock, and takes over a stale lock', async () => {
    // GIVEN an old session and a lock held by another replica 10 minutes ago
    const s = writeSession({ dataFolder: data.dir, start: day('2020-01-01'), channels: [{ id: 0, events }] });
    const lock = path.join(data.dir, LOCK_FILE);
    writeFileSync(lock, JSON.stringify({ holder: 'recorder-1', pid: 1, host: 'recorder-1', heartbeat: '2025-09-01T11:50:00.000Z' }));
    const opts = { dataFolder: data.dir, trailExpiryDays: 30, transferredFilesExpiryDays: 30, log: memoryLog(), lock: { holder: 'recorder-0', staleAfterMs: 3_600_000 } };
    // WHEN this replica runs at noon
    const skipped = await runRetention({ ...opts, now: () => day('2025-09-01') });
    // THEN it leaves everything, including the other's lock
    expect(skipped).toMatchObject({ ran: false, heldBy: { holder: 'recorder-1' }, removedSessions: [] });
    expect(existsSync(s.dir)).toBe(true);
    expect(JSON.parse(readFileSync(lock, 'utf8')).holder).toBe('recorder-1');
    // WHEN it runs again two hours later, the other replica having died
    const ran = await runRetention({ ...opts, now: () => new Date('2025-09-01T14:00:00Z') });
    // THEN it takes the lock over, does the work and releases it
    expect(ran).toMatchObject({ ran: true, removedSessions: [s.id] });
    expect(existsSync(lock)).toBe(false);
  });

  it('lets only one of two concurrent runs do the work', async () => {
    writeSession({ dataFolder: data.dir, start: day('2020-01-01'), channels: [{ id: 0, events }] });
    const run = (holder: string) =>
      runRetention({ dataFolder: data.dir, trailExpiryDays: 30, transferredFilesExpiryDays: 30, now: () => day('2025-09-01'), log: memoryLog(), lock: { holder } });
    const reports = await Promise.all([run('a'), run('b')]);
    expect(reports.filter((r) => r.ran)).toHaveLength(1);
    expect(reports.flatMap((r) => r.removedSessions)).toHaveLength(1);
  });
});

describe('startRetentionLoop', () => {
  it('runs at start and on each interval until stopped', async () => {
    const data = tempDataFolder();
    try {
      const log = memoryLog();
      const loop = startRetentionLoop({ dataFolder: data.dir, trailExpiryDays: 30, transferredFilesExpiryDays: 30, now: () => day('2025-09-01'), log, intervalMs: 20 });
      const passes = () => log.lines.filter(([m]) => m === 'retention done').length;
      for (let waited = 0; passes() < 2 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      await loop.stop();
      const runs = passes();
      expect(runs).toBeGreaterThanOrEqual(2);
      await new Promise((r) => setTimeout(r, 60));
      expect(passes()).toBe(runs);
    } finally {
      data.cleanup();
    }
  });
});
