// The chart's pods for real: the image built from the Dockerfile (npm run image:build), run by the real
// node's kubelet and containerd under Pod Security `restricted`, a real ssh session through the recorder
// pod's Service to a target sshd, recorded onto a local PV that stands in for NFS, sensitive events through
// the real syslog pod to a SIEM listener, a CR change rolling the pods, a recorder killed mid-session, and
// the probes and metrics of the real containers.
//
// Runs where cluster:up brought the real node up (.cluster/cluster.env SREC_REAL_NODE=1); elsewhere it
// is skipped with the reason, or fails with it when SREC_REAL_NODE_REQUIRED=1 (CI on this machine).
import { execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { makeKey, sshArgs, startSshd, type KeyPair, type Sshd } from '../testing/openssh.js';
import { clusterEnv, clusterTools, deleteFreshNamespaces, freshNamespace, kubeconfigPath, REPO_ROOT, useCluster, waitFor } from './support/cluster.js';

const run = promisify(execFile);
const env = clusterEnv();
const real = env.SREC_REAL_NODE === '1';
const GROUP = 'recording.privx.io';
const CR = 'real';
const SRec = (obj: object): object => ({ apiVersion: `${GROUP}/v1alpha1`, kind: 'SessionRecording', ...obj });

if (!real) {
  const why = env.SREC_REAL_NODE_REASON ?? 'the cluster has no real node (.cluster/cluster.env)';
  if (process.env.SREC_REAL_NODE_REQUIRED === '1') {
    test('the real node is up (SREC_REAL_NODE_REQUIRED=1)', () => {
      throw new Error(`the real node did not come up: ${why}. See .cluster/logs/ (node.sh names the failed step).`);
    });
  } else {
    process.stderr.write(`[e2e] real-node tests skipped: ${why}\n`);
  }
}
const describeReal = real ? describe : describe.skip;

/** `nsenter --net=<node netns> <cmd>`: what the node itself sees (ClusterIPs, pod IPs). */
function inNode(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
  return run('nsenter', [`--net=${env.SREC_NODE_NETNS}`, '--', cmd, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 });
}

async function srec(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('node', [path.join(REPO_ROOT, 'bin', 'srec.js'), ...args], { maxBuffer: 16 << 20 });
    return { code: 0, ...r };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** A SIEM: every syslog message a TCP client sends (octet-counted, RFC 6587, or one a line), in order. */
function siemListener(host: string): Promise<{ port: number; lines: string[]; close: () => Promise<void> }> {
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const counted = /^(\d+) /.exec(buf.subarray(0, 12).toString('latin1'));
        if (counted) {
          const start = counted[0].length;
          const end = start + Number(counted[1]);
          if (buf.length < end) break;
          lines.push(buf.subarray(start, end).toString('utf8'));
          buf = buf.subarray(end);
          continue;
        }
        const nl = buf.indexOf(10);
        if (nl < 0) break;
        lines.push(buf.subarray(0, nl).toString('utf8'));
        buf = buf.subarray(nl + 1);
      }
    });
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) =>
    server.listen(0, host, () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        lines,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    ),
  );
}

let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let custom: CustomObjectsApi;
let ns: string;
let image: string;
let work: string;
let share: string;
let person: KeyPair;
let sshd: Sshd;
let siem: Awaited<ReturnType<typeof siemListener>>;
let serviceIP: string;
let release: string;

async function recorderPods(): Promise<V1Pod[]> {
  const list = await core.listNamespacedPod({ namespace: ns, labelSelector: `app.kubernetes.io/component=recorder` });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}
async function readyPod(component: string): Promise<V1Pod | undefined> {
  const list = await core.listNamespacedPod({ namespace: ns, labelSelector: `app.kubernetes.io/component=${component}` });
  const live = list.items.filter((p) => !p.metadata?.deletionTimestamp);
  if (live.length !== 1) return undefined;
  const p = live[0]!;
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
}

