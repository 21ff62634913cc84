// The operator's connections to the API server: one pool of keep-alive connections for requests, one for
// watches. @kubernetes/client-node 1.x makes a new agent, so a new TCP connection and TLS handshake, for
// every request; with thousands of small applies that set-up was the operator's largest cost.
import http from 'node:http';
import https from 'node:https';

/**
 * What the connections need of a kubeconfig: the server, and TLS material and credentials set on
 * request options. client-node's KubeConfig has both; so has kube/kubeconfig.ts's StaticAccess.
 */
export interface ClusterAccess {
  getCurrentCluster(): { readonly server: string; readonly proxyUrl?: string } | null;
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/** A request the API server answered with a status other than 2xx. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    /** The response body as sent: usually a JSON `Status`. */
    readonly body: string,
    method: string,
    path: string,
  ) {
    super(`${method} ${path}: HTTP ${code}`);
    this.name = 'ApiError';
  }
}

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  readonly body?: unknown;
  /** @default 'application/json' */
  readonly contentType?: string;
}

/** Concurrent request connections; watches have their own pool, so that they never hold these. @default 16 */
const MAX_SOCKETS = 16;
/** A request (not a watch) that has not been answered in this long fails, and its connection is closed. */
const REQUEST_TIMEOUT_MS = 60_000;

type Transport = Pick<typeof https, 'request'>;

export class KubeHttp {
  private pools: { readonly requests: http.Agent; readonly watches: http.Agent } | undefined;

  /**
   * @param kubeConfig server, TLS material and credentials; credentials are asked for on every request
   *   (a token file or an exec plugin may renew them), the TLS material once.
   */
  constructor(private readonly kubeConfig: ClusterAccess) {}

  /** One request; resolves with the parsed JSON body (`undefined` when empty). */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<unknown> {
    const url = this.url(path, opts.query);
    const { transport, headers: auth, options } = await this.connect('requests');
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string | number> = { ...auth, Accept: 'application/json' };
    if (payload !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = Buffer.byteLength(payload);
    }
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { ...options, method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) return reject(new ApiError(status, text, method, path));
          try {
            resolve(text === '' ? undefined : JSON.parse(text));
          } catch (err) {
            reject(err);
          }
        });
      });
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path}: no answer in ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * A watch: `onEvent` for every line the API server sends, then `done` once, with an error unless the
   * server ended the watch or it was aborted (then an error named AbortError). Resolves once the request
   * is sent, with the controller that aborts it.
   */
  async watch(path: string, query: Query, onEvent: (type: string, object: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    const controller = new AbortController();
    let ended = false;
    const end = (err: unknown) => {
      if (ended) return;
      ended = true;
      done(err && controller.signal.aborted ? abortError() : err);
    };
    try {
      const url = this.url(path, { ...query, watch: true });
      const { transport, headers, options } = await this.connect('watches');
      const req = transport.request(url, { ...options, method: 'GET', headers: { ...headers, Accept: 'application/json' }, signal: controller.signal }, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => end(new ApiError(status, Buffer.concat(chunks).toString('utf8'), 'GET', path)));
          res.on('error', end);
          return;
        }
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          pending += chunk;
          let nl: number;
          while ((nl = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            if (line.trim() === '') continue;
            let event: { type?: unknown; object?: unknown };
            try {
              event = JSON.parse(line) as typeof event;
            } catch {
              continue; // not one event: skip it, as client-node's Watch does
            }
            if (typeof event.type === 'string') onEvent(event.type, event.object);
          }
        });
        res.on('end', () => end(null));
        res.on('error', end);
        res.on('close', () => end(controller.signal.aborted ? abortError() : null));
      });
      req.on('error', end);
      req.end();
    } catch (err) {
      end(err);
    }
    return controller;
  }

  /** Free the pooled connections. */
  close(): void {
    this.pools?.requests.destroy();
    this.pools?.watches.destroy();
  }

  private url(path: string, query: Query = {}): URL {
    const server = this.kubeConfig.getCurrentCluster()?.server;
    if (!server) throw new Error('the kubeconfig has no current cluster (set current-context)');
    const url = new URL(server.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /** The credentials for this request and the agent to send it through. */
  private async connect(pool: 'requests' | 'watches'): Promise<{ transport: Transport; headers: Record<string, string>; options: Pick<https.RequestOptions, 'auth' | 'agent'> }> {
    const opts: https.RequestOptions = {};
    // Sets headers (bearer token), auth (basic), the TLS material and a fresh agent we do not use, unless
    // the cluster is reached through a proxy: then that agent is the only one that knows how.
    await this.kubeConfig.applyToHTTPSOptions(opts);
    const cluster = this.kubeConfig.getCurrentCluster();
    const plain = cluster?.server.startsWith('http:') ?? false;
    const transport: Transport = plain ? http : https;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
    const auth = opts.auth ? { auth: opts.auth } : {};
    if (cluster?.proxyUrl) return { transport, headers, options: { ...auth, agent: opts.agent } };
    this.pools ??= {
      requests: this.agent(plain, opts, MAX_SOCKETS),
      watches: this.agent(plain, opts, Infinity),
    };
    return { transport, headers, options: { ...auth, agent: this.pools[pool] } };
  }

  private agent(plain: boolean, opts: https.RequestOptions, maxSockets: number): http.Agent {
    const pool = { keepAlive: true, maxSockets, scheduling: 'lifo' as const };
    if (plain) return new http.Agent(pool);
    return new https.Agent({
      ...pool,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      pfx: opts.pfx,
      passphrase: opts.passphrase,
      ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
      ...(opts.servername ? { servername: opts.servername } : {}),
    });
  }
}

function abortError(): Error {
  const err = new Error('the watch was aborted');
  err.name = 'AbortError';
  return err;
}
