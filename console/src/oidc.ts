// OIDC login for the console (openid-client): the authorization code flow with PKCE, state and nonce. The
// person is the ID token's username claim (or userinfo's, when the token leaves it out), their groups the
// groups claim, each with a prefix, as the API server's own OIDC authenticator names them
// (--oidc-username-prefix, --oidc-groups-prefix): give both the same prefixes and one RoleBinding serves
// kubectl and the console. What such a person may see is then decided per request by a SubjectAccessReview.
import type http from 'node:http';
import * as client from 'openid-client';
import { errorMessage, type Logger } from '../../common/log.js';
import { safeNext, type Identity } from './auth.js';

export interface OidcOptions {
  /** The issuer URL; https, except on a loopback address (a provider on this machine). */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The console's callback as the browser reaches it, e.g. https://console.example/oidc/callback. */
  readonly redirectUrl: string;
  /** @default 'email' */
  readonly usernameClaim?: string;
  /** @default 'groups' */
  readonly groupsClaim?: string;
  /** @default 'oidc:' */
  readonly usernamePrefix?: string;
  /** @default 'oidc:' */
  readonly groupsPrefix?: string;
  /** @default 'openid profile email' */
  readonly scopes?: string;
  /** @default Date.now */
  readonly now?: () => number;
}

/** The cookie that ties the provider's answer to the browser that asked (Lax: the answer is a cross-site redirect). */
export const STATE_COOKIE = 'srec_oidc_state';
const PENDING_MS = 10 * 60_000;
const MAX_PENDING = 10_000;

interface Pending {
  readonly verifier: string;
  readonly nonce: string;
  readonly next: string;
  readonly expires: number;
}

const isLoopback = (u: URL) => ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);

/** Checks the options; throws an Error naming the flag and what to give. */
export function checkOidcOptions(o: OidcOptions): void {
  let issuer: URL;
  let redirect: URL;
  try {
    issuer = new URL(o.issuer);
  } catch {
    throw new Error(`--oidc-issuer "${o.issuer}" is not a URL (e.g. https://login.example.com/realms/ops)`);
  }
  if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && isLoopback(issuer))) throw new Error(`--oidc-issuer ${o.issuer}: use https (plain http only for a provider on a loopback address)`);
  try {
    redirect = new URL(o.redirectUrl);
  } catch {
    throw new Error(`--oidc-redirect-url "${o.redirectUrl}" is not a URL (the console's address followed by /oidc/callback)`);
  }
  if (redirect.pathname !== '/oidc/callback') throw new Error(`--oidc-redirect-url ${o.redirectUrl}: its path must be /oidc/callback (where the console takes the provider's answer)`);
  if (redirect.protocol !== 'https:' && !(redirect.protocol === 'http:' && isLoopback(redirect))) throw new Error(`--oidc-redirect-url ${o.redirectUrl}: use https (the session cookie must not cross the network in the clear)`);
  if (o.clientId === '') throw new Error('--oidc-client-id: give the client id registered with the provider');
  if (o.clientSecret === '') throw new Error('--oidc-client-secret-file: the file is empty; it holds the client secret');
}

function claimStrings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

