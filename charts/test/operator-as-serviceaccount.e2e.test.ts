// The chart's RBAC is enough: the operator, run with the chart's ServiceAccount identity (a real
// TokenRequest token, not an admin client), takes the Lease, reconciles a SessionRecording to Ready
// in a namespace that enforces Pod Security "restricted", rolls a change, and cleans up on delete.
import { jest } from '@jest/globals';
import { Writable } from 'node:stream';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, NetworkingV1Api, PolicyV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import winston from 'winston';
import { deleteFreshNamespaces, freshNamespace, useCluster, waitFor } from '../../e2e/support/cluster.js';
import { startOperator, type OperatorHandle } from '../../operator/src/operator.js';
import { CHART_DIR, CRD_FILE, expectOk, helm, kubectl, RESTRICTED } from './support.js';

jest.setTimeout(180_000);

const GROUP = 'recording.privx.io';
const VERSION = 'v1alpha1';
const PLURAL = 'sessionrecordings';
const LEASE = 'srec-operator';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Cr {
  metadata: { name: string; generation?: number; finalizers?: string[] };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

let kubeconfig: string;
let admin: KubeConfig;

/** A KubeConfig that authenticates as the ServiceAccount with a token from the TokenRequest API. */
async function kubeConfigAs(namespace: string, serviceAccount: string): Promise<KubeConfig> {
  const token = expectOk(
    await kubectl(kubeconfig, ['create', 'token', serviceAccount, '-n', namespace, '--duration=30m']),
    'kubectl create token',
  ).stdout.trim();
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: serviceAccount, token }],
    contexts: [{ name: 'sa', cluster: cluster.name, user: serviceAccount, namespace }],
    currentContext: 'sa',
  });
  return kc;
}

/** The operator's JSON log lines, kept in memory so the test can show them and look for denials. */
function memoryLogger(): { log: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString().trimEnd());
      done();
    },
  });
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { log, lines };
}

/** Fails after `ms` instead of hanging until jest's own timeout, so the operator's log gets shown. */
async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(async () => {
  ({ kubeconfigPath: kubeconfig, kc: admin } = await useCluster());
  expectOk(await kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]), 'apply CRD');
  expectOk(
    await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/sessionrecordings.recording.privx.io']),
    'wait for CRD',
  );
});

afterAll(async () => {
  await deleteFreshNamespaces();
});

