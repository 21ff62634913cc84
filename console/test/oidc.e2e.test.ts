// Issue 19: single sign-on and RBAC in a real headless Chromium. A real OpenID Connect provider
// (oidc-provider, its own login and consent pages) runs on loopback; the console (openid-client) sends the
// browser there and back, and every request of the person it names is decided by a SubjectAccessReview
// against the local kube-apiserver: a group bound to a Role sees the connections, a person without the verb
// gets the 403 page, as does a Kubernetes ServiceAccount token without it (TokenReview).
import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createLogger } from '../../common/log.js';
import { clusterTools, freshNamespace, useCluster } from '../../e2e/support/cluster.js';
import type { AuditSink } from '../../recorder/src/audit/emitter.js';
import { tempDataFolder, writeSession, type WrittenSession } from '../../recorder/test/support/trail-fixture.js';
import { freePort } from '../../testing/openssh.js';
import { COOKIE } from '../src/server.js';
import { startConsole, type StartedConsole } from '../src/cmd.js';
import { KubeAuth } from '../src/kube-auth.js';
import { OidcLogin } from '../src/oidc.js';

const CHROMIUM = '/usr/bin/chromium';
const CLIENT_ID = 'srec-console';
const CLIENT_SECRET = randomBytes(24).toString('base64url');
/** The provider's people: alice is an auditor, mallory is not. */
const GROUPS: Record<string, string[]> = { alice: ['auditors'], mallory: ['contractors'] };
/** Where the pages' screenshots go when asked for (docs/console.md): SREC_CONSOLE_SCREENSHOTS=docs/images. */
const SHOTS = process.env.SREC_CONSOLE_SCREENSHOTS;

