// Names, labels and owner references of every child object (docs/internals.md, "Object names").
import { createHash } from 'node:crypto';
import { Size } from 'cdk8s';
import { wholeMebibytes } from '../../../common/quantity.js';
import { API_VERSION, KIND, type SessionRecording } from '../api/types.js';
import { canonicalJson } from '../../../common/canonical-json.js';

export type Component = 'recorder' | 'syslog' | 'storage' | 'console';

/** A Kubernetes object as rendered JSON: what server-side apply sends. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly ownerReferences?: ReadonlyArray<Readonly<Record<string, unknown>>>;
    readonly [k: string]: unknown;
  };
  readonly [k: string]: unknown;
}

export const FIELD_MANAGER = 'srec-operator';
export const FINALIZER = 'recording.privx.io/storage';
/** Hash of the rendered object, so an unchanged object is not applied again. */
export const DESIRED_HASH_ANNOTATION = 'recording.privx.io/desired-hash';
/** Hash of a ConfigMap's data, on the pod template, so a config change rolls the pods. */
export const CONFIG_HASH_ANNOTATION = 'recording.privx.io/config-hash';
/** On the cluster-scoped PV (labels cannot hold `/`-free namespaced refs otherwise). */
export const OWNER_NAMESPACE_LABEL = 'recording.privx.io/owner-namespace';

export const MANAGED_BY_SELECTOR = `app.kubernetes.io/managed-by=${FIELD_MANAGER}`;

export function namespaceOf(cr: SessionRecording): string {
  return cr.metadata.namespace ?? 'default';
}

export interface ChildNames {
  readonly pv: string;
  readonly pvc: string;
  readonly recorder: string;
  readonly hostKey: string;
  readonly syslog: string;
  /** The console's Deployment, Service and ServiceAccount. */
  readonly console: string;
  /** The console's ClusterRoleBinding: cluster-scoped, so the namespace is in its name, as in the volume's. */
  readonly consoleBinding: string;
}

export function childNames(cr: SessionRecording): ChildNames {
  const n = cr.metadata.name;
  return {
    pv: `srec-${namespaceOf(cr)}-${n}`,
    pvc: `${n}-share`,
    recorder: `${n}-recorder`,
    hostKey: `${n}-recorder-hostkey`,
    syslog: `${n}-syslog`,
    console: `${n}-console`,
    consoleBinding: `srec-${namespaceOf(cr)}-${n}-console`,
  };
}

/** The claim the recorders mount: ours, or the user's existing one. */
export function claimName(cr: SessionRecording): string {
  return cr.spec.storage.existingClaim ?? childNames(cr).pvc;
}

export function selectorLabels(cr: SessionRecording, component: Component): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'srec',
    'app.kubernetes.io/instance': cr.metadata.name,
    'app.kubernetes.io/component': component,
  };
}

export function labels(cr: SessionRecording, component: Component): Record<string, string> {
  return { ...selectorLabels(cr, component), 'app.kubernetes.io/managed-by': FIELD_MANAGER };
}

/** The controller owner reference; absent when the CR has no uid (rendered from a file). */
export function ownerReference(cr: SessionRecording): Record<string, unknown> | undefined {
  if (!cr.metadata.uid) return undefined;
  return { apiVersion: API_VERSION, kind: KIND, name: cr.metadata.name, uid: cr.metadata.uid, controller: true, blockOwnerDeletion: true };
}

/** A child object's metadata: its name, the CR's namespace, the component's labels and the owner reference. */
export function childMetadata(cr: SessionRecording, name: string, component: Component): KubeObject['metadata'] {
  const owner = ownerReference(cr);
  return { name, namespace: namespaceOf(cr), labels: labels(cr, component), ...(owner ? { ownerReferences: [owner] } : {}) };
}


export function hashOf(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex').slice(0, 16);
}

/** A CRD quantity (`10Gi`, `2Ti`, `512Mi`; the schema allows only whole Mi, Gi and Ti) as a cdk8s Size. */
export function toSize(quantity: string): Size {
  const mi = wholeMebibytes(quantity);
  if (mi === undefined || mi === 0) throw new Error(`"${quantity}" is not a whole Mi, Gi or Ti quantity`);
  return Size.mebibytes(mi);
}

/** Add the desired-hash annotation (computed over everything else) to a rendered object. */
export function withDesiredHash(obj: KubeObject): KubeObject {
  const annotations = { ...(obj.metadata.annotations ?? {}) };
  delete annotations[DESIRED_HASH_ANNOTATION];
  const base = { ...obj, metadata: { ...obj.metadata, annotations } };
  return { ...base, metadata: { ...base.metadata, annotations: { ...annotations, [DESIRED_HASH_ANNOTATION]: hashOf(base) } } };
}
