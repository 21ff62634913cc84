// Issue 6, search and playback end to end: a real interactive `ssh -tt` session through the recorder in which
// `sudo su` is typed with a typo fixed by backspace, then `srec search`, the index on the second search,
// `srec play --text`, and the asciicast validity of the real cast, line by line.
//
// The target is the lab's sshd logged in as root. This machine has no sudo, so `sudo su` just prints
// "command not found"; should sudo exist, it opens a nested root shell, which the extra `exit` below ends.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { searchSessions, type SearchHit } from '../src/search/query.js';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { checkAsciicastFile } from './support/asciicast-check.js';
import { startLab, typeSudoSuCorrected, waitFor, type Lab } from './support/index.js';
import { srec } from './support/run-cli.js';
import { loadSessionCast } from './support/trail-read.js';


describe('search and playback of a real interactive session', () => {
  let lab: Lab;
  let session: StoredSession;
  /** Wall clock when the last key of `sudo su` was sent. */
  let typedAt = 0;

  beforeAll(async () => {
    lab = await startLab();
    // GIVEN alice in an interactive shell on db-1 through the recorder
    // WHEN she types `sudi`, rubs the `i` out and finishes `o su`, in separate packets
    const typed = await typeSudoSuCorrected(lab.args({ extra: ['-tt'] }));
    typedAt = typed.typedAt;
    expect(typed.result.code).toBe(0);
    session = await waitFor(async () => scanSessions(lab.recorder.dataFolder).sessions[0], 'the recording on the share', 30_000);
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('srec search finds `sudo su` as typed, at the time it was typed; the second search reads the index only', async () => {
    const first = await srec('search', '--data', lab.recorder.dataFolder, 'sudo su');
    expect(first.code).toBe(0);
    expect(first.stderr).toBe('');
    const hits = first.stdout.trim().split('\n').map((l) => JSON.parse(l) as SearchHit);
    const input = hits.filter((h) => h.stream === 'input');
    expect(input).toEqual([expect.objectContaining({ session: session.id, channel: 0, line: 'sudo su', user: 'alice', targetUser: 'root', host: 'db-1' })]);
    // the shell's echo of the edited line is found in the output too
    expect(hits.some((h) => h.stream === 'output' && h.line.includes('sudo su'))).toBe(true);

    // The time offset is the cast's time of the key that completed the phrase ...
    const cast = (await loadSessionCast(session, 0))!;
    const completing = cast.events.find((e) => e[1] === 'i' && e[2] === 'o su');
    expect(completing).toBeDefined();
    expect(Math.abs(input[0]!.time - completing![0])).toBeLessThan(0.01);
    // ... which is when it was typed by the wall clock (the header timestamp has whole seconds; the machine is loaded)
    const atMs = (cast.header.timestamp ?? 0) * 1000 + input[0]!.time * 1000;
    expect(Math.abs(atMs - typedAt)).toBeLessThan(2500);
    expect(input[0]!.time).toBeGreaterThan(1);

    // The first search stored the index next to the recording; the second one uses it and reads no cast byte.
    expect(existsSync(path.join(session.dir, 'index'))).toBe(true);
    const second = await searchSessions({ dataFolder: lab.recorder.dataFolder, words: 'sudo su' });
    expect(second.stats).toEqual({ sessions: 1, indexesBuilt: 0, indexesUsed: 1, castBytesRead: 0 });
    expect(second.hits.map((h) => JSON.stringify(h))).toEqual(hits.map((h) => JSON.stringify(h)));
    expect(await srec('search', '--data', lab.recorder.dataFolder, 'sudo su')).toEqual(first);
  });

  it('srec play --text prints the transcript, and every line of the real cast is valid asciicast v2', async () => {
    const played = await srec('play', '--data', lab.recorder.dataFolder, '--text', session.id);
    expect(played.code).toBe(0);
    expect(played.stdout).toContain('sudo su');
    expect(played.stdout).not.toContain('sudi');
    expect(played.stdout).toContain('ready-42');
    expect(played.stdout).toContain('after-42');
    expect(checkAsciicastFile(path.join(session.dir, session.manifest.channels[0]!.cast!))).toEqual([]);
  });
});