describe('srec console: OIDC login against a real provider, RBAC by SubjectAccessReview, in Chromium', () => {
  let provider: http.Server;
  let issuer: string;
  let c: StartedConsole;
  let browser: Browser;
  let data: ReturnType<typeof tempDataFolder>;
  let session: WrittenSession;
  let ns: string;
  let nobodyToken: string;

  beforeAll(async () => {
    const { kubeconfigPath, kc } = await useCluster();
    ns = await freshNamespace(kc, 'oidc');
    const kubectl = (args: string[], input?: string) => execFileSync(clusterTools().kubectl, ['--kubeconfig', kubeconfigPath, ...args], { input, encoding: 'utf8' });
    // GIVEN the group oidc:auditors may see the recordings of SessionRecording prod, and nobody else
    kubectl(
      ['apply', '-f', '-'],
      `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: auditor, namespace: ${ns} }
rules: [{ apiGroups: [recording.privx.io], resources: [sessionrecordings/recordings], resourceNames: [prod], verbs: [get] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: auditors, namespace: ${ns} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: auditor }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'oidc:auditors' }]
`,
    );
    kubectl(['-n', ns, 'create', 'serviceaccount', 'nobody']);
    nobodyToken = kubectl(['-n', ns, 'create', 'token', 'nobody', '--duration=20m']).trim();

    // ... a provider with its own login and consent pages, which knows the console as a confidential client
    const providerPort = await freePort();
    const consolePort = await freePort();
    issuer = `http://127.0.0.1:${providerPort}`;
    const redirectUrl = `http://127.0.0.1:${consolePort}/oidc/callback`;
    // (the provider's start-up notices about its development defaults are not this test's output)
    const quiet = [jest.spyOn(console, 'warn').mockImplementation(() => undefined), jest.spyOn(console, 'info').mockImplementation(() => undefined)];
    // oidc-provider 9 also warns that it is tested on Node.js 22 and later; this machine runs 20.
    const { default: Provider } = await import('oidc-provider');
    const op = new Provider(issuer, {
      clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [redirectUrl], response_types: ['code'], grant_types: ['authorization_code'] }],
      claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
      scopes: ['openid', 'email', 'groups'],
      cookies: { keys: [randomBytes(16).toString('hex')] },
      pkce: { required: () => true },
      ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
      findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, email: `${id}@example.test`, email_verified: true, groups: GROUPS[id] ?? [] }) }),
    });
    for (const q of quiet) q.mockRestore();
    provider = http.createServer(op.callback());
    await new Promise<void>((resolve) => provider.listen(providerPort, '127.0.0.1', () => resolve()));

    // ... and the console, checking tokens and every request against the API server, with single sign-on
    data = tempDataFolder();
    session = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events: [[0.5, 'o', 'hello from db-1\r\n']] }] });
    const sink: AuditSink = { emit: () => undefined, close: async () => undefined };
    const log = createLogger({ component: 'console', silent: true });
    const auth = await KubeAuth.create({ kubeconfig: kubeconfigPath, namespace: ns, recording: 'prod' });
    const oidc = new OidcLogin({ issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUrl, scopes: 'openid email groups' }, log);
    c = await startConsole({ dataFolder: data.dir, listen: `127.0.0.1:${consolePort}`, tokens: auth, authorizer: auth, audit: sink, log, oidc });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await c?.close();
    provider?.closeAllConnections();
    await new Promise((r) => provider?.close(r));
    data?.cleanup();
  });

  /** From the console's login page through the provider's sign-in and consent, back to `/`. */
  async function signIn(page: Page, login: string): Promise<number | undefined> {
    const first = await page.goto(`${c.url}/`);
    expect(first?.status()).toBe(401);
    const sso = page.locator('p.sso a');
    expect(await sso.innerText()).toBe(`Log in with ${new URL(issuer).host}`);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(issuer)), sso.click()]);
    await page.fill('input[name=login]', login);
    await page.fill('input[name=password]', 'any');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(issuer) && !u.href.includes('prompt=login')), page.click('button[type=submit]')]);
    await page.waitForSelector('button[type=submit]');
    // the consent page, then back to the console, which lands and goes on to /
    const landed = page.waitForResponse((r) => r.url() === `${c.url}/`);
    await page.click('button[type=submit]');
    return (await landed).status();
  }

  test('a person in a bound group logs in with the provider and sees the connections', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    expect(await signIn(page, 'alice')).toBe(200);
    expect(await page.locator('header .who').innerText()).toBe('oidc:alice@example.test');
    expect(await page.locator('table.sessions tbody tr').first().getAttribute('data-session')).toBe(session.id);
    const cookie = (await ctx.cookies()).find((k) => k.name === COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'console-oidc.png') });
    await ctx.close();
  });

  test('a person the provider knows but RBAC does not allow: the 403 page naming the permission', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    expect(await signIn(page, 'mallory')).toBe(403);
    expect(await page.locator('.error').innerText()).toBe('oidc:mallory@example.test may not see recordings (needs get on sessionrecordings/recordings)');
    expect(await page.locator('body').innerText()).not.toContain(session.id);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'console-403.png') });
    await ctx.close();
  });

  test('a ServiceAccount token without the verb: logged in by TokenReview, refused with 403 by the SubjectAccessReview', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${c.url}/login`);
    await page.fill('input[name=token]', nobodyToken);
    const refused = page.waitForResponse((r) => r.url() === `${c.url}/`);
    await page.click('button[type=submit]');
    expect((await refused).status()).toBe(403);
    expect(await page.locator('.error').innerText()).toBe(`system:serviceaccount:${ns}:nobody may not see recordings (needs get on sessionrecordings/recordings)`);
    await ctx.close();
  });

  test('an answer from the provider that this browser did not ask for is refused', async () => {
    const r = await fetch(`${c.url}/oidc/callback?code=forged&state=${randomBytes(8).toString('hex')}`);
    expect(r.status).toBe(401);
    expect(await r.text()).toContain('That single sign-on answer is not for this browser, was used already or came too late');
  });

  test('bad --oidc-* flags name the flag and what to give', async () => {
    const { srec } = await import('../../recorder/test/support/run-cli.js');
    const dir = await fsp.mkdtemp('/tmp/srec-oidc-');
    await fsp.writeFile(path.join(dir, 'tokens'), `${randomBytes(16).toString('hex')} a\n`);
    const base = ['console', '--data', dir, '--listen', '127.0.0.1:0'];
    expect(await srec(...base, '--token-file', path.join(dir, 'tokens'), '--oidc-issuer', issuer)).toMatchObject({ code: 2, stderr: expect.stringContaining('--oidc-issuer: single sign-on needs --kubeconfig F or --in-cluster') });
    const { kubeconfigPath } = await useCluster();
    const kube = [...base, '--kubeconfig', kubeconfigPath, '--namespace', ns, '--recording', 'prod'];
    expect(await srec(...kube, '--oidc-issuer', issuer)).toMatchObject({ code: 2, stderr: expect.stringContaining('--oidc-client-id is required with --oidc-issuer') });
    await fsp.writeFile(path.join(dir, 'secret'), CLIENT_SECRET);
    const all = ['--oidc-client-id', CLIENT_ID, '--oidc-client-secret-file', path.join(dir, 'secret')];
    expect(await srec(...kube, '--oidc-issuer', 'http://login.example.com', ...all, '--oidc-redirect-url', 'https://console.example/oidc/callback')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--oidc-issuer http://login.example.com: use https'),
    });
    expect(await srec(...kube, '--oidc-issuer', issuer, ...all, '--oidc-redirect-url', 'https://console.example/callback')).toMatchObject({ code: 2, stderr: expect.stringContaining('its path must be /oidc/callback') });
  });
});
