// The recorder: ConfigMap (recorder.yaml), Deployment (restricted pod security, share at dataFolder,
// Secrets read-only, spool emptyDir on /tmp, probes on 9090) and the Service for the SSH port.
import { ApiObject, App, Chart, Duration, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-34';
import type { Construct } from 'constructs';
import type { SessionRecording } from '../api/types.js';
import { recorderScheduling } from './availability.js';
import {
  childNames,
  claimName,
  CONFIG_HASH_ANNOTATION,
  hashOf,
  type KubeObject,
  labels,
  namespaceOf,
  ownerReference,
  selectorLabels,
  toSize,
} from './meta.js';
import { buildRecorderConfig, PROBE_PORT, RECORDER_PATHS, type RecorderConfigOptions, renderRecorderYaml } from './recorder-config.js';

export interface Images {
  /** Used when spec.recorder.image is not set: the operator's own image (one image runs both). */
  readonly recorder: string;
  /** An image with rsyslogd on its PATH. */
  readonly syslog: string;
}

/** The numeric non-root user of the srec image (Dockerfile `USER 65532:65532`). */
export const RUN_AS_USER = 65532;

export interface RecorderBuildOptions extends RecorderConfigOptions {
  readonly images: Images;
}

/** Restricted pod security (PSS `restricted`) for every container the operator runs. */
export function restrictedContainerSecurity(): kplus.ContainerSecurityContextProps {
  return {
    ensureNonRoot: true,
    user: RUN_AS_USER,
    group: RUN_AS_USER,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: [kplus.Capability.ALL] },
    seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
  };
}

export function restrictedPodSecurity(): kplus.PodSecurityContextProps {
  return {
    ensureNonRoot: true,
    user: RUN_AS_USER,
    group: RUN_AS_USER,
    fsGroup: RUN_AS_USER,
    // A recursive chown of a large share on every start would take minutes.
    fsGroupChangePolicy: kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH,
  };
}

/** Owner reference on every object of `chart` (namespaced children only). */
export function ownAll(chart: Chart, cr: SessionRecording): void {
  const ref = ownerReference(cr);
  if (!ref) return;
  for (const c of chart.node.findAll()) {
    if (c instanceof ApiObject) {
      c.metadata.addOwnerReference(ref as unknown as Parameters<typeof c.metadata.addOwnerReference>[0]);
    }
  }
}

function secretVolume(scope: Construct, id: string, volumeName: string, secretName: string): kplus.Volume {
  return kplus.Volume.fromSecret(scope, id, kplus.Secret.fromSecretName(scope, `${id}-ref`, secretName), {
    name: volumeName,
    defaultMode: 0o440,
  });
}

export function buildRecorder(cr: SessionRecording, opts: RecorderBuildOptions): KubeObject[] {
  const spec = cr.spec.recorder;
  const names = childNames(cr);
  const app = new App();
  const chart = new Chart(app, 'recorder', { namespace: namespaceOf(cr), labels: labels(cr, 'recorder') });

  const configYaml = renderRecorderYaml(buildRecorderConfig(cr, opts));
  const configMap = new kplus.ConfigMap(chart, 'config', { metadata: { name: names.recorder }, data: { 'recorder.yaml': configYaml } });

  const deployment = new kplus.Deployment(chart, 'deployment', {
    metadata: { name: names.recorder },
    replicas: spec.replicas,
    select: false,
    podMetadata: {
      labels: selectorLabels(cr, 'recorder'),
      // The Deployment rolls its pods when recorder.yaml changes; Secret contents are re-read by the kubelet.
      annotations: { [CONFIG_HASH_ANNOTATION]: hashOf({ 'recorder.yaml': configYaml }) },
    },
    automountServiceAccountToken: false,
    securityContext: restrictedPodSecurity(),
    terminationGracePeriod: Duration.seconds(60),
    containers: [
      {
        name: 'recorder',
        image: spec.image ?? opts.images.recorder,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        // The image's entrypoint is `srec`.
        args: ['recorder', '--config', RECORDER_PATHS.configFile],
        ports: [
          { name: 'ssh', number: spec.port, protocol: kplus.Protocol.TCP },
          { name: 'probes', number: PROBE_PORT, protocol: kplus.Protocol.TCP },
        ],
        securityContext: restrictedContainerSecurity(),
        resources: {
          cpu: { request: kplus.Cpu.millis(100) },
          memory: { request: toSize('256Mi'), limit: toSize('1Gi') },
        },
        startup: kplus.Probe.fromHttpGet('/healthz', { port: PROBE_PORT, failureThreshold: 30, periodSeconds: Duration.seconds(2) }),
        liveness: kplus.Probe.fromHttpGet('/healthz', { port: PROBE_PORT }),
        readiness: kplus.Probe.fromHttpGet('/readyz', { port: PROBE_PORT }),
      },
    ],
  });
  deployment.select(kplus.LabelSelector.of({ labels: selectorLabels(cr, 'recorder') }));
  const scheduling = recorderScheduling(cr);
  ApiObject.of(deployment).addJsonPatch(
    JsonPatch.add('/spec/template/spec/affinity', scheduling.affinity),
    JsonPatch.add('/spec/template/spec/topologySpreadConstraints', scheduling.topologySpreadConstraints),
  );
  const c = deployment.containers[0];
  if (!c) throw new Error('recorder container missing');

  c.mount(RECORDER_PATHS.configDir, kplus.Volume.fromConfigMap(chart, 'config-volume', configMap, { name: 'config' }), { readOnly: true });
  c.mount(RECORDER_PATHS.hostKeyDir, secretVolume(chart, 'hostkey', 'hostkey', names.hostKey), { readOnly: true });
  c.mount(RECORDER_PATHS.usersDir, secretVolume(chart, 'users', 'users', spec.usersSecret), { readOnly: true });
  for (const h of spec.hosts) {
    c.mount(RECORDER_PATHS.credsDir(h.name), secretVolume(chart, `creds-${h.name}`, `creds-${h.name}`, h.credentialsSecret), { readOnly: true });
  }
  // The trail's keys: read-only, one file per Secret, so that the recorder sees one key set directory.
  const trail = cr.spec.trail;
  if (trail?.encryption !== undefined) {
    c.mount(`${RECORDER_PATHS.trailKeysDir}/encryption.json`, secretVolume(chart, 'trail-encryption', 'trail-encryption', trail.encryption.secretName), { readOnly: true, subPath: 'encryption.json' });
  }
  if (trail?.signing !== undefined) {
    c.mount(`${RECORDER_PATHS.trailKeysDir}/signing.key`, secretVolume(chart, 'trail-signing', 'trail-signing', trail.signing.secretName), { readOnly: true, subPath: 'signing.key' });
  }
  const share = kplus.PersistentVolumeClaim.fromClaimName(chart, 'share-claim', claimName(cr));
  c.mount(cr.spec.dataFolder, kplus.Volume.fromPersistentVolumeClaim(chart, 'share', share, { name: 'share' }));
  c.mount(RECORDER_PATHS.tmpDir, kplus.Volume.fromEmptyDir(chart, 'tmp', 'tmp', { sizeLimit: toSize(spec.tempSizeLimit) }));

  const service = new kplus.Service(chart, 'service', {
    metadata: { name: names.recorder },
    ports: [{ name: 'ssh', port: spec.port, targetPort: spec.port, protocol: kplus.Protocol.TCP }],
  });
  for (const [k, v] of Object.entries(selectorLabels(cr, 'recorder'))) service.selectLabel(k, v);

  ownAll(chart, cr);
  return chart.toJson() as KubeObject[];
}
