// Who is asking and what they may see. Authentication turns a credential (a token from --token-file, a
// Kubernetes bearer token, an OIDC login) into an Identity; authorisation answers, per request, whether that
// Identity may see recordings, or download transferred files. The session cookie only remembers an Identity.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** What a request may do: see recordings (lists, search, playback) or download transferred files. */
export type Permission = 'recordings' | 'files';

export interface Identity {
  /** The person, as the audit events and the "viewed by" list name them. */
  readonly name: string;
  readonly groups: readonly string[];
  /** How they proved it. */
  readonly via: 'token' | 'kubernetes' | 'oidc';
  /** Kubernetes: the UID and extra the API server reported, passed back in SubjectAccessReviews. */
  readonly uid?: string;
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** Turns a bearer token into an Identity, or undefined when the token is not accepted. */
export interface TokenAuthenticator {
  authenticate(token: string): Promise<Identity | undefined>;
}

export interface Authorizer {
  allowed(who: Identity, what: Permission): Promise<boolean>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * `--token-file F`: one accepted token a line, optionally followed by whitespace and the name it stands for
 * (`8f2c... alice`); blank lines and lines starting with # are skipped. A token without a name is named
 * `token-<first 8 hex of its sha256>`, so that the audit trail can tell tokens apart without holding one.
 */
export function parseTokenFile(text: string, file: string): Array<{ token: string; name: string }> {
  const out: Array<{ token: string; name: string }> = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [token, ...rest] = line.split(/\s+/);
    if (token!.length < 16) throw new Error(`${file}:${i + 1}: a token must be at least 16 characters (write a long random one, e.g. \`openssl rand -hex 24\`)`);
    const name = rest.join(' ') || `token-${digest(token!).toString('hex').slice(0, 8)}`;
    out.push({ token: token!, name });
  }
  if (out.length === 0) throw new Error(`${file}: no token in it (one token a line, optionally followed by a name)`);
  return out;
}

/** The tokens of --token-file; compared by their sha256 in constant time. Every such token may see everything. */
export class TokenFileAuth implements TokenAuthenticator, Authorizer {
  private readonly tokens: Array<{ hash: Buffer; name: string }>;

  constructor(entries: ReadonlyArray<{ token: string; name: string }>) {
    this.tokens = entries.map((e) => ({ hash: digest(e.token), name: e.name }));
  }

  static fromFile(file: string): TokenFileAuth {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`--token-file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a file with one token a line`);
    }
    return new TokenFileAuth(parseTokenFile(text, `--token-file ${file}`));
  }

  async authenticate(token: string): Promise<Identity | undefined> {
    const h = digest(token);
    let found: string | undefined;
    for (const t of this.tokens) if (timingSafeEqual(t.hash, h) && found === undefined) found = t.name;
    return found === undefined ? undefined : { name: found, groups: [], via: 'token' };
  }

  async allowed(): Promise<boolean> {
    return true;
  }
}

export interface CookieSessionOptions {
  /** @default 8 hours */
  readonly ttlMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default crypto.randomBytes */
  readonly random?: (n: number) => Buffer;
}

/** Logged-in browsers: a random cookie value -> the Identity, in memory, expiring. */
export class CookieSessions {
  private readonly sessions = new Map<string, { who: Identity; expires: number }>();
  private readonly ttl: number;
  private readonly now: () => number;
  private readonly random: (n: number) => Buffer;

  constructor(opts: CookieSessionOptions = {}) {
    this.ttl = opts.ttlMs ?? 8 * 3600_000;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? randomBytes;
  }

  create(who: Identity): { value: string; maxAgeSeconds: number } {
    const value = this.random(32).toString('base64url');
    this.sessions.set(value, { who, expires: this.now() + this.ttl });
    if (this.sessions.size > 10_000) this.sweep();
    return { value, maxAgeSeconds: Math.floor(this.ttl / 1000) };
  }

  get(value: string): Identity | undefined {
    const s = this.sessions.get(value);
    if (s === undefined) return undefined;
    if (s.expires <= this.now()) {
      this.sessions.delete(value);
      return undefined;
    }
    return s.who;
  }

  delete(value: string): void {
    this.sessions.delete(value);
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, s] of this.sessions) if (s.expires <= now) this.sessions.delete(k);
  }
}

/** A redirect target from `next=`: only a path of this site (no scheme, no host, no `//` or `/\`). */
export function safeNext(next: string | null | undefined): string {
  if (next === null || next === undefined || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (/[\x00-\x1f\\]/.test(next)) return '/';
  return next;
}
