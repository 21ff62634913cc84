// The recorder as its own process (`srec recorder`), killed and stopped for real.
import { jest } from '@jest/globals';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { scanSessions } from '../src/trail/sessions.js';
import { collect, spawnSsh, startLab, waitFor, type Lab } from './support/index.js';
import { loadCast } from './support/trail-read.js';

jest.setTimeout(60000);

let lab: Lab;

beforeAll(async () => {
  lab = await startLab({ recorder: { mode: 'process', graceSeconds: 1 } });
});

afterAll(async () => {
  await lab?.stop();
});

const spoolOf = (l: Lab) => fsp.readdir(path.join(l.recorder.tempFolder, 'spool')).catch(() => [] as string[]);

it('SIGKILL mid-session, then a restart: the recording is on the share up to the kill, and the spool is empty', async () => {
  // GIVEN an interactive session whose output has been seen by the person
  const ssh = spawnSsh(lab.args({ extra: ['-tt'] }));
  let seen = '';
  ssh.stdout.on('data', (c: Buffer) => (seen += c.toString()));
  const done = collect(ssh);
  ssh.stdin.write('echo before-kill-$((40+2))\n');
  await waitFor(() => seen.includes('before-kill-42'), 'the shell output');
  await new Promise((r) => setTimeout(r, 1500)); // past one sync flush of the recording
  // WHEN the recorder is killed outright
  await lab.recorder.kill();
  const r = await done;
  // THEN the person's connection ends, and the session is still in the spool, unfinished
  expect(r.code).toBe(255);
  const spooled = await spoolOf(lab);
  expect(spooled).toHaveLength(1);
  // WHEN the recorder starts again
  const rec = await lab.restartRecorder();
  // THEN the session reaches the share, marked as recovered and incomplete, with what happened before the kill
  const s = await waitFor(async () => scanSessions(rec.dataFolder).sessions.find((x) => x.id === spooled[0]), 'the recovered session');
  expect(s.manifest).toMatchObject({ complete: false, recovered: true, user: 'alice', host: { name: 'db-1' } });
  expect(s.manifest.channels[0]).toMatchObject({ kind: 'shell', closed: false });
  const cast = await loadCast(path.join(s.dir, 'ch-0.cast.gz'));
  expect(cast.truncated).toBe(false);
  expect(cast.events.filter((e) => e[1] === 'i').map((e) => e[2]).join('')).toContain('echo before-kill-$((40+2))');
  expect(cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toContain('before-kill-42');
  // AND nothing is left in the spool
  await waitFor(async () => (await spoolOf(lab)).length === 0, 'an empty spool');
  expect(rec.logs()).toContain('recovered session left open by a stopped recorder');
});

it('SIGKILL mid-session of a command without a pty: recovered with its raw streams and a cast made from them', async () => {
  // GIVEN a pty-less command whose output the person has seen (its cast is made when the channel closes)
  const ssh = spawnSsh([...lab.args(), 'echo before-kill-$((6*7)) no-pty; sleep 60']);
  let seen = '';
  ssh.stdout.on('data', (c: Buffer) => (seen += c.toString()));
  const done = collect(ssh);
  await waitFor(() => seen.includes('before-kill-42 no-pty'), 'the command output');
  await new Promise((r) => setTimeout(r, 1500));
  // WHEN the recorder is killed outright, then started again
  await lab.recorder.kill();
  await done;
  const spooled = await spoolOf(lab);
  expect(spooled).toHaveLength(1);
  const rec = await lab.restartRecorder();
  // THEN the recovered session has the raw stdout and a cast made from it at recovery
  const s = await waitFor(async () => scanSessions(rec.dataFolder).sessions.find((x) => x.id === spooled[0]), 'the recovered session');
  const ch = s.manifest.channels[0]!;
  expect(ch).toMatchObject({ kind: 'exec', cast: 'ch-0.cast.gz', closed: false });
  const raw = gunzipSync(await fsp.readFile(path.join(s.dir, ch.streams!.out)), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  expect(raw.toString()).toBe('before-kill-42 no-pty\n');
  const cast = await loadCast(path.join(s.dir, 'ch-0.cast.gz'));
  expect(cast.truncated).toBe(false);
  expect(cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toBe('before-kill-42 no-pty\n');
});

it('SIGTERM: sessions still open after the grace period are told, ended and their recordings moved; exit 0', async () => {
  // GIVEN a long-running command
  const ssh = spawnSsh([...lab.args(), 'echo started; sleep 30']);
  let seen = '';
  ssh.stdout.on('data', (c: Buffer) => (seen += c.toString()));
  const done = collect(ssh);
  await waitFor(() => seen.includes('started'), 'the command to start');
  // WHEN the recorder is asked to stop
  const code = await lab.recorder.stop();
  const r = await done;
  // THEN it exits cleanly, the person was told why, and the recording is complete on the share
  expect(code).toBe(0);
  expect(r.stderr).toContain('srec: the recorder is shutting down');
  const { sessions } = scanSessions(lab.recorder.dataFolder);
  const s = sessions.find((x) => x.manifest.channels.some((c) => c.command === 'echo started; sleep 30'));
  expect(s?.manifest).toMatchObject({ complete: true, recovered: false });
  expect(await spoolOf(lab)).toEqual([]);
});
