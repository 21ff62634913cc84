// The operator against the real control plane (e2e/support): the CRD from crds/, the API server and
// `srec validate` rejecting the same bad fixtures at the same field paths, and the operator (in-process)
// creating, updating, reporting, surviving restarts and deleting. Pods are kwok's: they become Running.
import { ApiException, type KubeConfig } from '@kubernetes/client-node';
import { deleteFreshNamespaces, freshNamespace, useCluster, waitFor } from '../../e2e/support/cluster.js';
import { loadAndValidate } from '../src/api/load.js';
import { render, total } from '../../common/metrics.js';
import type { OperatorHandle } from '../src/operator.js';
import { badFixtures } from './bad-fixtures.js';
import { applyCrd, Cluster, loadYaml, runOperator } from './support.js';

const T = 120_000;
let kc: KubeConfig;
let c: Cluster;

beforeAll(async () => {
  const cluster = await useCluster();
  kc = cluster.kc;
  c = new Cluster(kc);
  await applyCrd(kc, cluster.kubeconfigPath);
}, T);

afterAll(async () => {
  await deleteFreshNamespaces();
}, T);

/** The field paths of a 422 from the API server (Status.details.causes[].field). */
function causeFields(err: unknown): string[] {
  if (!(err instanceof ApiException)) throw err;
  const body = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as { details?: { causes?: Array<{ field?: string }> }; message?: string };
  return (body.details?.causes ?? []).map((x) => x.field ?? '').filter((f) => f !== '');
}

describe('the CRD and srec validate agree', () => {
  let ns: string;
  beforeAll(async () => {
    ns = await freshNamespace(kc, 'srec-crd');
  }, T);

  it.each(badFixtures().map((f) => [f.name, f] as const))('%s is rejected by both, naming the same field', async (_name, f) => {
    // GIVEN a bad fixture
    const local = loadAndValidate(f.file);
    // WHEN the API server is asked to create it
    let fields: string[] = [];
    try {
      await c.createCr(loadYaml(f.file, ns));
      throw new Error(`the API server accepted ${f.name}`);
    } catch (err) {
      fields = causeFields(err);
    }
    // THEN both reject it at the fixture's field
    expect(fields).toContain(f.expectedPath);
    expect(local.ok ? [] : local.errors.map((e) => e.path)).toContain(f.expectedPath);
  });

  it('accepts every example', async () => {
    for (const name of ['efs', 'nfs', 'existing-claim', 'nfs-forward']) {
      const obj = loadYaml(`examples/${name}.yaml`, ns);
      obj.metadata.name = `ok-${name}`;
      await c.createCr(obj);
    }
    await c.forceDeleteAll(ns);
  }, T);
});

/** Everything a test namespace holds, the operator that ran there, and the volumes it made. */
async function tearDown(ns: string, op: OperatorHandle | undefined): Promise<void> {
  await c.forceDeleteAll(ns);
  await op?.stop();
  await c.deleteVolumesOf(ns);
}

