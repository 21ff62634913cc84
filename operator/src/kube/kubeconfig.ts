// Where the API server is and how to authenticate to it: the pod's ServiceAccount or a kubeconfig with a
// token or a client certificate, read without @kubernetes/client-node (importing its KubeConfig alone
// takes ~65 MiB, half of the operator's memory before it caches anything). A kubeconfig this does not
// read (exec or auth-provider credentials, a proxy, several KUBECONFIG files) goes to client-node.
import { existsSync, readFileSync } from 'node:fs';
import type https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import type { ClusterAccess } from './http.js';

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** A ServiceAccount token is projected anew before it expires: read it again this often. */
const TOKEN_REREAD_MS = 60_000;

interface Settings {
  readonly server: string;
  readonly ca?: Buffer;
  readonly insecure?: boolean;
  readonly tlsServerName?: string;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly username?: string;
  readonly password?: string;
  readonly impersonate?: string;
}

/** A kubeconfig (or ServiceAccount) this module reads itself. */
export class StaticAccess implements ClusterAccess {
  private token: { readonly value: string; readonly readAt: number } | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly now: () => number = Date.now,
  ) {}

  getCurrentCluster(): { readonly server: string } {
    return { server: this.settings.server };
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const s = this.settings;
    if (s.ca) opts.ca = s.ca;
    if (s.cert) opts.cert = s.cert;
    if (s.key) opts.key = s.key;
    if (s.insecure) opts.rejectUnauthorized = false;
    if (s.tlsServerName) opts.servername = s.tlsServerName;
    const headers: Record<string, string> = {};
    const token = this.bearer();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (s.impersonate) headers['Impersonate-User'] = s.impersonate;
    if (s.username !== undefined) opts.auth = `${s.username}:${s.password ?? ''}`;
    opts.headers = { ...(opts.headers as Record<string, string> | undefined), ...headers };
  }

  private bearer(): string | undefined {
    const { token, tokenFile } = this.settings;
    if (token) return token;
    if (!tokenFile) return undefined;
    if (!this.token || this.now() - this.token.readAt >= TOKEN_REREAD_MS) {
      this.token = { value: readFileSync(tokenFile, 'utf8').trim(), readAt: this.now() };
    }
    return this.token.value;
  }
}

/**
 * The access a kubeconfig file describes, for its current context; `undefined` when it needs what
 * only client-node does (exec or auth-provider credentials, a proxy).
 */
export function readKubeconfig(text: string, dir: string, now: () => number = Date.now): StaticAccess | undefined {
  type Named<T> = { name?: string } & T;
  const doc = (yaml.load(text) ?? {}) as {
    'current-context'?: string;
    contexts?: Array<Named<{ context?: { cluster?: string; user?: string } }>>;
    clusters?: Array<Named<{ cluster?: Record<string, unknown> }>>;
    users?: Array<Named<{ user?: Record<string, unknown> }>>;
  };
  const context = doc.contexts?.find((c) => c.name === doc['current-context'])?.context;
  const cluster = doc.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  const user = doc.users?.find((u) => u.name === context?.user)?.user ?? {};
  if (!context || !cluster || typeof cluster.server !== 'string') return undefined;
  if (cluster['proxy-url'] || user.exec || user['auth-provider']) return undefined;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const file = (p: unknown) => (str(p) ? readFileSync(path.resolve(dir, p as string)) : undefined);
  const data = (d: unknown, p: unknown) => (str(d) ? Buffer.from(d as string, 'base64') : file(p));
  const tokenFile = str(user.tokenFile);
  return new StaticAccess(
    {
      server: cluster.server,
      ca: data(cluster['certificate-authority-data'], cluster['certificate-authority']),
      insecure: cluster['insecure-skip-tls-verify'] === true,
      tlsServerName: str(cluster['tls-server-name']),
      cert: data(user['client-certificate-data'], user['client-certificate']),
      key: data(user['client-key-data'], user['client-key']),
      token: str(user.token),
      tokenFile: tokenFile ? path.resolve(dir, tokenFile) : undefined,
      username: str(user.username),
      password: str(user.password),
      impersonate: str(user.as),
    },
    now,
  );
}

/** The pod's ServiceAccount, as client-node's loadFromCluster() reads it. */
export function inCluster(env: NodeJS.ProcessEnv = process.env, root = SERVICE_ACCOUNT): StaticAccess {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
  return new StaticAccess({
    server: `${scheme}://${net.isIPv6(host) ? `[${host}]` : host}:${port}`,
    ca: readFileSync(path.join(root, 'ca.crt')),
    tokenFile: path.join(root, 'token'),
  });
}

/**
 * The access `--kubeconfig F` names, else what client-node's loadFromDefault() would find: $KUBECONFIG,
 * ~/.kube/config, the ServiceAccount. Anything this module does not read is loaded by client-node.
 */
export async function loadClusterAccess(file?: string): Promise<ClusterAccess> {
  const fromFile = (f: string) => readKubeconfig(readFileSync(f, 'utf8'), path.dirname(path.resolve(f)));
  let access: ClusterAccess | undefined;
  const kubeconfigs = (process.env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f !== '');
  const home = path.join(os.homedir(), '.kube', 'config');
  if (file) access = fromFile(file);
  else if (kubeconfigs.length === 1) access = fromFile(kubeconfigs[0] as string);
  else if (kubeconfigs.length > 1) access = undefined;
  else if (existsSync(home)) access = fromFile(home);
  else if (existsSync(path.join(SERVICE_ACCOUNT, 'token'))) access = inCluster();
  if (access) return access;
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}