/** One ssh session through the recorder's Service, from the node (a ClusterIP is only routed there). */
/** A command through the recorder's Service; a failure says what ssh printed and what the recorder logged. */
async function sshThroughRecorder(command: string, timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
  try {
    return await inNode('ssh', [...sshArgs({ port: 2222, identity: person.privatePath, destination: `root@target@${serviceIP}` }, ['-o', 'LogLevel=VERBOSE']), command], timeoutMs);
  } catch (err) {
    const e = err as Error & { stderr?: string };
    const pod = await readyPod('recorder').catch(() => undefined);
    const logs = pod?.metadata?.name
      ? await core.readNamespacedPodLog({ name: pod.metadata.name, namespace: ns, tailLines: 40 }).catch((x: unknown) => `(cannot read its log: ${String(x)})`)
      : '(no Ready recorder pod)';
    throw new Error(`ssh through the recorder's Service failed: ${e.message}\nssh said:\n${e.stderr ?? ''}\nthe recorder logged:\n${logs}`);
  }
}

/**
 * Until the recorder's Service leads to the Ready recorder pod, and only to it, from the node. A pod is
 * Ready before its EndpointSlice and kube-proxy's rules say so; until then kube-proxy rejects connections
 * to the Service, and after a rollout its rules may still lead to the old pod's address, where a
 * connection times out. So: kube-proxy's DNAT rules for the Service name exactly the pod's address, then
 * the SSH banner comes back three times in a row.
 */
async function serviceAnswers(): Promise<void> {
  const podIP = (await waitFor('a Ready recorder pod', () => readyPod('recorder'), { timeoutMs: 60_000, intervalMs: 500 })).status?.podIP;
  await waitFor(`kube-proxy's rules for Service ${serviceIP}:2222 to lead only to the pod at ${podIP}`, async () => {
    const nat = await inNode('iptables-save', ['-t', 'nat'], 10_000).catch(() => undefined);
    const to = (nat?.stdout ?? '').split('\n')
      .filter((l) => l.includes(`${ns}/${CR}-recorder:ssh`) && l.includes('-j DNAT'))
      .map((l) => /--to-destination (\S+)/.exec(l)?.[1]);
    return to.length === 1 && to[0] === `${podIP}:2222`;
  }, { timeoutMs: 90_000, intervalMs: 500 });
  let inARow = 0;
  await waitFor(`the SSH banner from Service ${serviceIP}:2222 three times in a row`, async () => {
    const r = await inNode('timeout', ['3', 'bash', '-c', `exec 3<>/dev/tcp/${serviceIP}/2222 && head -c 7 <&3`], 10_000).catch(() => undefined);
    inARow = r?.stdout === 'SSH-2.0' ? inARow + 1 : 0;
    return inARow >= 3;
  }, { timeoutMs: 90_000, intervalMs: 300 });
}

