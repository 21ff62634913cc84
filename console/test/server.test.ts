// The console's server over a hostile share and hostile requests: no path from a request, and no name in a
// manifest, leads out of the session directories; bad input gets an error naming what to change.
import { promises as fsp, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createLogger } from '../../common/log.js';
import type { AuditSink } from '../../recorder/src/audit/emitter.js';
import type { AuditEvent } from '../../recorder/src/audit/event.js';
import { srec } from '../../recorder/test/support/run-cli.js';
import { tempDataFolder, writeSession, type WrittenSession } from '../../recorder/test/support/trail-fixture.js';
import { parseTokenFile, safeNext, TokenFileAuth } from '../src/auth.js';
import { startConsole, type StartedConsole } from '../src/cmd.js';

const TOKEN = 'local-token-0123456789abcdef';

/** A raw GET, so that the path reaches the server exactly as written (fetch would normalise `..`). */
function get(url: string, rawPath: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, headers: { authorization: `Bearer ${TOKEN}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the console server over a hostile share', () => {
  let data: ReturnType<typeof tempDataFolder>;
  let c: StartedConsole;
  let good: WrittenSession;
  let linked: WrittenSession;
  const events: AuditEvent[] = [];

  beforeAll(async () => {
    data = tempDataFolder();
    good = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events: [[0.5, 'o', 'hello\r\n']] }], files: { 'a.txt': 'content of a\n' } });
    // GIVEN a session whose kept copy was replaced by a link to a file outside the share
    linked = writeSession({ dataFolder: data.dir, start: new Date('2025-03-02T10:00:00Z'), files: { 'b.txt': 'content of b\n' } });
    const copy = path.join(linked.dir, 'files', '1-b.txt');
    rmSync(copy);
    const secret = path.join(data.dir, '..', `outside-${path.basename(data.dir)}`);
    writeFileSync(secret, 'outside the share\n');
    symlinkSync(secret, copy);
    const sink: AuditSink = { emit: (e) => void events.push(e), close: async () => undefined };
    const auth = new TokenFileAuth([{ token: TOKEN, name: 'auditor' }]);
    c = await startConsole({ dataFolder: data.dir, listen: '127.0.0.1:0', tokens: auth, authorizer: auth, audit: sink, log: createLogger({ component: 'console', silent: true }) });
  });
  afterAll(async () => {
    await c?.close();
    data?.cleanup();
  });

  test.each([
    ['/api/sessions/..%2F..%2F..%2Fetc/files/0', 404],
    ['/api/sessions/../../etc/passwd', 404],
    ['/sessions/..%2F..%2Fetc%2Fpasswd', 404],
    ['/assets/..%2F..%2Fpackage.json', 404],
    ['/assets/../../package.json', 404],
    ['/api/sessions/%E0%A4%A', 400],
  ])('GET %s is %i and reads nothing outside', async (p, status) => {
    const r = await get(c.url, p);
    expect(r.status).toBe(status);
    expect(r.body).not.toMatch(/"name":\s*"srec"|root:x:0/);
  });

  test('a kept copy replaced by a symbolic link is refused, not followed, and no download is audited', async () => {
    events.length = 0;
    const r = await get(c.url, `/api/sessions/${linked.id}/files/0`);
    expect(r.status).toBe(409);
    expect(JSON.parse(r.body).error).toMatch(/transfers\[0\]\.file "files\/1-b.txt" is a symbolic link, not a regular file; not read/);
    expect(r.body).not.toContain('outside the share');
    expect(events).toEqual([]);
    // and the session page reports the damage from verify
    const page = await get(c.url, `/sessions/${linked.id}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('not intact');
  });

  test('a transfer index that is not in the manifest is a 404 that says how transfers are numbered', async () => {
    const r = await get(c.url, `/api/sessions/${good.id}/files/7`);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).error).toBe(`session ${good.id} has no transfer 7 (transfers are numbered from 0 in the manifest's order)`);
  });

  test('only GET: the console is read-only', async () => {
    const r = await fetch(`${c.url}/api/sessions`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(405);
  });

  test('a bad filter names the parameter and what it takes', async () => {
    const r = await get(c.url, '/api/sessions?from=yesterday');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toBe('from: "yesterday" is not a time; use YYYY-MM-DDTHH:MM (UTC) or an ISO-8601 time');
  });

  test('login redirects only within the console', async () => {
    for (const [next, to] of [['/search?q=x', '/search?q=x'], ['//evil.example/', '/'], ['https://evil.example/', '/'], ['/\\evil.example', '/']] as const) {
      const r = await get(c.url, `/login?token=${TOKEN}&next=${encodeURIComponent(next)}`, { authorization: '' });
      expect(r.status).toBe(303);
      expect(r.headers.location).toBe(to);
      expect(r.headers['set-cookie']?.[0]).toMatch(/^srec_console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/);
    }
    expect(safeNext('/x\ny')).toBe('/');
  });
});

describe('srec console: bad input', () => {
  test('a token file without tokens, or with short ones, names the line and what to write', () => {
    expect(() => parseTokenFile('# nothing\n\n', 'F')).toThrow('F: no token in it (one token a line, optionally followed by a name)');
    expect(() => parseTokenFile('short alice\n', 'F')).toThrow('F:1: a token must be at least 16 characters');
    expect(parseTokenFile('0123456789abcdef0\n', 'F')[0]!.name).toMatch(/^token-[0-9a-f]{8}$/);
  });

  test('missing flags and an unreadable token file: exit 2 with what to give', async () => {
    expect(await srec('console', '--listen', '127.0.0.1:0', '--token-file', 'x')).toMatchObject({ code: 2, stderr: expect.stringContaining('--data DIR is required') });
    expect(await srec('console', '--data', '/tmp', '--token-file', 'x')).toMatchObject({ code: 2, stderr: expect.stringContaining('--listen HOST:PORT is required') });
    expect(await srec('console', '--data', '/tmp', '--listen', '127.0.0.1:0')).toMatchObject({ code: 2, stderr: expect.stringContaining('give --token-file F') });
    const dir = await fsp.mkdtemp('/tmp/srec-console-');
    const r = await srec('console', '--data', dir, '--listen', '127.0.0.1:0', '--token-file', path.join(dir, 'none'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--token-file ${path.join(dir, 'none')}: cannot be read (ENOENT)`);
  });
});