it('reconciles a SessionRecording to Ready, rolls a change and deletes it, as the chart ServiceAccount', async () => {
  // GIVEN the chart installed in one namespace, watching another; both enforce "restricted"
  const ns = await freshNamespace(admin, 'op-sa', RESTRICTED);
  const watched = await freshNamespace(admin, 'op-sa-watched', RESTRICTED);
  expectOk(
    await helm(kubeconfig, ['install', ns, CHART_DIR, '-n', ns, '--set', `operator.watchNamespace=${watched}`]),
    'helm install',
  );
  const saName = `${ns}-srec`;
  const core = admin.makeApiClient(CoreV1Api);
  const custom = admin.makeApiClient(CustomObjectsApi);
  const apps = admin.makeApiClient(AppsV1Api);
  // ... the Secrets a platform team creates (as admin, not the operator)
  await core.createNamespacedSecret({
    namespace: watched,
    body: {
      metadata: { name: 'recorder-users' },
      stringData: { 'users.yaml': '- name: alice\n  authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF69Ruj14tSLi8YEbZEef3D02btLpPPPPgjoRgv6yqO1 alice"]\n' },
    },
  });
  await core.createNamespacedSecret({
    namespace: watched,
    body: { metadata: { name: 'db-1-login' }, stringData: { username: 'root', privateKey: 'unused by the operator' } },
  });

  // ... and the operator running with nothing but the ServiceAccount's token, as the pod would
  const { log, lines } = memoryLogger();
  let operator: OperatorHandle | undefined;
  const sr = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'SessionRecording',
    metadata: { name: 'prod', namespace: watched },
    spec: {
      storage: { size: '10Gi', deletionPolicy: 'Delete', nfs: { server: 'nfs.internal', path: '/exports/privx' } },
      recorder: {
        replicas: 2,
        usersSecret: 'recorder-users',
        hosts: [
          {
            name: 'db-1',
            address: '10.0.0.5',
            hostKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF69Ruj14tSLi8YEbZEef3D02btLpPPPPgjoRgv6yqO1 db-1'],
            credentialsSecret: 'db-1-login',
          },
        ],
      },
      syslog: { enabled: true, audit: { to: 'stdout', sensitive: { to: '/dev/null' } } },
      networkPolicy: { enabled: true },
      console: { enabled: true },
    },
  };
  const getCr = async (): Promise<Cr> =>
    (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: watched, plural: PLURAL, name: 'prod' })) as Cr;
  const readyAt = (generation: number) =>
    waitFor(
      `SessionRecording ${watched}/prod Ready=True at generation ${generation}`,
      async () => {
        const cr = await getCr();
        const ready = cr.status?.conditions?.find((c) => c.type === 'Ready');
        return cr.status?.observedGeneration === generation && ready?.status === 'True' ? cr : false;
      },
      { timeoutMs: 60_000 },
    );

  try {
    operator = await startOperator({
      kubeConfig: await kubeConfigAs(ns, saName),
      namespace: watched,
      leaderElect: true,
      leaseNamespace: ns,
      identity: `${saName}-test`,
      probes: '127.0.0.1:0',
      log,
      notReadyRequeueMs: 2000,
    });
    await within(60_000, operator.synced(), 'the operator to take the Lease and list every kind');

    // WHEN a SessionRecording is created
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: watched, plural: PLURAL, body: sr });

    // THEN it becomes Ready: the Lease, the volume, the claim, the host key and both workloads exist,
    // and the recorder and syslog pods passed "restricted" admission
    const ready = await readyAt(1);
    expect(ready.metadata.finalizers).toContain('recording.privx.io/storage');
    const lease = await admin.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: LEASE, namespace: ns });
    expect(lease.spec?.holderIdentity).toBe(`${saName}-test`);
    await core.readPersistentVolume({ name: `srec-${watched}-prod` });
    await core.readNamespacedPersistentVolumeClaim({ name: 'prod-share', namespace: watched });
    await core.readNamespacedSecret({ name: 'prod-recorder-hostkey', namespace: watched });
    for (const name of ['prod-recorder', 'prod-syslog', 'prod-console']) {
      const d = await apps.readNamespacedDeployment({ name, namespace: watched });
      expect({ name, ready: d.status?.readyReplicas }).toEqual({ name, ready: d.spec?.replicas });
    }
    // and the recorder's budget (one down at a time, an unhealthy pod always evictable) and its
    // scheduling preferences (one per node, spread over zones) are in the API server
    const pdb = await admin.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ name: 'prod-recorder', namespace: watched });
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    const recorderPod = (await apps.readNamespacedDeployment({ name: 'prod-recorder', namespace: watched })).spec?.template;
    expect(recorderPod?.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(recorderPod?.spec?.topologySpreadConstraints?.[0]?.topologyKey).toBe('topology.kubernetes.io/zone');
    expect(Object.keys(recorderPod?.metadata?.labels ?? {})).not.toContain('cdk8s.io/metadata.addr');
    // and, with spec.networkPolicy.enabled, both NetworkPolicies (applied under the chart's RBAC)
    const netpols = await admin.makeApiClient(NetworkingV1Api).listNamespacedNetworkPolicy({ namespace: watched });
    expect(netpols.items.map((p) => p.metadata?.name).sort()).toEqual(['prod-recorder', 'prod-syslog']);

    // and the console's ServiceAccount is bound to system:auth-delegator: the chart lets the operator
    // bind that one ClusterRole, which it holds no permission of
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    const consoleBinding = await rbac.readClusterRoleBinding({ name: `srec-${watched}-prod-console` });
    expect(consoleBinding.roleRef.name).toBe('system:auth-delegator');
    expect(consoleBinding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'prod-console', namespace: watched }]);

    // WHEN the spec changes (sensitive events forwarded instead of discarded)
    await custom.patchNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: watched,
      plural: PLURAL,
      name: 'prod',
      body: [{ op: 'replace', path: '/spec/syslog/audit/sensitive/to', value: '@@siem.internal:6515' }],
    });
    // THEN it is Ready at the new generation, with the new target in the syslog configuration
    await readyAt(2);
    const syslogConf = await core.readNamespacedConfigMap({ name: 'prod-syslog', namespace: watched });
    expect(JSON.stringify(syslogConf.data)).toContain('siem.internal');

    // WHEN it is deleted (deletionPolicy Delete)
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: watched, plural: PLURAL, name: 'prod' });
    // THEN the operator removes the volume objects and its finalizer, and the SessionRecording goes
    await waitFor('SessionRecording prod to be gone', async () => {
      try {
        await getCr();
        return false;
      } catch (e) {
        return (e as { code?: number }).code === 404;
      }
    });
    // (pv-protection lets the volume go once its claim is gone)
    await waitFor('PersistentVolume srec-<ns>-prod to be gone', async () => {
      try {
        await core.readPersistentVolume({ name: `srec-${watched}-prod` });
        return false;
      } catch (e) {
        return (e as { code?: number }).code === 404;
      }
    });

    // AND the console's ClusterRoleBinding, which no owner reference collects, is gone too
    await expect(rbac.readClusterRoleBinding({ name: `srec-${watched}-prod-console` })).rejects.toMatchObject({ code: 404 });

    // AND at no point was the operator refused anything
    expect(lines.filter((l) => /forbidden/i.test(l))).toEqual([]);
  } catch (e) {
    process.stderr.write(`operator log:\n${lines.slice(-60).join('\n')}\n`);
    throw e;
  } finally {
    await within(30_000, operator?.stop() ?? Promise.resolve(), 'the operator to stop').catch((e: Error) => process.stderr.write(`${e.message}\n`));
    await helm(kubeconfig, ['uninstall', ns, '-n', ns]);
  }
});
