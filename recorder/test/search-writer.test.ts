// The auditor's tools over a session written by the recorder's own trail writer (recorder/src/trail).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { textTranscript } from '../src/search/play.js';
import { searchSessions } from '../src/search/query.js';
import { listSessions } from '../src/search/sessions.js';
import { verifySessions } from '../src/search/verify.js';
import { shareSessionDir } from '../src/trail/paths.js';
import { SessionRecording } from '../src/trail/recording.js';
import { resolveSession, scanSessions } from '../src/trail/sessions.js';
import { checkAsciicast, checkAsciicastFile } from './support/asciicast-check.js';
import { sessionIdentity } from './support/identity.js';
import { tempDataFolder } from './support/trail-fixture.js';

/** Records a shell in which `sudo su` is typed as "sudi", Backspace, "o su", and moves it to the share. */
async function recordSudoSession(tempFolder: string, dataFolder: string): Promise<{ id: string; dir: string }> {
  const start = new Date('2025-03-01T10:00:00Z');
  const identity = sessionIdentity(start);
  let now = start.getTime();
  const rec = await SessionRecording.create({ tempFolder, identity, now: () => now, flushIntervalMs: 20 });
  rec.record({ ch: 0, type: 'open', channel: 'session' });
  rec.record({ ch: 0, type: 'request', request: 'pty-req', accepted: true, term: 'xterm', cols: 80, rows: 24 });
  rec.record({ ch: 0, type: 'request', request: 'shell', accepted: true });
  const cast = rec.openCast(0, { cols: 80, rows: 24, term: 'xterm' });
  now += 500;
  cast.output(Buffer.from('\x1b]0;root@db-1: ~\x07root@db-1:~# '));
  for (const key of ['s', 'u', 'd', 'i', '\x7f', 'o', ' ', 's', 'u', '\r']) {
    now += 200;
    cast.input(Buffer.from(key));
    now += 10;
    cast.output(Buffer.from(key === '\x7f' ? '\b\x1b[K' : key === '\r' ? '\r\n' : key));
  }
  now += 300;
  cast.resize(100, 30);
  cast.output(Buffer.from('root@db-1:/root# '));
  rec.record({ ch: 0, type: 'close', bytesIn: 10, bytesOut: 60 });
  now += 1000;
  await rec.close({ complete: true });
  const dir = shareSessionDir(dataFolder, identity.sessionId, start);
  await fsp.mkdir(path.dirname(dir), { recursive: true });
  await fsp.cp(rec.dir, dir, { recursive: true });
  return { id: identity.sessionId, dir };
}

describe('a session written by the trail writer', () => {
  let spool: ReturnType<typeof tempDataFolder>;
  let data: ReturnType<typeof tempDataFolder>;
  beforeEach(() => {
    spool = tempDataFolder();
    data = tempDataFolder();
  });
  afterEach(() => {
    spool.cleanup();
    data.cleanup();
  });

  it('is valid asciicast v2 on every line', async () => {
    // GIVEN a recorded session
    const s = await recordSudoSession(spool.dir, data.dir);
    // WHEN every line of its cast is parsed
    const errors = checkAsciicastFile(path.join(s.dir, 'ch-0.cast.gz'));
    // THEN header and events follow the format
    expect(errors).toEqual([]);
  });

  it('is found by `sudo su` at the moment the corrected command was complete, and its transcript reads as seen', async () => {
    // GIVEN the session (keys 210 ms apart after the prompt at 0.5 s: the last "u" typed at 2.38 s, echoed at 2.39 s)
    const s = await recordSudoSession(spool.dir, data.dir);
    // WHEN searching
    const res = await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    // THEN both what was typed and what was echoed are found, at those times
    expect(res.problems).toEqual([]);
    expect(res.hits.map((h) => [h.session, h.stream, h.time, h.line])).toEqual([
      [s.id, 'input', 2.38, 'sudo su'],
      [s.id, 'output', 2.39, 'root@db-1:~# sudo su'],
    ]);
    // AND the plain transcript is what the terminal showed
    const ref = resolveSession(scanSessions(data.dir).sessions, s.id.slice(0, 8));
    expect((await textTranscript(ref)).text).toBe('root@db-1:~# sudo su\nroot@db-1:/root#\n');
    // AND it is listed, and verifies intact
    expect(listSessions(data.dir).sessions.map((x) => [x.id, x.user, x.target, x.complete, x.damaged])).toEqual([[s.id, 'alice', 'root@db-1', true, []]]);
    expect((await verifySessions({ dataFolder: data.dir })).ok).toBe(true);
  });
});

describe('checkAsciicast', () => {
  it('names each line that breaks the format', () => {
    const bad = ['{"version":1,"width":0,"height":24}', '[1,"o","a"]', '[0.5,"o","b"]', '[2,"x","c"]', '[3,"r","wide"]', 'nope', ''].join('\n');
    expect(checkAsciicast(bad)).toEqual([
      'line 1: version is 1, not 2',
      'line 1: width is not a positive integer',
      'line 3: time 0.5 goes back from 1',
      'line 4: code "x" is not o, i, r or m',
      'line 5: resize data "wide" is not COLSxROWS',
      'line 6: not JSON',
    ]);
  });
});
