// Crash recovery with a key set: `srec recorder` killed mid-session (SIGKILL) and started again finalizes
// the spool with the same rules as a clean close: every file sealed, the manifest signed and chained,
// `recovered: true`; the recording opens up to the kill with the keys.
import { jest } from '@jest/globals';
import { mkdtempSync, promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { initKeySet, loadTrailKeys } from '../src/trail/crypto/keys.js';
import { readCast } from '../src/trail/reader.js';
import { castFiles, scanSessions } from '../src/trail/sessions.js';
import { collect, spawnSsh, startLab, waitFor, type Lab } from './support/index.js';
import { srec } from './support/run-cli.js';

jest.setTimeout(90000);

let lab: Lab;
const keysDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'srec-keys-')), 'keys');

beforeAll(async () => {
  initKeySet(keysDir);
  lab = await startLab({ recorder: { mode: 'process', graceSeconds: 1, extra: { trail: { keysDir } } } });
});

afterAll(async () => {
  await lab?.stop();
});

it('SIGKILL mid-session, then a restart: the recovered session is sealed, signed, in the ledger, and opens up to the kill', async () => {
  // GIVEN an interactive session whose output the person has seen, past one sync flush
  const ssh = spawnSsh(lab.args({ extra: ['-tt'] }));
  let seen = '';
  ssh.stdout.on('data', (c: Buffer) => (seen += c.toString()));
  const done = collect(ssh);
  ssh.stdin.write('echo beforekill$((40+2))\n');
  await waitFor(() => seen.includes('beforekill42'), 'the shell output');
  await new Promise((r) => setTimeout(r, 1500));
  // WHEN the recorder is killed outright and started again
  await lab.recorder.kill();
  await done;
  const spooled = await fsp.readdir(path.join(lab.recorder.tempFolder, 'spool'));
  expect(spooled).toHaveLength(1);
  // The spool of the killed recorder holds sealed files only: nothing in the clear on its disk either.
  const spoolCast = readFileSync(path.join(lab.recorder.tempFolder, 'spool', spooled[0]!, 'ch-0.cast.gz'));
  expect(spoolCast.subarray(0, 8).toString('latin1')).toBe('SRECSEAL');
  const rec = await lab.restartRecorder();
  const keys = loadTrailKeys(keysDir);
  const s = await waitFor(async () => scanSessions(rec.dataFolder, { keys }).sessions.find((x) => x.id === spooled[0]), 'the recovered session');
  // THEN it is recovered, its manifest signed and its content sealed
  expect(s.manifest).toMatchObject({ complete: false, recovered: true, user: 'alice' });
  expect(s.stored.signature?.alg).toBe('Ed25519');
  expect(s.stored.sealed).toBeDefined();
  // AND no file holds the plaintext, raw or gunzipped
  for (const f of s.manifest.files) {
    const raw = readFileSync(path.join(s.dir, f.path));
    expect(raw.subarray(0, 8).toString('latin1')).toBe('SRECSEAL');
    expect(() => zlib.gunzipSync(raw)).toThrow();
    expect(raw.includes('beforekill42')).toBe(false);
  }
  // AND with the keys the cast opens, whole, up to the kill
  const out: string[] = [];
  const cast = await readCast(castFiles(s)[0]!.ref, { event: (_t, code, data) => void (code === 'o' && out.push(data)) });
  expect(cast.problem).toBeUndefined();
  expect(out.join('')).toContain('beforekill42');
  // AND verify, with the full key set, finds it intact and in the chain
  const v = await srec('verify', '--data', rec.dataFolder, '--keys', keysDir);
  expect(v.stdout).toContain('1 session(s) intact (files, signatures, ledgers, sealed records checked)');
  expect(v.code).toBe(0);
});
