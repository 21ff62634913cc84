// `srec console`'s HTTP server: the pages, the JSON API and the assets, read-only over the share. Every
// request but /healthz, /login and /assets/ is authenticated (session cookie or bearer token) and
// authorised for what it shows; sessions are found by id in the catalog, files by their index in the
// manifest, and opened only through trail/ (regular files inside the session directory).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage, type Logger } from '../../common/log.js';
import { searchSessions, SearchUsageError, type SearchHit } from '../../recorder/src/search/query.js';
import { TermFilters } from '../../recorder/src/search/term-filter.js';
import { verifySession } from '../../recorder/src/search/verify.js';
import type { ChannelLogEntry } from '../../recorder/src/trail/channel-log.js';
import { readGzipBytes, readGzipLines } from '../../recorder/src/trail/gzip-lines.js';
import { readChannelLog } from '../../recorder/src/trail/reader.js';
import { fileChunks, openSessionFile } from '../../recorder/src/trail/session-file.js';
import type { TrailKeys } from '../../recorder/src/trail/crypto/keys.js';
import { openChunks, type OpenState } from '../../recorder/src/trail/crypto/sealed.js';
import { castFiles, rawStreamFiles, sealOf, type StoredSession } from '../../recorder/src/trail/sessions.js';
import { CookieSessions, safeNext, type Authorizer, type Identity, type Permission, type TokenAuthenticator } from './auth.js';
import { Catalog, type SessionFilter, type SessionStatus } from './catalog.js';
import { connectionsPage, errorPage, landingPage, loginPage, searchPage, sessionPage, type ListQuery } from './pages.js';
import type { OidcLogin } from './oidc.js';
import type { ViewLog } from './views.js';

export const COOKIE = 'srec_console';

/** The console's Content-Security-Policy: its own scripts and styles only; the player's terminal is WebAssembly. */
export const CSP =
  "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; " +
  "connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export interface ConsoleServerOptions {
  readonly dataFolder: string;
  /** The trail's key set (--keys): encrypted sessions are listed, played, searched and verified with it. */
  readonly keys?: TrailKeys;
  readonly tokens: TokenAuthenticator;
  readonly authorizer: Authorizer;
  readonly views: ViewLog;
  readonly log: Logger;
  /** Single sign-on besides tokens: its routes /login/oidc and /oidc/callback, and the login page's button. */
  readonly oidc?: OidcLogin;
  /** Set the cookie's Secure attribute (behind TLS). @default false */
  readonly secureCookie?: boolean;
  /** @default 50 */
  readonly pageSize?: number;
  /** Most hits a search returns. @default 200 */
  readonly searchLimit?: number;
  readonly sessions?: CookieSessions;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** The only files /assets/ serves: a fixed map, so that no request path ever reaches the file system. */
