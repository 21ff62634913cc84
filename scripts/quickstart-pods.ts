// `npm start` where the local cluster's real node is up: the chart installed with the image built from
// the Dockerfile, so the operator, the recorder and rsyslogd run as real pods on that node. The target sshd
// and a SIEM stand-in listen on the host's end of the node's veth (the pods reach them there); the share is
// a local PV in .srec-quickstart/share. One demo session is recorded through the recorder pod's Service and
// searched, then it prints how to connect and waits for Ctrl-C, which uninstalls what it installed.
//
// scripts/start.sh chooses this or scripts/quickstart.ts (local processes) and says why.
import { execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, promises as fsp, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { makeKey, sshArgs, startSshd } from '../testing/openssh.js';

// Self-contained (no e2e/ imports): scripts/ is compiled into the image too, and the image's build
// context leaves e2e/ out.
const run = promisify(execFile);
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** KEY=value lines of .cluster/cluster.env, written by cluster:up. */
function clusterEnv(): Record<string, string> {
  const f = path.join(REPO_ROOT, '.cluster', 'cluster.env');
  if (!existsSync(f)) return {};
  return Object.fromEntries(readFileSync(f, 'utf8').split('\n').flatMap((l) => {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(l.trim());
    return m ? [[m[1], m[2]]] : [];
  }));
}
const kubeconfigPath = (): string => process.env.SREC_KUBECONFIG ?? path.join(REPO_ROOT, '.cluster', 'kubeconfig');

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, { timeoutMs = 60_000, intervalMs = 250 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
const STATE = process.env.SREC_QUICKSTART_DIR ?? path.join(REPO_ROOT, '.srec-quickstart');
const NAMESPACE = process.env.SREC_QUICKSTART_NAMESPACE ?? 'srec-demo-pods';
const RELEASE = 'srec-demo';
const CR = 'demo';
const ONESHOT = process.env.SREC_QUICKSTART_ONESHOT === '1';
const SREC = path.join(REPO_ROOT, 'bin', 'srec.js');
const say = (msg: string): void => void process.stdout.write(`\x1b[1m==>\x1b[0m ${msg}\n`);

async function main(): Promise<void> {
  const env = clusterEnv();
  if (env.SREC_REAL_NODE !== '1') throw new Error('the real node is not up (.cluster/cluster.env); scripts/quickstart.ts runs without it');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const kube = ['--kubeconfig', kubeconfigPath()];
  const helm = env.SREC_HELM ?? 'helm';
  const kubectl = env.SREC_KUBECTL ?? 'kubectl';
  await fsp.rm(STATE, { recursive: true, force: true });
  const keys = path.join(STATE, 'keys');
  const share = path.join(STATE, 'share');
  await fsp.mkdir(keys, { recursive: true, mode: 0o700 });
  await fsp.mkdir(share, { mode: 0o770 });
  chownSync(share, 65532, 65532); // the image's user writes the recordings

  say('building the image (npm run image:build) and loading it into the real node');
  const built = await run('bash', [path.join(REPO_ROOT, 'scripts', 'image-build.sh')], { cwd: REPO_ROOT, maxBuffer: 64 << 20 });
  const image = built.stdout.trim().split('\n').pop() ?? '';
  say(`image ${image}`);

  const hostIP = env.SREC_NODE_HOST_IP!;
  const you = await makeKey(keys, 'you');
  const login = await makeKey(keys, 'target_login');
  say(`starting sshd as the target host "db-1" on ${hostIP}`);
  const sshd = await startSshd({ authorizedKeys: [login.publicLine], listenAddress: hostIP, dir: path.join(STATE, 'sshd') });
  let sensitive = 0;
  const siem = net.createServer((s) => s.on('data', (b: Buffer) => (sensitive += b.toString('latin1').split('SSH-PRIVX-SENSITIVE-AUDIT').length - 1)));
  await new Promise<void>((r) => siem.listen(0, hostIP, () => r()));
  const siemPort = (siem.address() as net.AddressInfo).port;

  say(`installing the chart into ${NAMESPACE} (Pod Security restricted; pods on node ${env.SREC_NODE_NAME})`);
  const [taintKey, taintRest] = (env.SREC_NODE_TAINT ?? '').split('=');
  const objects = [
    {
      apiVersion: 'v1', kind: 'Namespace',
      metadata: {
        name: NAMESPACE,
        labels: { 'pod-security.kubernetes.io/enforce': 'restricted' },
        annotations: {
          'scheduler.alpha.kubernetes.io/node-selector': 'type=real',
          'scheduler.alpha.kubernetes.io/defaultTolerations': JSON.stringify([{ key: taintKey, operator: 'Exists', effect: taintRest?.split(':')[1] }]),
        },
      },
    },
    {
      apiVersion: 'v1', kind: 'PersistentVolume',
      metadata: { name: `${NAMESPACE}-share` },
      spec: {
        capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: '',
        local: { path: share }, claimRef: { namespace: NAMESPACE, name: 'share' },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [env.SREC_NODE_NAME] }] }] } },
      },
    },
    { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'share', namespace: NAMESPACE }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: '', volumeName: `${NAMESPACE}-share`, resources: { requests: { storage: '1Gi' } } } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'recorder-users', namespace: NAMESPACE }, stringData: { 'users.yaml': `- name: you\n  authorizedKeys: ["${you.publicLine}"]\n` } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db-1-login', namespace: NAMESPACE }, stringData: { username: 'root', privateKey: readFileSync(login.privatePath, 'utf8') } },
  ];
  await new Promise<void>((resolve, reject) => {
    const p = spawn(kubectl, [...kube, 'apply', '-f', '-'], { stdio: ['pipe', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kubectl apply exited ${code}`))));
    p.stdin.end(objects.map((o) => JSON.stringify(o)).join('\n'));
  });
  const [repository, tag] = [image.slice(0, image.lastIndexOf(':')), image.slice(image.lastIndexOf(':') + 1)];
  // The CRD's own chart first (it takes over a CRD that an earlier run, or the tests, applied with kubectl).
  await run(helm, [...kube, 'upgrade', '--install', 'srec-crds', path.join(REPO_ROOT, 'charts', 'srec-crds'), '--namespace', NAMESPACE, '--take-ownership', '--wait', '--timeout', '60s']);
  await run(helm, [...kube, 'upgrade', '--install', RELEASE, path.join(REPO_ROOT, 'charts', 'srec'), '--namespace', NAMESPACE,
    '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`, '--set', 'operator.replicas=1',
    '--set', 'operator.leaderElection.enabled=false', '--set', `operator.watchNamespace=${NAMESPACE}`, '--wait', '--timeout', '180s']);
  await custom.createNamespacedCustomObject({
    group: 'recording.privx.io', version: 'v1alpha1', namespace: NAMESPACE, plural: 'sessionrecordings',
    body: {
      apiVersion: 'recording.privx.io/v1alpha1', kind: 'SessionRecording', metadata: { name: CR, namespace: NAMESPACE },
      spec: {
        storage: { existingClaim: 'share' },
        recorder: { replicas: 1, usersSecret: 'recorder-users', hosts: [{ name: 'db-1', address: hostIP, port: sshd.port, hostKeys: [sshd.hostKeyLine], recording: true, fileTransfers: true, credentialsSecret: 'db-1-login' }] },
        audit: { sshEvents: { enabled: true, events: ['stdin', 'stdout', 'stderr'] } },
        syslog: { enabled: true, audit: { to: 'stdout', sensitive: { to: `@@${hostIP}:${siemPort}` } } },
      },
    },
  });
  say('waiting for the recorder and syslog pods to be Ready');
  await waitFor('Ready recorder and syslog pods', async () => {
    const pods = (await core.listNamespacedPod({ namespace: NAMESPACE })).items.filter((p: V1Pod) => !p.metadata?.deletionTimestamp);
    const ready = (c: string): boolean => pods.some((p: V1Pod) => p.metadata?.labels?.['app.kubernetes.io/component'] === c && p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
    return ready('recorder') && ready('syslog');
  }, { timeoutMs: 180_000, intervalMs: 1000 });
  const serviceIP = (await core.readNamespacedService({ name: `${CR}-recorder`, namespace: NAMESPACE })).spec?.clusterIP ?? '';
  process.stdout.write((await run(kubectl, [...kube, '-n', NAMESPACE, 'get', 'pods', '-o', 'wide'])).stdout);

  // A pod is Ready before its EndpointSlice and kube-proxy's rules say so; until then the Service refuses.
  await waitFor(`the recorder's Service ${serviceIP}:2222 to answer`, async () => {
    const r = await run('nsenter', [`--net=${env.SREC_NODE_NETNS}`, '--', 'timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${serviceIP}/2222 && head -c 7 <&3`]).catch(() => undefined);
    return r?.stdout === 'SSH-2.0';
  }, { timeoutMs: 90_000, intervalMs: 500 });
  const target = { port: 2222, identity: you.privatePath, destination: `root@db-1@${serviceIP}` };
  say(`recording a demo session through the recorder pod's Service ${serviceIP}:2222 (from the node's network namespace)`);
  const demo = await run('nsenter', [`--net=${env.SREC_NODE_NETNS}`, '--', 'ssh', ...sshArgs(target), 'echo quickstart-demo $((6*7))']);
  if (!demo.stdout.includes('quickstart-demo 42')) throw new Error(`the demo session did not run as expected: ${demo.stderr}`);
  await waitFor('the recording on the share', async () => (await run('node', [SREC, 'sessions', '--data', share, '--json'])).stdout.trim() || undefined, { timeoutMs: 30_000 });
  process.stdout.write((await run('node', [SREC, 'sessions', '--data', share])).stdout);
  process.stdout.write((await run('node', [SREC, 'search', '--data', share, 'quickstart-demo'])).stdout);
  await waitFor('sensitive events at the SIEM stand-in', () => sensitive > 0 || undefined, { timeoutMs: 15_000 }).catch(() => undefined);
  say(`the SIEM stand-in on ${hostIP}:${siemPort} received ${sensitive} SSH-PRIVX-SENSITIVE-AUDIT events from the syslog pod`);
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  process.stdout.write([
    '',
    'The system runs as real pods. Connect through the recorder pod (from the node\'s network namespace, where Service IPs are routed):',
    '',
    `  nsenter --net=${env.SREC_NODE_NETNS} -- ssh -F /dev/null -i ${rel(you.privatePath)} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -p 2222 root@db-1@${serviceIP}`,
    '',
    `Recordings land in   ${rel(share)}`,
    `The pods:            kubectl --kubeconfig ${rel(kubeconfigPath())} -n ${NAMESPACE} get srec,deploy,pods,svc,pvc`,
    '',
    ONESHOT ? 'SREC_QUICKSTART_ONESHOT=1: stopping.' : 'Ctrl-C uninstalls the demo (the cluster itself stays as start.sh found or made it).',
    '',
  ].join('\n'));
  if (!ONESHOT) await new Promise<void>((r) => { process.once('SIGINT', () => r()); process.once('SIGTERM', () => r()); });
  say('uninstalling the demo');
  await run(helm, [...kube, 'uninstall', RELEASE, '--namespace', NAMESPACE, '--wait', '--timeout', '60s']).catch(() => undefined);
  await run(kubectl, [...kube, 'delete', 'namespace', NAMESPACE, '--wait=false']).catch(() => undefined);
  await run(kubectl, [...kube, 'delete', 'pv', `${NAMESPACE}-share`, '--wait=false']).catch(() => undefined);
  siem.close();
  await sshd.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`\nnpm start (real pods) failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
