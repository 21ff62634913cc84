// The Kubernetes way: a bearer token is whoever the API server's TokenReview says it is, and each request
// is allowed by a SubjectAccessReview for `get` on `sessionrecordings/recordings` (or `/files`, to download)
// of the SessionRecording in its namespace, so that plain RBAC (the chart's srec-auditor and
// srec-file-auditor ClusterRoles) decides. Answers are kept for a few seconds, as the API server's own
// webhook authenticator does, so a page's requests do not each make a review.
import { ApiError, KubeHttp } from '../../operator/src/kube/http.js';
import { inCluster, loadClusterAccess } from '../../operator/src/kube/kubeconfig.js';
import type { Authorizer, Identity, Permission, TokenAuthenticator } from './auth.js';

export const API_GROUP = 'recording.privx.io';

export interface KubeAuthOptions {
  /** @default in-cluster ServiceAccount */
  readonly kubeconfig?: string;
  /** The SessionRecording's namespace. */
  readonly namespace: string;
  /** The SessionRecording's name (the SubjectAccessReview's resource name). */
  readonly recording: string;
  /** Tokens accepted besides Kubernetes ones (--token-file); they may see everything. */
  readonly fallback?: TokenAuthenticator & Authorizer;
  /** @default 10 s */
  readonly cacheMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

interface Cached<T> {
  readonly value: T;
  readonly until: number;
}

export class KubeAuth implements TokenAuthenticator, Authorizer {
  private readonly tokens = new Map<string, Cached<Identity | undefined>>();
  private readonly decisions = new Map<string, Cached<boolean>>();
  private readonly fallbackNames = new WeakSet<Identity>();

  constructor(
    private readonly http: KubeHttp,
    private readonly opts: KubeAuthOptions,
  ) {}

  static async create(opts: KubeAuthOptions): Promise<KubeAuth> {
    const access = opts.kubeconfig !== undefined ? await loadClusterAccess(opts.kubeconfig) : inCluster();
    return new KubeAuth(new KubeHttp(access), opts);
  }

  private get now(): number {
    return (this.opts.now ?? Date.now)();
  }

  async authenticate(token: string): Promise<Identity | undefined> {
    const local = await this.opts.fallback?.authenticate(token);
    if (local !== undefined) {
      this.fallbackNames.add(local);
      return local;
    }
    const hit = this.tokens.get(token);
    if (hit !== undefined && hit.until > this.now) return hit.value;
    const review = (await this.http.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    })) as { status?: { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } } };
    const u = review.status?.user;
    const who: Identity | undefined =
      review.status?.authenticated === true && u?.username
        ? { name: u.username, groups: u.groups ?? [], via: 'kubernetes', ...(u.uid ? { uid: u.uid } : {}), ...(u.extra ? { extra: u.extra } : {}) }
        : undefined;
    if (this.tokens.size > 10_000) this.tokens.clear();
    this.tokens.set(token, { value: who, until: this.now + (this.opts.cacheMs ?? 10_000) });
    return who;
  }

  async allowed(who: Identity, what: Permission): Promise<boolean> {
    if (who.via === 'token' && this.fallbackNames.has(who)) return true;
    const key = JSON.stringify([who.name, who.groups, what]);
    const hit = this.decisions.get(key);
    if (hit !== undefined && hit.until > this.now) return hit.value;
    let allowed: boolean;
    try {
      const review = (await this.http.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: who.name,
            groups: [...who.groups],
            ...(who.uid !== undefined ? { uid: who.uid } : {}),
            ...(who.extra !== undefined ? { extra: who.extra } : {}),
            resourceAttributes: {
              group: API_GROUP,
              resource: 'sessionrecordings',
              subresource: what,
              verb: 'get',
              namespace: this.opts.namespace,
              name: this.opts.recording,
            },
          },
        },
      })) as { status?: { allowed?: boolean } };
      allowed = review.status?.allowed === true;
    } catch (err) {
      if (err instanceof ApiError) throw new Error(`SubjectAccessReview refused (HTTP ${err.code}): the console's ServiceAccount needs create on subjectaccessreviews and tokenreviews (ClusterRole system:auth-delegator)`);
      throw err;
    }
    if (this.decisions.size > 10_000) this.decisions.clear();
    this.decisions.set(key, { value: allowed, until: this.now + (this.opts.cacheMs ?? 10_000) });
    return allowed;
  }
}
