// `npm start`: the whole system on one machine. The local control plane (already up, started by
// scripts/start.sh) gets the CRD, the operator runs against it, a sample SessionRecording is applied,
// and the recorder and rsyslogd run as local processes from exactly the ConfigMaps the operator
// rendered (pod paths mapped to local folders, see LOCAL_MOUNTS), with a local sshd as the target.
// It records one demo session, searches it, prints how to connect, and waits for Ctrl-C.
//
// SREC_QUICKSTART_ONESHOT=1 stops after the demo session (used by the e2e test of this script).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, promises as fsp, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { settlesWithin } from '../common/timeout.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const STATE = process.env.SREC_QUICKSTART_DIR ?? path.join(REPO, '.srec-quickstart');
const KUBECONFIG = process.env.SREC_KUBECONFIG ?? path.join(REPO, '.cluster', 'kubeconfig');
const NAMESPACE = process.env.SREC_QUICKSTART_NAMESPACE ?? 'srec-demo';
const CR_NAME = 'demo';
const ONESHOT = process.env.SREC_QUICKSTART_ONESHOT === '1';
const SREC = path.join(REPO, 'bin', 'srec.js');

/** Where the pod's mounts live on this machine. */
const LOCAL_MOUNTS = {
  share: path.join(STATE, 'share'),
  spool: path.join(STATE, 'spool'),
  etc: path.join(STATE, 'etc-srec'), // /etc/srec/... in the pod
};

const children: { name: string; proc: ChildProcess }[] = [];

function say(msg: string): void {
  process.stdout.write(`\x1b[1m==>\x1b[0m ${msg}\n`);
}

function clusterTool(name: 'kubectl'): string {
  const envFile = path.join(REPO, '.cluster', 'cluster.env');
  if (existsSync(envFile)) {
    const env = Object.fromEntries(
      (readFileSync(envFile, 'utf8').split('\n').map((l) => /^([A-Z0-9_]+)=(.*)$/.exec(l.trim())).filter(Boolean) as RegExpExecArray[]).map((m) => [m[1], m[2]]),
    );
    if (env.SREC_KUBECTL) return env.SREC_KUBECTL;
  }
  return name;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

function start(name: string, cmd: string, args: string[], opts: { stdoutTo?: string } = {}): ChildProcess {
  // Real file descriptors, not pipes: rsyslogd reopens /dev/stdout, which fails on a socket.
  const logFile = path.join(STATE, 'logs', `${name}.log`);
  const err = openSync(logFile, 'a', 0o600);
  const out = opts.stdoutTo ? openSync(opts.stdoutTo, 'a', 0o600) : err;
  const proc = spawn(cmd, args, { stdio: ['ignore', out, err], cwd: REPO });
  proc.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`${name} exited (${signal ?? code}); its log: ${logFile}\n`);
  });
  children.push({ name, proc });
  return proc;
}