async function sessionsOnShare(): Promise<Array<{ id: string; status: string; targetUser?: string }>> {
  const r = await srec(['sessions', '--data', share, '--json']);
  if (r.code !== 0) throw new Error(`srec sessions exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; status: string });
}

describeReal('the chart on the real node', () => {
  beforeAll(async () => {
    ({ kc } = await useCluster());
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);

    // GIVEN the image built from the Dockerfile and loaded into the node (warm: its layers are cached)
    const built = await run('bash', [path.join(REPO_ROOT, 'scripts', 'image-build.sh')], { cwd: REPO_ROOT, maxBuffer: 64 << 20, timeout: 25 * 60_000 });
    image = built.stdout.trim().split('\n').pop() ?? '';
    expect(image).toMatch(/^[\w./-]+:[\w.-]+$/);

    // AND a namespace under `restricted`, whose pods go to the real node (PodNodeSelector, PodTolerationRestriction)
    const [taintKey, taintRest] = (env.SREC_NODE_TAINT ?? '').split('=');
    ns = await freshNamespace(
      kc,
      'real-node',
      { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' },
      {
        'scheduler.alpha.kubernetes.io/node-selector': 'type=real',
        'scheduler.alpha.kubernetes.io/defaultTolerations': JSON.stringify([{ key: taintKey, operator: 'Exists', effect: taintRest?.split(':')[1] }]),
      },
    );

    // AND a target sshd and a SIEM on the host's end of the node's veth (pods reach it; nothing else does)
    work = mkdtempSync(path.join(os.tmpdir(), 'srec-real-node-'));
    person = await makeKey(work, 'alice');
    const login = await makeKey(work, 'target-login');
    sshd = await startSshd({ authorizedKeys: [login.publicLine], listenAddress: env.SREC_NODE_HOST_IP });
    siem = await siemListener(env.SREC_NODE_HOST_IP!);

    // AND a local PV standing in for the NFS share, owned by the image's user
    share = path.join(work, 'share');
    await run('mkdir', ['-m', '0770', share]);
    chownSync(share, 65532, 65532);
    await core.createPersistentVolume({
      body: {
        metadata: { name: `${ns}-share`, labels: { 'srec.e2e/test': 'true' } },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName: '',
          local: { path: share },
          claimRef: { namespace: ns, name: 'share' },
          nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [env.SREC_NODE_NAME!] }] }] } },
        },
      },
    });
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: { metadata: { name: 'share' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: '', volumeName: `${ns}-share`, resources: { requests: { storage: '1Gi' } } } },
    });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'users' }, stringData: { 'users.yaml': `- name: alice\n  authorizedKeys: ["${person.publicLine}"]\n` } },
    });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'target-login' }, stringData: { username: 'root', privateKey: readFileSync(login.privatePath, 'utf8') } },
    });

    // WHEN the chart is installed with that image, and a SessionRecording is created
    const [repository, tag] = [image.slice(0, image.lastIndexOf(':')), image.slice(image.lastIndexOf(':') + 1)];
    const { helm, kubectl } = clusterTools();
    // The CRD as the other tests apply it (the srec-crds chart's own test takes it over and gives it back).
    await run(kubectl, ['--kubeconfig', kubeconfigPath(), 'apply', '--server-side', '--force-conflicts', '-f', path.join(REPO_ROOT, 'crds', 'sessionrecordings.recording.privx.io.yaml')]);
    await run(kubectl, ['--kubeconfig', kubeconfigPath(), 'wait', '--for=condition=Established', '--timeout=60s', 'crd/sessionrecordings.recording.privx.io']);
    // Its own release name: the chart's ClusterRoles are named after the release.
    release = `${ns}-srec`;
    await run(helm, ['--kubeconfig', kubeconfigPath(), 'install', release, path.join(REPO_ROOT, 'charts', 'srec'), '--namespace', ns,
      '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`, '--set', 'operator.replicas=1',
      '--set', 'operator.leaderElection.enabled=false', '--set', `operator.watchNamespace=${ns}`, '--wait', '--timeout', '180s'], { timeout: 200_000 });
    await custom.createNamespacedCustomObject({
      group: GROUP, version: 'v1alpha1', namespace: ns, plural: 'sessionrecordings',
      body: SRec({
        metadata: { name: CR, namespace: ns },
        spec: {
          storage: { existingClaim: 'share' },
          recorder: {
            replicas: 1,
            usersSecret: 'users',
            hosts: [{ name: 'target', address: env.SREC_NODE_HOST_IP, port: sshd.port, hostKeys: [sshd.hostKeyLine], recording: true, credentialsSecret: 'target-login' }],
          },
          audit: { sshEvents: { enabled: true, events: ['stdin', 'stdout'] } },
          syslog: { enabled: true, audit: { to: 'stdout', sensitive: { to: `@@${env.SREC_NODE_HOST_IP}:${siem.port}` } } },
        },
      }),
    });
    await waitFor('a Ready recorder pod and a Ready syslog pod', async () => (await readyPod('recorder')) && (await readyPod('syslog')), { timeoutMs: 180_000, intervalMs: 1000 });
    const svc = await core.readNamespacedService({ name: `${CR}-recorder`, namespace: ns });
    serviceIP = svc.spec?.clusterIP ?? '';
    await serviceAnswers();
  }, 30 * 60_000);

  afterAll(async () => {
    await sshd?.stop();
    await siem?.close();
    if (release) await run(clusterTools().helm, ['--kubeconfig', kubeconfigPath(), 'uninstall', release, '--namespace', ns, '--wait', '--timeout', '60s']).catch(() => undefined);
    await deleteFreshNamespaces();
    if (ns) await core.deletePersistentVolume({ name: `${ns}-share` }).catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('GIVEN the chart WHEN its pods run THEN every one runs the built image on the real node, as non-root, under restricted', async () => {
    const pods = (await core.listNamespacedPod({ namespace: ns })).items;
    expect(pods.length).toBeGreaterThanOrEqual(3); // operator, recorder, syslog
    for (const p of pods) {
      expect(p.spec?.nodeName).toBe(env.SREC_NODE_NAME);
      for (const c of p.spec?.containers ?? []) expect(c.image).toBe(image);
      for (const s of p.status?.containerStatuses ?? []) expect(s.ready).toBe(true);
    }
    const nsObj = await core.readNamespace({ name: ns });
    expect(nsObj.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  test('GIVEN the recorder pod WHEN a person runs ssh through its Service THEN the target answers and the session is on the share, intact and searchable', async () => {
    const marker = `real-pod-${Date.now()}`;
    const r = await sshThroughRecorder(`echo ${marker}; id -u`);
    expect(r.stdout).toContain(marker);
    expect(r.stdout).toMatch(/^0$/m); // root on the target
    const listed = await waitFor('the session on the share', async () => {
      const s = await sessionsOnShare();
      return s.length >= 1 && s.every((x) => x.status === 'complete') ? s : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    expect(listed).toHaveLength(1);
    // The recorder wrote as the image's user (uid 65532), onto the PV, not as root (before the
    // auditor tools below, run here as root, add their own files beside it).
    const files = readdirSync(share, { recursive: true }).map((f) => path.join(share, String(f))).filter((f) => statSync(f).isFile());
    expect(files.length).toBeGreaterThan(0);
    expect([...new Set(files.map((f) => statSync(f).uid))]).toEqual([65532]);
    const verify = await srec(['verify', '--data', share]);
    expect(verify.code).toBe(0);
    const search = await srec(['search', '--data', share, marker]);
    expect(search.code).toBe(0);
    expect(search.stdout).toContain(marker);
  });

  test('GIVEN sensitive events sent to a SIEM WHEN a session prints something THEN the real syslog pod forwards it there', async () => {
    const marker = `sensitive-${Date.now()}`;
    await sshThroughRecorder(`echo ${marker}`);
    const line = await waitFor('the sensitive stdout event at the SIEM', () => siem.lines.find((l) => l.includes(marker) && l.includes('SSH-PRIVX-SENSITIVE-AUDIT')), { timeoutMs: 30_000, intervalMs: 250 });
    const json = JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>;
    expect(json['audit-exposure']).toBe('SSH-PRIVX-SENSITIVE-AUDIT');
    expect(json.event).toBe('stdout');
    expect(json.targetUsername).toBe('root');
    expect(json.username).toBe('alice');
  });

  test('GIVEN the real containers WHEN their probe and metrics ports are asked THEN they answer', async () => {
    const rec = await readyPod('recorder');
    const ready = await inNode('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${rec!.status!.podIP}:9090/readyz`]);
    expect(ready.stdout).toBe('200');
    const metrics = await inNode('curl', ['-sf', `http://${rec!.status!.podIP}:9090/metrics`]);
    expect(metrics.stdout).toMatch(/^srec_\w+/m);
    const op = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/component=operator' })).items[0];
    const opMetrics = await inNode('curl', ['-sf', `http://${op!.status!.podIP}:8080/metrics`]);
    expect(opMetrics.stdout).toMatch(/^srec_\w+/m);
    const opReady = await inNode('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${op!.status!.podIP}:8080/readyz`]);
    expect(opReady.stdout).toBe('200');
  });

  test('GIVEN a running recorder WHEN its process is killed mid-session THEN the restarted container recovers the spooled session onto the share', async () => {
    const before = (await sessionsOnShare()).length;
    const pod = (await readyPod('recorder'))!;
    const restarts = pod.status?.containerStatuses?.[0]?.restartCount ?? 0;
    const marker = `killed-${Date.now()}`;
    // GIVEN a session in progress (its recording is in the pod's spool, an emptyDir)
    const child = spawn('nsenter', [`--net=${env.SREC_NODE_NETNS}`, '--', 'ssh', ...sshArgs({ port: 2222, identity: person.privatePath, destination: `root@target@${serviceIP}` }), `echo ${marker}; sleep 120`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const ended = new Promise<void>((r) => child.once('exit', () => r()));
    await waitFor('the session to print its marker', () => out.includes(marker), { timeoutMs: 30_000, intervalMs: 200 });
    // WHEN the recorder's process dies (SIGKILL from the node: no chance to finish the session)
    const cid = (pod.status?.containerStatuses?.[0]?.containerID ?? '').replace(/^containerd:\/\//, '');
    const tasks = await run('ctr', ['-a', env.SREC_NODE_CONTAINERD_SOCK!, '-n', 'k8s.io', 'tasks', 'ls']);
    const pid = tasks.stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[0] === cid)?.[1];
    expect(pid).toMatch(/^\d+$/);
    process.kill(Number(pid), 'SIGKILL');
    await ended;
    // THEN the kubelet restarts it in the same pod, and it moves the spooled session to the share, marked recovered
    await waitFor('the recorder container restarted and Ready', async () => {
      const p = await readyPod('recorder');
      return p && p.metadata?.uid === pod.metadata?.uid && (p.status?.containerStatuses?.[0]?.restartCount ?? 0) > restarts;
    }, { timeoutMs: 120_000, intervalMs: 1000 });
    await serviceAnswers();
    const recovered = await waitFor('the recovered session on the share', async () => {
      const s = await sessionsOnShare();
      return s.length > before ? s.find((x) => x.status === 'recovered') : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1000 });
    const search = await srec(['search', '--data', share, '--session', recovered.id, marker]);
    expect(search.code).toBe(0);
    expect(child.exitCode).not.toBe(0);
  });

  test('GIVEN the SessionRecording WHEN its recorder config changes THEN the Deployment rolls to a new, Ready pod', async () => {
    const old = (await readyPod('recorder'))!;
    await custom.patchNamespacedCustomObject({
      group: GROUP, version: 'v1alpha1', namespace: ns, plural: 'sessionrecordings', name: CR,
      body: [{ op: 'replace', path: '/spec/audit/sshEvents/events', value: ['stdin', 'stdout', 'stderr'] }],
    });
    const fresh = await waitFor('a new Ready recorder pod, the old one gone', async () => {
      const pods = await recorderPods();
      const p = await readyPod('recorder');
      return p && p.metadata?.uid !== old.metadata?.uid && pods.length === 1 ? p : undefined;
    }, { timeoutMs: 180_000, intervalMs: 1000 });
    expect(fresh.metadata?.annotations).not.toEqual(old.metadata?.annotations);
    await serviceAnswers();
    const marker = `rolled-${Date.now()}`;
    expect((await sshThroughRecorder(`echo ${marker}`)).stdout).toContain(marker);
    const dep = await apps.readNamespacedDeployment({ name: `${CR}-recorder`, namespace: ns });
    expect(dep.status?.readyReplicas).toBe(1);
  });

  test("GIVEN the node's Services WHEN the host is looked at THEN kube-proxy's rules and the node's mounts are in the node's namespaces only", async () => {
    expect(existsSync(env.SREC_NODE_NETNS!)).toBe(true);
    expect((await inNode('iptables-save', ['-t', 'nat'])).stdout).toContain(`${ns}/${CR}-recorder:ssh`);
    expect((await run('iptables-save', ['-t', 'nat'])).stdout).not.toContain('KUBE-SERVICES');
    expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain('srec-node-run');
    expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain('/var/lib/kubelet');
  });
});
