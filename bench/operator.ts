// operator: 1000 SessionRecordings (NFS storage, as examples/nfs.yaml, in 10 namespaces) on the real
// control plane (e2e/cluster/up.sh, its own state dir and 20 kwok nodes so that every pod can run), then
// `srec operator` started cold, as a ServiceAccount: time until every one has its children and a status;
// then the API writes it makes while nothing changes; its RSS.
// Writes are counted by the API server itself: a FlowSchema matches the operator's ServiceAccount on
// mutating verbs, and apiserver_flowcontrol_dispatched_requests_total counts what it matched.
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { MiB, REPO, child, emit, exited, progress, rssBytes, scaled, sleep, stopChild, tempDir } from './support/common.js';
import { freePort } from '../testing/openssh.js';

const B = 'operator';
const FLOW_SCHEMA = 'srec-bench-operator-writes';
const SA_NS = 'srec-bench-system';
const WRITE_KINDS = [
  { name: 'events', apiGroups: ['', 'events.k8s.io'], resources: ['events'] },
  { name: 'sessionrecordings', apiGroups: ['recording.privx.io'], resources: ['*'] },
  { name: 'children', apiGroups: ['*'], resources: ['*'] },
] as const;

interface Meta {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly generation?: number; readonly resourceVersion?: string };
  readonly status?: { readonly observedGeneration?: number; readonly conditions?: ReadonlyArray<{ readonly type: string; readonly status: string }> };
}