/** The console's routes /login/oidc and /oidc/callback. */
export class OidcLogin {
  private config: Promise<client.Configuration> | undefined;
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly opts: OidcOptions,
    private readonly log: Logger,
  ) {
    checkOidcOptions(opts);
  }

  /** Where the login page's button goes. */
  readonly href = '/login/oidc';

  get label(): string {
    return `Log in with ${new URL(this.opts.issuer).host}`;
  }

  /** Secure cookies when the browser reaches the console over https. */
  get secure(): boolean {
    return new URL(this.opts.redirectUrl).protocol === 'https:';
  }

  private get now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** The provider's configuration, discovered on first use and again after a failure (a provider down at start-up is not fatal). */
  private discover(): Promise<client.Configuration> {
    if (this.config === undefined) {
      const issuer = new URL(this.opts.issuer);
      this.config = client
        .discovery(issuer, this.opts.clientId, this.opts.clientSecret, undefined, issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined)
        .catch((err: unknown) => {
          this.config = undefined;
          throw new Error(`the OIDC issuer ${this.opts.issuer} cannot be reached or read (${errorMessage(err)})`);
        });
    }
    return this.config;
  }

  /**
   * Serves /login/oidc and /oidc/callback; false for every other path. `login` sets the console's session
   * cookie and sends the browser on; `refuse` answers with the login page and a message.
   */
  async route(req: http.IncomingMessage, res: http.ServerResponse, url: URL, login: (who: Identity, next: string, how?: { crossSite?: boolean; cookies?: readonly string[] }) => void, refuse: (status: number, message: string, next: string) => void): Promise<boolean> {
    if (url.pathname === this.href) {
      const next = safeNext(url.searchParams.get('next'));
      let config: client.Configuration;
      try {
        config = await this.discover();
      } catch (err) {
        this.log.warn('oidc login not started', { error: errorMessage(err) });
        refuse(503, `Single sign-on is not available now: ${errorMessage(err)}. Try again, or log in with a token.`, next);
        return true;
      }
      const state = client.randomState();
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      this.sweep();
      if (this.pending.size >= MAX_PENDING) {
        refuse(503, 'Too many logins are under way; try again in a minute.', next);
        return true;
      }
      this.pending.set(state, { verifier, nonce, next, expires: this.now + PENDING_MS });
      const to = client.buildAuthorizationUrl(config, {
        redirect_uri: this.opts.redirectUrl,
        scope: this.opts.scopes ?? 'openid profile email',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      res.writeHead(303, {
        location: to.href,
        'set-cookie': `${STATE_COOKIE}=${state}; Path=/oidc; HttpOnly; SameSite=Lax; Max-Age=${PENDING_MS / 1000}${this.secure ? '; Secure' : ''}`,
      });
      res.end();
      return true;
    }
    if (url.pathname !== '/oidc/callback') return false;
    const state = url.searchParams.get('state') ?? '';
    const cookieState = /(?:^|;\s*)srec_oidc_state=([^;]*)/.exec(req.headers.cookie ?? '')?.[1];
    const p = this.pending.get(state);
    if (p === undefined || cookieState !== state || p.expires <= this.now) {
      this.log.warn('oidc login refused', { reason: p === undefined ? 'unknown or used state' : cookieState !== state ? 'state cookie does not match' : 'expired' });
      refuse(401, 'That single sign-on answer is not for this browser, was used already or came too late: log in again.', '/');
      return true;
    }
    this.pending.delete(state);
    const failure = url.searchParams.get('error');
    if (failure !== null) {
      this.log.warn('oidc login refused by the provider', { error: failure });
      refuse(401, `The identity provider refused the login (${failure}${url.searchParams.get('error_description') ? `: ${url.searchParams.get('error_description')}` : ''}).`, p.next);
      return true;
    }
    let who: Identity;
    try {
      const config = await this.discover();
      // The URL the provider sent the browser to: its query on the registered callback.
      const current = new URL(this.opts.redirectUrl);
      current.search = url.search;
      const tokens = await client.authorizationCodeGrant(config, current, { pkceCodeVerifier: p.verifier, expectedState: state, expectedNonce: p.nonce, idTokenExpected: true });
      let claims: Record<string, unknown> = { ...(tokens.claims() ?? {}) };
      const usernameClaim = this.opts.usernameClaim ?? 'email';
      const groupsClaim = this.opts.groupsClaim ?? 'groups';
      if (claims[usernameClaim] === undefined || claims[groupsClaim] === undefined) {
        const info = await client.fetchUserInfo(config, tokens.access_token, String(claims.sub));
        claims = { ...info, ...claims };
      }
      const name = claims[usernameClaim];
      if (typeof name !== 'string' || name === '') throw new Error(`the provider gave no "${usernameClaim}" claim (--oidc-username-claim) for ${String(claims.sub)}`);
      if (usernameClaim === 'email' && claims.email_verified === false) throw new Error(`the provider has not verified the email ${name}`);
      const up = this.opts.usernamePrefix ?? 'oidc:';
      const gp = this.opts.groupsPrefix ?? 'oidc:';
      who = { name: `${up}${name}`, groups: claimStrings(claims[groupsClaim]).map((g) => `${gp}${g}`), via: 'oidc' };
    } catch (err) {
      this.log.warn('oidc login failed', { error: errorMessage(err) });
      refuse(401, `Single sign-on failed: ${errorMessage(err)}`, p.next);
      return true;
    }
    login(who, p.next, { crossSite: true, cookies: [`${STATE_COOKIE}=; Path=/oidc; HttpOnly; SameSite=Lax; Max-Age=0`] });
    return true;
  }

  private sweep(): void {
    const now = this.now;
    for (const [k, p] of this.pending) if (p.expires <= now) this.pending.delete(k);
  }
}
