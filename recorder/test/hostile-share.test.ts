// Issue #12 point 8: the auditor tools on a share someone has tampered with. Every name a manifest holds
// must be a plain relative name of a regular file inside the session directory; anything else is a problem
// naming the session, the field and the path, and is never opened in a way that could block or read
// outside the session. The session walker does not follow links out of the share.
import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { srec } from './support/run-cli.js';
import { castText, tempDataFolder, writeSession, type WrittenSession } from './support/trail-fixture.js';

// A test that hangs on a FIFO or /dev/zero fails here instead of holding the run.
jest.setTimeout(20_000);

const SECRET = 'topsecret-outside-the-session';
const events: Array<[number, 'o', string]> = [[1, 'o', 'hello from the session\r\n']];

function rewriteManifest(s: WrittenSession, change: (m: Record<string, any>) => void): void {
  const file = path.join(s.dir, 'manifest.json');
  const m = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  change(m);
  writeFileSync(file, JSON.stringify(m));
}

describe('a hostile share', () => {
  let data: ReturnType<typeof tempDataFolder>;
  let outside: ReturnType<typeof tempDataFolder>;
  beforeEach(() => {
    data = tempDataFolder();
    outside = tempDataFolder();
    // A cast that is no session's, outside the share: what a `../` or a link would make the tools read.
    writeFileSync(path.join(outside.dir, 'secret.cast.gz'), zlib.gzipSync(castText({ id: 0, events: [[1, 'o', `${SECRET}\r\n`]] }, 0)));
  });
  afterEach(() => {
    data.cleanup();
    outside.cleanup();
  });

  it('verify reports a FIFO the manifest lists as not a regular file, and does not hang on it', async () => {
    // GIVEN a session whose cast was replaced by a FIFO nobody writes to
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    unlinkSync(path.join(s.dir, 'ch-0.cast.gz'));
    execFileSync('mkfifo', [path.join(s.dir, 'ch-0.cast.gz')]);
    // WHEN verifying the share
    const r = await srec('verify', '--data', data.dir);
    // THEN it ends, fails, and names the session, the field, the path and what it is
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`FAIL  ${s.id}`);
    expect(r.stdout).toContain(`not-regular: ${s.dir}/ch-0.cast.gz: files[0].path "ch-0.cast.gz" is a FIFO, not a regular file; not read`);
  });

  it('verify reports a link to /dev/zero instead of reading it forever', async () => {
    // GIVEN a transferred file replaced by a symbolic link to /dev/zero
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }], files: { 'dump.sql': 'select 1;' } });
    unlinkSync(path.join(s.dir, 'files', '1-dump.sql'));
    symlinkSync('/dev/zero', path.join(s.dir, 'files', '1-dump.sql'));
    // WHEN verifying it
    const r = await srec('verify', '--data', data.dir, '--json', s.id);
    // THEN the finding names the field and says it is a link; nothing was read through it
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { ok: boolean; findings: Array<{ path: string; kind: string; detail: string }> };
    expect(out.ok).toBe(false);
    expect(out.findings).toEqual([
      { path: 'files/1-dump.sql', kind: 'not-regular', detail: expect.stringMatching(/^files\[2\]\.path "files\/1-dump\.sql" is a symbolic link, not a regular file; not read/) },
    ]);
  });

  it('verify names every manifest path that leaves the session directory: cast, files[].path and transfers[].file', async () => {
    // GIVEN a manifest whose names point outside the session (relative and absolute)
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }], files: { 'a.bin': 'x' } });
    rewriteManifest(s, (m) => {
      m.channels[0].cast = '../../../../../secret.cast.gz';
      m.transfers[0].file = '/etc/passwd';
      m.files[2].path = 'files/../../other/a.bin';
    });
    // WHEN verifying it
    const r = await srec('verify', '--data', data.dir, '--json', s.id);
    // THEN each is an invalid-path finding that names its field; none was opened
    const out = JSON.parse(r.stdout) as { findings: Array<{ path: string; kind: string; detail: string }> };
    expect(out.findings.filter((f) => f.kind === 'invalid-path')).toEqual([
      { path: '../../../../../secret.cast.gz', kind: 'invalid-path', detail: 'channels[0].cast has a ".." part: the manifest must name a file inside the session directory; not read' },
      { path: '/etc/passwd', kind: 'invalid-path', detail: 'transfers[0].file is an absolute path: the manifest must name a file inside the session directory; not read' },
      { path: 'files/../../other/a.bin', kind: 'invalid-path', detail: 'files[2].path has a ".." part: the manifest must name a file inside the session directory; not read' },
    ]);
    expect(r.code).toBe(1);
  });

  it('play --text and search do not read a cast named with ../ outside the session, and say which field', async () => {
    // GIVEN a session whose manifest names, as its cast, a file outside the share
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    const rel = path.relative(s.dir, path.join(outside.dir, 'secret.cast.gz'));
    expect(rel.startsWith('../')).toBe(true);
    rewriteManifest(s, (m) => (m.channels[0].cast = rel));
    // WHEN playing its text and searching for what that file holds
    const played = await srec('play', '--data', data.dir, '--text', s.id);
    const found = await srec('search', '--data', data.dir, SECRET);
    // THEN neither shows it, and both name the session, the field and the path
    expect(played.stdout).not.toContain(SECRET);
    expect(played.stderr).toContain(`srec play: session ${s.id}: ${s.dir}/${rel}: channels[0].cast "${rel}" has a ".." part; not read`);
    expect(found.code).toBe(1);
    expect(found.stdout).toBe('');
    expect(found.stderr).toContain(`session ${s.id}: ${s.dir}/${rel}: channels[0].cast "${rel}" has a ".." part; not read`);
    // AND the index search built holds nothing from outside
    expect(readFileSync(path.join(s.dir, 'index', 'meta.json'), 'utf8')).toContain('channels[0].cast');
    expect((await srec('search', '--data', data.dir, SECRET)).stdout).toBe('');
  });

  it('play and search refuse a cast that is a symbolic link, a FIFO or a directory', async () => {
    // GIVEN three sessions: a cast linked to a file outside, a FIFO cast, a directory cast
    const linked = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }], start: new Date('2025-03-01T10:00:00Z') });
    unlinkSync(path.join(linked.dir, 'ch-0.cast.gz'));
    symlinkSync(path.join(outside.dir, 'secret.cast.gz'), path.join(linked.dir, 'ch-0.cast.gz'));
    const fifo = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }], start: new Date('2025-03-01T11:00:00Z') });
    unlinkSync(path.join(fifo.dir, 'ch-0.cast.gz'));
    execFileSync('mkfifo', [path.join(fifo.dir, 'ch-0.cast.gz')]);
    const dir = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }], start: new Date('2025-03-01T12:00:00Z') });
    unlinkSync(path.join(dir.dir, 'ch-0.cast.gz'));
    mkdirSync(path.join(dir.dir, 'ch-0.cast.gz'));
    // WHEN playing each and searching the share
    const plays = [await srec('play', '--data', data.dir, linked.id), await srec('play', '--data', data.dir, '--text', fifo.id), await srec('play', '--data', data.dir, '--text', dir.id)];
    const found = await srec('search', '--data', data.dir, SECRET);
    // THEN nothing from outside is shown, and each problem says what the file is
    expect(plays[0]!.code).toBe(1);
    expect(plays[0]!.stderr).toContain(`session ${linked.id}: ${linked.dir}/ch-0.cast.gz: channels[0].cast "ch-0.cast.gz" is a symbolic link, not a regular file; not read`);
    expect(plays[1]!.stderr).toContain(`session ${fifo.id}: ${fifo.dir}/ch-0.cast.gz: channels[0].cast "ch-0.cast.gz" is a FIFO, not a regular file; not read`);
    expect(plays[2]!.stderr).toContain(`session ${dir.id}: ${dir.dir}/ch-0.cast.gz: channels[0].cast "ch-0.cast.gz" is a directory, not a regular file; not read`);
    for (const p of plays) expect(p.stdout).not.toContain(SECRET);
    expect(found).toMatchObject({ code: 1, stdout: '' });
    expect(found.stderr).toContain(`session ${linked.id}: ${linked.dir}/ch-0.cast.gz: channels[0].cast "ch-0.cast.gz" is a symbolic link`);
  });

  it('a manifest.json that is a FIFO is a problem of its session, not a hang of the whole listing', async () => {
    // GIVEN an intact session and one whose manifest is a FIFO
    const good = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }], start: new Date('2025-03-01T10:00:00Z') });
    const bad = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }], start: new Date('2025-03-01T11:00:00Z') });
    unlinkSync(path.join(bad.dir, 'manifest.json'));
    execFileSync('mkfifo', [path.join(bad.dir, 'manifest.json')]);
    // WHEN listing the sessions
    const r = await srec('sessions', '--data', data.dir, '--json');
    // THEN the intact one is listed and the other is named with what its manifest is
    expect(r.stdout).toContain(good.id);
    expect(r.stderr).toContain(`session ${bad.id}: ${bad.dir}: manifest.json is a FIFO, not a regular file; not read`);
  });

  it('sessions, search and verify do not follow a symlinked day or session directory out of the share, and name it', async () => {
    // GIVEN a session on the share, and outside it a day and a session directory linked into the share
    const inside = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    const away = writeSession({ dataFolder: outside.dir, channels: [{ id: 0, events: [[1, 'o', `${SECRET}\r\n`]] }], start: new Date('2025-04-02T10:00:00Z') });
    mkdirSync(path.join(data.dir, '2025', '04'), { recursive: true });
    symlinkSync(path.join(outside.dir, '2025', '04', '02'), path.join(data.dir, '2025', '04', '02'));
    const awayToo = writeSession({ dataFolder: outside.dir, channels: [{ id: 0, events: [[1, 'o', `${SECRET}\r\n`]] }], start: new Date('2025-05-01T10:00:00Z') });
    const linkedSession = path.join(path.dirname(inside.dir), awayToo.id);
    symlinkSync(awayToo.dir, linkedSession);
    // WHEN listing, searching and verifying the share
    const listed = await srec('sessions', '--data', data.dir, '--json');
    const found = await srec('search', '--data', data.dir, SECRET);
    const verified = await srec('verify', '--data', data.dir);
    // THEN only the session inside is listed, the secret is not found, and each link is named
    expect(listed.stdout).toContain(inside.id);
    expect(listed.stdout).not.toContain(away.id);
    expect(listed.stdout).not.toContain(awayToo.id);
    expect(listed.stderr).toContain(`${path.join(data.dir, '2025', '04', '02')}: a symbolic link where a day directory belongs; not followed`);
    expect(listed.stderr).toContain(`session ${awayToo.id}: ${linkedSession}: a symbolic link where a session directory belongs; not followed`);
    expect(found).toMatchObject({ code: 1, stdout: '' });
    expect(verified.code).toBe(1);
    expect(verified.stderr).toContain('a symbolic link where a day directory belongs');
    // AND nothing was written outside the share (search builds no index there)
    expect(() => readFileSync(path.join(away.dir, 'index', 'meta.json'))).toThrow();
  });

  it('a cast whose directory on the way is a link out of the session is refused', async () => {
    // GIVEN a manifest naming sub/ch-0.cast.gz, where sub is a link to a directory outside
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events }] });
    renameSync(path.join(outside.dir, 'secret.cast.gz'), path.join(outside.dir, 'ch-0.cast.gz'));
    symlinkSync(outside.dir, path.join(s.dir, 'sub'));
    rewriteManifest(s, (m) => (m.channels[0].cast = 'sub/ch-0.cast.gz'));
    rmSync(path.join(s.dir, 'ch-0.cast.gz'));
    // WHEN playing its text
    const r = await srec('play', '--data', data.dir, '--text', s.id);
    // THEN the link is named and nothing behind it is shown
    expect(r.stdout).not.toContain(SECRET);
    expect(r.stderr).toContain(`channels[0].cast "sub/ch-0.cast.gz" is (its part "sub") a symbolic link; not read`);
  });
});
