// The recorder through node drains and zone outages: a PodDisruptionBudget (one recorder down at a
// time, and a pod that is not Ready may always be evicted, so a broken pod never blocks a drain) and
// the pod's scheduling preferences (one recorder per node, spread over zones), soft so that a small
// cluster still schedules every replica.
import type { SessionRecording } from '../api/types.js';
import { childMetadata, childNames, type KubeObject, selectorLabels } from './meta.js';

/** The recorder's PodDisruptionBudget: `maxUnavailable: 1`, `unhealthyPodEvictionPolicy: AlwaysAllow`. */
export function buildRecorderPdb(cr: SessionRecording): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMetadata(cr, childNames(cr).recorder, 'recorder'),
    spec: {
      maxUnavailable: 1,
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
      selector: { matchLabels: selectorLabels(cr, 'recorder') },
    },
  };
}

/** Preferred pod anti-affinity per node and a zone spread, for the recorder's pod template. */
export function recorderScheduling(cr: SessionRecording): { affinity: Record<string, unknown>; topologySpreadConstraints: unknown[] } {
  const matchLabels = selectorLabels(cr, 'recorder');
  return {
    affinity: {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 100, podAffinityTerm: { labelSelector: { matchLabels }, topologyKey: 'kubernetes.io/hostname' } },
        ],
      },
    },
    topologySpreadConstraints: [
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels } },
    ],
  };
}
