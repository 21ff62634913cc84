// Two operators, one Lease: only the leader reconciles; when it stops, the standby takes over.
// Also the probe endpoints of a running operator.
import type { KubeConfig } from '@kubernetes/client-node';
import { deleteFreshNamespaces, freshNamespace, useCluster, waitFor } from '../../e2e/support/cluster.js';
import type { OperatorHandle } from '../src/operator.js';
import { applyCrd, Cluster, loadYaml, runOperator } from './support.js';

const T = 120_000;
let kc: KubeConfig;
let c: Cluster;
let ns: string;
const running: OperatorHandle[] = [];

beforeAll(async () => {
  const cluster = await useCluster();
  kc = cluster.kc;
  c = new Cluster(kc);
  await applyCrd(kc, cluster.kubeconfigPath);
  ns = await freshNamespace(kc, 'srec-leader');
  await c.createExampleSecrets(ns);
}, T);

afterAll(async () => {
  await c.forceDeleteAll(ns);
  await Promise.all(running.map((h) => h.stop()));
  await c.deleteVolumesOf(ns);
  await deleteFreshNamespaces();
}, T);

const lease = { durationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 };
const start = async (identity: string) => {
  const h = await runOperator(kc, ns, { leaderElect: true, leaseNamespace: ns, identity, lease });
  running.push(h);
  return h;
};
const get = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
};

it(
  'reconciles with the leader only, and fails over to the standby when the leader stops',
  async () => {
    // GIVEN two operators campaigning for the same Lease
    const a = await start('op-a');
    await waitFor('op-a to lead', () => a.isLeader());
    const b = await start('op-b');
    await new Promise((r) => setTimeout(r, 1500));
    expect(b.isLeader()).toBe(false);
    // AND both answer their probes (a standby is ready: it is doing its job, waiting)
    await a.synced();
    expect(await get(a.probePort, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect((await get(b.probePort, '/readyz')).status).toBe(200);
    expect((await get(a.probePort, '/metrics')).body).toContain('srec_operator_leader 1');
    expect((await get(b.probePort, '/metrics')).body).toContain('srec_operator_leader 0');
    // WHEN a SessionRecording is created THEN the leader makes it Ready
    await c.createCr(loadYaml('examples/nfs.yaml', ns));
    await c.waitForCondition(ns, 'prod', 'Ready', 'True');
    expect((await get(b.probePort, '/metrics')).body).toMatch(/srec_operator_reconciles_total 0/);
    // WHEN the leader stops (releasing the Lease) THEN the standby leads and reconciles the next change
    await a.stop();
    await waitFor('op-b to lead', () => b.isLeader(), { timeoutMs: 15_000 });
    await b.synced();
    await c.patchCr(ns, 'prod', { spec: { recorder: { replicas: 1 } } });
    await waitFor('1 recorder replica', async () => (await c.read('apps/v1', 'Deployment', 'prod-recorder', ns))?.spec.replicas === 1);
    const l = await c.read('coordination.k8s.io/v1', 'Lease', 'srec-operator', ns);
    expect(l?.spec.holderIdentity).toBe('op-b');
    // finalizer cleanup needs a running operator
    await c.deleteCr(ns, 'prod');
    await waitFor('the CR to be gone', async () => (await c.getCr(ns, 'prod')) === undefined);
  },
  T,
);
