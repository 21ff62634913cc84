// Issue 19: every session is searchable the moment it is sealed. `srec recorder` (its own process, as in a
// pod) indexes each session in a worker thread once it is on the share, so the first search, and the
// console over a read-only share, read an index and no cast byte; encrypted sessions get a sealed index.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SessionIndex } from '../src/search/index-store.js';
import { searchSessions } from '../src/search/query.js';
import { loadTrailKeys } from '../src/trail/crypto/keys.js';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { startLab, waitFor, type Lab } from './support/index.js';
import { srec } from './support/run-cli.js';

describe.each([
  ['a plain', false],
  ['an encrypted', true],
])('%s trail is indexed when each session is sealed', (_name, encrypted) => {
  let lab: Lab;
  let keysDir: string | undefined;
  let session: StoredSession;

  beforeAll(async () => {
    if (encrypted) {
      keysDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'srec-seal-keys-')), 'keys');
      expect((await srec('keys', 'init', keysDir)).code).toBe(0);
    }
    lab = await startLab({ recorder: { mode: 'process', ...(keysDir !== undefined ? { extra: { trail: { keysDir } } } : {}) } });
    // GIVEN a session that printed a word, through the recorder
    const r = await lab.ssh('echo pangolin-$((40+2))', { extra: ['-tt'] });
    expect(r.code).toBe(0);
    const keys = keysDir !== undefined ? loadTrailKeys(keysDir) : undefined;
    session = await waitFor(async () => scanSessions(lab.recorder.dataFolder, keys !== undefined ? { keys } : {}).sessions[0], 'the recording on the share', 30_000);
  }, 120_000);
  afterAll(async () => {
    await lab?.stop();
  });

  it('has a current index next to it before anyone searched, counted in /metrics', async () => {
    // WHEN the recorder has sealed it, with no search run
    await waitFor(async () => SessionIndex.currentMeta(session), 'the index written at seal', 30_000);
    expect(await lab.recorder.metric('srec_sessions_indexed_total{result="stored"}')).toBe(1);
    expect(await lab.recorder.metric('srec_sessions_indexed_total{result="failed"}')).toBe(0);
  });

  it('the first search reads that index and no cast byte', async () => {
    const keys = keysDir !== undefined ? loadTrailKeys(keysDir) : undefined;
    const r = await searchSessions({ dataFolder: lab.recorder.dataFolder, words: 'pangolin-42', ...(keys !== undefined ? { keys } : {}) });
    expect(r.stats).toEqual({ sessions: 1, indexesBuilt: 0, indexesUsed: 1, castBytesRead: 0 });
    expect(r.hits).toEqual(expect.arrayContaining([expect.objectContaining({ session: session.id, stream: 'output', line: expect.stringContaining('pangolin-42') })]));
  });
});
