// Every request the operator makes to the API server goes through here: server-side apply with one field
// manager, create, delete, status and finalizer patches, list + watch, Events and the leader Lease.
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
  PatchStrategy,
  Watch,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, type SessionRecording, type SessionRecordingStatus, VERSION } from '../api/types.js';
import { FIELD_MANAGER, type KubeObject } from '../desired/meta.js';

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
} as const satisfies Record<string, Resource>;

/** The collection URL of `r`, in one namespace or all. */
export function collectionPath(r: Resource, namespace?: string): string {
  const root = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  return r.namespaced && namespace ? `${root}/namespaces/${namespace}/${r.plural}` : `${root}/${r.plural}`;
}

/** The HTTP status of a failed request, if it has one. */
export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code;
  return undefined;
}

/** The API server's own message (`Status.message`) when there is one. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = typeof err.body === 'string' ? safeParse(err.body) : err.body;
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

const LEASES = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases' } as const;

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

export class KubeClient {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly watcher: Watch;

  constructor(readonly kubeConfig: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.watcher = new Watch(kubeConfig);
  }

  /** Server-side apply with the operator's field manager, forcing ownership of the fields it sets. */
  async apply(obj: KubeObject): Promise<void> {
    await this.objects.patch(obj as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  }

  /** Create; `false` when it already exists. */
  async createIfAbsent(obj: KubeObject): Promise<boolean> {
    try {
      await this.objects.create(obj as KubernetesObject, undefined, undefined, FIELD_MANAGER);
      return true;
    } catch (err) {
      if (statusCode(err) === 409) return false;
      throw err;
    }
  }

  /** Delete in the background; a missing object is not an error. */
  async delete(ref: ObjectRef): Promise<void> {
    try {
      await this.objects.delete(
        { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) } },
        undefined,
        undefined,
        undefined,
        undefined,
        'Background',
      );
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  /** Replace the whole status (JSON patch `add /status` creates or replaces it). */
  async patchStatus(cr: SessionRecording, status: SessionRecordingStatus): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: cr.metadata.namespace ?? 'default',
      name: cr.metadata.name,
      body: [{ op: 'add', path: '/status', value: status }],
    });
  }

  /**
   * Set the CR's finalizers, guarded by its resourceVersion (a concurrent change fails with 409 and the
   * key is retried with what the other writer left).
   */
  async setFinalizers(cr: SessionRecording, finalizers: readonly string[]): Promise<void> {
    await this.custom.patchNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: cr.metadata.namespace ?? 'default',
      name: cr.metadata.name,
      body: [
        { op: 'test', path: '/metadata/resourceVersion', value: cr.metadata.resourceVersion },
        { op: 'add', path: '/metadata/finalizers', value: [...finalizers] },
      ],
    });
  }

  async list(r: Resource, opts: { namespace?: string; labelSelector?: string }): Promise<ListResult> {
    const list = await this.objects.list(r.apiVersion, r.kind, r.namespaced ? opts.namespace : undefined, undefined, undefined, undefined, undefined, opts.labelSelector);
    // Typed models turn timestamps into Dates; the cache keeps the wire form, as watch events carry it.
    const items = (list.items as unknown[]).map((o) => ({ apiVersion: r.apiVersion, kind: r.kind, ...(JSON.parse(JSON.stringify(o)) as object) }) as KubeObject);
    return { items, resourceVersion: String(list.metadata?.resourceVersion ?? '') };
  }

  /** Start a watch; resolves once it is connected (or failed: then `done` has been called). */
  watch(
    r: Resource,
    opts: { namespace?: string; labelSelector?: string; resourceVersion: string; timeoutSeconds: number },
    onEvent: (type: string, obj: KubeObject) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return this.watcher.watch(
      collectionPath(r, opts.namespace),
      {
        resourceVersion: opts.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: opts.timeoutSeconds,
        ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
      },
      (type: string, obj: KubeObject) => onEvent(type, obj),
      done,
    );
  }

  async event(e: EventInput, now: Date): Promise<void> {
    const ns = e.regarding.metadata.namespace ?? 'default';
    const ts = now.toISOString();
    await this.core.createNamespacedEvent({
      namespace: ns,
      body: {
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
        firstTimestamp: new Date(ts),
        lastTimestamp: new Date(ts),
        count: 1,
      },
    });
  }

  // Leases go through the untyped custom-objects path: the typed client sends Dates with milliseconds,
  // and the API server wants MicroTime (six fractional digits).
  async readLease(namespace: string, name: string): Promise<LeaseObject | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({ ...LEASES, namespace, name })) as LeaseObject;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async createLease(lease: LeaseObject): Promise<LeaseObject> {
    return (await this.custom.createNamespacedCustomObject({ ...LEASES, namespace: lease.metadata.namespace, body: lease })) as LeaseObject;
  }

  async replaceLease(lease: LeaseObject): Promise<LeaseObject> {
    return (await this.custom.replaceNamespacedCustomObject({ ...LEASES, namespace: lease.metadata.namespace, name: lease.metadata.name, body: lease })) as LeaseObject;
  }
}