function loadAssets(): Map<string, { body: Buffer; type: string }> {
  const own = (name: string) => {
    // Compiled (dist/console/src) or run from source (console/src): the assets stay in console/assets.
    for (const dir of [path.join(here, '..', 'assets'), path.join(here, '..', '..', '..', 'console', 'assets')]) {
      try {
        return readFileSync(path.join(dir, name));
      } catch {
        /* next */
      }
    }
    throw new Error(`console asset ${name} not found next to ${here}: reinstall srec`);
  };
  return new Map([
    ['console.js', { body: own('console.js'), type: 'text/javascript; charset=utf-8' }],
    ['console.css', { body: own('console.css'), type: 'text/css; charset=utf-8' }],
    ['asciinema-player.min.js', { body: readFileSync(require.resolve('asciinema-player/dist/bundle/asciinema-player.min.js')), type: 'text/javascript; charset=utf-8' }],
    ['asciinema-player.css', { body: readFileSync(require.resolve('asciinema-player/dist/bundle/asciinema-player.css')), type: 'text/css; charset=utf-8' }],
  ]);
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

const STATUSES: readonly SessionStatus[] = ['complete', 'incomplete', 'recovered'];

/** The connections filter from a query string; a bad value is a 400 naming the parameter and what it takes. */
export function parseFilter(p: URLSearchParams): { filter: SessionFilter; query: ListQuery; page: number } {
  const str = (k: string) => {
    const v = p.get(k);
    return v === null || v === '' ? undefined : v;
  };
  const time = (k: string): number | undefined => {
    const v = str(k);
    if (v === undefined) return undefined;
    // datetime-local has no zone: the console's times are UTC, as on the page.
    const ms = Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(v) ? v : `${v}Z`);
    if (Number.isNaN(ms)) throw new HttpError(400, `${k}: "${v}" is not a time; use YYYY-MM-DDTHH:MM (UTC) or an ISO-8601 time`);
    return ms;
  };
  const status = str('status');
  if (status !== undefined && !STATUSES.includes(status as SessionStatus)) throw new HttpError(400, `status: "${status}" is not one of ${STATUSES.join(', ')}`);
  const transfers = str('transfers');
  if (transfers !== undefined && transfers !== 'yes' && transfers !== 'no') throw new HttpError(400, `transfers: "${transfers}" is not yes or no`);
  const pageText = str('page') ?? '1';
  const page = Number(pageText);
  if (!Number.isInteger(page) || page < 1) throw new HttpError(400, `page: "${pageText}" is not a whole number from 1`);
  const filter: SessionFilter = {
    user: str('user'),
    targetUser: str('targetUser'),
    host: str('host'),
    from: time('from'),
    to: time('to'),
    status: status as SessionStatus | undefined,
    hasTransfers: transfers === undefined ? undefined : transfers === 'yes',
  };
  return { filter, page, query: { user: str('user'), targetUser: str('targetUser'), host: str('host'), from: str('from'), to: str('to'), status, transfers } };
}

/** Where in a channel's cast the channel log's entries fall: the cast starts when the program does. */
function castStart(log: readonly ChannelLogEntry[], channel: number): number {
  const start = log.find((e) => 'ch' in e && e.ch === channel && e.type === 'request' && ['shell', 'exec', 'subsystem'].includes(String((e as { request?: unknown }).request)));
  const open = log.find((e) => 'ch' in e && e.ch === channel && e.type === 'open');
  return Number((start ?? open)?.t ?? 0);
}

/** Markers for the player: the channel's events from the channel log, and the search hits on it. */
function markersFor(log: readonly ChannelLogEntry[], channel: number, hits: readonly SearchHit[]): Array<[number, string]> {
  const t0 = castStart(log, channel);
  const out: Array<[number, string]> = [];
  for (const e of log) {
    if (!('ch' in e) || e.ch !== channel) continue;
    const r = e as unknown as Record<string, unknown>;
    const label =
      e.type === 'request' && !['pty-req', 'shell', 'exec', 'subsystem', 'env'].includes(String(r.request))
        ? String(r.request)
        : e.type === 'exit'
          ? `exit ${r.status ?? r.signal ?? ''}`.trim()
          : e.type === 'eof'
            ? `eof from ${String(r.from)}`
            : undefined;
    if (label !== undefined) out.push([Math.max(0, Math.round((Number(e.t) - t0) * 1000) / 1000), label]);
  }
  for (const h of hits) if (h.channel === channel) out.push([h.time, `${h.stream === 'input' ? 'typed' : 'printed'}: ${h.line.slice(0, 60)}`]);
  return out.sort((a, b) => a[0] - b[0]);
}