export async function run(): Promise<void> {
  const count = scaled(1000, 10);
  const namespaces = Math.min(10, count);
  const idleSeconds = Number(process.env.BENCH_OPERATOR_IDLE_SECONDS ?? scaled(60, 10));
  const dir = tempDir(B);
  process.env.SREC_CLUSTER_STATE ??= path.join(os.tmpdir(), 'srec-bench-cluster');
  process.env.SREC_CLUSTER_API_QPS ??= '200';
  process.env.SREC_CLUSTER_NODES ??= String(Math.max(2, Math.ceil((count * 2) / 100)));
  // The scale benchmark stays on kwok: the real node would only take memory and CPU from what is measured.
  process.env.SREC_REAL_NODE ??= '0';
  const cluster = await import('../e2e/support/cluster.js');
  progress(B, `starting the control plane (state ${process.env.SREC_CLUSTER_STATE}, ${process.env.SREC_CLUSTER_NODES} kwok nodes)`);
  // A fresh control plane each run: objects left by an earlier run would be reconciled too.
  await runText('bash', [path.join(REPO, 'e2e', 'cluster', 'down.sh')], true);
  await runText('bash', [path.join(REPO, 'e2e', 'cluster', 'up.sh')], true);
  const adminPath = cluster.kubeconfigPath();
  const { kubectl } = cluster.clusterTools();
  const kc = new KubeConfig();
  kc.loadFromFile(adminPath);
  const k = async (args: string[], input?: string) => {
    const c = spawn(kubectl, ['--kubeconfig', adminPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => (err += b.toString()));
    c.stdin.end(input ?? '');
    const code = await exited(c);
    if (code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${err.trim()}`);
    return out;
  };
  const get = async <T>(p: string, metaOnly = false): Promise<T> => {
    const r = await cluster.rawRequest(kc, 'GET', p, undefined, metaOnly ? { headers: { Accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' } } : {});
    if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body) as T;
  };

  // ---- the CRD, the operator's identity, and the FlowSchema that counts its writes ----
  await k(['apply', '--server-side', '--force-conflicts', '--field-manager', 'srec-bench', '-f', path.join(REPO, 'crds')]);
  await k(['wait', '--for', 'condition=Established', '--timeout=60s', 'crd/sessionrecordings.recording.privx.io']);
  const setup = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SA_NS } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'srec-operator', namespace: SA_NS } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'srec-bench-operator' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'srec-operator', namespace: SA_NS }],
    },
    // One FlowSchema per kind of write, so that the count can be told apart: Events, the SessionRecordings
    // (status, finalizers), everything else (server-side applies of children, host key Secrets, deletes).
    ...WRITE_KINDS.map((w, i) => ({
      apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
      kind: 'FlowSchema',
      metadata: { name: `${FLOW_SCHEMA}-${w.name}` },
      spec: {
        priorityLevelConfiguration: { name: 'workload-high' },
        matchingPrecedence: 450 + i,
        distinguisherMethod: { type: 'ByUser' },
        rules: [
          {
            subjects: [{ kind: 'ServiceAccount', serviceAccount: { name: 'srec-operator', namespace: SA_NS } }],
            resourceRules: [{ verbs: ['create', 'update', 'patch', 'delete', 'deletecollection'], apiGroups: w.apiGroups, resources: w.resources, namespaces: ['*'], clusterScope: true }],
          },
        ],
      },
    })),
  ];
  await k(['apply', '--server-side', '--field-manager', 'srec-bench', '-f', '-'], setup.map((o) => yaml.dump(o)).join('---\n'));
  const token = (await k(['-n', SA_NS, 'create', 'token', 'srec-operator', '--duration', '6h'])).trim();
  const cl = kc.getCurrentCluster()!;
  const caData = cl.caData ?? (cl.caFile ? (await fsp.readFile(cl.caFile)).toString('base64') : undefined);
  const operatorKubeconfig = path.join(dir, 'operator.kubeconfig');
  await fsp.writeFile(
    operatorKubeconfig,
    yaml.dump({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: cl.server, 'certificate-authority-data': caData } }],
      users: [{ name: 'srec-operator', user: { token } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'srec-operator' } }],
      'current-context': 'c',
    }),
    { mode: 0o600 },
  );

  // ---- 1000 SessionRecordings with their Secrets ----
  const base = yaml.load(await fsp.readFile(path.join(REPO, 'examples', 'nfs.yaml'), 'utf8')) as { metadata: Record<string, unknown>; spec: { recorder: { replicas: number } } };
  const docs: unknown[] = [];
  const crs: Array<{ ns: string; name: string }> = [];
  const runId = Date.now().toString(36).slice(-5);
  for (let n = 0; n < namespaces; n++) {
    const ns = `srec-bench-${runId}-${n}`;
    docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    docs.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'recorder-users', namespace: ns }, stringData: { 'users.yaml': 'users:\n  - name: alice\n    authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0b2V4YW1wbGVob3N0a2V5Zm9yZGJvbmVvbmx5MDE= alice"]\n' } });
    docs.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db-1-login', namespace: ns }, stringData: { username: 'root', privateKey: 'not-a-real-key' } });
  }
  for (let i = 0; i < count; i++) {
    const ns = `srec-bench-${runId}-${i % namespaces}`;
    const name = `rec-${i}`;
    crs.push({ ns, name });
    docs.push({ ...base, metadata: { name, namespace: ns }, spec: { ...base.spec, recorder: { ...base.spec.recorder, replicas: 1 } } });
  }
  const manifest = path.join(dir, 'objects.yaml');
  await fsp.writeFile(manifest, docs.map((d) => yaml.dump(d)).join('---\n'));
  progress(B, `creating ${namespaces} namespaces and ${count} SessionRecordings`);
  const tc = Date.now();
  await k(['create', '-f', manifest]);
  progress(B, `created in ${((Date.now() - tc) / 1000).toFixed(1)} s`);

  // What "its children" are: what `srec render` prints for one of them, plus the operator's host key Secret.
  const sample = path.join(dir, 'sample.yaml');
  await fsp.writeFile(sample, yaml.dump(docs[docs.length - 1]));
  const rendered = yaml.loadAll(await runText(process.execPath, [path.join(REPO, 'bin', 'srec.js'), 'render', '-f', sample])) as Array<{ kind: string; metadata: { name: string } }>;
  const last = crs[crs.length - 1]!;
  const kinds = [...rendered.map((o) => ({ kind: o.kind, tmpl: o.metadata.name })), { kind: 'Secret', tmpl: `${last.name}-recorder-hostkey` }];
  const collection: Record<string, string> = {
    PersistentVolume: '/api/v1/persistentvolumes',
    PersistentVolumeClaim: '/api/v1/persistentvolumeclaims',
    ConfigMap: '/api/v1/configmaps',
    Deployment: '/apis/apps/v1/deployments',
    Service: '/api/v1/services',
    Secret: '/api/v1/secrets',
    PodDisruptionBudget: '/apis/policy/v1/poddisruptionbudgets',
    NetworkPolicy: '/apis/networking.k8s.io/v1/networkpolicies',
    ServiceAccount: '/api/v1/serviceaccounts',
  };
  const converged = async (): Promise<{ done: number; children: number; statuses: number }> => {
    const have = new Set<string>();
    for (const kind of new Set(kinds.map((x) => x.kind))) {
      const p = collection[kind];
      if (!p) throw new Error(`no collection path for ${kind}`);
      const list = await get<{ items: Meta[] }>(p, true);
      for (const o of list.items ?? []) have.add(`${kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    }
    const srs = await get<{ items: Meta[] }>('/apis/recording.privx.io/v1alpha1/sessionrecordings');
    const statusOk = new Set((srs.items ?? []).filter((o) => (o.status?.conditions?.length ?? 0) > 0 && o.status?.observedGeneration === o.metadata.generation).map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
    let done = 0;
    let children = 0;
    for (const cr of crs) {
      const all = kinds.every(({ kind, tmpl }) => {
        const name = tmpl.split(last.name).join(cr.name).split(last.ns).join(cr.ns);
        return have.has(`${kind}/${kind === 'PersistentVolume' ? '' : cr.ns}/${name}`);
      });
      if (all) children++;
      if (all && statusOk.has(`${cr.ns}/${cr.name}`)) done++;
    }
    return { done, children, statuses: statusOk.size };
  };

  // ---- the operator, cold ----
  const writesByKind = async (): Promise<Record<string, number>> => {
    const r = await cluster.rawRequest(kc, 'GET', '/metrics');
    const out: Record<string, number> = Object.fromEntries(WRITE_KINDS.map((w) => [w.name, 0]));
    for (const line of r.body.split('\n')) {
      if (!line.startsWith('apiserver_flowcontrol_dispatched_requests_total{')) continue;
      for (const w of WRITE_KINDS) if (line.includes(`flow_schema="${FLOW_SCHEMA}-${w.name}"`)) out[w.name]! += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return out;
  };
  /** apiserver_request_duration_seconds sum and count per verb, every client together. */
  const latencies = async (): Promise<Record<string, { sum: number; count: number }>> => {
    const r = await cluster.rawRequest(kc, 'GET', '/metrics');
    const out: Record<string, { sum: number; count: number }> = {};
    for (const line of r.body.split('\n')) {
      const m = /^apiserver_request_duration_seconds_(sum|count)\{.*verb="([A-Z]+)".*\} (\S+)$/.exec(line);
      if (!m || !['APPLY', 'PATCH', 'POST', 'PUT'].includes(m[2]!)) continue;
      const e = (out[m[2]!] ??= { sum: 0, count: 0 });
      e[m[1] as 'sum' | 'count'] += Number(m[3]);
    }
    return out;
  };
  const flowWrites = async () => Object.values(await writesByKind()).reduce((a, b) => a + b, 0);
  const diff = (a: Record<string, number>, b: Record<string, number>) => WRITE_KINDS.map((w) => `${w.name} ${b[w.name]! - a[w.name]!}`).join(', ');
  const probes = await freePort();
  const k0 = await writesByKind();
  const writes0 = await flowWrites();
  const t0 = Date.now();
  const lat0 = await latencies();
  const prof = process.env.BENCH_CPU_PROF;
  // BENCH_HEAP_SNAPSHOT=DIR: a heap snapshot of the operator when it has converged (where its peak is), for
  // `node dist/bench/heapsummary.js FILE`.
  const heap = process.env.BENCH_HEAP_SNAPSHOT ? path.resolve(process.env.BENCH_HEAP_SNAPSHOT) : undefined;
  // BENCH_OPERATOR_WORKERS=N: the same operator with N reconcile workers instead of its default (an experiment).
  const workers = process.env.BENCH_OPERATOR_WORKERS;
  const entry = workers
    ? [path.join(REPO, 'dist', 'bench', 'support', 'operator-workers.js'), '--workers', workers]
    : [path.join(REPO, 'bin', 'srec.js'), 'operator'];
  if (workers) progress(B, `experiment: the operator with ${workers} workers (bench/support/operator-workers.js)`);
  // BENCH_OPERATOR_NODE_OPTIONS="--max-semi-space-size=..." : V8 flags for the operator alone (an experiment).
  const v8 = (process.env.BENCH_OPERATOR_NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean);
  if (v8.length) progress(B, `experiment: the operator under ${v8.join(' ')}`);
  const op = child(process.execPath, [...v8, ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(prof)}`] : []), ...(heap ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${heap}`] : []), ...entry, '--kubeconfig', operatorKubeconfig, '--probes', `127.0.0.1:${probes}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, SREC_LOG_LEVEL: 'error' },
    // A signalled heap snapshot is written to the working directory.
    ...(heap ? { cwd: (await fsp.mkdir(heap, { recursive: true }), heap) } : {}),
  });
  let opErr = '';
  op.stderr?.on('data', (b: Buffer) => (opErr = (opErr + b.toString()).slice(-4000)));
  const pid = op.pid ?? 0;
  let maxRss = 0;
  const sampler = setInterval(() => {
    try {
      maxRss = Math.max(maxRss, rssBytes(pid));
    } catch {
      // gone
    }
  }, 500);
  // The default run has to fit in about 3 minutes: past the deadline the count so far is reported.
  const timeoutSeconds = Number(process.env.BENCH_OPERATOR_TIMEOUT_SECONDS ?? 150);
  const deadline = Date.now() + timeoutSeconds * 1000;
  let state = { done: 0, children: 0, statuses: 0 };
  let lastLog = 0;
  while (state.done < count && Date.now() < deadline) {
    if (op.exitCode !== null) throw new Error(`the operator exited with ${op.exitCode}: ${opErr}`);
    await sleep(2000);
    state = await converged();
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      progress(B, `${((Date.now() - t0) / 1000).toFixed(0)} s: ${state.children}/${count} have every child, ${state.done} of those a status; operator RSS ${(rssBytes(pid) / MiB).toFixed(0)} MiB`);
    }
  }
  const convergeSeconds = (Date.now() - t0) / 1000;
  const all = state.done === count;
  const kc1 = await writesByKind();
  const writesConverge = (await flowWrites()) - writes0;
  const lat1 = await latencies();
  const apiLatency = Object.keys(lat1)
    .filter((v) => (lat1[v]!.count - (lat0[v]?.count ?? 0)) > 0)
    .map((v) => `${v} ${((1000 * (lat1[v]!.sum - (lat0[v]?.sum ?? 0))) / (lat1[v]!.count - (lat0[v]?.count ?? 0))).toFixed(0)} ms`)
    .join(', ');
  progress(B, `API server mean request latency meanwhile (all clients): ${apiLatency}`);
  progress(B, `${all ? 'converged' : 'deadline'}: ${state.done}/${count} in ${convergeSeconds.toFixed(1)} s with ${writesConverge} writes`);
  if (heap) await heapSnapshot(heap, pid);
  emit({
    bench: B,
    metric: 'time_to_converge',
    value: all ? convergeSeconds : null,
    unit: 's',
    baseline: null,
    ratio: null,
    target: '<= 60 s',
    met: all && convergeSeconds <= 60,
    note: all
      ? `${workers ? `[experiment: ${workers} workers] ` : ''}${v8.length ? `[experiment: ${v8.join(' ')}] ` : ''}${count}/${count} SessionRecordings with every child (${kinds.length} objects each) and a status, from a cold operator start; ${writesConverge} API writes by the operator on the way (${diff(k0, kc1)}); mean API latency meanwhile ${apiLatency}`
      : `not converged within ${timeoutSeconds} s (BENCH_OPERATOR_TIMEOUT_SECONDS=900 waits longer): ${state.done}/${count} with every child and a status, ${state.children} with every child; ${writesConverge} writes (${diff(k0, kc1)})`,
  });
  emit({ bench: B, metric: 'with_children_per_second', value: state.children / convergeSeconds, unit: 'SessionRecordings/s', baseline: null, ratio: null, note: `${state.children} had every child after ${convergeSeconds.toFixed(0)} s (${state.done} a status too); 1000 in 60 s needs 16.7/s` });

  // ---- idle: once the world has settled (pods up, statuses final), count what the operator writes ----
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${probes}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith(name)).reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  };
  const own = async () => (await metric('srec_operator_applies_total')) + (await metric('srec_operator_status_patches_total')) + (await metric('srec_operator_deletes_total'));
  if (all) {
    // Settled: no SessionRecording changed for 15 s (every status final), at most 5 minutes.
    const settleUntil = Date.now() + 300_000;
    let prev = '';
    let stableSince = Date.now();
    let ready = 0;
    let stable = false;
    while (Date.now() < settleUntil) {
      const srs = await get<{ items?: Meta[] }>('/apis/recording.privx.io/v1alpha1/sessionrecordings');
      const rvs = (srs.items ?? []).map((o) => o.metadata.resourceVersion).join(',');
      ready = (srs.items ?? []).filter((o) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
      if (rvs !== prev) {
        prev = rvs;
        stableSince = Date.now();
      } else if (Date.now() - stableSince >= 15_000) {
        stable = true;
        break;
      }
      await sleep(3000);
    }
    const settled = stable ? `no SessionRecording had changed for 15 s, ${((Date.now() - t0) / 1000).toFixed(0)} s after the start` : `SessionRecordings were still changing 5 minutes after convergence (kwok starting pods, statuses following)`;
    progress(B, `${settled}; ${ready}/${count} Ready; idle window ${idleSeconds} s`);
    const k1 = await writesByKind();
    const w1 = await flowWrites();
    const own1 = await own();
    await sleep(idleSeconds * 1000);
    const k2 = await writesByKind();
    const idleWrites = (await flowWrites()) - w1;
    const ownIdle = (await own()) - own1;
    emit({ bench: B, metric: 'idle_writes', value: idleWrites, unit: 'writes', baseline: null, ratio: null, target: '0 writes in the idle window', met: idleWrites === 0, note: `mutating requests by the operator's ServiceAccount, counted by the API server (FlowSchemas ${FLOW_SCHEMA}-*), over ${idleSeconds} s from when ${settled} (writes between convergence and then: ${diff(kc1, k1)}; ${ready}/${count} Ready; the issue says 5 min: BENCH_OPERATOR_IDLE_SECONDS=300): ${diff(k1, k2)}; the operator's own apply/status-patch/delete counters: ${ownIdle}` });
  } else {
    emit({ bench: B, metric: 'idle_writes', value: null, unit: 'writes', baseline: null, ratio: null, target: '0 writes in the idle window', met: false, note: 'not measured: the SessionRecordings had not converged by the deadline' });
  }
  clearInterval(sampler);
  const rssNow = rssBytes(pid);
  maxRss = Math.max(maxRss, rssNow);
  await stopChild(op, 20000);
  emit({ bench: B, metric: 'rss', value: maxRss / MiB, unit: 'MiB', baseline: null, ratio: null, target: '<= 200 MB', met: maxRss <= 200e6, note: `max RSS of srec operator from start to the end of the run, with ${count} SessionRecordings (${state.done} converged); at the end ${(rssNow / MiB).toFixed(0)} MiB` });

  // ---- clean up: the namespaces (the cluster itself is stopped unless BENCH_KEEP_CLUSTER=1) ----
  if (process.env.BENCH_KEEP_CLUSTER === '1') {
    await k(['delete', 'namespace', '--wait=false', ...Array.from({ length: namespaces }, (_, n) => `srec-bench-${runId}-${n}`)]).catch(() => '');
  } else {
    progress(B, 'stopping the bench control plane');
    await runText('bash', [path.join(REPO, 'e2e', 'cluster', 'down.sh')], true);
  }
}

/** Runs a command from the repository root; `echo` passes its stderr on (up.sh's progress). */
function runText(cmd: string, args: string[], echo = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => {
      err = (err + b.toString()).slice(-20_000);
      if (echo) process.stderr.write(b);
    });
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${err}`))));
  });
}

/** Signals the operator to write a heap snapshot into dir (it runs with --heapsnapshot-signal) and waits for it. */
async function heapSnapshot(dir: string, pid: number): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  const before = new Set(await fsp.readdir(dir));
  const rss = rssBytes(pid);
  process.kill(pid, 'SIGUSR2');
  const until = Date.now() + 300_000;
  for (;;) {
    const made = (await fsp.readdir(dir)).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    // Written in one go once done: the size stops changing.
    if (made.length) {
      const f = path.join(dir, made[0]!);
      const a = (await fsp.stat(f)).size;
      await sleep(2000);
      if ((await fsp.stat(f)).size === a && a > 0) {
        progress(B, `heap snapshot at convergence (RSS ${(rss / MiB).toFixed(0)} MiB): ${f}; read it with node dist/bench/heapsummary.js ${f}`);
        return;
      }
    }
    if (Date.now() > until) throw new Error(`no heap snapshot in ${dir} after 300 s`);
    await sleep(1000);
  }
}
