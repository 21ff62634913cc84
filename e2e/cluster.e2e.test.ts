// The local control plane itself: API server health and authz, controller-manager
// (deployment/replicaset controllers, garbage collector), scheduler + kwok (pods become
// Running/Ready), PodSecurity admission.
import {
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Deployment,
} from '@kubernetes/client-node';
import {
  clusterEnv,
  clusterMode,
  deleteFreshNamespaces,
  freshNamespace,
  getRaw,
  rawRequest,
  useCluster,
  waitFor,
} from './support/cluster.js';

// kwok's fake nodes never pull images; a real cluster (e2e/kind) sets a pullable one.
const IMAGE = process.env.SREC_E2E_IMAGE ?? 'example.invalid/srec-e2e:1';
const onKwok = clusterMode() === 'local';

let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let authz: AuthorizationV1Api;
let ns: string;

beforeAll(async () => {
  ({ kc } = await useCluster());
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  authz = kc.makeApiClient(AuthorizationV1Api);
  ns = await freshNamespace(kc, 'cluster', {
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/enforce-version': 'latest',
  });
});

afterAll(async () => {
  await deleteFreshNamespaces();
});

const restrictedPodSpec = {
  securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
  containers: [
    {
      name: 'app',
      image: IMAGE,
      resources: { requests: { cpu: '10m', memory: '16Mi' } },
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    },
  ],
};

function isNotFound(e: unknown): boolean {
  return (e as { code?: number }).code === 404;
}

describe('local control plane', () => {
  test('GIVEN the cluster WHEN /readyz is read THEN it says ok, and the version is the pinned one', async () => {
    const ready = await getRaw(kc, '/readyz');
    expect(ready).toEqual({ status: 200, body: 'ok' });
    const version = JSON.parse((await getRaw(kc, '/version')).body) as { gitVersion: string; major: string };
    expect(version.major).toBe('1');
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+/);
    const pinned = clusterEnv().SREC_K8S_VERSION; // from versions.env, via up.sh
    if (onKwok) expect(version.gitVersion).toBe(pinned);
  });

  test('GIVEN RBAC WHEN system:anonymous tries to create a Deployment THEN it is denied', async () => {
    const review = await authz.createSubjectAccessReview({
      body: {
        spec: {
          user: 'system:anonymous',
          groups: ['system:unauthenticated'],
          resourceAttributes: { group: 'apps', resource: 'deployments', verb: 'create', namespace: ns },
        },
      },
    });
    expect(review.status?.allowed).toBe(false);

    // Control: the admin is allowed, so the review above is meaningful.
    const self = await authz.createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { group: 'apps', resource: 'deployments', verb: 'create', namespace: ns } } },
    });
    expect(self.status?.allowed).toBe(true);

    // What `kubectl auth can-i create deployments --as=system:anonymous` asks:
    // a SelfSubjectAccessReview made while impersonating system:anonymous.
    const asAnon = await rawRequest(
      kc,
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { group: 'apps', resource: 'deployments', verb: 'create', namespace: ns } },
      },
      { headers: { 'Impersonate-User': 'system:anonymous' } },
    );
    expect(asAnon.status).toBe(201);
    expect((JSON.parse(asAnon.body) as { status: { allowed: boolean } }).status.allowed).toBe(false);

    // And a real request without credentials is rejected by the API server.
    const anon = await rawRequest(
      kc,
      'POST',
      `/apis/apps/v1/namespaces/${ns}/deployments`,
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'anon' } },
      { anonymous: true },
    );
    expect([401, 403]).toContain(anon.status);
    const status = JSON.parse(anon.body) as { kind: string; reason: string };
    expect(status.kind).toBe('Status');
    expect(['Forbidden', 'Unauthorized']).toContain(status.reason);
  });

  test('GIVEN PodSecurity restricted on the namespace WHEN a privileged pod is created THEN admission rejects it', async () => {
    const err = await core
      .createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'privileged' },
          spec: { containers: [{ name: 'c', image: IMAGE, securityContext: { privileged: true } }] },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e as { code?: number; body?: unknown },
      );
    expect(err?.code).toBe(403);
    const status = JSON.parse(String(err?.body)) as { reason: string; message: string };
    expect(status.reason).toBe('Forbidden');
    expect(status.message).toContain('violates PodSecurity "restricted:latest"');
    expect(status.message).toContain('must not set securityContext.privileged=true');
  });

  test('GIVEN a Deployment WHEN it is created THEN a ReplicaSet appears, pods run on kwok nodes and it becomes Available', async () => {
    const labels = { app: 'web' };
    const body: V1Deployment = {
      metadata: { name: 'web', labels },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: restrictedPodSpec },
      },
    };
    const dep = await apps.createNamespacedDeployment({ namespace: ns, body });

    const rs = await waitFor('a ReplicaSet owned by the Deployment', async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace: ns });
      return list.items.find((r) => r.metadata?.ownerReferences?.some((o) => o.uid === dep.metadata?.uid));
    });
    const owner = rs.metadata?.ownerReferences?.[0];
    expect(owner).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', controller: true });
    expect(rs.spec?.replicas).toBe(2);

    const pods = await waitFor(
      '2 Running and Ready pods',
      async () => {
        const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
        const ready = list.items.filter(
          (p) => p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready.length === 2 ? ready : undefined;
      },
      { timeoutMs: 90_000 },
    );
    for (const p of pods) {
      if (onKwok) expect(p.spec?.nodeName).toMatch(/^kwok-node-\d+$/);
      else expect(p.spec?.nodeName).toBeTruthy();
      expect(p.status?.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(p.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', name: rs.metadata?.name });
      expect(p.status?.containerStatuses?.[0]).toMatchObject({ name: 'app', ready: true });
    }

    const available = await waitFor(
      'the Deployment to be Available with 2 replicas',
      async () => {
        const d = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
        const cond = d.status?.conditions?.find((c) => c.type === 'Available');
        return d.status?.availableReplicas === 2 && cond?.status === 'True' ? d : undefined;
      },
      { timeoutMs: 90_000 },
    );
    expect(available.status).toMatchObject({ replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 });
    expect(available.status?.observedGeneration).toBe(available.metadata?.generation);

    // Deleting the owner garbage-collects its ReplicaSet and pods.
    await apps.deleteNamespacedDeployment({ name: 'web', namespace: ns, propagationPolicy: 'Background' });
    await waitFor('the ReplicaSet to be garbage-collected', async () => {
      try {
        await apps.readNamespacedReplicaSet({ name: rs.metadata!.name!, namespace: ns });
        return false;
      } catch (e) {
        return isNotFound(e);
      }
    });
    await waitFor('the pods to be gone', async () => {
      const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
      return list.items.length === 0;
    });
  });

  test('GIVEN a ConfigMap owned by another WHEN the owner is deleted THEN the garbage collector deletes the dependent', async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'owner' }, data: { role: 'owner' } },
    });
    const dependent = await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'dependent',
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }],
        },
        data: { role: 'dependent' },
      },
    });
    expect(dependent.metadata?.ownerReferences?.[0]?.uid).toBe(owner.metadata?.uid);
    // An unrelated ConfigMap must survive.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'bystander' } } });

    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns });
    await waitFor('the dependent ConfigMap to be garbage-collected', async () => {
      try {
        await core.readNamespacedConfigMap({ name: 'dependent', namespace: ns });
        return false;
      } catch (e) {
        return isNotFound(e);
      }
    });
    const bystander = await core.readNamespacedConfigMap({ name: 'bystander', namespace: ns });
    expect(bystander.metadata?.name).toBe('bystander');
  });
});
