// The operator's RBAC as the real control plane sees it: exactly the verbs and kinds the operator
// uses (namespaced where they can be), `kubectl auth can-i` as the chart's ServiceAccount allowing
// those and denying the rest.
import { jest } from '@jest/globals';
import { AuthorizationV1Api, KubeConfig, type V1ResourceRule } from '@kubernetes/client-node';
import { deleteFreshNamespaces, freshNamespace, useCluster } from '../../e2e/support/cluster.js';
import { canI, CHART_DIR, expandRules, expectOk, helm, kubectl, RESTRICTED } from './support.js';

// Real helm and API-server round trips; jest's per-project testTimeout is not applied (a global option).
jest.setTimeout(180_000);

/** What the operator calls, as `verb group/resource` (operator/src/kube/client.ts and leader.ts). */
const NAMESPACED = expandRules([
  { apiGroups: ['recording.privx.io'], resources: ['sessionrecordings'], verbs: ['list', 'watch', 'patch'] },
  { apiGroups: ['recording.privx.io'], resources: ['sessionrecordings/status'], verbs: ['patch'] },
  { apiGroups: ['recording.privx.io'], resources: ['sessionrecordings/finalizers'], verbs: ['update'] },
  { apiGroups: [''], resources: ['configmaps', 'services', 'persistentvolumeclaims'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['list', 'watch', 'create', 'patch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['list', 'watch', 'create'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
]);
const CLUSTER = expandRules([
  { apiGroups: [''], resources: ['persistentvolumes'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] },
  // The consoles' bindings; `bind` is on the ClusterRole system:auth-delegator only (the rules review leaves out names).
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterrolebindings'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'] },
]);
const LEADER_ELECTION = expandRules([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);

/** Rules every authenticated identity has (discovery, self reviews): not the chart's doing. */
function isDefaultRule(rule: string): boolean {
  return /^create (authentication|authorization)\.k8s\.io\/selfsubject/.test(rule);
}

/** Its own namespace (the release's), another namespace, or cluster-scoped. */
type Where = 'own' | 'other' | 'cluster';

let kubeconfig: string;
let kc: KubeConfig;

/** A client that is the ServiceAccount itself: a TokenRequest token, not impersonation. */
async function clientAs(namespace: string, serviceAccount: string): Promise<KubeConfig> {
  const token = expectOk(
    await kubectl(kubeconfig, ['create', 'token', serviceAccount, '-n', namespace, '--duration=20m']),
    'kubectl create token',
  ).stdout.trim();
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const sa = new KubeConfig();
  sa.loadFromOptions({
    clusters: [cluster],
    users: [{ name: serviceAccount, token }],
    contexts: [{ name: 'sa', cluster: cluster.name, user: serviceAccount, namespace }],
    currentContext: 'sa',
  });
  return sa;
}

async function rulesOf(client: KubeConfig, namespace: string): Promise<string[]> {
  const review = await client.makeApiClient(AuthorizationV1Api).createSelfSubjectRulesReview({ body: { spec: { namespace } } });
  const rules = review.status?.resourceRules ?? [];
  return expandRules(
    rules.map((r: V1ResourceRule) => ({ apiGroups: r.apiGroups ?? [], resources: r.resources ?? [], verbs: r.verbs })),
  ).filter((r) => !isDefaultRule(r));
}

beforeAll(async () => {
  ({ kubeconfigPath: kubeconfig, kc } = await useCluster());
});

afterAll(async () => {
  await deleteFreshNamespaces();
});

describe('RBAC of the chart, every namespace', () => {
  let ns: string;
  let other: string;
  let sa: { namespace: string; name: string };

  beforeAll(async () => {
    ns = await freshNamespace(kc, 'rbac', RESTRICTED);
    other = await freshNamespace(kc, 'rbac-other', RESTRICTED);
    expectOk(await helm(kubeconfig, ['install', ns, CHART_DIR, '-n', ns]), 'helm install');
    sa = { namespace: ns, name: `${ns}-srec` };
  });

  afterAll(async () => {
    await helm(kubeconfig, ['uninstall', ns, '-n', ns]);
  });

  it('grants the ServiceAccount exactly what the operator uses', async () => {
    const client = await clientAs(sa.namespace, sa.name);
    // In its own namespace: everything, plus the Lease for leader election.
    expect(await rulesOf(client, ns)).toEqual([...NAMESPACED, ...CLUSTER, ...LEADER_ELECTION].sort());
    // Elsewhere: the same, without the Lease.
    expect(await rulesOf(client, other)).toEqual([...NAMESPACED, ...CLUSTER].sort());
  });

  const allowed: Array<[string, string, Where]> = [
    ['watch', 'sessionrecordings.recording.privx.io', 'other'],
    ['patch', 'sessionrecordings.recording.privx.io', 'other'],
    ['patch', 'sessionrecordings.recording.privx.io/status', 'other'],
    ['update', 'sessionrecordings.recording.privx.io/finalizers', 'other'],
    ['create', 'configmaps', 'other'],
    ['delete', 'services', 'other'],
    ['create', 'persistentvolumeclaims', 'other'],
    ['patch', 'deployments.apps', 'other'],
    ['create', 'secrets', 'other'],
    ['watch', 'secrets', 'other'],
    ['create', 'events', 'other'],
    ['create', 'persistentvolumes', 'cluster'],
    ['delete', 'persistentvolumes', 'cluster'],
    ['create', 'serviceaccounts', 'other'],
    ['create', 'clusterrolebindings.rbac.authorization.k8s.io', 'cluster'],
    ['update', 'leases.coordination.k8s.io', 'own'],
  ];
  const namespaceOf = (where: Where): string | undefined => (where === 'own' ? ns : where === 'other' ? other : undefined);
  it.each(allowed)('allows %s %s (%s)', async (verb, resource, where) => {
    const namespace = namespaceOf(where);
    expect(await canI(kubeconfig, sa, verb, resource, namespace)).toBe('yes');
  });

  const denied: Array<[string, string, Where]> = [
    ['*', '*', 'own'],
    ['*', '*', 'cluster'],
    ['delete', 'secrets', 'other'],
    ['update', 'secrets', 'other'],
    ['patch', 'secrets', 'other'],
    ['update', 'sessionrecordings.recording.privx.io', 'other'],
    ['update', 'deployments.apps', 'other'],
    ['create', 'events.events.k8s.io', 'other'],
    ['delete', 'leases.coordination.k8s.io', 'own'],
    ['create', 'pods', 'other'],
    ['delete', 'pods', 'other'],
    ['create', 'pods/exec', 'other'],
    ['create', 'serviceaccounts/token', 'other'],
    ['create', 'sessionrecordings.recording.privx.io', 'other'],
    ['delete', 'sessionrecordings.recording.privx.io', 'other'],
    ['delete', 'events', 'other'],
    ['create', 'statefulsets.apps', 'other'],
    ['create', 'daemonsets.apps', 'other'],
    ['create', 'rolebindings.rbac.authorization.k8s.io', 'own'],
    ['create', 'clusterroles.rbac.authorization.k8s.io', 'cluster'],
    ['bind', 'clusterroles.rbac.authorization.k8s.io', 'cluster'],
    ['escalate', 'roles.rbac.authorization.k8s.io', 'own'],
    ['impersonate', 'users', 'cluster'],
    ['create', 'customresourcedefinitions.apiextensions.k8s.io', 'cluster'],
    ['create', 'namespaces', 'cluster'],
    ['get', 'nodes', 'cluster'],
    ['create', 'storageclasses.storage.k8s.io', 'cluster'],
    ['update', 'leases.coordination.k8s.io', 'other'],
  ];
  it.each(denied)('denies %s %s (%s)', async (verb, resource, where) => {
    const namespace = namespaceOf(where);
    expect(await canI(kubeconfig, sa, verb, resource, namespace)).toBe('no');
  });
});

describe('RBAC of the chart with operator.watchNamespace', () => {
  it('grants the namespaced kinds in the watched namespace only (PersistentVolumes stay cluster-wide)', async () => {
    // GIVEN the operator installed in one namespace, watching another
    const ns = await freshNamespace(kc, 'rbac-ns', RESTRICTED);
    const watched = await freshNamespace(kc, 'rbac-watched', RESTRICTED);
    const elsewhere = await freshNamespace(kc, 'rbac-elsewhere', RESTRICTED);
    expectOk(
      await helm(kubeconfig, ['install', ns, CHART_DIR, '-n', ns, '--set', `operator.watchNamespace=${watched}`]),
      'helm install',
    );
    try {
      const sa = { namespace: ns, name: `${ns}-srec` };
      const client = await clientAs(sa.namespace, sa.name);
      // THEN the watched namespace has every namespaced rule, the others none
      expect(await rulesOf(client, watched)).toEqual([...NAMESPACED, ...CLUSTER].sort());
      expect(await rulesOf(client, elsewhere)).toEqual([...CLUSTER].sort());
      expect(await rulesOf(client, ns)).toEqual([...CLUSTER, ...LEADER_ELECTION].sort());
      expect(await canI(kubeconfig, sa, 'create', 'deployments.apps', watched)).toBe('yes');
      expect(await canI(kubeconfig, sa, 'create', 'deployments.apps', elsewhere)).toBe('no');
      expect(await canI(kubeconfig, sa, 'list', 'sessionrecordings.recording.privx.io', elsewhere)).toBe('no');
      expect(await canI(kubeconfig, sa, 'create', 'persistentvolumes', undefined)).toBe('yes');
    } finally {
      await helm(kubeconfig, ['uninstall', ns, '-n', ns]);
    }
  });
});
