import { spawnSync } from 'node:child_process';
import { existsSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { searchSessions, SearchUsageError } from '../src/search/query.js';
import { tempDataFolder, typed, writeSession, type CastEvent } from './support/trail-fixture.js';

const PROMPT = '\x1b]0;root@db-1: ~\x07\x1b[01;31mroot@db-1\x1b[00m:~# ';

/** A shell in which `sudo su` is typed as "sudi", Backspace, "o su", Enter (one key per packet). */
function sudoSession(): CastEvent[] {
  return [
    [0.5, 'o', PROMPT],
    ...typed(1, ['s', 'u', 'd', 'i', '\x7f', 'o', ' ', 's', 'u', '\r']),
    [3.2, 'o', '[sudo] password for alice: '],
    [4.0, 'i', 'hunter2\r'],
    [4.1, 'o', '\r\nroot@db-1:/home/alice# '],
  ];
}

describe('searchSessions', () => {
  let data: ReturnType<typeof tempDataFolder>;
  beforeEach(() => (data = tempDataFolder()));
  afterEach(() => data.cleanup());

  it('finds `sudo su` typed with a typo fixed by backspace, in what was typed and what was echoed, at the right time', async () => {
    // GIVEN a recorded shell where the person typed "sudi<BS>o su" (the last "u" at t=2.6 s, echoed at 2.61 s)
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events: sudoSession() }] });
    // WHEN searching for the phrase
    const res = await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    // THEN both streams match, each at the moment the phrase was complete
    expect(res.problems).toEqual([]);
    expect(res.hits.map((h) => [h.stream, h.time, h.line])).toEqual([
      ['input', 2.6, 'sudo su'],
      ['output', 2.61, 'root@db-1:~# sudo su'],
    ]);
    // AND each hit names the session and who did it where
    expect(res.hits[1]).toMatchObject({ session: s.id, channel: 0, user: 'alice', targetUser: 'root', host: 'db-1', start: '2025-03-01T10:00:00.000Z' });
    // AND the context is the neighbouring lines of the same stream
    expect(res.hits[1]!.context).toEqual(['root@db-1:~# sudo su', '[sudo] password for alice:', 'root@db-1:/home/alice#']);
    expect(res.hits[0]!.context).toEqual(['sudo su', 'hunter2']);
  });

  it('finds a phrase the server printed across many packets, with escapes in between', async () => {
    // GIVEN output split mid-word and coloured
    writeSession({
      dataFolder: data.dir,
      channels: [{ id: 0, events: [[1, 'o', 'mysql> DR'], [1.5, 'o', 'OP \x1b[1mTA'], [2, 'o', 'BLE\x1b[0m users;\r\n']] }],
    });
    // WHEN searching in lower case
    const res = await searchSessions({ dataFolder: data.dir, words: 'drop table' });
    // THEN the line is found, complete at the last packet
    expect(res.hits.map((h) => [h.line, h.time])).toEqual([['mysql> DROP TABLE users;', 2]]);
  });

  it('matches whole words as a phrase, case-insensitively unless asked', async () => {
    writeSession({
      dataFolder: data.dir,
      channels: [{ id: 0, events: [[1, 'o', 'sudo sudoers\r\nSUDO   SU -\r\nsu sudo\r\n']] }],
    });
    const words = async (w: string, caseSensitive = false) =>
      (await searchSessions({ dataFolder: data.dir, words: w, caseSensitive })).hits.map((h) => h.line);
    expect(await words('sudo su')).toEqual(['SUDO   SU -']);
    expect(await words('sudo su', true)).toEqual([]);
    expect(await words('SUDO SU', true)).toEqual(['SUDO   SU -']);
    expect(await words('sudoers')).toEqual(['sudo sudoers']);
    expect(await words('sudoer')).toEqual([]);
  });

  it('searches one session given a unique prefix of its id, and refuses an ambiguous or unknown one', async () => {
    // GIVEN two sessions with the same command
    const a = writeSession({ dataFolder: data.dir, id: 'aaaa1111-0000-4000-8000-000000000001', channels: [{ id: 0, events: sudoSession() }] });
    writeSession({ dataFolder: data.dir, id: 'aaaa2222-0000-4000-8000-000000000002', channels: [{ id: 0, events: sudoSession() }] });
    // WHEN searching all, then one by prefix
    expect((await searchSessions({ dataFolder: data.dir, words: 'sudo su' })).hits).toHaveLength(4);
    const one = await searchSessions({ dataFolder: data.dir, words: 'sudo su', session: 'aaaa1' });
    // THEN only that session's hits come back
    expect(new Set(one.hits.map((h) => h.session))).toEqual(new Set([a.id]));
    await expect(searchSessions({ dataFolder: data.dir, words: 'sudo su', session: 'aaaa' })).rejects.toThrow(/matches 2 sessions/);
    await expect(searchSessions({ dataFolder: data.dir, words: 'sudo su', session: 'zz' })).rejects.toThrow(SearchUsageError);
    await expect(searchSessions({ dataFolder: data.dir, words: ' -- ' })).rejects.toThrow(/at least one letter or digit/);
  });

  it('builds the index on the first search and answers the second from it, without reading the recording', async () => {
    // GIVEN a session never searched
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events: sudoSession() }] });
    const cast = path.join(s.dir, 'ch-0.cast.gz');
    // WHEN it is searched a first time
    const first = await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    // THEN the index was built from the cast and stored next to the recording, owner-only
    expect(first.stats).toMatchObject({ indexesBuilt: 1, indexesUsed: 0 });
    expect(first.stats.castBytesRead).toBe(statSync(cast).size);
    expect(statSync(path.join(s.dir, 'index')).mode & 0o777).toBe(0o700);
    for (const f of ['meta.json', 'terms.bin', 'postings.bin', 'lines.bin', 'blocks.bin']) {
      expect(statSync(path.join(s.dir, 'index', f)).mode & 0o777).toBe(0o600);
    }
    // AND when the cast's bytes are then destroyed (same size and mtime: the index still looks current)
    const st = statSync(cast);
    writeFileSync(cast, Buffer.alloc(st.size, 0x55));
    utimesSync(cast, st.atime, st.mtime);
    const second = await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    // THEN the second search still finds everything: it read the index, not the recording
    expect(second.stats).toMatchObject({ indexesBuilt: 0, indexesUsed: 1, castBytesRead: 0 });
    expect(second.hits).toEqual(first.hits);
    expect(second.problems).toEqual([]);
  });

  it('rebuilds a stale index when the recording changed', async () => {
    // GIVEN a session searched once
    const s = writeSession({ dataFolder: data.dir, id: 'bbbb0000-0000-4000-8000-000000000000', channels: [{ id: 0, events: sudoSession() }] });
    await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    // WHEN its cast is replaced by a different recording
    writeSession({ dataFolder: data.dir, id: 'bbbb0000-0000-4000-8000-000000000000', channels: [{ id: 0, events: [[7, 'o', 'rm -rf /var/lib/mysql\r\n']] }] });
    const res = await searchSessions({ dataFolder: data.dir, words: 'rm -rf' });
    // THEN the index is rebuilt and the new content found
    expect(res.stats.indexesBuilt).toBe(1);
    expect(res.hits.map((h) => [h.session, h.line, h.time])).toEqual([[s.id, 'rm -rf /var/lib/mysql', 7]]);
  });

  it('rebuilds an index whose files are damaged instead of trusting them', async () => {
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events: sudoSession() }] });
    await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    writeFileSync(path.join(s.dir, 'index', 'meta.json'), '{"version": 2, "sources": "x"}');
    const res = await searchSessions({ dataFolder: data.dir, words: 'sudo su' });
    expect(res.stats.indexesBuilt).toBe(1);
    expect(res.hits).toHaveLength(2);
    expect(res.problems).toEqual([]);
  });

  it('limits the hits when asked and keeps long lines short around the match', async () => {
    const long = 'x'.repeat(5000) + ' needle ' + 'y'.repeat(5000);
    writeSession({ dataFolder: data.dir, channels: [{ id: 0, events: [[1, 'o', `${long}\r\nneedle\r\nneedle\r\n`]] }] });
    const res = await searchSessions({ dataFolder: data.dir, words: 'needle', limit: 2 });
    expect(res.hits).toHaveLength(2);
    expect(res.hits[0]!.line.length).toBeLessThanOrEqual(1002);
    expect(res.hits[0]!.line).toContain(' needle ');
  });

  it('builds the missing indexes of several sessions in worker threads, with the same results', async () => {
    // GIVEN three sessions never searched
    for (let i = 0; i < 3; i++) writeSession({ dataFolder: data.dir, start: new Date(Date.UTC(2025, 2, 1 + i)), channels: [{ id: 0, events: sudoSession() }] });
    const tsLoader = fileURLToPath(new URL('../../testing/ts-register.mjs', import.meta.url));
    expect(existsSync(tsLoader)).toBe(true);
    // WHEN searching with two worker threads (running the TypeScript sources through the loader)
    const pool = { workers: 2, workerUrl: new URL('../src/search/index-worker.ts', import.meta.url), execArgv: ['--import', tsLoader] };
    const parallel = await searchSessions({ dataFolder: data.dir, words: 'sudo su', pool });
    // THEN every index was built and stored, and the hits are those of a search that finds them stored
    expect(parallel.stats).toMatchObject({ indexesBuilt: 3, indexesUsed: 0 });
    expect(parallel.problems).toEqual([]);
    const again = await searchSessions({ dataFolder: data.dir, words: 'sudo su', pool: { workers: 0 } });
    expect(again.stats).toMatchObject({ indexesBuilt: 0, indexesUsed: 3 });
    expect(again.hits).toEqual(parallel.hits);
    expect(parallel.hits).toHaveLength(6);
  }, 60_000); // each worker first compiles the TypeScript sources it loads

  it('builds many sessions on few workers without piling up listeners on a worker', async () => {
    // GIVEN 24 sessions never searched, for two workers (a dozen jobs each)
    for (let i = 0; i < 24; i++) writeSession({ dataFolder: data.dir, start: new Date(Date.UTC(2025, 2, 1, i)), channels: [{ id: 0, events: sudoSession() }] });
    const tsLoader = fileURLToPath(new URL('../../testing/ts-register.mjs', import.meta.url));
    const workerUrl = new URL('../src/search/index-worker.ts', import.meta.url).href;
    const query = new URL('../src/search/query.ts', import.meta.url).href;
    // WHEN searching in a process of its own (Node's warnings go to the real process, not to Jest's)
    const script = `
      const { searchSessions } = await import(${JSON.stringify(query)});
      const pool = { workers: 2, workerUrl: new URL(${JSON.stringify(workerUrl)}), execArgv: ['--import', ${JSON.stringify(tsLoader)}] };
      const res = await searchSessions({ dataFolder: ${JSON.stringify(data.dir)}, words: 'sudo su', pool });
      process.stdout.write(JSON.stringify({ stats: res.stats, hits: res.hits.length }));`;
    const child = spawnSync(process.execPath, ['--import', tsLoader, '--input-type=module', '-e', script], { encoding: 'utf8' });
    // THEN every index was built, every session found, and Node warned of nothing
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ stats: { sessions: 24, indexesBuilt: 24, indexesUsed: 0, castBytesRead: expect.any(Number) }, hits: 48 });
    expect(child.stderr).not.toMatch(/Warning/);
  }, 60_000);
});
