// The auditors' console (`srec console`): a Deployment (restricted pod security, the share mounted
// read-only, the trail keys read-only), a ClusterIP Service, and a ServiceAccount bound to the ClusterRole
// system:auth-delegator, which only lets it create TokenReviews and SubjectAccessReviews. Not rendered
// unless spec.console.enabled.
import { ApiObject, App, Chart, Duration, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-34';
import type { Construct } from 'constructs';
import type { ConsoleSpec, SessionRecording } from '../api/types.js';
import { childNames, claimName, type KubeObject, labels, namespaceOf, OWNER_NAMESPACE_LABEL, selectorLabels, toSize } from './meta.js';
import { ownAll, restrictedContainerSecurity, restrictedPodSecurity, type Images } from './recorder.js';
import { SYSLOG_PORT } from './recorder-config.js';

/**
 * Kubernetes' own ClusterRole for exactly this (create tokenreviews and subjectaccessreviews, nothing
 * else; every API server has it): the operator only binds it (RBAC verb `bind` on this one name), so it
 * never writes a ClusterRole nor holds these permissions itself.
 */
export const CONSOLE_CLUSTER_ROLE = 'system:auth-delegator';

export const CONSOLE_PATHS = {
  /** The trail's key set, one file per Secret, as in the recorder. */
  keysDir: '/etc/srec/trail',
  /** spec.console.oidc.clientSecretName's key client-secret. */
  oidcClientSecret: '/etc/srec/oidc/client-secret',
  tmpDir: '/tmp',
} as const;

/** spec.console as stored before the field existed: off. */
const CONSOLE_OFF: ConsoleSpec = { enabled: false, replicas: 1, port: 8080, resources: { cpuRequest: '100m', memoryRequest: '128Mi', memoryLimit: '512Mi' } };

export function consoleSpec(cr: SessionRecording): ConsoleSpec {
  return cr.spec.console ?? CONSOLE_OFF;
}

/** A CRD cpu quantity (`100m`, `2`; the schema allows only these two forms) as a cdk8s Cpu. */
export function toCpu(quantity: string, field: string): kplus.Cpu {
  const milli = /^([1-9][0-9]*)m$/.exec(quantity);
  if (milli) return kplus.Cpu.millis(Number(milli[1]));
  if (/^[1-9][0-9]*$/.test(quantity)) return kplus.Cpu.units(Number(quantity));
  throw new Error(`${field}: "${quantity}" is not a cpu quantity in millicores (100m) or whole cores (1)`);
}

/** `srec console`'s arguments (the image's entrypoint is `srec`). */
export function consoleArgs(cr: SessionRecording): string[] {
  const spec = cr.spec;
  const args = ['console', '--data', spec.dataFolder, '--listen', `0.0.0.0:${consoleSpec(cr).port}`, '--in-cluster', '--namespace', namespaceOf(cr), '--recording', cr.metadata.name];
  // recording_viewed and file_downloaded are SSH-PRIVX-AUDIT events: they take the recorder's path to the SIEM.
  if (spec.syslog.enabled) args.push('--audit', `${childNames(cr).syslog}:${SYSLOG_PORT}`, '--audit-protocol', 'tcp', '--audit-format', spec.syslog.format);
  if (hasTrailKeys(cr)) args.push('--keys', CONSOLE_PATHS.keysDir);
  const oidc = consoleSpec(cr).oidc;
  if (oidc !== undefined) {
    args.push(
      '--oidc-issuer', oidc.issuerURL,
      '--oidc-client-id', oidc.clientID,
      '--oidc-client-secret-file', CONSOLE_PATHS.oidcClientSecret,
      '--oidc-redirect-url', oidc.redirectURL,
      '--oidc-username-claim', oidc.usernameClaim,
      '--oidc-groups-claim', oidc.groupsClaim,
      '--oidc-username-prefix', oidc.usernamePrefix,
      '--oidc-groups-prefix', oidc.groupsPrefix,
      '--oidc-scopes', oidc.scopes,
    );
  }
  return args;
}

/** The Secrets the console mounts besides the trail's: spec.console.oidc.clientSecretName when single sign-on is on. */
export function consoleSecretNames(cr: SessionRecording): string[] {
  const spec = consoleSpec(cr);
  return spec.enabled && spec.oidc !== undefined ? [spec.oidc.clientSecretName] : [];
}

function hasTrailKeys(cr: SessionRecording): boolean {
  return cr.spec.trail?.encryption !== undefined || cr.spec.trail?.signing !== undefined;
}

function secretVolume(scope: Construct, id: string, secretName: string): kplus.Volume {
  return kplus.Volume.fromSecret(scope, id, kplus.Secret.fromSecretName(scope, `${id}-ref`, secretName), { name: id, defaultMode: 0o440 });
}

export function buildConsole(cr: SessionRecording, opts: { readonly images: Images }): KubeObject[] {
  const spec = consoleSpec(cr);
  if (!spec.enabled) return [];
  const names = childNames(cr);
  const ns = namespaceOf(cr);
  const app = new App();
  const chart = new Chart(app, 'console', { namespace: ns, labels: labels(cr, 'console') });

  const serviceAccount = new kplus.ServiceAccount(chart, 'serviceaccount', { metadata: { name: names.console }, automountToken: true });
  const deployment = new kplus.Deployment(chart, 'deployment', {
    metadata: { name: names.console },
    replicas: spec.replicas,
    select: false,
    podMetadata: { labels: selectorLabels(cr, 'console') },
    serviceAccount,
    // The console checks every bearer token with a TokenReview and every request with a
    // SubjectAccessReview, as this ServiceAccount.
    automountServiceAccountToken: true,
    securityContext: restrictedPodSecurity(),
    containers: [
      {
        name: 'console',
        image: cr.spec.recorder.image ?? opts.images.recorder,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        args: consoleArgs(cr),
        ports: [{ name: 'http', number: spec.port, protocol: kplus.Protocol.TCP }],
        securityContext: restrictedContainerSecurity(),
        resources: {
          cpu: { request: toCpu(spec.resources.cpuRequest, 'spec.console.resources.cpuRequest') },
          memory: { request: toSize(spec.resources.memoryRequest), limit: toSize(spec.resources.memoryLimit) },
        },
        // /healthz is the one unauthenticated path.
        liveness: kplus.Probe.fromHttpGet('/healthz', { port: spec.port }),
        readiness: kplus.Probe.fromHttpGet('/healthz', { port: spec.port }),
      },
    ],
  });
  deployment.select(kplus.LabelSelector.of({ labels: selectorLabels(cr, 'console') }));
  const c = deployment.containers[0];
  if (!c) throw new Error('console container missing');

  // Read-only twice over: the claim in the pod spec and the mount; the console never changes a recording.
  const share = kplus.PersistentVolumeClaim.fromClaimName(chart, 'share-claim', claimName(cr));
  c.mount(cr.spec.dataFolder, kplus.Volume.fromPersistentVolumeClaim(chart, 'share', share, { name: 'share', readOnly: true }), { readOnly: true });
  const trail = cr.spec.trail;
  if (trail?.encryption !== undefined) {
    c.mount(`${CONSOLE_PATHS.keysDir}/encryption.json`, secretVolume(chart, 'trail-encryption', trail.encryption.secretName), { readOnly: true, subPath: 'encryption.json' });
  }
  if (trail?.signing !== undefined) {
    c.mount(`${CONSOLE_PATHS.keysDir}/signing.key`, secretVolume(chart, 'trail-signing', trail.signing.secretName), { readOnly: true, subPath: 'signing.key' });
  }
  if (spec.oidc !== undefined) {
    c.mount(CONSOLE_PATHS.oidcClientSecret, secretVolume(chart, 'oidc-client', spec.oidc.clientSecretName), { readOnly: true, subPath: 'client-secret' });
  }
  // Node and its libraries may write temporary files; the root file system is read-only.
  c.mount(CONSOLE_PATHS.tmpDir, kplus.Volume.fromEmptyDir(chart, 'tmp', 'tmp', { sizeLimit: toSize('64Mi') }));

  const service = new kplus.Service(chart, 'service', {
    metadata: { name: names.console },
    type: kplus.ServiceType.CLUSTER_IP,
    ports: [{ name: 'http', port: spec.port, targetPort: spec.port, protocol: kplus.Protocol.TCP }],
  });
  for (const [k, v] of Object.entries(selectorLabels(cr, 'console'))) service.selectLabel(k, v);
  // A browser's login (and a single sign-on under way) lives in the pod that made it.
  ApiObject.of(service).addJsonPatch(JsonPatch.add('/spec/sessionAffinity', 'ClientIP'));

  ownAll(chart, cr);
  return [...(chart.toJson() as KubeObject[]), consoleBinding(cr)];
}

/**
 * TokenReviews and SubjectAccessReviews are cluster-scoped, so only a ClusterRoleBinding grants them. A
 * namespaced SessionRecording cannot own a cluster-scoped object: the operator deletes it (by its labels)
 * when the console is turned off or the SessionRecording goes.
 */
export function consoleBinding(cr: SessionRecording): KubeObject {
  const names = childNames(cr);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: names.consoleBinding, labels: { ...labels(cr, 'console'), [OWNER_NAMESPACE_LABEL]: namespaceOf(cr) } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CONSOLE_CLUSTER_ROLE },
    subjects: [{ kind: 'ServiceAccount', name: names.console, namespace: namespaceOf(cr) }],
  };
}
