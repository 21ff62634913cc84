// `srec sessions | search | play | verify` as a person runs them: arguments, output and exit codes.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { srec } from './support/run-cli.js';
import { tempDataFolder, typed, writeSession, type WrittenSession } from './support/trail-fixture.js';

describe('srec auditor commands', () => {
  let data: ReturnType<typeof tempDataFolder>;
  let sudo: WrittenSession;
  let other: WrittenSession;
  beforeEach(() => {
    data = tempDataFolder();
    sudo = writeSession({
      dataFolder: data.dir,
      id: '1f0e6a52-3c5d-4e8f-9a0b-1c2d3e4f5a6b',
      start: new Date('2025-03-01T10:00:00Z'),
      end: new Date('2025-03-01T11:02:03Z'),
      channels: [{ id: 0, events: [[0.5, 'o', '$ '], ...typed(1, ['s', 'u', 'd', 'i', '\x7f', 'o', ' ', 's', 'u', '\r'])] }],
    });
    other = writeSession({
      dataFolder: data.dir,
      id: '9a8b7c6d-0000-4000-8000-000000000000',
      user: 'bob',
      host: 'web-2',
      targetUser: 'deploy',
      start: new Date('2025-03-02T08:00:00Z'),
      end: new Date('2025-03-02T08:00:42Z'),
      recovered: true,
      complete: false,
      channels: [{ id: 0, events: [[1, 'o', 'deploy done\r\n']] }],
    });
  });
  afterEach(() => data.cleanup());

  describe('search', () => {
    it('prints one JSON object a line and exits 0 when found', async () => {
      const r = await srec('search', '--data', data.dir, 'sudo', 'su');
      expect(r.code).toBe(0);
      const hits = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(hits).toEqual([
        { session: sudo.id, channel: 0, stream: 'input', time: 2.6, line: 'sudo su', context: ['sudo su'], user: 'alice', targetUser: 'root', host: 'db-1', start: '2025-03-01T10:00:00.000Z' },
        { session: sudo.id, channel: 0, stream: 'output', time: 2.61, line: '$ sudo su', context: ['$ sudo su'], user: 'alice', targetUser: 'root', host: 'db-1', start: '2025-03-01T10:00:00.000Z' },
      ]);
      expect(r.stderr).toBe('');
    });

    it('exits 1 when nothing matches, and 2 on bad usage with a message saying what to change', async () => {
      expect(await srec('search', '--data', data.dir, 'DROP TABLE')).toMatchObject({ code: 1, stdout: '' });
      expect(await srec('search', 'sudo')).toMatchObject({ code: 2, stderr: expect.stringContaining('--data DIR is required') });
      expect(await srec('search', '--data', data.dir)).toMatchObject({ code: 2, stderr: expect.stringContaining('give the WORDS') });
      expect(await srec('search', '--data', data.dir, '--bogus', 'x')).toMatchObject({ code: 2, stderr: expect.stringContaining("Unknown option '--bogus'") });
      expect(await srec('search', '--data', data.dir, '--session', 'ffff', 'x')).toMatchObject({ code: 2, stderr: expect.stringContaining('no session with id or id prefix "ffff"') });
      expect(await srec('search', '--data', path.join(data.dir, 'nope'), 'x')).toMatchObject({ code: 2, stderr: expect.stringContaining('not a directory') });
      expect(await srec('search', '--data', data.dir, '--stream', 'both', 'x')).toMatchObject({ code: 2, stderr: expect.stringContaining('--stream is input or output') });
    });

    it('names a damaged recording on stderr and still prints the hits of the others', async () => {
      writeFileSync(path.join(other.dir, 'ch-0.cast.gz'), 'not gzip');
      const r = await srec('search', '--data', data.dir, '--stream', 'output', 'sudo su');
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toBe(`srec search: session ${other.id}: ${path.join(other.dir, 'ch-0.cast.gz')}: damaged gzip after 0 bytes (incorrect header check)\n`);
    });
  });

  describe('sessions', () => {
    it('lists sessions as a table, and as JSON lines', async () => {
      const table = await srec('sessions', '--data', data.dir);
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+USER\s+TARGET\s+START\s+DURATION\s+SIZE\s+STATUS$/);
      expect(table.stdout).toMatch(new RegExp(`${sudo.id}\\s+alice\\s+root@db-1\\s+2025-03-01 10:00:00Z\\s+1h02m03s\\s+[\\d.]+ (B|KiB)\\s+complete`));
      expect(table.stdout).toMatch(new RegExp(`${other.id}\\s+bob\\s+deploy@web-2\\s+2025-03-02 08:00:00Z\\s+42s\\s+.*recovered`));
      const json = await srec('sessions', '--data', data.dir, '--json');
      const rows = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(rows.map((r) => [r.id, r.user, r.target, r.start, r.duration, r.complete, r.recovered, r.status])).toEqual([
        [sudo.id, 'alice', 'root@db-1', '2025-03-01T10:00:00.000Z', 3723, true, false, 'complete'],
        [other.id, 'bob', 'deploy@web-2', '2025-03-02T08:00:00.000Z', 42, false, true, 'recovered'],
      ]);
      expect(rows.every((r) => typeof r.size === 'number' && (r.size as number) > 0)).toBe(true);
    });

    it('names a session whose manifest is unreadable and lists the others', async () => {
      writeFileSync(path.join(other.dir, 'manifest.json'), 'garbage');
      const r = await srec('sessions', '--data', data.dir);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(sudo.id);
      expect(r.stdout).not.toContain(other.id);
      expect(r.stderr).toContain(`srec sessions: session ${other.id}: ${other.dir}: manifest.json is not JSON`);
    });
  });

  describe('play', () => {
    it('prints the plain transcript of a session given by a unique id prefix', async () => {
      const r = await srec('play', '--data', data.dir, '1f0e', '--text');
      expect(r).toEqual({ code: 0, stdout: '$ sudo su\n', stderr: '' });
    });

    it('replays the output stream', async () => {
      const r = await srec('play', '--data', data.dir, '9a8b', '--speed', '1000');
      expect(r).toEqual({ code: 0, stdout: 'deploy done\r\n', stderr: '' });
    });

    it('refuses an unknown id, a bad speed, or no id, with exit 2', async () => {
      expect(await srec('play', '--data', data.dir, 'ffff')).toMatchObject({ code: 2, stderr: expect.stringContaining('no session with id or id prefix "ffff"') });
      expect(await srec('play', '--data', data.dir, '1f0e', '--speed', '0')).toMatchObject({ code: 2, stderr: expect.stringContaining('--speed "0" is not a positive number') });
      expect(await srec('play', '--data', data.dir)).toMatchObject({ code: 2, stderr: expect.stringContaining('give exactly one session ID') });
    });

    it('names a damaged cast and exits 1 when nothing could be played', async () => {
      writeFileSync(path.join(other.dir, 'ch-0.cast.gz'), 'not gzip');
      const r = await srec('play', '--data', data.dir, other.id);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`srec play: session ${other.id}: ${path.join(other.dir, 'ch-0.cast.gz')}: damaged gzip`);
    });
  });

  describe('verify', () => {
    it('exits 0 when every file is intact', async () => {
      const r = await srec('verify', '--data', data.dir);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`ok    ${sudo.id}  2 file(s) checked`);
      expect(r.stdout).toContain('2 session(s) intact');
    });

    it('exits 1 naming each changed or missing file', async () => {
      writeFileSync(path.join(sudo.dir, 'ch-0.cast.gz'), 'tampered');
      const r = await srec('verify', '--data', data.dir, sudo.id.slice(0, 4));
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`FAIL  ${sudo.id}`);
      expect(r.stdout).toContain(`changed: ${sudo.dir}/ch-0.cast.gz: sha256 `);
      expect(r.stdout).toContain('1 session(s) with missing, changed or unlisted files');
    });
  });
});
