// Retention on a signed and chained trail: what it removes is in its replica's ledger (`expired`), the
// `filesExpired` it writes is signed, so `srec verify --keys` tells retention from someone deleting by hand.
// The sessions are written by the recorder's own trail writer and moved by its mover (ledger included).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, promises as fsp, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../common/log.js';
import { runRetention } from '../src/retention/retention.js';
import { verifySessions } from '../src/search/verify.js';
import { initKeySet, loadTrailKeys } from '../src/trail/crypto/keys.js';
import { TrailMover } from '../src/trail/mover.js';
import { SessionRecording } from '../src/trail/recording.js';
import { scanSessions } from '../src/trail/sessions.js';
import { waitFor } from './support/index.js';

const log = createLogger({ component: 'test', level: 'error' });

describe('retention with a key set', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'srec-ret-keys-'));
  const keysDir = path.join(root, 'keys');
  const dataFolder = path.join(root, 'share');
  const tempFolder = path.join(root, 'tmp');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  async function record(startIso: string, withFile: boolean): Promise<string> {
    const keys = loadTrailKeys(keysDir);
    const t = Date.parse(startIso);
    const id = randomUUID();
    const rec = await SessionRecording.create({
      tempFolder,
      keys,
      now: () => t + 60_000,
      identity: { sessionId: id, connectionId: 'c', recorder: 'rec-a', user: 'alice', remoteAddress: '10.0.0.1:5000', targetUser: 'root', host: { name: 'db-1', address: '10.0.0.5', port: 22 }, start: new Date(t).toISOString() },
    });
    if (withFile) {
      await fsp.mkdir(rec.filePath('files'), { recursive: true });
      writeFileSync(rec.filePath('files/1-report.txt'), 'quarterly numbers');
      rec.addTransfer({ channel: 0, protocol: 'sftp', direction: 'download', path: '/srv/report.txt', size: 17, file: 'files/1-report.txt', complete: true });
    }
    await rec.close({ complete: true });
    return id;
  }

  it('expires and removes through the ledger; a session deleted by hand and an expiry added by hand are named', async () => {
    // GIVEN three sessions of 2025 moved to the share by replica rec-a, with its ledger
    initKeySet(keysDir);
    const keys = loadTrailKeys(keysDir);
    const mover = new TrailMover({ tempFolder, dataFolder, recorderId: 'rec-a', log, keys, retryBaseMs: 10 });
    await mover.start();
    const old = await record('2025-01-10T10:00:00Z', false);
    const mid = await record('2025-06-01T10:00:00Z', true);
    const recent = await record('2025-08-25T10:00:00Z', true);
    for (const id of [old, mid, recent]) mover.enqueue(id);
    await waitFor(() => scanSessions(dataFolder).sessions.length === 3 && mover.pendingCount === 0, 'the moves');
    // WHEN retention (180 days for trails, 30 for files) runs on 2025-09-01 with the keys and the ledger
    const report = await runRetention({ dataFolder, trailExpiryDays: 180, transferredFilesExpiryDays: 30, now: () => new Date('2025-09-01T12:00:00Z'), log, keys, ledger: () => mover.ledger() });
    expect(report).toMatchObject({ removedSessions: [old], expiredFiles: [mid] });
    // THEN the ledger says so, the expiry is signed, and verify finds everything in order
    const lines = readFileSync(path.join(dataFolder, '.ledger', 'rec-a.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; session: string; seq: number });
    expect(lines.map((l) => [l.seq, l.kind, l.session])).toEqual([[1, 'sealed', old], [2, 'sealed', mid], [3, 'sealed', recent], [4, 'expired', old]]);
    const ok = await verifySessions({ dataFolder, keys });
    expect(ok.deleted).toEqual([]);
    expect(ok.sessions.map((s) => [s.id, s.ok, s.findings.map((f) => f.kind)])).toEqual([[mid, true, ['expired']], [recent, true, []]]);
    expect(ok.ok).toBe(true);

    // WHEN someone deletes the recent session's files/ and writes filesExpired into its manifest by hand
    const dir = scanSessions(dataFolder).sessions.find((s) => s.id === recent)!.dir;
    await fsp.rm(path.join(dir, 'files'), { recursive: true });
    const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, filesExpired: '2025-09-01T12:00:00.000Z' }));
    // AND deletes the mid session outright
    await fsp.rm(scanSessions(dataFolder).sessions.find((s) => s.id === mid)!.dir, { recursive: true });
    const bad = await verifySessions({ dataFolder, keys });
    // THEN the hand-made expiry is named, and so is the deleted session (not the one retention removed)
    expect(bad.sessions.find((s) => s.id === recent)!.findings).toContainEqual({ path: 'manifest.json', kind: 'signature', detail: expect.stringMatching(/^filesExpired is not signed/) });
    expect(bad.deleted).toEqual([expect.objectContaining({ session: mid, recorder: 'rec-a', seq: 2 })]);
    expect(bad.ok).toBe(false);
    mover.close();
  });
});
