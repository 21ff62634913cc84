// Every request the operator makes to the API server goes through here: server-side apply with one field
// manager, create, delete, status and finalizer patches, list + watch, Events and the leader Lease.
import { GROUP, PLURAL, type SessionRecording, type SessionRecordingStatus, VERSION } from '../api/types.js';
import { FIELD_MANAGER, type KubeObject } from '../desired/meta.js';
import { ApiError, type ClusterAccess, KubeHttp } from './http.js';

/** A kind the operator lists and watches. */
export interface Resource {
  readonly apiVersion: string;
  readonly kind: string;
  /** URL segment, e.g. `deployments`. */
  readonly plural: string;
  readonly namespaced: boolean;
}

export const RESOURCES = {
  sessionRecording: { apiVersion: `${GROUP}/${VERSION}`, kind: 'SessionRecording', plural: PLURAL, namespaced: true },
  configMap: { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  secret: { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  service: { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  pvc: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', namespaced: true },
  pv: { apiVersion: 'v1', kind: 'PersistentVolume', plural: 'persistentvolumes', namespaced: false },
  deployment: { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  pdb: { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true },
  networkPolicy: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true },
  serviceAccount: { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true },
  clusterRoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
} as const satisfies Record<string, Resource>;

/** The Resource of a kind the operator writes. */
export function resourceOf(obj: { readonly apiVersion: string; readonly kind: string }): Resource {
  const r = Object.values(RESOURCES).find((x) => x.kind === obj.kind && x.apiVersion === obj.apiVersion);
  if (!r) throw new Error(`${obj.apiVersion} ${obj.kind} is not a kind this operator writes`);
  return r;
}

/** The URL of one object. */
export function objectPath(r: Resource, name: string, namespace?: string): string {
  return `${collectionPath(r, namespace)}/${encodeURIComponent(name)}`;
}

/** The collection URL of `r`, in one namespace or all. */
export function collectionPath(r: Resource, namespace?: string): string {
  const root = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  return r.namespaced && namespace ? `${root}/namespaces/${namespace}/${r.plural}` : `${root}/${r.plural}`;
}

/** The HTTP status of a failed request, if it has one. */
export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiError) return err.code;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code;
  return undefined;
}

/** The API server's own message (`Status.message`) when there is one. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiError) {
    const body = safeParse(err.body);
    const msg = (body as { message?: unknown } | undefined)?.message;
    return typeof msg === 'string' ? msg : `HTTP ${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return { message: s };
  }
}

export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

export interface EventInput {
  readonly regarding: SessionRecording;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

const LEASES: Resource = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', plural: 'leases', namespaced: true };
const EVENTS: Resource = { apiVersion: 'v1', kind: 'Event', plural: 'events', namespaced: true };

/** A coordination.k8s.io/v1 Lease on the wire (times are MicroTime strings). */
export interface LeaseObject {
  readonly apiVersion: 'coordination.k8s.io/v1';
  readonly kind: 'Lease';
  readonly metadata: { readonly name: string; readonly namespace: string; readonly resourceVersion?: string };
  readonly spec: {
    readonly holderIdentity?: string;
    readonly leaseDurationSeconds?: number;
    readonly acquireTime?: string;
    readonly renewTime?: string;
    readonly leaseTransitions?: number;
  };
}

/** RFC 3339 with microseconds, as metav1.MicroTime serializes. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface ListResult {
  readonly items: KubeObject[];
  readonly resourceVersion: string;
}

const JSON_PATCH = 'application/json-patch+json';

export class KubeClient {
  private readonly http: KubeHttp;

  constructor(readonly kubeConfig: ClusterAccess) {
    this.http = new KubeHttp(kubeConfig);
  }

  /**
   * Server-side apply with the operator's field manager, forcing ownership of the fields it sets.
   * Resolves with the object as the API server stored it (with its status).
   */
  async apply(obj: KubeObject): Promise<KubeObject> {
    return (await this.http.request('PATCH', objectPath(resourceOf(obj), obj.metadata.name, obj.metadata.namespace), {
      query: { fieldManager: FIELD_MANAGER, force: true },
      body: obj,
      contentType: 'application/apply-patch+yaml',
    })) as KubeObject;
  }

  /** Create; `false` when it already exists. */
  async createIfAbsent(obj: KubeObject): Promise<boolean> {
    try {
      await this.http.request('POST', collectionPath(resourceOf(obj), obj.metadata.namespace), { query: { fieldManager: FIELD_MANAGER }, body: obj });
      return true;
    } catch (err) {
      if (statusCode(err) === 409) return false;
      throw err;
    }
  }

  /** Delete in the background; a missing object is not an error. */
  async delete(ref: ObjectRef): Promise<void> {
    try {
      await this.http.request('DELETE', objectPath(resourceOf(ref), ref.name, ref.namespace), {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' },
      });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  /** Replace the whole status (JSON patch `add /status` creates or replaces it). */
  async patchStatus(cr: SessionRecording, status: SessionRecordingStatus): Promise<void> {
    await this.http.request('PATCH', `${objectPath(RESOURCES.sessionRecording, cr.metadata.name, cr.metadata.namespace ?? 'default')}/status`, {
      body: [{ op: 'add', path: '/status', value: status }],
      contentType: JSON_PATCH,
    });
  }

  /**
   * Set the CR's finalizers, guarded by its resourceVersion (a concurrent change fails with 409 and the
   * key is retried with what the other writer left).
   */
  async setFinalizers(cr: SessionRecording, finalizers: readonly string[]): Promise<void> {
    await this.http.request('PATCH', objectPath(RESOURCES.sessionRecording, cr.metadata.name, cr.metadata.namespace ?? 'default'), {
      body: [
        { op: 'test', path: '/metadata/resourceVersion', value: cr.metadata.resourceVersion },
        { op: 'add', path: '/metadata/finalizers', value: [...finalizers] },
      ],
      contentType: JSON_PATCH,
    });
  }

  async list(r: Resource, opts: { namespace?: string; labelSelector?: string }): Promise<ListResult> {
    const list = (await this.http.request('GET', collectionPath(r, r.namespaced ? opts.namespace : undefined), {
      query: { labelSelector: opts.labelSelector },
    })) as { items?: Array<Omit<KubeObject, 'apiVersion' | 'kind'>>; metadata?: { resourceVersion?: string } };
    // List items carry no apiVersion and kind; watch events do.
    const items = (list.items ?? []).map((o) => ({ apiVersion: r.apiVersion, kind: r.kind, ...o }) as KubeObject);
    return { items, resourceVersion: String(list.metadata?.resourceVersion ?? '') };
  }

  /** Start a watch; resolves once it is connected (or failed: then `done` has been called). */
  watch(
    r: Resource,
    opts: { namespace?: string; labelSelector?: string; resourceVersion: string; timeoutSeconds: number },
    onEvent: (type: string, obj: KubeObject) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return this.http.watch(
      collectionPath(r, opts.namespace),
      {
        resourceVersion: opts.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: opts.timeoutSeconds,
        labelSelector: opts.labelSelector || undefined,
      },
      (type, obj) => onEvent(type, obj as KubeObject),
      done,
    );
  }

  async event(e: EventInput, now: Date): Promise<void> {
    const ns = e.regarding.metadata.namespace ?? 'default';
    const ts = now.toISOString();
    await this.http.request('POST', collectionPath(EVENTS, ns), {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${e.regarding.metadata.name}.`, namespace: ns },
        involvedObject: {
          apiVersion: e.regarding.apiVersion,
          kind: e.regarding.kind,
          name: e.regarding.metadata.name,
          namespace: ns,
          uid: e.regarding.metadata.uid,
          resourceVersion: e.regarding.metadata.resourceVersion,
        },
        type: e.type,
        reason: e.reason,
        message: e.message.slice(0, 1024),
        source: { component: FIELD_MANAGER },
        reportingComponent: FIELD_MANAGER,
        reportingInstance: process.env.POD_NAME ?? 'srec-operator',
        firstTimestamp: ts,
        lastTimestamp: ts,
        count: 1,
      },
    });
  }

  // Lease times are MicroTime strings (six fractional digits), sent as the caller wrote them.
  async readLease(namespace: string, name: string): Promise<LeaseObject | undefined> {
    try {
      return (await this.http.request('GET', objectPath(LEASES, name, namespace))) as LeaseObject;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async createLease(lease: LeaseObject): Promise<LeaseObject> {
    return (await this.http.request('POST', collectionPath(LEASES, lease.metadata.namespace), { body: lease })) as LeaseObject;
  }

  async replaceLease(lease: LeaseObject): Promise<LeaseObject> {
    return (await this.http.request('PUT', objectPath(LEASES, lease.metadata.name, lease.metadata.namespace), { body: lease })) as LeaseObject;
  }

  /** Close the pooled connections (after the last request). */
  close(): void {
    this.http.close();
  }
}
