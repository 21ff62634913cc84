// Issue 19, the auditor's console in a real headless Chromium (Debian's chromium driven by playwright-core)
// over sessions recorded for real: OpenSSH through the recorder to a real sshd, one interactive shell in
// which `sudo su` is typed with a typo rubbed out by backspace, one sftp upload. The console's audit events
// go to a TCP syslog listener.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createLogger } from '../../common/log.js';
import { Registry } from '../../common/metrics.js';
import { createAuditSink } from '../../recorder/src/audit/emitter.js';
import type { StoredSession } from '../../recorder/src/trail/sessions.js';
import { recordShellAndUpload, startLab, waitFor, type Lab } from '../../recorder/test/support/index.js';
import { jsonOf, startTcpSiem, type Siem } from '../../testing/rsyslog.js';
import { TokenFileAuth } from '../src/auth.js';
import { CSP, COOKIE } from '../src/server.js';
import { startConsole, type StartedConsole } from '../src/cmd.js';

/** Debian's chromium (scripts/ensure-deps.sh installs it); playwright-core downloads no browser. */
const CHROMIUM = '/usr/bin/chromium';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
/** Where the pages' screenshots go when asked for (docs/console.md): SREC_CONSOLE_SCREENSHOTS=docs/images. */
const SHOTS = process.env.SREC_CONSOLE_SCREENSHOTS;