function run(cmd: string, args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', cwd: REPO });
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function must(cmd: string, args: string[], input?: string): string {
  const r = run(cmd, args, input);
  if (r.code !== 0) throw new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} failed: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

function keygen(file: string, comment: string): string {
  if (!existsSync(file)) must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

let stopping = false;
async function stopAll(): Promise<void> {
  stopping = true;
  for (const { proc } of [...children].reverse()) {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await settlesWithin(new Promise((r) => proc.once('exit', r)), 5000);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  }
}

/** Map a path of the pod to this machine: /etc/srec/x -> .srec-quickstart/etc-srec/x. */
function localPath(podPath: string): string {
  if (podPath.startsWith('/etc/srec/')) return path.join(LOCAL_MOUNTS.etc, podPath.slice('/etc/srec/'.length));
  return podPath;
}

async function main(): Promise<void> {
  for (const d of [STATE, path.join(STATE, 'logs'), path.join(STATE, 'keys'), LOCAL_MOUNTS.share, LOCAL_MOUNTS.spool, LOCAL_MOUNTS.etc]) {
    await fsp.mkdir(d, { recursive: true, mode: 0o700 });
  }
  const kubectl = clusterTool('kubectl');
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);

  // 1. The target: a local sshd with its own host key, which the SessionRecording pins.
  say('starting a local sshd as the target host "db-1"');
  const keys = path.join(STATE, 'keys');
  const hostKeyLine = keygen(path.join(keys, 'target_host_key'), 'db-1').split(' ').slice(0, 2).join(' ');
  const loginPub = keygen(path.join(keys, 'target_login'), 'srec-recorder@db-1');
  const userPub = keygen(path.join(keys, 'you'), 'you@quickstart');
  const sshdPort = await freePort();
  await fsp.writeFile(path.join(keys, 'authorized_keys'), loginPub + '\n', { mode: 0o600 });
  await fsp.mkdir('/run/sshd', { recursive: true }).catch(() => undefined);
  const sshdConfig = path.join(STATE, 'sshd_config');
  await fsp.writeFile(
    sshdConfig,
    [
      `Port ${sshdPort}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(keys, 'target_host_key')}`,
      `PidFile ${path.join(STATE, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(keys, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  start('sshd', '/usr/sbin/sshd', ['-D', '-e', '-f', sshdConfig]);
  await waitFor('sshd to listen', () => portOpen(sshdPort).then((ok) => ok || undefined), 15_000);
  const targetUser = os.userInfo().username;
  // A SIEM stand-in that counts sensitive events (keeps nothing), listening before the CR names it.
  let sensitive = 0;
  let sensitiveMarker = false;
  const siem = net.createServer((sock) =>
    sock.on('data', (b) => {
      const text = b.toString('latin1');
      sensitive += text.split('SSH-PRIVX-SENSITIVE-AUDIT').length - 1;
      if (text.includes('quickstart-demo')) sensitiveMarker = true;
    }),
  );
  await new Promise<void>((resolve, reject) => siem.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const siemPort = (siem.address() as net.AddressInfo).port;

  // 2. The API: the CRD, a namespace under Pod Security "restricted", the Secrets the CR names.
  say(`applying the CRD and the sample SessionRecording ${NAMESPACE}/${CR_NAME}`);
  must(kubectl, ['--kubeconfig', KUBECONFIG, 'apply', '--server-side', '--force-conflicts', '--field-manager=srec-quickstart', '-f', path.join(REPO, 'crds')]);
  must(kubectl, ['--kubeconfig', KUBECONFIG, 'wait', '--for=condition=Established', '--timeout=60s', 'crd/sessionrecordings.recording.privx.io']);
  const nsYaml = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
  };
  const users = yaml.dump([{ name: 'you', authorizedKeys: [userPub] }]);
  const objects = [
    nsYaml,
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'recorder-users', namespace: NAMESPACE }, stringData: { 'users.yaml': users } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db-1-login', namespace: NAMESPACE },
      stringData: { username: targetUser, privateKey: readFileSync(path.join(keys, 'target_login'), 'utf8') },
    },
    {
      apiVersion: 'recording.privx.io/v1alpha1',
      kind: 'SessionRecording',
      metadata: { name: CR_NAME, namespace: NAMESPACE },
      spec: {
        storage: { size: '1Gi', nfs: { server: '127.0.0.1', path: '/exports/srec-quickstart' } },
        recorder: {
          replicas: 1,
          port: 2222,
          usersSecret: 'recorder-users',
          hosts: [{ name: 'db-1', address: '127.0.0.1', port: sshdPort, hostKeys: [hostKeyLine], recording: true, fileTransfers: true, credentialsSecret: 'db-1-login' }],
        },
        audit: { sshEvents: { enabled: true, events: ['stdin', 'stdout', 'stderr', 'channel_request', 'global_request'] } },
        syslog: { enabled: true, format: 'syslog', audit: { to: 'stdout', sensitive: { to: `@@127.0.0.1:${siemPort}` } } },
      },
    },
  ];
  must(kubectl, ['--kubeconfig', KUBECONFIG, 'apply', '--server-side', '--force-conflicts', '--field-manager=srec-quickstart', '-f', '-'], objects.map((o) => yaml.dump(o)).join('---\n'));

  // 3. The operator, as its own process, as in a pod.
  say('starting the operator');
  const operatorProbe = await freePort();
  start('operator', process.execPath, [SREC, 'operator', '--kubeconfig', KUBECONFIG, '--namespace', NAMESPACE, '--probes', `127.0.0.1:${operatorProbe}`]);
  const ready = await waitFor(
    'the SessionRecording to become Ready',
    async () => {
      const cr = (await custom.getNamespacedCustomObject({ group: 'recording.privx.io', version: 'v1alpha1', namespace: NAMESPACE, plural: 'sessionrecordings', name: CR_NAME }).catch(() => undefined)) as
        | { metadata?: { generation?: number }; status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] } }
        | undefined;
      // A status from before this run's apply says nothing about this spec.
      if (cr?.status?.observedGeneration !== cr?.metadata?.generation) return undefined;
      const conds = cr?.status?.conditions ?? [];
      return conds.find((c) => c.type === 'Ready' && c.status === 'True') ? conds : undefined;
    },
    120_000,
  );
  for (const c of ready) say(`  ${c.type}=${c.status} (${c.reason ?? ''}) ${c.message ?? ''}`);

  // 4. The ConfigMaps and Secrets the operator rendered, materialized where the pod would mount them.
  say('reading the recorder and syslog ConfigMaps the operator rendered');
  const recorderCm = await core.readNamespacedConfigMap({ name: `${CR_NAME}-recorder`, namespace: NAMESPACE });
  const syslogCm = await core.readNamespacedConfigMap({ name: `${CR_NAME}-syslog`, namespace: NAMESPACE });
  const recorderYaml = recorderCm.data?.['recorder.yaml'];
  const rsyslogConf = syslogCm.data?.['rsyslog.conf'];
  if (!recorderYaml || !rsyslogConf) throw new Error('the operator rendered ConfigMaps without recorder.yaml / rsyslog.conf');
  const secretFiles: [string, string, string][] = [
    [`${CR_NAME}-recorder-hostkey`, 'host_key', 'hostkey/host_key'],
    ['recorder-users', 'users.yaml', 'users/users.yaml'],
    ['db-1-login', 'username', 'creds/db-1/username'],
    ['db-1-login', 'privateKey', 'creds/db-1/privateKey'],
  ];
  for (const [name, key, rel] of secretFiles) {
    const s = await core.readNamespacedSecret({ name, namespace: NAMESPACE });
    const b64 = s.data?.[key];
    if (b64 === undefined) throw new Error(`Secret ${name} has no key ${key}`);
    const file = path.join(LOCAL_MOUNTS.etc, rel);
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await fsp.writeFile(file, Buffer.from(b64, 'base64'), { mode: 0o600 });
  }

  // 5. rsyslogd with the rendered rules.
  const syslogPort = await freePort();
  const localRsyslog = rsyslogConf.replace(/port="5514"/g, `port="${syslogPort}"`);
  const rsyslogFile = path.join(STATE, 'rsyslog.conf');
  await fsp.writeFile(rsyslogFile, localRsyslog, { mode: 0o600 });
  say(`starting rsyslogd on 127.0.0.1:${syslogPort} (non-sensitive events: ${path.join(STATE, 'logs', 'audit-events.log')})`);
  start('rsyslogd', '/usr/sbin/rsyslogd', ['-n', '-f', rsyslogFile, '-i', path.join(STATE, 'rsyslogd.pid')], {
    stdoutTo: path.join(STATE, 'logs', 'audit-events.log'),
  });
  await waitFor('rsyslogd to listen', () => portOpen(syslogPort).then((ok) => ok || undefined), 15_000);

  // 6. The recorder with the rendered config; only addresses and pod paths are changed.
  const config = yaml.load(recorderYaml) as Record<string, unknown> & {
    hosts: { credentials: Record<string, string> }[];
    audit?: { syslog?: { address: string } };
  };
  const recorderPort = await freePort();
  const probesPort = await freePort();
  const local = {
    ...config,
    listen: `127.0.0.1:${recorderPort}`,
    probes: `127.0.0.1:${probesPort}`,
    hostKeyFile: localPath(String(config.hostKeyFile)),
    usersFile: localPath(String(config.usersFile)),
    dataFolder: LOCAL_MOUNTS.share,
    tempFolder: LOCAL_MOUNTS.spool,
    hosts: config.hosts.map((h) => ({
      ...h,
      credentials: Object.fromEntries(Object.entries(h.credentials).map(([k, v]) => [k, k.endsWith('File') ? localPath(v) : v])),
    })),
    audit: config.audit?.syslog ? { ...config.audit, syslog: { ...config.audit.syslog, address: `127.0.0.1:${syslogPort}` } } : config.audit,
  };
  const recorderFile = path.join(STATE, 'recorder.yaml');
  await fsp.writeFile(recorderFile, yaml.dump(local), { mode: 0o600 });
  say(`starting the recorder on 127.0.0.1:${recorderPort}`);
  start('recorder', process.execPath, [SREC, 'recorder', '--config', recorderFile]);
  await waitFor('the recorder to listen', () => portOpen(recorderPort).then((ok) => ok || undefined), 20_000);

  // 7. One recorded session, then a search that finds it.
  const sshBase = [
    '-F', '/dev/null',
    '-i', path.join(keys, 'you'),
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${path.join(keys, 'known_hosts')}`,
    '-o', 'StrictHostKeyChecking=accept-new',
    '-p', String(recorderPort),
  ];
  const login = `${targetUser}@db-1@127.0.0.1`;
  say(`recording a demo session: ssh -tt ... ${login}`);
  const demo = run('ssh', [...sshBase, '-tt', login], 'echo quickstart-demo $((6*7))\nuname -s\nexit\n');
  if (!demo.stdout.includes('quickstart-demo 42')) throw new Error(`the demo session did not run as expected (exit ${demo.code}): ${demo.stderr.trim()}`);
  await waitFor('the recording to land on the share', () => {
    const r = run(process.execPath, [SREC, 'sessions', '--data', LOCAL_MOUNTS.share, '--json']);
    return r.code === 0 && r.stdout.trim() !== '' ? r.stdout : undefined;
  }, 20_000);
  say(`sessions on the share (${LOCAL_MOUNTS.share}):`);
  process.stdout.write(must(process.execPath, [SREC, 'sessions', '--data', LOCAL_MOUNTS.share]));
  say(`srec search --data ${path.relative(REPO, LOCAL_MOUNTS.share)} quickstart-demo`);
  const found = run(process.execPath, [SREC, 'search', '--data', LOCAL_MOUNTS.share, 'quickstart-demo']);
  process.stdout.write(found.stdout);
  if (found.code !== 0) throw new Error(`srec search found nothing (exit ${found.code}): ${found.stderr.trim()}`);
  await waitFor('sensitive events at the SIEM stand-in', () => (sensitiveMarker ? true : undefined), 10_000).catch(() => undefined);
  say(`the SIEM stand-in on 127.0.0.1:${siemPort} received ${sensitive} SSH-PRIVX-SENSITIVE-AUDIT events${sensitiveMarker ? ', the typed marker among them' : ''} (kept in memory only)`);

  // 8. The auditor's console over the same share, its views audited to the same rsyslogd.
  const consolePort = await freePort();
  const consoleToken = randomBytes(24).toString('hex');
  const tokenFile = path.join(STATE, 'console-tokens');
  await fsp.writeFile(tokenFile, `${consoleToken} quickstart-auditor\n`, { mode: 0o600 });
  const auditTo = config.audit?.syslog ? ['--audit', `127.0.0.1:${syslogPort}`, '--audit-protocol', (config.audit.syslog as { protocol?: string }).protocol ?? 'tcp'] : [];
  say(`starting the console on 127.0.0.1:${consolePort}`);
  start('console', process.execPath, [SREC, 'console', '--data', LOCAL_MOUNTS.share, '--listen', `127.0.0.1:${consolePort}`, '--token-file', tokenFile, ...auditTo]);
  await waitFor('the console to listen', () => portOpen(consolePort).then((ok) => ok || undefined), 20_000);
  const consoleUrl = `http://127.0.0.1:${consolePort}/login?token=${consoleToken}`;

  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  process.stdout.write(
    [
      '',
      'The system is up. Connect through the recorder (your key is the one in users.yaml):',
      '',
      `  ssh ${sshBase.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ').replace(path.join(keys, 'you'), rel(path.join(keys, 'you'))).replace(path.join(keys, 'known_hosts'), rel(path.join(keys, 'known_hosts')))} ${login}`,
      '',
      `The console:         ${consoleUrl}`,
      `Recordings land in   ${rel(LOCAL_MOUNTS.share)}   (open sessions: ${rel(LOCAL_MOUNTS.spool)})`,
      `List them:           node bin/srec.js sessions --data ${rel(LOCAL_MOUNTS.share)}`,
      `Search them:         node bin/srec.js search --data ${rel(LOCAL_MOUNTS.share)} 'quickstart-demo'`,
      `Replay one:          node bin/srec.js play --data ${rel(LOCAL_MOUNTS.share)} <session id>`,
      `The cluster:         kubectl --kubeconfig ${rel(KUBECONFIG)} -n ${NAMESPACE} get srec,deploy,cm,svc,pvc`,
      `Logs:                ${rel(path.join(STATE, 'logs'))}/`,
      '',
      ONESHOT ? 'SREC_QUICKSTART_ONESHOT=1: stopping.' : 'Ctrl-C stops everything npm start started.',
      '',
    ].join('\n'),
  );
  if (ONESHOT) {
    siem.close();
    return;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  siem.close();
}

main().then(
  async () => {
    await stopAll();
    process.exit(0);
  },
  async (err: unknown) => {
    process.stderr.write(`\nnpm start failed: ${err instanceof Error ? err.message : String(err)}\nlogs: ${path.join(STATE, 'logs')}\n`);
    await stopAll();
    process.exit(1);
  },
);
