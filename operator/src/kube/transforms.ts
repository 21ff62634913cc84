// What the caches keep of each object: only what the controller reads, so that thousands of cached
// children (and their managedFields) do not fill the heap. Pure.
import { DESIRED_HASH_ANNOTATION, type KubeObject } from '../desired/meta.js';

/** The metadata the controller reads: identity, labels, owners, the desired hash. */
function slimMetadata(m: KubeObject['metadata']): KubeObject['metadata'] {
  const hash = m.annotations?.[DESIRED_HASH_ANNOTATION];
  return {
    name: m.name,
    ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    ...(m.generation !== undefined ? { generation: m.generation } : {}),
    ...(m.deletionTimestamp !== undefined ? { deletionTimestamp: m.deletionTimestamp } : {}),
    ...(m.labels ? { labels: m.labels } : {}),
    ...(hash !== undefined ? { annotations: { [DESIRED_HASH_ANNOTATION]: hash } } : {}),
    ...(m.ownerReferences ? { ownerReferences: m.ownerReferences } : {}),
  };
}

function pick(from: unknown, keys: readonly string[]): Record<string, unknown> | undefined {
  if (from === null || typeof from !== 'object') return undefined;
  const o = from as Record<string, unknown>;
  const out = Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The spec and status fields the status checks read (Deployment rollout, claim phase and access modes). */
const SPEC_FIELDS = ['replicas', 'accessModes'] as const;
const STATUS_FIELDS = ['observedGeneration', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'phase', 'accessModes'] as const;

/** A child (Deployment, Service, ConfigMap, claim, volume) as the cache keeps it. */
export function slimObject(obj: KubeObject): KubeObject {
  const spec = pick(obj.spec, SPEC_FIELDS);
  const status = pick(obj.status, STATUS_FIELDS);
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: slimMetadata(obj.metadata),
    ...(spec ? { spec } : {}),
    ...(status ? { status } : {}),
  };
}

/** A Secret as the cache keeps it: metadata and key names, never the data. */
export function stripSecret(obj: KubeObject): KubeObject {
  const data = (obj as unknown as { data?: Record<string, unknown> }).data ?? {};
  const m = obj.metadata;
  return {
    apiVersion: obj.apiVersion ?? 'v1',
    kind: 'Secret',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, labels: m.labels },
    keys: Object.keys(data),
  };
}

/** A SessionRecording as the cache keeps it: whole, but for the field managers' bookkeeping. */
export function withoutManagedFields(obj: KubeObject): KubeObject {
  if (obj.metadata.managedFields === undefined) return obj;
  const { managedFields: _, ...metadata } = obj.metadata;
  return { ...obj, metadata: metadata as KubeObject['metadata'] };
}
