// Every object the operator applies for a SessionRecording, in apply order. Pure.
import type { SessionRecording } from '../api/types.js';
import { buildRecorderPdb } from './availability.js';
import { buildConsole } from './console.js';
import { buildNetworkPolicies } from './network-policy.js';
import { type KubeObject, withDesiredHash } from './meta.js';
import { buildRecorder, type Images } from './recorder.js';
import type { RecorderConfigOptions } from './recorder-config.js';
import { buildStorage } from './storage.js';
import { buildSyslog, type SyslogOptions } from './syslog.js';

export type { KubeObject } from './meta.js';
export type { Images } from './recorder.js';

export interface RenderOptions extends RecorderConfigOptions, SyslogOptions {
  readonly images: Images;
}

/**
 * Storage (PV, PVC), recorder (ConfigMap, Deployment, Service, PodDisruptionBudget), syslog (ConfigMap,
 * Deployment, Service), the NetworkPolicies when asked, the console (ServiceAccount, Deployment, Service,
 * ClusterRoleBinding) when asked, each with its desired-hash annotation. The recorder host key Secret is not here: it is created once
 * in the cluster (desired/hostkey.ts), never applied.
 */
export function renderObjects(cr: SessionRecording, opts: RenderOptions): KubeObject[] {
  return [...buildStorage(cr), ...buildRecorder(cr, opts), buildRecorderPdb(cr), ...buildSyslog(cr, opts), ...buildNetworkPolicies(cr), ...buildConsole(cr, opts)]
    .map(withoutCdk8sLabels)
    .map((o) => (cr.spec.podSecurity?.fixedUid === false ? withoutFixedUid(o) : o))
    .map(withDesiredHash);
}

/**
 * spec.podSecurity.fixedUid=false: no runAsUser, runAsGroup or fsGroup in any pod template, so that a
 * platform that assigns them (OpenShift restricted-v2) admits the pods; runAsNonRoot and the rest stay.
 */
function withoutFixedUid(obj: KubeObject): KubeObject {
  const template = (obj.spec as { template?: { spec?: Record<string, unknown> } } | undefined)?.template;
  if (!template?.spec) return obj;
  const strip = (sc: unknown): Record<string, unknown> | undefined => {
    if (!sc || typeof sc !== 'object') return sc as undefined;
    const { runAsUser: _u, runAsGroup: _g, fsGroup: _f, ...rest } = sc as Record<string, unknown>;
    return rest;
  };
  const containers = (list: unknown) => (Array.isArray(list) ? list.map((c: Record<string, unknown>) => ({ ...c, securityContext: strip(c.securityContext) })) : list);
  const podSpec = {
    ...template.spec,
    securityContext: strip(template.spec.securityContext),
    containers: containers(template.spec.containers),
    ...(template.spec.initContainers ? { initContainers: containers(template.spec.initContainers) } : {}),
  };
  return { ...obj, spec: { ...(obj.spec as Record<string, unknown>), template: { ...template, spec: podSpec } } };
}

/**
 * cdk8s-plus labels every pod template with `cdk8s.io/metadata.addr` (its construct path); nothing
 * selects on it here (the selectors are our own labels), so it would only leak into every pod.
 */
function withoutCdk8sLabels(obj: KubeObject): KubeObject {
  const template = (obj.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)?.template;
  if (!template?.metadata?.labels?.[CDK8S_ADDR_LABEL]) return obj;
  const { [CDK8S_ADDR_LABEL]: _, ...rest } = template.metadata.labels;
  const spec = obj.spec as Record<string, unknown>;
  return { ...obj, spec: { ...spec, template: { ...template, metadata: { ...template.metadata, labels: rest } } } };
}

const CDK8S_ADDR_LABEL = 'cdk8s.io/metadata.addr';