function contentDisposition(remotePath: string): string {
  const base = remotePath.split('/').filter((p) => p !== '').pop() ?? 'file';
  const ascii = base.replace(/[^\x20-\x7e]|["\\%;]/g, '_') || 'file';
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(base)}`;
}

/** The console's HTTP server; `warmed` resolves once every session on the share at start has its token filter. */
export function createConsoleServer(opts: ConsoleServerOptions): http.Server & { warmed: Promise<void> } {
  const assets = loadAssets();
  const catalog = new Catalog({ dataFolder: opts.dataFolder, ...(opts.keys !== undefined ? { keys: opts.keys } : {}) });
  const sessions = opts.sessions ?? new CookieSessions();
  const pageSize = opts.pageSize ?? 50;
  const searchLimit = opts.searchLimit ?? 200;
  const keys = opts.keys !== undefined ? { keys: opts.keys } : {};
  // A search opens only the sessions whose token filter may hold every word (made once per session).
  const filters = new TermFilters();

  const send = (res: http.ServerResponse, status: number, type: string, body: string | Buffer, headers: http.OutgoingHttpHeaders = {}) => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
  const json = (res: http.ServerResponse, status: number, body: unknown) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
  const html = (res: http.ServerResponse, status: number, body: string) => send(res, status, 'text/html; charset=utf-8', body);

  async function identify(req: http.IncomingMessage): Promise<Identity | undefined> {
    const auth = req.headers.authorization;
    if (auth !== undefined && /^Bearer /i.test(auth)) return opts.tokens.authenticate(auth.slice(7).trim());
    const cookie = parseCookies(req.headers.cookie).get(COOKIE);
    return cookie === undefined ? undefined : sessions.get(cookie);
  }

  const secureCookie = opts.secureCookie ?? opts.oidc?.secure ?? false;
  const loginLink = opts.oidc !== undefined ? { href: opts.oidc.href, label: opts.oidc.label } : undefined;
  /**
   * Sets the session cookie and sends the browser to `next`. After a provider's redirect (`crossSite`) the
   * browser would not send a SameSite=Strict cookie on the rest of that redirect chain, so the answer is a
   * page of the console's own that goes on from here.
   */
  const login = (res: http.ServerResponse) => (who: Identity, next: string, how: { crossSite?: boolean; cookies?: readonly string[] } = {}) => {
    const c = sessions.create(who);
    const cookie = `${COOKIE}=${c.value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${c.maxAgeSeconds}${secureCookie ? '; Secure' : ''}`;
    const to = safeNext(next);
    if (how.crossSite) {
      const body = landingPage(to);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body), 'set-cookie': [cookie, ...(how.cookies ?? [])] });
      res.end(body);
    } else {
      res.writeHead(303, { location: to, 'set-cookie': [cookie, ...(how.cookies ?? [])] });
      res.end();
    }
    opts.log.info('logged in', { who: who.name, via: who.via });
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const p = url.pathname;
    const api = p.startsWith('/api/');
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not served: the console is read-only (GET only)`);
    if (p === '/healthz') return send(res, 200, 'text/plain', 'ok\n');
    if (p.startsWith('/assets/')) {
      const a = assets.get(p.slice('/assets/'.length));
      if (a === undefined) throw new HttpError(404, 'no such asset');
      return send(res, 200, a.type, a.body, { 'cache-control': 'public, max-age=3600' });
    }
    if (opts.oidc !== undefined && (await opts.oidc.route(req, res, url, login(res), (status, message, next) => html(res, status, loginPage(next, message, loginLink))))) return;
    if (p === '/login') {
      const token = url.searchParams.get('token');
      const next = safeNext(url.searchParams.get('next'));
      if (token === null || token === '') return html(res, 200, loginPage(next, undefined, loginLink));
      const who = await opts.tokens.authenticate(token);
      if (who === undefined) {
        opts.log.warn('login refused', { reason: 'token not accepted' });
        return html(res, 401, loginPage(next, 'That token is not accepted: check it, or ask for a new one.', loginLink));
      }
      return login(res)(who, next);
    }
    if (p === '/logout') {
      const cookie = parseCookies(req.headers.cookie).get(COOKIE);
      if (cookie !== undefined) sessions.delete(cookie);
      res.writeHead(303, { location: '/login', 'set-cookie': `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` });
      return void res.end();
    }

    const who = await identify(req);
    if (who === undefined) {
      if (api) return json(res, 401, { error: 'not logged in: send Authorization: Bearer <token>, or log in at /login' });
      return html(res, 401, loginPage(p + url.search, undefined, loginLink));
    }
    const need = async (what: Permission) => {
      if (!(await opts.authorizer.allowed(who, what))) {
        opts.log.warn('request refused', { who: who.name, permission: what, path: p });
        throw new HttpError(403, what === 'files' ? `${who.name} may not download transferred files (needs get on sessionrecordings/files)` : `${who.name} may not see recordings (needs get on sessionrecordings/recordings)`);
      }
    };
    await need('recordings');
    const session = (id: string): StoredSession => {
      const s = catalog.get(id);
      if (s === undefined) throw new HttpError(404, `no session with id "${id}"`);
      return s;
    };
    const parts = p.split('/').filter((x) => x !== '').map((x) => {
      try {
        return decodeURIComponent(x);
      } catch {
        throw new HttpError(400, 'the path is not valid percent-encoding');
      }
    });

    // --- pages ---
    if (p === '/') {
      const { filter, query, page } = parseFilter(url.searchParams);
      return html(res, 200, connectionsPage(who, catalog.list(filter, page, pageSize), query, catalog.facets()));
    }
    if (p === '/search') {
      const words = url.searchParams.get('q') ?? '';
      if (words.trim() === '') return html(res, 200, searchPage(who, '', undefined));
      try {
        const { hits } = await runSearch(words);
        return html(res, 200, searchPage(who, words, hits, undefined, hits.length >= searchLimit));
      } catch (err) {
        if (err instanceof SearchUsageError) return html(res, 400, searchPage(who, words, undefined, err.message));
        throw err;
      }
    }
    if (parts[0] === 'sessions' && parts.length === 2) {
      const s = session(parts[1]!);
      const casts = castFiles(s).map((c) => {
        const ch = s.manifest.channels.find((x) => x.id === c.channel);
        return { channel: c.channel, command: ch?.command, kind: ch?.kind };
      });
      const chParam = url.searchParams.get('ch');
      const channel = chParam !== null ? casts.find((c) => String(c.channel) === chParam)?.channel : casts[0]?.channel;
      if (chParam !== null && channel === undefined) throw new HttpError(404, `ch: session ${s.id} has no recorded channel ${chParam}`);
      const t = Number(url.searchParams.get('t') ?? '0');
      const words = url.searchParams.get('q') ?? '';
      const hits = words.trim() === '' ? [] : await searchSessions({ dataFolder: opts.dataFolder, words, session: s.id, sessions: [s], limit: 100, ...keys }).then((r) => r.hits).catch(() => []);
      const log = await readChannelLog(s.dir, sealOf(s));
      const startAt = Number.isFinite(t) && t > 0 ? Math.round(t * 1000) / 1000 : 0;
      const markers = channel === undefined ? [] : markersFor(log.entries, channel, hits);
      // The player opens at a marker: its clock skips idle time, so a time would land elsewhere.
      if (startAt > 0 && !markers.some(([mt]) => mt === startAt)) markers.push([startAt, 'opened here']);
      markers.sort((a, b) => a[0] - b[0]);
      let canDownload = true;
      try {
        await need('files');
      } catch {
        canDownload = false;
      }
      return html(
        res,
        200,
        sessionPage(who, {
          id: s.id,
          manifest: s.manifest,
          casts,
          raw: rawStreamFiles(s).map((r) => ({ channel: r.channel, lane: r.lane })),
          channel,
          startAt,
          markers,
          startMarker: markers.findIndex(([mt]) => mt === startAt),
          log: log.entries,
          logProblem: log.problem,
          integrity: await verifySession(s, opts.keys),
          views: opts.views.of(s.id),
          canDownload,
        }),
      );
    }

    // --- API ---
    if (p === '/api/sessions') {
      const { filter, page } = parseFilter(url.searchParams);
      return json(res, 200, catalog.list(filter, page, pageSize));
    }
    if (parts[0] === 'api' && parts[1] === 'sessions' && parts.length >= 3) {
      const s = session(parts[2]!);
      if (parts.length === 3) {
        const verification = await verifySession(s, opts.keys);
        return json(res, 200, {
          id: s.id,
          manifest: s.manifest,
          integrity: { ok: verification.ok, checked: verification.checked, findings: verification.findings },
          viewedBy: opts.views.of(s.id),
        });
      }
      if (parts[3] === 'log' && parts.length === 4) return json(res, 200, await readChannelLog(s.dir, sealOf(s)));
      if (parts[3] === 'cast' && parts.length === 5) {
        const cast = castFiles(s).find((c) => String(c.channel) === parts[4]);
        if (cast === undefined) throw new HttpError(404, `session ${s.id} has no recorded channel ${parts[4]}`);
        opts.views.viewed(who, s, cast.channel);
        res.writeHead(200, { 'content-type': 'application/x-asciicast; charset=utf-8' });
        const read = await readGzipLines(cast.ref, (line) => {
          if (line === '') return;
          if (!res.write(line + '\n')) return new Promise<void>((resolve) => res.once('drain', () => resolve()));
        });
        if (read.problem !== undefined) opts.log.warn('cast read with a problem', { session: s.id, channel: cast.channel, problem: read.problem });
        return void res.end();
      }
      if (parts[3] === 'raw' && parts.length === 6) {
        // The exact bytes of one direction of a channel (pty-less channels, tunnels). They can be file content
        // (rsync, tar, git streams), so they need the files permission, like a transferred file.
        await need('files');
        const raw = rawStreamFiles(s).find((r) => String(r.channel) === parts[4] && r.lane === parts[5]);
        if (raw === undefined) throw new HttpError(404, `session ${s.id} has no raw stream ${parts[5]} for channel ${parts[4]} (raw streams: ${rawStreamFiles(s).map((r) => `${r.channel}/${r.lane}`).join(', ') || 'none'})`);
        if (s.stored.sealed !== undefined && (opts.keys === undefined || opts.keys.keks.length === 0)) throw new HttpError(409, `session ${s.id} is encrypted: the console needs the trail's keys (--keys DIR) to hand out its raw streams`);
        opts.views.rawDownloaded(who, s, raw.channel, raw.lane);
        const name = `${s.id.slice(0, 8)}-ch${raw.channel}.${raw.lane === 'in' ? 'stdin' : raw.lane === 'out' ? 'stdout' : 'stderr'}`;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': contentDisposition(name) });
        // Chunked: a stream that turns out damaged or cut short ends the download as failed, never as complete.
        const read = await readGzipBytes(raw.ref, (chunk) => (res.write(chunk) ? undefined : new Promise<void>((resolve) => res.once('drain', () => resolve()))));
        if (read.problem !== undefined) {
          opts.log.error('raw stream did not read whole', { session: s.id, channel: raw.channel, stream: raw.lane, problem: read.problem });
          return void res.destroy();
        }
        return void res.end();
      }
      if (parts[3] === 'files' && parts.length === 5) {
        await need('files');
        const i = Number(parts[4]);
        const t = Number.isInteger(i) && i >= 0 ? s.manifest.transfers[i] : undefined;
        if (t === undefined) throw new HttpError(404, `session ${s.id} has no transfer ${parts[4]} (transfers are numbered from 0 in the manifest's order)`);
        if (t.file === undefined || s.manifest.filesExpired !== undefined) throw new HttpError(404, `transfer ${i} of session ${s.id} has no kept copy (${s.manifest.filesExpired !== undefined ? `removed by retention at ${s.manifest.filesExpired}` : (t.note ?? 'fileTransfers was off for the host')})`);
        let fh;
        try {
          fh = await openSessionFile({ dir: s.dir, rel: t.file, field: `transfers[${i}].file` });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new HttpError(code === 'ENOENT' ? 404 : 409, code === 'ENOENT' ? `the copy of transfer ${i} is missing from the share` : errorMessage(err));
        }
        try {
          // A sealed copy is opened record by record as it is sent; its plaintext length is known only at
          // the end, so it goes chunked, and a record that does not authenticate cuts the download short
          // (the browser sees a failed download, never bytes that were not the transfer's).
          const sealed = s.stored.sealed !== undefined;
          if (sealed && (opts.keys === undefined || opts.keys.keks.length === 0)) throw new HttpError(409, `session ${s.id} is encrypted: the console needs the trail's keys (--keys DIR) to hand out its files`);
          const state: OpenState = { sealed: false, final: false, bytesIn: 0 };
          const body = sealed ? openChunks(fileChunks(fh), opts.keys, { session: s.manifest.sessionId, file: t.file }, `transfers[${i}].file`, state) : fileChunks(fh);
          opts.views.downloaded(who, s, i, t.path, t.sha256);
          res.writeHead(200, {
            'content-type': 'application/octet-stream',
            ...(sealed ? {} : { 'content-length': (await fh.stat()).size }),
            'content-disposition': contentDisposition(t.path),
            ...(t.sha256 !== undefined ? { 'x-srec-sha256': t.sha256 } : {}),
          });
          for await (const chunk of body) {
            if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', () => resolve()));
          }
          const broken = sealed && (state.error !== undefined || !state.sealed || !state.final);
          if (broken) {
            opts.log.error('transferred file did not open', { session: s.id, transfer: i, problem: state.error ?? (state.sealed ? 'cut short (no final record)' : 'not sealed, though the session is encrypted') });
            return void res.destroy();
          }
          res.end();
        } finally {
          await fh.close();
        }
        return;
      }
    }
    if (p === '/api/search') {
      const words = url.searchParams.get('q') ?? '';
      if (words.trim() === '') throw new HttpError(400, 'q: give the words to look for (q=WORDS)');
      try {
        const { hits, problems } = await runSearch(words);
        return json(res, 200, { hits, truncated: hits.length >= searchLimit, problems: problems.length });
      } catch (err) {
        if (err instanceof SearchUsageError) throw new HttpError(400, `q: ${err.message}`);
        throw err;
      }
    }
    throw new HttpError(404, `nothing at ${p}`);
  }

  function runSearch(words: string) {
    const sessions = catalog.all();
    filters.keepOnly(new Set(sessions.map((s) => s.dir)));
    return searchSessions({ dataFolder: opts.dataFolder, words, limit: searchLimit, contextLines: 2, sessions, filters, ...keys });
  }

  const server = http.createServer((req, res) => {
    res.setHeader('content-security-policy', CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('cache-control', 'no-store');
    handle(req, res).catch(async (err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof HttpError ? err.message : 'internal error; the console log says more';
      if (status === 500) opts.log.error('request failed', { path: (req.url ?? '').split('?')[0], error: errorMessage(err) });
      if (res.headersSent) return void res.destroy();
      if ((req.url ?? '').startsWith('/api/')) return json(res, status, { error: message });
      let who: Identity | undefined;
      try {
        who = await identify(req);
      } catch {
        who = undefined;
      }
      html(res, status, errorPage(who, status, message));
    });
  });
  // Read the share's manifests and make every session's token filter in the background, a few sessions a
  // turn of the event loop, so that the first search of the day does not pay for it.
  const warmed = new Promise<void>((resolve) => {
    setImmediate(() => {
      let all: StoredSession[];
      try {
        all = catalog.all();
      } catch (err) {
        opts.log.warn('search filters not prepared at start', { error: errorMessage(err) });
        return resolve();
      }
      const started = Date.now();
      let i = 0;
      const step = () => {
        if (!server.listening && i > 0) return resolve();
        for (const end = Math.min(all.length, i + 25); i < end; i++) filters.prepare(all[i]!);
        if (i < all.length) return void setImmediate(step);
        opts.log.info('search filters prepared', { sessions: all.length, filters: filters.size, bytes: filters.bytes, ms: Date.now() - started });
        resolve();
      };
      step();
    });
  });
  return Object.assign(server, { warmed });
}