describe('the operator', () => {
  let ns: string;
  let op: OperatorHandle;

  /** resourceVersion of the CR and every child, to prove that nothing was written. */
  async function versions(name: string): Promise<Record<string, string | undefined>> {
    const get = async (apiVersion: string, kind: string, n: string, namespace?: string) => (await c.read(apiVersion, kind, n, namespace))?.metadata?.resourceVersion as string | undefined;
    return {
      cr: (await c.getCr(ns, name))?.metadata.resourceVersion,
      pv: await get('v1', 'PersistentVolume', `srec-${ns}-${name}`),
      pvc: await get('v1', 'PersistentVolumeClaim', `${name}-share`, ns),
      hostKey: await get('v1', 'Secret', `${name}-recorder-hostkey`, ns),
      recorderCm: await get('v1', 'ConfigMap', `${name}-recorder`, ns),
      recorder: await get('apps/v1', 'Deployment', `${name}-recorder`, ns),
      recorderSvc: await get('v1', 'Service', `${name}-recorder`, ns),
      syslogCm: await get('v1', 'ConfigMap', `${name}-syslog`, ns),
      syslog: await get('apps/v1', 'Deployment', `${name}-syslog`, ns),
      syslogSvc: await get('v1', 'Service', `${name}-syslog`, ns),
    };
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const writes = (h: OperatorHandle) => {
    const sum = (name: string) => total(h.metrics, name);
    return { applies: sum('srec_operator_applies_total'), statusPatches: sum('srec_operator_status_patches_total'), deletes: sum('srec_operator_deletes_total') };
  };

  beforeAll(async () => {
    ns = await freshNamespace(kc, 'srec-op');
    await c.createExampleSecrets(ns);
    op = await runOperator(kc, ns);
    await op.synced();
  }, T);

  afterAll(() => tearDown(ns, op), T);

  it(
    'creates the share, recorder and syslog objects and reaches Ready=True',
    async () => {
      // GIVEN the NFS example WHEN it is created
      await c.createCr(loadYaml('examples/nfs.yaml', ns));
      // THEN it becomes Ready
      const cr = await c.waitForCondition(ns, 'prod', 'Ready', 'True');
      expect(cr.status?.conditions?.map((x) => [x.type, x.status, x.reason])).toEqual([
        ['Ready', 'True', 'Ready'],
        ['StorageReady', 'True', 'ClaimBound'],
        ['RecorderReady', 'True', 'ReplicasReady'],
        ['SyslogReady', 'True', 'ReplicasReady'],
        ['ConsoleReady', 'True', 'Disabled'],
      ]);
      expect(cr.status?.storage).toEqual({ claimName: 'prod-share', phase: 'Bound' });
      expect(cr.metadata.finalizers).toContain('recording.privx.io/storage');
      // AND the PV is the NFS export, bound to the claim, owned by nobody
      const pv = await c.read('v1', 'PersistentVolume', `srec-${ns}-prod`);
      expect(pv?.spec.nfs).toEqual({ server: 'nfs.internal', path: '/exports/privx' });
      expect(pv?.status.phase).toBe('Bound');
      const pvc = await c.read('v1', 'PersistentVolumeClaim', 'prod-share', ns);
      expect(pvc?.metadata.ownerReferences).toBeUndefined();
      // AND the namespaced children are owned by the CR
      for (const [v, kind, name] of [
        ['v1', 'ConfigMap', 'prod-recorder'],
        ['apps/v1', 'Deployment', 'prod-recorder'],
        ['v1', 'Service', 'prod-recorder'],
        ['v1', 'ConfigMap', 'prod-syslog'],
        ['apps/v1', 'Deployment', 'prod-syslog'],
        ['v1', 'Service', 'prod-syslog'],
        ['v1', 'Secret', 'prod-recorder-hostkey'],
      ] as const) {
        const obj = await c.read(v, kind, name, ns);
        expect([kind, obj?.metadata.ownerReferences?.[0]?.uid]).toEqual([kind, cr.metadata.uid]);
      }
      const hostKey = await c.read('v1', 'Secret', 'prod-recorder-hostkey', ns);
      expect(Buffer.from(hostKey?.data.host_key, 'base64').toString()).toContain('OPENSSH PRIVATE KEY');
    },
    T,
  );

  it(
    'editing spec.syslog.audit.sensitive.to changes the syslog ConfigMap and rolls the syslog pod',
    async () => {
      // GIVEN the Ready CR and its running syslog pod
      const before = await c.read('apps/v1', 'Deployment', 'prod-syslog', ns);
      const oldHash = before?.spec.template.metadata.annotations['recording.privx.io/config-hash'];
      const pods = async () =>
        (await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=prod,app.kubernetes.io/component=syslog' })).items;
      const oldPods = (await pods()).map((p) => p.metadata?.name);
      // WHEN sensitive events are forwarded instead of discarded
      await c.patchCr(ns, 'prod', { spec: { syslog: { audit: { sensitive: { to: '@@siem.example:6514' } } } } });
      // THEN rsyslog.conf forwards them
      await waitFor('the syslog ConfigMap to forward to the SIEM', async () =>
        String((await c.read('v1', 'ConfigMap', 'prod-syslog', ns))?.data['rsyslog.conf']).includes('siem.example'),
      );
      // AND the pod template's config hash changed, so a new pod replaced the old one (the operator applies
      // the ConfigMap and the Deployment concurrently, so the ConfigMap can be seen first: the hash is waited
      // for, not read at once)
      const hash = async () =>
        (await c.read('apps/v1', 'Deployment', 'prod-syslog', ns))?.spec.template.metadata.annotations['recording.privx.io/config-hash'];
      expect(oldHash).toMatch(/^[0-9a-f]{16}$/);
      await waitFor('the syslog Deployment to carry a new config hash', async () => (await hash()) !== oldHash);
      await waitFor('a new syslog pod running the new config', async () => {
        const now = await pods();
        return now.length === 1 && !oldPods.includes(now[0]?.metadata?.name) && now[0]?.status?.phase === 'Running';
      });
      // AND the status says so
      const cr = await c.waitForCondition(ns, 'prod', 'Ready', 'True');
      expect(cr.metadata.generation).toBe(2);
      expect(cr.status?.syslog).toEqual({ sensitive: 'forward', target: '@@siem.example:6514' });
    },
    T,
  );

  it(
    'makes no writes in steady state',
    async () => {
      // GIVEN a Ready SessionRecording
      await c.waitForCondition(ns, 'prod', 'Ready', 'True');
      await sleep(3000);
      const before = await versions('prod');
      const w0 = writes(op);
      // WHEN nothing changes for a while (longer than any requeue)
      await sleep(6000);
      // THEN no object got a new resourceVersion and the operator applied and patched nothing
      expect(await versions('prod')).toEqual(before);
      expect(writes(op)).toEqual(w0);
    },
    T,
  );

  it(
    'converges after a restart without writing, and restarts a silent watch',
    async () => {
      // GIVEN the steady state WHEN the operator is replaced by a new one whose watches go stale fast
      const before = await versions('prod');
      await op.stop();
      op = await runOperator(kc, ns, { staleWatchMs: 1500 });
      await op.synced();
      await sleep(5000);
      // THEN it wrote nothing
      expect(writes(op)).toEqual({ applies: 0, statusPatches: 0, deletes: 0 });
      expect(await versions('prod')).toEqual(before);
      // AND silent watches were restarted
      expect(await render(op.metrics)).toMatch(/srec_operator_watch_restarts_total\{kind="SessionRecording",reason="stale"\} [1-9]/);
      // AND it still reacts to changes after those restarts (and re-applies everything on resync)
      await c.patchCr(ns, 'prod', { spec: { recorder: { replicas: 3 } } });
      await waitFor('3 recorder replicas', async () => (await c.read('apps/v1', 'Deployment', 'prod-recorder', ns))?.spec.replicas === 3);
      await c.waitForCondition(ns, 'prod', 'Ready', 'True');
      await op.stop();
      op = await runOperator(kc, ns);
      await op.synced();
    },
    T,
  );

  it(
    'a resync applies every object again, which changes nothing that is already right',
    async () => {
      // GIVEN the steady state and an operator that resyncs every second
      await c.waitForCondition(ns, 'prod', 'Ready', 'True');
      await op.stop();
      op = await runOperator(kc, ns, { resyncMs: 1000 });
      await op.synced();
      await sleep(2000);
      const before = await versions('prod');
      // WHEN it has applied everything again a few times
      await waitFor('two full applies', () => writes(op).applies >= 16, { timeoutMs: 20_000 });
      // THEN nothing got a new resourceVersion
      expect(await versions('prod')).toEqual(before);
      // AND drift is undone: a changed field we own comes back
      await c.objects.patch(
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'prod-syslog', namespace: ns }, spec: { replicas: 4 } },
        undefined, undefined, 'someone-else', undefined, 'application/merge-patch+json',
      );
      await waitFor('syslog replicas back to 1', async () => (await c.read('apps/v1', 'Deployment', 'prod-syslog', ns))?.spec.replicas === 1, { timeoutMs: 20_000 });
      await op.stop();
      op = await runOperator(kc, ns);
      await op.synced();
    },
    T,
  );

  it(
    'reports a missing Secret as Ready=False with an Event, deletes nothing, and recovers when it appears',
    async () => {
      // GIVEN a CR whose users Secret does not exist
      const obj = loadYaml('examples/nfs.yaml', ns);
      obj.metadata.name = 'lonely';
      obj.spec.recorder.usersSecret = 'lonely-users';
      await c.createCr(obj);
      // THEN Ready=False, RecorderReady says which Secret, and an Event says it too
      const cr = await c.waitForCondition(ns, 'lonely', 'Ready', 'False', 'SecretNotFound');
      const rec = cr.status?.conditions?.find((x) => x.type === 'RecorderReady');
      expect(rec).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
      expect(rec?.message).toContain('Secret lonely-users (spec.recorder.usersSecret) does not exist');
      await waitFor('a SecretNotFound Event', async () => (await c.events(ns, 'lonely')).some((e) => e.reason === 'SecretNotFound' && e.type === 'Warning'));
      // AND the objects were still created; nothing was deleted
      expect(await c.read('apps/v1', 'Deployment', 'lonely-recorder', ns)).toBeDefined();
      // AND no hot loop: in steady failure the CR is not rewritten
      await sleep(3000);
      const rv = (await c.getCr(ns, 'lonely'))?.metadata.resourceVersion;
      await sleep(5000);
      expect((await c.getCr(ns, 'lonely'))?.metadata.resourceVersion).toBe(rv);
      // WHEN the Secret is created THEN it becomes Ready
      await c.createSecret(ns, 'lonely-users', { 'users.yaml': 'users: []\n' });
      await c.waitForCondition(ns, 'lonely', 'Ready', 'True');
    },
    T,
  );

  it(
    'reports an existing ReadWriteOnce claim with 2 replicas, and a Pending claim, without touching them',
    async () => {
      // GIVEN claims the operator does not own: one RWO, one RWX with no volume (stays Pending)
      for (const [name, mode] of [
        ['rwo-claim', 'ReadWriteOnce'],
        ['pending-claim', 'ReadWriteMany'],
      ] as const) {
        await c.core.createNamespacedPersistentVolumeClaim({
          namespace: ns,
          body: { metadata: { name }, spec: { accessModes: [mode], storageClassName: '', resources: { requests: { storage: '1Gi' } } } },
        });
      }
      const rvBefore = (await c.read('v1', 'PersistentVolumeClaim', 'rwo-claim', ns))?.metadata.resourceVersion;
      // WHEN SessionRecordings use them with 2 replicas
      for (const [name, claim] of [
        ['shared-rwo', 'rwo-claim'],
        ['shared-pending', 'pending-claim'],
      ]) {
        const obj = loadYaml('examples/existing-claim.yaml', ns);
        obj.metadata.name = name;
        obj.spec.storage.existingClaim = claim;
        await c.createCr(obj);
      }
      // THEN StorageReady says what is wrong and what to do
      const rwo = await c.waitForCondition(ns, 'shared-rwo', 'StorageReady', 'False', 'ClaimNotReadWriteMany');
      expect(rwo.status?.conditions?.find((x) => x.type === 'StorageReady')?.message).toContain('use a ReadWriteMany claim or set spec.recorder.replicas to 1');
      expect(rwo.metadata.finalizers ?? []).not.toContain('recording.privx.io/storage');
      const pending = await c.waitForCondition(ns, 'shared-pending', 'StorageReady', 'False', 'ClaimPending');
      expect(pending.status?.conditions?.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ClaimPending' });
      // AND the user's claim was not modified
      expect((await c.read('v1', 'PersistentVolumeClaim', 'rwo-claim', ns))?.metadata.resourceVersion).toBe(rvBefore);
    },
    T,
  );

  it(
    'spec.console.enabled runs the console with the share read-only, and turning it off or deleting removes every console object',
    async () => {
      // GIVEN a Ready NFS SessionRecording with the console enabled
      const obj = loadYaml('examples/nfs.yaml', ns);
      obj.metadata.name = 'audited';
      obj.spec.console = { enabled: true, port: 8443 };
      await c.createCr(obj);
      const cr = await c.waitForCondition(ns, 'audited', 'Ready', 'True');
      // (Ready waits for the console too: its pods are up)
      expect(cr.status?.conditions?.find((x) => x.type === 'ConsoleReady')).toMatchObject({ status: 'True', reason: 'ReplicasReady', message: '1 of 1 console pods ready' });
      const binding = `srec-${ns}-audited-console`;
      // THEN the console's ServiceAccount, Deployment and Service are there, owned by the CR
      for (const [v, kind] of [
        ['v1', 'ServiceAccount'],
        ['apps/v1', 'Deployment'],
        ['v1', 'Service'],
      ] as const) {
        const child = await c.read(v, kind, 'audited-console', ns);
        expect([kind, child?.metadata.ownerReferences?.[0]?.uid]).toEqual([kind, cr.metadata.uid]);
      }
      // AND the Deployment runs `srec console` in-cluster as that ServiceAccount, the share mounted read-only
      const pod = (await c.read('apps/v1', 'Deployment', 'audited-console', ns))?.spec.template.spec;
      expect(pod.serviceAccountName).toBe('audited-console');
      const container = pod.containers[0];
      expect(container.args).toEqual(expect.arrayContaining(['console', '--in-cluster', '--namespace', ns, '--recording', 'audited', '--listen', '0.0.0.0:8443']));
      expect(container.volumeMounts.find((m: { name: string }) => m.name === 'share')).toMatchObject({ mountPath: '/var/privx/audit', readOnly: true });
      expect(pod.volumes.find((v: { name: string }) => v.name === 'share').persistentVolumeClaim).toEqual({ claimName: 'audited-share', readOnly: true });
      expect((await c.read('v1', 'Service', 'audited-console', ns))?.spec).toMatchObject({ type: 'ClusterIP', ports: [expect.objectContaining({ port: 8443 })] });
      // AND its ServiceAccount is bound to the ClusterRole that allows TokenReviews and SubjectAccessReviews
      const crb = await c.read('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', binding);
      expect(crb?.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' });
      expect(crb?.subjects).toEqual([{ kind: 'ServiceAccount', name: 'audited-console', namespace: ns }]);

      // WHEN the console is turned off
      await c.patchCr(ns, 'audited', { spec: { console: { enabled: false } } });
      // THEN every console object goes, the cluster-scoped binding too, and the recorder stays
      await waitFor('the console Deployment to be pruned', async () => (await c.read('apps/v1', 'Deployment', 'audited-console', ns)) === undefined);
      await waitFor('the console binding to be pruned', async () => (await c.read('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', binding)) === undefined);
      expect(await c.read('v1', 'Service', 'audited-console', ns)).toBeUndefined();
      expect(await c.read('v1', 'ServiceAccount', 'audited-console', ns)).toBeUndefined();
      expect(await c.read('apps/v1', 'Deployment', 'audited-recorder', ns)).toBeDefined();

      // WHEN it is turned on again and the SessionRecording is deleted
      await c.patchCr(ns, 'audited', { spec: { console: { enabled: true } } });
      await waitFor('the console binding to be back', async () => (await c.read('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', binding)) !== undefined);
      await c.deleteCr(ns, 'audited');
      await waitFor('the CR to be gone', async () => (await c.getCr(ns, 'audited')) === undefined);
      // THEN the binding, which no owner reference would collect, is gone as well
      expect(await c.read('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', binding)).toBeUndefined();
    },
    T,
  );

  it(
    'deleting with deletionPolicy Retain keeps the claim and the volume',
    async () => {
      // GIVEN a Ready NFS SessionRecording with the default policy
      const obj = loadYaml('examples/nfs.yaml', ns);
      obj.metadata.name = 'keep';
      await c.createCr(obj);
      await c.waitForCondition(ns, 'keep', 'Ready', 'True');
      // WHEN it is deleted
      await c.deleteCr(ns, 'keep');
      await waitFor('the CR to be gone', async () => (await c.getCr(ns, 'keep')) === undefined);
      // THEN its Deployments go (garbage collection) but the claim and the volume stay, still bound
      await waitFor('the recorder Deployment to be collected', async () => (await c.read('apps/v1', 'Deployment', 'keep-recorder', ns)) === undefined);
      await sleep(2000);
      const pvc = await c.read('v1', 'PersistentVolumeClaim', 'keep-share', ns);
      expect(pvc?.metadata.deletionTimestamp).toBeUndefined();
      expect(pvc?.status.phase).toBe('Bound');
      const pv = await c.read('v1', 'PersistentVolume', `srec-${ns}-keep`);
      expect(pv?.metadata.deletionTimestamp).toBeUndefined();
      expect(pv?.spec.persistentVolumeReclaimPolicy).toBe('Retain');
    },
    T,
  );

  it(
    'deleting with deletionPolicy Delete removes the claim and the volume',
    async () => {
      const obj = loadYaml('examples/nfs.yaml', ns);
      obj.metadata.name = 'drop';
      obj.spec.storage.deletionPolicy = 'Delete';
      await c.createCr(obj);
      await c.waitForCondition(ns, 'drop', 'Ready', 'True');
      await c.deleteCr(ns, 'drop');
      await waitFor('the CR to be gone', async () => (await c.getCr(ns, 'drop')) === undefined);
      await waitFor('the claim to be gone', async () => (await c.read('v1', 'PersistentVolumeClaim', 'drop-share', ns)) === undefined, { timeoutMs: 90_000 });
      await waitFor('the volume to be gone', async () => (await c.read('v1', 'PersistentVolume', `srec-${ns}-drop`)) === undefined, { timeoutMs: 90_000 });
    },
    T,
  );
});

describe('an operator that cannot render a spec', () => {
  let ns: string;
  let op: OperatorHandle | undefined;
  let renders = 0;

  afterAll(() => tearDown(ns, op), T);

  it(
    'says so in Ready=False RenderFailed with an Event, once, applies nothing and does not retry the same spec',
    async () => {
      // GIVEN an operator whose builders throw (a spec the schema and the rules accept, that rendering refuses)
      ns = await freshNamespace(kc, 'srec-render');
      await c.createExampleSecrets(ns);
      op = await runOperator(kc, ns, {
        render: () => {
          renders++;
          throw new Error('spec.syslog.audit.to: "@@x:514" cannot be rendered');
        },
      });
      await op.synced();
      // WHEN a SessionRecording is created
      await c.createCr(loadYaml('examples/nfs.yaml', ns));
      // THEN its status says why, naming the field, and a Warning Event says the same
      const cr = await c.waitForCondition(ns, 'prod', 'Ready', 'False', 'RenderFailed');
      const ready = cr.status?.conditions?.find((x) => x.type === 'Ready');
      expect(ready?.message).toContain('spec.syslog.audit.to: "@@x:514" cannot be rendered');
      await waitFor('a RenderFailed Event', async () => (await c.events(ns, 'prod')).some((e) => e.reason === 'RenderFailed' && e.type === 'Warning'));
      // AND nothing was applied
      expect(await c.read('apps/v1', 'Deployment', 'prod-recorder', ns)).toBeUndefined();
      // AND the same spec is not retried (no backoff loop): once the status patch's own watch event has come
      // and gone, a few seconds bring no new render and no new write
      await new Promise((r) => setTimeout(r, 1500));
      const rendersThen = renders;
      const rv = (await c.getCr(ns, 'prod'))?.metadata.resourceVersion;
      await new Promise((r) => setTimeout(r, 6000));
      expect(renders).toBe(rendersThen);
      expect((await c.getCr(ns, 'prod'))?.metadata.resourceVersion).toBe(rv);
    },
    T,
  );
});