describe('the console in a real browser', () => {
  let lab: Lab;
  let siem: Siem;
  let console_: StartedConsole;
  let browser: Browser;
  let shell: StoredSession;
  let upload: StoredSession;
  let original: Buffer;
  let tokenFile: string;

  beforeAll(async () => {
    siem = await startTcpSiem();
    lab = await startLab({ db1: { fileTransfers: true } });
    // GIVEN a shell session, then (a second later, so that it is the newest) an sftp upload
    original = randomBytes(200_000);
    ({ shell, upload } = await recordShellAndUpload(lab, original, '/tmp/console-upload.bin', 1100));
    tokenFile = path.join(lab.dir, 'console-tokens');
    await fsp.writeFile(tokenFile, `# auditors\n${TOKEN} auditor\n`);
    const audit = createAuditSink({ syslog: { address: `127.0.0.1:${siem.port}`, protocol: 'tcp' } }, new Registry(), createLogger({ component: 'test', silent: true }));
    const auth = TokenFileAuth.fromFile(tokenFile);
    console_ = await startConsole({ dataFolder: lab.recorder.dataFolder, listen: '127.0.0.1:0', tokens: auth, authorizer: auth, audit, log: createLogger({ component: 'console', silent: true }) });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await console_?.close();
    await lab?.stop();
    await siem?.stop();
  });

  /** A fresh browser profile whose every Content-Security-Policy violation is collected. */
  async function newPage(): Promise<{ ctx: BrowserContext; page: Page; violations: string[] }> {
    const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    page.on('pageerror', (e) => violations.push(`page error: ${e.message}`));
    return { ctx, page, violations };
  }

  async function logIn(page: Page): Promise<void> {
    const res = await page.goto(`${console_.url}/`);
    expect(res?.status()).toBe(401);
    await page.fill('input[name=token]', TOKEN);
    await Promise.all([page.waitForURL(`${console_.url}/`), page.click('button[type=submit]')]);
  }

  test('without credentials: 401 from the API, the login page for a page, and a wrong token is refused', async () => {
    const api = await fetch(`${console_.url}/api/sessions`);
    expect(api.status).toBe(401);
    expect(((await api.json()) as { error: string }).error).toMatch(/not logged in/);
    const bad = await fetch(`${console_.url}/api/sessions`, { headers: { authorization: 'Bearer not-a-token-of-this-console' } });
    expect(bad.status).toBe(401);
    const { ctx, page } = await newPage();
    const res = await page.goto(`${console_.url}/sessions/${shell.id}`);
    expect(res?.status()).toBe(401);
    expect(res?.headers()['content-security-policy']).toBe(CSP);
    await expect(page.locator('input[name=token]').count()).resolves.toBe(1);
    expect(await page.locator('body').innerText()).not.toContain('sudo');
    await page.fill('input[name=token]', 'wrong-token-0123456789');
    await page.click('button[type=submit]');
    expect(await page.locator('.error').innerText()).toMatch(/not accepted/);
    await ctx.close();
  });

  test('log in, list newest first, filter by person and transfers; the cookie is HttpOnly and SameSite=Strict', async () => {
    const { ctx, page, violations } = await newPage();
    await logIn(page);
    const cookie = (await ctx.cookies()).find((c) => c.name === COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    const rows = page.locator('table.sessions tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await rows.nth(0).getAttribute('data-session')).toBe(upload.id);
    expect(await rows.nth(1).getAttribute('data-session')).toBe(shell.id);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'console-connections.png'), fullPage: true });
    await page.selectOption('select[name=user]', 'alice');
    await page.selectOption('select[name=transfers]', 'yes');
    await Promise.all([page.waitForURL(/transfers=yes/), page.click('form.filters button[type=submit]')]);
    expect(await rows.count()).toBe(1);
    expect(await rows.nth(0).getAttribute('data-session')).toBe(upload.id);
    await page.selectOption('select[name=transfers]', 'no');
    await Promise.all([page.waitForURL(/transfers=no/), page.click('form.filters button[type=submit]')]);
    expect(await rows.count()).toBe(1);
    expect(await rows.nth(0).getAttribute('data-session')).toBe(shell.id);
    // A time range that ends before both sessions leaves none.
    await page.goto(`${console_.url}/?to=2000-01-01T00:00`);
    expect(await rows.count()).toBe(0);
    expect(violations).toEqual([]);
    await ctx.close();
  });

  test('search a word typed with a backspace correction, open the player at the hit; recording_viewed reaches syslog', async () => {
    const { ctx, page, violations } = await newPage();
    await logIn(page);
    await page.click('nav a[href="/search"]');
    const box = page.locator('input[name=q]');
    await box.click();
    // typed in the browser with a correction too: "sudp" <BS> "o su"
    await page.keyboard.type('sudp');
    await page.keyboard.press('Backspace');
    await page.keyboard.type('o su');
    await Promise.all([page.waitForURL(/\/search\?q=sudo\+su/), page.keyboard.press('Enter')]);
    const hits = page.locator('li.hit');
    expect(await hits.count()).toBeGreaterThanOrEqual(1);
    const typed = hits.filter({ hasText: 'typed' }).first();
    expect(await typed.locator('mark').innerText()).toContain('sudo su');
    expect(await typed.innerText()).toContain('alice → root@db-1');
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'console-search.png'), fullPage: true });
    const href = (await typed.locator('a').getAttribute('href'))!;
    const t = Number(new URL(href, console_.url).searchParams.get('t'));
    expect(href).toContain(`/sessions/${shell.id}?ch=0`);
    expect(t).toBeGreaterThan(1);
    await Promise.all([page.waitForURL(/\/sessions\//), typed.locator('a').click()]);
    // THEN the player is there, at the hit's time, with markers (the hit and the channel's exit)
    await page.waitForFunction(() => (globalThis as unknown as { srecPlayer?: unknown }).srecPlayer !== undefined);
    await page.waitForSelector('.ap-player', { timeout: 20_000 });
    const currentTime = () => page.evaluate(() => Promise.resolve((globalThis as unknown as { srecPlayer: { getCurrentTime(): number | Promise<number> } }).srecPlayer.getCurrentTime()));
    const playerTime = await waitFor(async () => ((await currentTime()) > 0 ? currentTime() : undefined), 'the player to seek to the hit', 20_000);
    // The player skips idle time over 2 s, so its clock runs at most t: the moment is told by what the
    // terminal shows, everything before the hit and nothing after it.
    expect(playerTime).toBeLessThanOrEqual(t + 0.05);
    const screen = page.locator('#player .ap-term');
    await waitFor(async () => (await screen.innerText()).includes('ready-42'), 'the terminal to show the session up to the hit', 20_000);
    expect(await screen.innerText()).not.toContain('after-42');
    const markers = JSON.parse((await page.locator('#player').getAttribute('data-markers'))!) as Array<[number, string]>;
    expect(markers.some(([mt, label]) => mt === t && label.startsWith('typed: '))).toBe(true);
    expect(markers.some(([, label]) => label.startsWith('exit'))).toBe(true);
    await page.locator('.ap-marker-container').first().waitFor({ state: 'attached', timeout: 20_000 });
    expect(await page.locator('.integrity.ok').innerText()).toMatch(/intact/);
    expect(await page.locator('ol.timeline li').count()).toBeGreaterThan(2);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'console-session.png'), fullPage: true });
    // AND the SIEM got recording_viewed: who, which session, when
    const viewed = await waitFor(
      async () => siem.messages.map(jsonOf).find((m) => m.event === 'recording_viewed' && m.sessionID === shell.id),
      'recording_viewed at the syslog listener',
      10_000,
    );
    expect(viewed).toMatchObject({ 'audit-exposure': 'SSH-PRIVX-AUDIT', viewer: 'auditor', username: 'alice', targetUsername: 'root', hostID: 'db-1', channel: 0 });
    expect(Date.now() - Date.parse(String(viewed.timestamp))).toBeLessThan(60_000);
    // and the session page lists the viewer
    await page.reload();
    expect(await page.locator('ul.views').innerText()).toMatch(/auditor .* played channel 0/);
    expect(violations).toEqual([]);
    await ctx.close();
  });

  test('download a transferred file: the bytes match its sha256, and file_downloaded reaches syslog', async () => {
    const { ctx, page, violations } = await newPage();
    await logIn(page);
    await page.goto(`${console_.url}/sessions/${upload.id}`);
    const row = page.locator('table.transfers tbody tr').first();
    const sha = await row.locator('code.sha').innerText();
    expect(sha).toBe(sha256(original));
    expect(await row.locator('td.name').innerText()).toBe('/tmp/console-upload.bin');
    const [download] = await Promise.all([page.waitForEvent('download'), row.locator('a.download').click()]);
    expect(download.suggestedFilename()).toBe('console-upload.bin');
    const saved = path.join(lab.dir, 'downloaded.bin');
    await download.saveAs(saved);
    expect(sha256(await fsp.readFile(saved))).toBe(sha);
    const ev = await waitFor(async () => siem.messages.map(jsonOf).find((m) => m.event === 'file_downloaded' && m.sessionID === upload.id), 'file_downloaded at the syslog listener', 10_000);
    expect(ev).toMatchObject({ viewer: 'auditor', path: '/tmp/console-upload.bin', sha256: sha, transfer: 0 });
    expect(violations).toEqual([]);
    await ctx.close();
  });

  test('the JSON API: sessions, one session, search', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const list = (await (await fetch(`${console_.url}/api/sessions?user=alice`, { headers: auth })).json()) as { total: number; items: Array<{ id: string; transfers: number }> };
    expect(list.total).toBe(2);
    expect(list.items.map((i) => i.id)).toEqual([upload.id, shell.id]);
    const one = (await (await fetch(`${console_.url}/api/sessions/${upload.id}`, { headers: auth })).json()) as { integrity: { ok: boolean; checked: number } };
    expect(one.integrity.ok).toBe(true);
    expect(one.integrity.checked).toBeGreaterThan(1);
    const search = (await (await fetch(`${console_.url}/api/search?q=after-42`, { headers: auth })).json()) as { hits: Array<{ session: string; stream: string }> };
    expect(search.hits.map((h) => h.session)).toContain(shell.id);
    const bad = await fetch(`${console_.url}/api/sessions?status=done`, { headers: auth });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('status: "done" is not one of complete, incomplete, recovered');
  });
});
