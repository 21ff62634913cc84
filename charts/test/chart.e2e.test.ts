// The chart against the real control plane: helm lint, the rendered objects (with each values
// file) accepted by the API server and by Pod Security "restricted", bad values refused with
// messages that say what to change, and helm install / uninstall.
import { jest } from '@jest/globals';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import yaml from 'js-yaml';
import path from 'node:path';
import { deleteFreshNamespaces, freshNamespace, useCluster, waitFor } from '../../e2e/support/cluster.js';
import {
  CHART_DIR,
  CI_VALUES,
  CRD_FILE,
  CRDS_CHART_DIR,
  expandRules,
  expectOk,
  find,
  helm,
  imageOverrides,
  kubectl,
  type KubeObject,
  parseObjects,
  type PolicyRule,
  renderChart,
  RESTRICTED,
} from './support.js';

// Real helm and API-server round trips; jest's per-project testTimeout is not applied (a global option).
jest.setTimeout(180_000);

let kubeconfig: string;
let kc: KubeConfig;

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

function isNotFound(e: unknown): boolean {
  return (e as { code?: number }).code === 404;
}

beforeAll(async () => {
  ({ kubeconfigPath: kubeconfig, kc } = await useCluster());
  // The SessionRecordings rendered below need their CRD; helm would install it too.
  expectOk(await kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]), 'apply CRD');
  expectOk(
    await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/sessionrecordings.recording.privx.io']),
    'wait for CRD',
  );
});

afterAll(async () => {
  await deleteFreshNamespaces();
});

describe('kubectl explain', () => {
  it('describes every field of the SessionRecording (one source: the CRD; README and @param texts generated from it)', async () => {
    // GIVEN every field path of the CRD's schema
    const crd = yaml.load(readFileSync(CRD_FILE, 'utf8')) as { spec: { versions: Array<{ schema: { openAPIV3Schema: SchemaNode } }> } };
    const paths: string[] = [];
    const visit = (node: SchemaNode, where: string): void => {
      for (const [k, v] of Object.entries(node.properties ?? {})) {
        if (!where && k === 'metadata') continue; // the API server's own field
        paths.push(where ? `${where}.${k}` : k);
        visit(v.type === 'array' && v.items ? v.items : v, paths.at(-1) as string);
      }
    };
    visit(crd.spec.versions[0].schema.openAPIV3Schema, '');
    expect(paths.length).toBeGreaterThan(60);
    // WHEN kubectl explain shows each (once the API server has published the CRD's new OpenAPI,
    // which it does a moment after the apply), THEN none is <empty>
    const explained = async (p: string): Promise<boolean> =>
      !/DESCRIPTION:\s*\n\s*<empty>/.test(expectOk(await kubectl(kubeconfig, ['explain', `sessionrecordings.${p}`]), `kubectl explain ${p}`).stdout);
    await waitFor('the CRD\'s descriptions in the published OpenAPI', () => explained('spec')).catch(() => undefined);
    const empty: string[] = [];
    for (const p of paths) if (!(await explained(p))) empty.push(p);
    expect(empty).toEqual([]);
  });
});

describe('helm lint --strict', () => {
  const cases: Array<[string, string[]]> = [['defaults', []], ...CI_VALUES.map((f): [string, string[]] => [path.basename(f), ['-f', f]])];
  it.each(cases)(
    'passes with %s',
    async (_name, extra) => {
      const r = await helm(kubeconfig, ['lint', '--strict', CHART_DIR, ...extra]);
      expectOk(r, 'helm lint');
      expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    },
  );
});

describe('the rendered chart', () => {
  let ns: string;
  beforeAll(async () => {
    ns = await freshNamespace(kc, 'chart-render', RESTRICTED);
  });

  const variants: Array<[string, { valuesFiles?: string[]; set?: (ns: string) => string[] }]> = [
    ['defaults', {}],
    ...CI_VALUES.map((f): [string, { valuesFiles: string[] }] => [path.basename(f), { valuesFiles: [f] }]),
    ['one namespace, one replica', { set: (n) => [`operator.watchNamespace=${n}`, 'operator.replicas=1'] }],
  ];

  it.each(variants)('with %s is accepted by the API server (dry-run) and by Pod Security restricted', async (_name, v) => {
    // GIVEN the chart rendered for a namespace that enforces and warns on "restricted"
    const { text, objects } = await renderChart(kubeconfig, { namespace: ns, valuesFiles: v.valuesFiles, set: v.set?.(ns) });
    expect(find(objects, 'Deployment')).toBeDefined();
    // WHEN the API server validates every object
    const r = await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: text });
    // THEN all are accepted, and no Pod Security warning is given for the operator's pods
    expectOk(r, 'kubectl apply --dry-run=server');
    expect(r.stdout).toContain(`deployment.apps/srec created (server dry run)`);
    expect(r.stderr).not.toMatch(/PodSecurity|would violate/);
  });

  it('runs `srec operator --leader-elect`, 2 replicas, restricted pod security, probes on 8080', async () => {
    const { objects } = await renderChart(kubeconfig, { namespace: ns });
    const deploy = find(objects, 'Deployment', 'srec') as KubeObject & { spec: any };
    const pod = deploy.spec.template.spec;
    const c = pod.containers[0];
    expect(deploy.spec.replicas).toBe(2);
    expect(c.image).toBe('srec:0.1.0');
    expect(c.args).toEqual(['operator', '--leader-elect']);
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(pod.serviceAccountName).toBe('srec');
    // The operator's selector cannot catch the recorder pods it creates (same name label).
    expect(deploy.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'srec',
      'app.kubernetes.io/instance': 'srec',
      'app.kubernetes.io/component': 'operator',
    });
    const svc = find(objects, 'Service', 'srec-metrics') as KubeObject & { spec: any };
    expect(svc.spec.selector).toEqual(deploy.spec.selector.matchLabels);
    expect(svc.spec.ports).toEqual([{ name: 'http-metrics', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
  });

  it('ships the CRD with helm.sh/resource-policy: keep, in the srec-crds chart and in manifests/install.yaml', async () => {
    // GIVEN the srec-crds chart rendered as Argo CD and Flux render it, and the plain manifests
    const r = expectOk(await helm(kubeconfig, ['template', 'srec-crds', CRDS_CHART_DIR, '--namespace', ns]), 'helm template srec-crds');
    const manifests = parseObjects(readFileSync(path.join(CHART_DIR, '..', '..', 'manifests', 'install.yaml'), 'utf8'));
    // THEN the CRD says keep in both: a cascade delete of the app leaves the CRD and every SessionRecording
    for (const objects of [parseObjects(r.stdout), manifests]) {
      const crd = find(objects, 'CustomResourceDefinition', 'sessionrecordings.recording.privx.io');
      expect(crd?.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    }
  });

  it('sizes the operator\'s V8 heap from its memory limit (NODE_OPTIONS)', async () => {
    const nodeOptions = async (set: string[]) => {
      const { objects } = await renderChart(kubeconfig, { namespace: ns, set });
      const c = (find(objects, 'Deployment') as any).spec.template.spec.containers[0] as { env: Array<{ name: string; value?: string }> };
      return c.env.find((e) => e.name === 'NODE_OPTIONS')?.value;
    };
    expect(await nodeOptions([])).toBe('--max-semi-space-size=2 --max-old-space-size=192');
    expect(await nodeOptions(['operator.resources.limits.memory=1Gi'])).toBe('--max-semi-space-size=2 --max-old-space-size=512');
    expect(await nodeOptions(['operator.resources.limits.memory=800M'])).toBe('--max-semi-space-size=2 --max-old-space-size=381');
    expect(await nodeOptions(['operator.resources.limits=null'])).toBe('--max-semi-space-size=2');
  });

  it('pins the image by version or digest, overridable', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const { objects } = await renderChart(kubeconfig, {
      namespace: ns,
      set: ['image.repository=mirror.internal/srec', `image.digest=${digest}`],
    });
    const c = (find(objects, 'Deployment') as any).spec.template.spec.containers[0];
    expect(c.image).toBe(`mirror.internal/srec@${digest}`);
  });

  it('keeps one operator through disruptions when there are 2, and has no budget for 1', async () => {
    const two = await renderChart(kubeconfig, { namespace: ns });
    expect((find(two.objects, 'PodDisruptionBudget') as any).spec).toEqual({
      minAvailable: 1,
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
      selector: { matchLabels: (find(two.objects, 'Deployment') as any).spec.selector.matchLabels },
    });
    const one = await renderChart(kubeconfig, { namespace: ns, set: ['operator.replicas=1'] });
    expect(find(one.objects, 'PodDisruptionBudget')).toBeUndefined();
  });

  it('grants no wildcard anywhere, and a Lease Role only with leader election', async () => {
    for (const set of [[], ['operator.replicas=1', 'operator.leaderElection.enabled=false']]) {
      const { objects } = await renderChart(kubeconfig, { namespace: ns, set });
      const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
      for (const role of roles) {
        for (const rule of role.rules as PolicyRule[]) {
          expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain('*');
        }
      }
      expect(find(objects, 'Role', 'srec-leader-election') !== undefined).toBe(set.length === 0);
    }
  });

  it('with operator.watchNamespace binds the namespaced rules in that namespace only', async () => {
    const { objects } = await renderChart(kubeconfig, { namespace: ns, set: ['operator.watchNamespace=team-a'] });
    const rb = find(objects, 'RoleBinding', 'srec') as any;
    expect(rb.metadata.namespace).toBe('team-a');
    expect(rb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'srec' });
    expect(find(objects, 'ClusterRoleBinding', 'srec')).toBeUndefined();
    // PersistentVolumes are cluster-scoped: their binding stays cluster-wide.
    expect(find(objects, 'ClusterRoleBinding', 'srec-volumes')).toBeDefined();
    const deploy = find(objects, 'Deployment') as any;
    expect(deploy.spec.template.spec.containers[0].args).toEqual(['operator', '--leader-elect', '--namespace', 'team-a']);
  });

  it('fills the SessionRecording from the values, with the PrivX syslog names', async () => {
    const { objects } = await renderChart(kubeconfig, { namespace: ns, valuesFiles: [CI_VALUES[0]] });
    const sr = find(objects, 'SessionRecording', 'prod') as any;
    expect(sr.metadata.namespace).toBe(ns);
    expect(sr.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(sr.spec.storage).toEqual({
      size: '200Gi',
      deletionPolicy: 'Retain',
      nfs: { server: 'nfs.internal', path: '/exports/privx' },
    });
    expect(sr.spec.syslog).toEqual({
      enabled: true,
      format: 'syslog',
      audit: { to: '@@siem.internal:6514', sensitive: { to: '@@siem.internal:6515' } },
      tls: { secretName: 'siem-tls', authMode: 'x509/name' },
    });
    expect(sr.spec.recorder.hosts.map((h: { name: string }) => h.name)).toEqual(['db-1', 'web-1']);
    expect(sr.spec.recorder.usersSecret).toBe('recorder-users');
    // Not asked for: no SessionRecording.
    const none = await renderChart(kubeconfig, { namespace: ns });
    expect(find(none.objects, 'SessionRecording')).toBeUndefined();
  });
});

describe('bad values', () => {
  // Each case: what is wrong, the values, and what helm must say about it.
  const schemaCases: Array<[string, string[], string[]]> = [
    [
      'a file as the sensitive target',
      ['privx.syslog.audit.sensitive.to=/var/log/privx-sensitive.log'],
      ["at '/privx/syslog/audit/sensitive/to'", "'/var/log/privx-sensitive.log' does not match", 'sensitive_session_content_may_never_be_written_to_disk'],
    ],
    [
      'stdout as the sensitive target (the node keeps container output in files)',
      ['privx.syslog.audit.sensitive.to=stdout'],
      ["at '/privx/syslog/audit/sensitive/to'", 'never_a_file_nor_stdout'],
    ],
    [
      'a file as the audit target',
      ['privx.syslog.audit.to=/var/log/audit.log'],
      ["at '/privx/syslog/audit/to'", "'/var/log/audit.log' does not match"],
    ],
    ['a misspelt key', ['privx.syslog.audit.sensitve.to=@@siem:514'], ["at '/privx/syslog/audit'", "additional properties 'sensitve' not allowed"]],
    ['an unknown audit format', ['privx.syslog.audit.format=json'], ["at '/privx/syslog/audit/format'", "value must be one of 'syslog', 'cef'"]],
    ['no operator', ['operator.replicas=0'], ["at '/operator/replicas'", 'minimum: got 0, want 1']],
    ['an unknown deletion policy', ['storage.deletionPolicy=Keep'], ["at '/storage/deletionPolicy'", "value must be one of 'Retain', 'Delete'"]],
    ['a host without pinned keys', ['recorder.hosts[0].name=db-1', 'recorder.hosts[0].address=10.0.0.5', 'recorder.hosts[0].credentialsSecret=c'], ["at '/recorder/hosts/0'", "missing property 'hostKeys'"]],
    ['an EFS id that is not one', ['storage.efs.fileSystemId=my-efs'], ["at '/storage/efs/fileSystemId'", "'my-efs' does not match"]],
  ];

  it.each(schemaCases)('refuses %s, naming the value (values.schema.json)', async (_what, set, messages) => {
    const args = ['template', 'srec', CHART_DIR];
    for (const s of set) args.push('--set', s);
    const r = await helm(kubeconfig, args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("values don't meet the specifications of the schema");
    for (const m of messages) expect(r.stderr).toContain(m);
  });

  it('lists every rule that spans several values in one failure (srec.validateValues)', async () => {
    // GIVEN five mistakes that no single value shows
    const set = [
      'operator.leaderElection.enabled=false', // with 2 replicas
      'sessionRecording.create=true',
      'storage.nfs.server=nfs.internal', // and an existing claim too
      'storage.existingClaim=claim',
      'audit.sshEvents.enabled=true', // with syslog off
      'privx.syslog.enabled=false',
      'recorder.port=9090',
      'privx.syslog.tls.secretName=siem-tls', // with no TCP forward
    ];
    const r = await helm(kubeconfig, ['template', 'srec', CHART_DIR, ...set.flatMap((s) => ['--set', s])]);
    // THEN helm fails once, listing each with the value to change
    expect(r.code).not.toBe(0);
    expect(r.stderr.match(/VALUES VALIDATION:/g)).toHaveLength(1);
    expect(r.stderr).toContain('operator.leaderElection.enabled: 2 replicas without leader election');
    expect(r.stderr).toContain('storage: set exactly one of storage.efs.fileSystemId, storage.nfs.server, storage.existingClaim (got nfs, existingClaim)');
    expect(r.stderr).toContain('recorder.usersSecret: name the Secret (key users.yaml)');
    expect(r.stderr).toContain('audit.sshEvents.enabled: SSH events are sent only through the syslog pipeline');
    expect(r.stderr).toContain("recorder.port: 9090 is the recorder's probe and metrics port");
    expect(r.stderr).toContain('privx.syslog.tls.secretName: tls needs a TCP forward, and UDP cannot carry TLS');
  });

  it('asks for a share when a SessionRecording is to be created without one', async () => {
    const r = await helm(kubeconfig, ['template', 'srec', CHART_DIR, '--set', 'sessionRecording.create=true', '--set', 'recorder.usersSecret=u']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('storage: the SessionRecording needs a share; set exactly one of');
  });

  it('names the storage values that only mean something with another one', async () => {
    const set = ['sessionRecording.create=true', 'recorder.usersSecret=u', 'storage.existingClaim=c', 'storage.efs.accessPointId=fsap-0123abcd', 'storage.nfs.path=/x'];
    const r = await helm(kubeconfig, ['template', 'srec', CHART_DIR, ...set.flatMap((s) => ['--set', s])]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('storage.efs: accessPointId and storageClassName need storage.efs.fileSystemId');
    expect(r.stderr).toContain('storage.nfs: path and mountOptions need storage.nfs.server');
  });

  it('installs nothing when the values are refused', async () => {
    const ns = await freshNamespace(kc, 'chart-bad', RESTRICTED);
    const file = path.join(tmpdir(), `srec-bad-values-${process.pid}.yaml`);
    writeFileSync(file, 'privx:\n  syslog:\n    audit:\n      sensitive:\n        to: /var/log/sensitive.log\n');
    const r = await helm(kubeconfig, ['install', ns, CHART_DIR, '-n', ns, '-f', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('sensitive_session_content_may_never_be_written_to_disk');
    const list = expectOk(await helm(kubeconfig, ['list', '-n', ns, '-a', '-q']), 'helm list');
    expect(list.stdout.trim()).toBe('');
    const deployments = await kc.makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace: ns });
    expect(deployments.items).toHaveLength(0);
  });
});

describe('every value the API server would refuse fails helm install before anything is created', () => {
  // The values schema is generated from the CRD (scripts/gen-values-schema.mjs) and the CRD's CEL
  // rules that JSON Schema cannot say are srec.validateValues helpers. Each case: the values, the
  // SessionRecording spec they would render to, and what helm must say.
  const base = ['sessionRecording.create=true', 'storage.nfs.server=nfs.internal', 'storage.nfs.path=/exports/privx', 'recorder.usersSecret=users'];
  type Spec = Record<string, unknown>;
  const baseSpec = (): Spec => ({ storage: { nfs: { server: 'nfs.internal', path: '/exports/privx' } }, recorder: { usersSecret: 'users' } });
  const cases: Array<[string, string[], (s: Spec & { storage: Spec; recorder: Spec }) => void, string, string?]> = [
    ['a size in G, not Gi', ['storage.size=500G'], (s) => void (s.storage.size = '500G'), "at '/storage/size'"],
    ['a fractional size', ['storage.size=1.5Gi'], (s) => void (s.storage.size = '1.5Gi'), "at '/storage/size'"],
    ['a fractional spool size', ['recorder.tempSizeLimit=1.5Gi'], (s) => void (s.recorder.tempSizeLimit = '1.5Gi'), "at '/recorder/tempSizeLimit'"],
    ['the data folder under /tmp', ['sessionRecording.dataFolder=/tmp/audit'], (s) => void (s.dataFolder = '/tmp/audit'), 'sessionRecording.dataFolder: "/tmp/audit" must be an absolute path without //, . or .. in it, other than /, /tmp and /etc/srec'],
    ['the data folder in /etc/srec', ['sessionRecording.dataFolder=/etc/srec'], (s) => void (s.dataFolder = '/etc/srec'), 'sessionRecording.dataFolder: "/etc/srec" must be'],
    ['a relative data folder', ['sessionRecording.dataFolder=audit'], (s) => void (s.dataFolder = 'audit'), 'sessionRecording.dataFolder: "audit" must be'],
    ['an audit target on port 99999', ['privx.syslog.audit.to=@siem.internal:99999'], (s) => void (s.syslog = { audit: { to: '@siem.internal:99999' } }), "at '/privx/syslog/audit/to'"],
    ['a sensitive target on port 70000', ['privx.syslog.audit.sensitive.to=@@siem.internal:70000'], (s) => void (s.syslog = { audit: { sensitive: { to: '@@siem.internal:70000' } } }), "at '/privx/syslog/audit/sensitive/to'"],
    ['the probe port as SSH port', ['recorder.port=9090'], (s) => void (s.recorder.port = 9090), "recorder.port: 9090 is the recorder's probe and metrics port"],
    ['a privileged SSH port', ['recorder.port=22'], (s) => void (s.recorder.port = 22), "at '/recorder/port'"],
    ['51 recorders', ['recorder.replicas=51'], (s) => void (s.recorder.replicas = 51), "at '/recorder/replicas'"],
    ['a host on port 99999', ['recorder.hosts[0].name=db-1', 'recorder.hosts[0].address=10.0.0.5', 'recorder.hosts[0].port=99999', 'recorder.hosts[0].hostKeys[0]=ssh-ed25519 AAAA', 'recorder.hosts[0].credentialsSecret=c'],
      (s) => void (s.recorder.hosts = [{ name: 'db-1', address: '10.0.0.5', port: 99999, hostKeys: ['ssh-ed25519 AAAA'], credentialsSecret: 'c' }]), "at '/recorder/hosts/0/port'"],
    ['two hosts of one name', ['recorder.hosts[0].name=db-1', 'recorder.hosts[0].address=a', 'recorder.hosts[0].hostKeys[0]=ssh-ed25519 AAAA', 'recorder.hosts[0].credentialsSecret=c',
      'recorder.hosts[1].name=db-1', 'recorder.hosts[1].address=b', 'recorder.hosts[1].hostKeys[0]=ssh-ed25519 AAAA', 'recorder.hosts[1].credentialsSecret=c'],
      (s) => void (s.recorder.hosts = ['a', 'b'].map((address) => ({ name: 'db-1', address, hostKeys: ['ssh-ed25519 AAAA'], credentialsSecret: 'c' }))), 'recorder.hosts: host names must be unique (repeated: db-1)'],
    ['two storage sources', ['storage.existingClaim=claim'], (s) => void (s.storage.existingClaim = 'claim'), 'storage: set exactly one of storage.efs.fileSystemId, storage.nfs.server, storage.existingClaim (got nfs, existingClaim)'],
    ['an NFS server without a path', ['storage.nfs.path='], (s) => void (s.storage.nfs = { server: 'nfs.internal' }), 'storage.nfs.path: the exported path is required'],
    ['a relative NFS path', ['storage.nfs.path=exports'], (s) => void (s.storage.nfs = { server: 'nfs.internal', path: 'exports' }), "at '/storage/nfs/path'"],
    ['no users Secret', ['recorder.usersSecret='], (s) => void (s.recorder = {}), 'recorder.usersSecret: name the Secret'],
    ['an upper-case name', ['sessionRecording.name=Prod'], () => undefined, "at '/sessionRecording/name'", 'Prod'],
    ['a release name that is no SessionRecording name', [], () => undefined, 'is not a valid SessionRecording name', '1st'],
    ['SSH events with syslog off', ['audit.sshEvents.enabled=true', 'privx.syslog.enabled=false'], (s) => void (s.audit = { sshEvents: { enabled: true } }, s.syslog = { enabled: false }), 'audit.sshEvents.enabled: SSH events are sent only through the syslog pipeline'],
    ['TLS with no TCP forward', ['privx.syslog.tls.secretName=siem-tls', 'privx.syslog.audit.sensitive.to=@siem.internal:514'], (s) => void (s.syslog = { tls: { secretName: 'siem-tls' }, audit: { sensitive: { to: '@siem.internal:514' } } }), 'privx.syslog.tls.secretName: tls needs a TCP forward'],
    ['a data folder that climbs out with ..', ['sessionRecording.dataFolder=/var/../tmp'], (s) => void (s.dataFolder = '/var/../tmp'), 'sessionRecording.dataFolder: "/var/../tmp" must be an absolute path without //, . or ..'],
    ['an audit target on a label that is empty', ['privx.syslog.audit.to=@@a..b:514'], (s) => void (s.syslog = { audit: { to: '@@a..b:514' } }), "at '/privx/syslog/audit/to'"],
    ['sensitive events forwarded to its own syslog pod', ['sessionRecording.name=prod', 'privx.syslog.audit.sensitive.to=@@prod-syslog:5514'], (s) => void (s.syslog = { audit: { sensitive: { to: '@@prod-syslog:5514' } } }),
      'privx.syslog.audit.sensitive.to: "@@prod-syslog:5514" points at this SessionRecording\'s own syslog pod'],
    ['an OIDC issuer over plain http', ['console.enabled=true', 'console.oidc.issuerURL=https://login.example.com', 'console.oidc.clientID=srec', 'console.oidc.clientSecretName=oidc', 'console.oidc.redirectURL=https://console.example.com/oidc/callback', 'console.oidc.issuerURL=http://login.example.com'],
      (s) => void (s.console = { enabled: true, oidc: { ...{ issuerURL: 'https://login.example.com', clientID: 'srec', clientSecretName: 'oidc', redirectURL: 'https://console.example.com/oidc/callback' }, issuerURL: 'http://login.example.com' } }), "at '/console/oidc/issuerURL'"],
    ['an OIDC redirect elsewhere than /oidc/callback', ['console.enabled=true', 'console.oidc.issuerURL=https://login.example.com', 'console.oidc.clientID=srec', 'console.oidc.clientSecretName=oidc', 'console.oidc.redirectURL=https://console.example.com/oidc/callback', 'console.oidc.redirectURL=https://console.example.com/callback'],
      (s) => void (s.console = { enabled: true, oidc: { ...{ issuerURL: 'https://login.example.com', clientID: 'srec', clientSecretName: 'oidc', redirectURL: 'https://console.example.com/oidc/callback' }, redirectURL: 'https://console.example.com/callback' } }), "at '/console/oidc/redirectURL'"],
    ['an OIDC issuer without a client', ['console.enabled=true', 'console.oidc.issuerURL=https://login.example.com'],
      (s) => void (s.console = { enabled: true, oidc: { issuerURL: 'https://login.example.com' } }), 'console.oidc: single sign-on needs issuerURL, clientID, clientSecretName and redirectURL together; set console.oidc.clientID, console.oidc.clientSecretName, console.oidc.redirectURL'],
    ['retention of 0 days', ['retention.trailExpiryDays=0'], (s) => void (s.retention = { trailExpiryDays: 0 }), "at '/retention/trailExpiryDays'"],
  ];

  let ns: string;
  beforeAll(async () => {
    ns = await freshNamespace(kc, 'chart-refused', RESTRICTED);
  });

  it('the srec chart has no crds/: helm has nothing to create before it checks the values', async () => {
    // Helm installs a chart's crds/ before it reads any value; the CRD is the srec-crds chart's template.
    const crds = expectOk(await helm(kubeconfig, ['show', 'crds', CHART_DIR]), 'helm show crds');
    expect(crds.stdout.trim()).toBe('');
    const rendered = parseObjects(expectOk(await helm(kubeconfig, ['template', 'srec', CHART_DIR, '--include-crds', ...base.flatMap((v) => ['--set', v])]), 'helm template').stdout);
    expect(rendered.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([]);
  });

  // Rest parameters: jest would take a fifth declared parameter for `done` on rows of four.
  it.each(cases)('%s', async (...row) => {
    const [, set, patch, message, crName] = row;
    // GIVEN values the API server would refuse as a SessionRecording (shown first, on the CR itself)
    const spec = baseSpec() as Spec & { storage: Spec; recorder: Spec };
    patch(spec);
    const cr = { apiVersion: 'recording.privx.io/v1alpha1', kind: 'SessionRecording', metadata: { name: crName === '1st' ? '1st-srec' : (crName ?? 'prod').toString(), namespace: ns }, spec };
    const dry = await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(cr) });
    expect(dry.code).not.toBe(0);
    // WHEN they are given to helm install
    const release = crName === '1st' ? `1st-${Math.random().toString(36).slice(2, 7)}` : `bad-${Math.random().toString(36).slice(2, 7)}`;
    const r = await helm(kubeconfig, ['install', release, CHART_DIR, '-n', ns, ...[...base, ...set].flatMap((s) => ['--set', s])]);
    // THEN helm fails, saying what to change, and nothing was created: no release, no object in the
    // namespace, no cluster-wide RBAC (and no CRD: the chart has none, the test above)
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
    const list = expectOk(await helm(kubeconfig, ['list', '-n', ns, '-a', '-q']), 'helm list');
    expect(list.stdout.trim()).toBe('');
    const left = expectOk(
      await kubectl(kubeconfig, ['get', '-n', ns, 'deployments,services,serviceaccounts,configmaps,secrets,roles,rolebindings,poddisruptionbudgets,sessionrecordings', '-o', 'name']),
      'kubectl get',
    );
    expect(left.stdout.split('\n').filter((l) => l && !['serviceaccount/default', 'configmap/kube-root-ca.crt'].includes(l))).toEqual([]);
    const roles = expectOk(await kubectl(kubeconfig, ['get', 'clusterroles,clusterrolebindings', '-o', 'name']), 'kubectl get clusterroles');
    expect(roles.stdout).not.toContain(release);
  });
});

describe('helm install and uninstall', () => {
  it('creates the operator, whose pods pass restricted and become ready; uninstall keeps the CRD and the SessionRecording', async () => {
    // GIVEN a namespace that enforces Pod Security "restricted"
    const ns = await freshNamespace(kc, 'chart-install', RESTRICTED);
    const release = ns; // unique: the ClusterRoles are named after it
    const fullname = `${release}-srec`;
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);

    // WHEN the chart is installed with a SessionRecording
    const install = await helm(
      kubeconfig,
      ['install', release, CHART_DIR, '-n', ns, '-f', CI_VALUES[0], ...imageOverrides(), '--wait', '--timeout', '150s'],
      { timeoutMs: 170_000 },
    );
    expectOk(install, 'helm install');
    expect(install.stdout).toContain(`kubectl -n ${ns} get srec prod`);
    expect(install.stdout).toContain('ssh -p 2222 <targetUser>@<host>@<recorder-service-address>');

    // THEN the operator's objects exist and both replicas run under "restricted"
    const deploy = await apps.readNamespacedDeployment({ name: fullname, namespace: ns });
    expect(deploy.status?.readyReplicas).toBe(2);
    await core.readNamespacedServiceAccount({ name: fullname, namespace: ns });
    await core.readNamespacedService({ name: `${fullname}-metrics`, namespace: ns });
    const role = await rbac.readNamespacedRole({ name: `${fullname}-leader-election`, namespace: ns });
    expect(expandRules(role.rules as PolicyRule[])).toContain('create coordination.k8s.io/leases');
    await rbac.readClusterRole({ name: fullname });
    await rbac.readClusterRoleBinding({ name: `${fullname}-volumes` });
    const sr = (await custom.getNamespacedCustomObject({
      group: 'recording.privx.io',
      version: 'v1alpha1',
      namespace: ns,
      plural: 'sessionrecordings',
      name: 'prod',
    })) as { spec: { syslog: { audit: { sensitive: { to: string } } } } };
    expect(sr.spec.syslog.audit.sensitive.to).toBe('@@siem.internal:6515');

    // WHEN it is uninstalled
    const uninstall = expectOk(await helm(kubeconfig, ['uninstall', release, '-n', ns, '--wait', '--timeout', '120s']), 'helm uninstall');
    expect(uninstall.stdout).toContain('[SessionRecording] prod');

    // THEN the operator's objects are gone, the CRD and the SessionRecording stay
    await waitFor('the operator Deployment to be deleted', async () => {
      try {
        await apps.readNamespacedDeployment({ name: fullname, namespace: ns });
        return false;
      } catch (e) {
        return isNotFound(e);
      }
    });
    await expect(rbac.readClusterRole({ name: fullname })).rejects.toMatchObject({ code: 404 });
    await expect(rbac.readClusterRoleBinding({ name: fullname })).rejects.toMatchObject({ code: 404 });
    const crd = expectOk(
      await kubectl(kubeconfig, ['get', 'crd', 'sessionrecordings.recording.privx.io', '-o', 'jsonpath={.metadata.annotations.helm\\.sh/resource-policy}']),
      'CRD kept',
    );
    expect(crd.stdout).toBe('keep');
    expectOk(await kubectl(kubeconfig, ['-n', ns, 'get', 'srec', 'prod']), 'SessionRecording kept');
  });
});

describe('the srec-crds chart', () => {
  const CRD = 'sessionrecordings.recording.privx.io';
  const columnDescription = async (): Promise<string> =>
    expectOk(await kubectl(kubeconfig, ['get', 'crd', CRD, '-o', 'jsonpath={.spec.versions[0].additionalPrinterColumns[0].description}']), 'kubectl get crd').stdout;

  it('refuses any value, creating nothing', async () => {
    const ns = await freshNamespace(kc, 'crds-refused', RESTRICTED);
    // GIVEN an option of the srec chart given to srec-crds by mistake, WHEN it is installed
    const r = await helm(kubeconfig, ['install', 'srec-crds', CRDS_CHART_DIR, '-n', ns, '--set', 'sessionRecording.create=true']);
    // THEN helm refuses it before anything exists
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("additional properties 'sessionRecording' not allowed");
    expect(expectOk(await helm(kubeconfig, ['list', '-n', ns, '-a', '-q']), 'helm list').stdout.trim()).toBe('');
  });

  it('takes over the CRD, upgrades it with helm upgrade, and keeps it on uninstall', async () => {
    // GIVEN the CRD applied with kubectl (as beforeAll did, and as an install from manifests/ or from an
    // older chart's crds/ leaves it), and a later srec-crds whose CRD differs (a column's description)
    const ns = await freshNamespace(kc, 'crds-install', RESTRICTED);
    const release = `crds-${ns.slice(-5)}`;
    const before = await columnDescription();
    const later = path.join(mkdtempSync(path.join(tmpdir(), 'srec-crds-')), 'srec-crds');
    cpSync(CRDS_CHART_DIR, later, { recursive: true });
    const template = path.join(later, 'templates', `${CRD}.yaml`);
    const text = readFileSync(template, 'utf8');
    expect(text).toContain(`description: ${before}`);
    writeFileSync(template, text.replace(`description: ${before}`, 'description: A later chart says this.'));
    try {
      // WHEN srec-crds is installed, taking ownership of the CRD
      expectOk(await helm(kubeconfig, ['install', release, CRDS_CHART_DIR, '-n', ns, '--take-ownership', '--wait']), 'helm install srec-crds');
      const owner = expectOk(await kubectl(kubeconfig, ['get', 'crd', CRD, '-o', 'jsonpath={.metadata.annotations.meta\\.helm\\.sh/release-name}']), 'kubectl get crd');
      // THEN the release owns it
      expect(owner.stdout).toBe(release);
      // WHEN the later chart is applied with helm upgrade, THEN the CRD changes with it (Helm never
      // upgrades a chart's crds/; a template it does)
      expectOk(await helm(kubeconfig, ['upgrade', release, later, '-n', ns, '--wait']), 'helm upgrade srec-crds');
      expect(await columnDescription()).toBe('A later chart says this.');
      expectOk(await helm(kubeconfig, ['upgrade', release, CRDS_CHART_DIR, '-n', ns, '--wait']), 'helm upgrade srec-crds back');
      expect(await columnDescription()).toBe(before);
      // WHEN it is uninstalled
      const uninstall = expectOk(await helm(kubeconfig, ['uninstall', release, '-n', ns, '--wait']), 'helm uninstall srec-crds');
      // THEN the CRD stays (helm.sh/resource-policy: keep), served as before
      expect(uninstall.stdout).toContain(`[CustomResourceDefinition] ${CRD}`);
      expectOk(await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=30s', `crd/${CRD}`]), 'CRD kept');
    } finally {
      // Whatever happened, the other tests' CRD is the repository's again.
      await kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]);
    }
  });
});

describe('every other value the API server would refuse fails helm install before anything is created', () => {
  // The chart's own Kubernetes-typed values (labels, annotations, resources, scheduling, names): the values
  // schema's definitions and srec.validateValues.operatorResources. Each case: the values, the rendered
  // object they would change and how, shown refused by the API server first, and what helm must say.
  type Obj = KubeObject & { spec?: any };
  const pod = (o: Obj) => o.spec.template.spec;
  const cases: Array<[string, string[], string, (o: Obj) => void, string]> = [
    ['a quantity that is none', ['operator.resources.limits.cpu=abc'], 'Deployment', (o) => void (pod(o).containers[0].resources.limits.cpu = 'abc'), "at '/operator/resources/limits/cpu'"],
    ['a resource that is no resource name', ['operator.resources.limits.foo=1'], 'Deployment', (o) => void (pod(o).containers[0].resources.limits.foo = '1'), "at '/operator/resources/limits': additional properties 'foo' not allowed"],
    ['a request above its limit', ['operator.resources.requests.memory=1Gi', 'operator.resources.limits.memory=128Mi'], 'Deployment',
      (o) => void Object.assign(pod(o).containers[0].resources, { requests: { memory: '1Gi' }, limits: { memory: '128Mi' } }), 'operator.resources: memory: the request 1Gi is above the limit 128Mi'],
    ['a pod label key with a space', ['operator.podLabels.bad key=x'], 'Deployment', (o) => void (o.spec.template.metadata.labels['bad key'] = 'x'), "at '/operator/podLabels': additional properties 'bad key' not allowed"],
    ['a pod label value ending in -', ['operator.podLabels.tier=b_ad-'], 'Deployment', (o) => void (o.spec.template.metadata.labels.tier = 'b_ad-'), "at '/operator/podLabels/tier'"],
    ['a pod annotation key with a space', ['operator.podAnnotations.bad key=x'], 'Deployment', (o) => void (o.spec.template.metadata.annotations = { 'bad key': 'x' }), "at '/operator/podAnnotations': additional properties 'bad key' not allowed"],
    ['a node selector key with a space', ['operator.nodeSelector.bad key=x'], 'Deployment', (o) => void (pod(o).nodeSelector = { 'bad key': 'x' }), "at '/operator/nodeSelector': additional properties 'bad key' not allowed"],
    ['an upper-case priority class', ['operator.priorityClassName=Bad_Name'], 'Deployment', (o) => void (pod(o).priorityClassName = 'Bad_Name'), "at '/operator/priorityClassName'"],
    ['a toleration operator that is none', ['operator.tolerations[0].key=k', 'operator.tolerations[0].operator=Bad'], 'Deployment', (o) => void (pod(o).tolerations = [{ key: 'k', operator: 'Bad' }]), "at '/operator/tolerations/0/operator'"],
    ['a toleration without a key that is not Exists', ['operator.tolerations[0].operator=Equal'], 'Deployment', (o) => void (pod(o).tolerations = [{ operator: 'Equal' }]), "at '/operator/tolerations/0'"],
    ['tolerationSeconds without NoExecute', ['operator.tolerations[0].key=k', 'operator.tolerations[0].operator=Exists', 'operator.tolerations[0].effect=NoSchedule', 'operator.tolerations[0].tolerationSeconds=30'], 'Deployment',
      (o) => void (pod(o).tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 30 }]), "at '/operator/tolerations/0'"],
    ['a spread constraint of skew 0', ['operator.topologySpreadConstraints[0].maxSkew=0', 'operator.topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname', 'operator.topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway'], 'Deployment',
      (o) => void (pod(o).topologySpreadConstraints = [{ maxSkew: 0, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' }]), "at '/operator/topologySpreadConstraints/0/maxSkew'"],
    ['node affinity In without values', ['operator.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=zone', 'operator.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=In'], 'Deployment',
      (o) => void (pod(o).affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In' }] }] } } }), "at '/operator/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchExpressions/0'"],
    ['pod anti-affinity of weight 0', ['operator.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight=0', 'operator.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey=kubernetes.io/hostname'], 'Deployment',
      (o) => void (pod(o).affinity = { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' } }] } }), "at '/operator/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/0/weight'"],
    ['a ServiceAccount annotation key with a space', ['serviceAccount.annotations.bad key=x'], 'ServiceAccount', (o) => void (o.metadata.annotations = { 'bad key': 'x' }), "at '/serviceAccount/annotations': additional properties 'bad key' not allowed"],
    ['a metrics Service annotation key with a space', ['metrics.service.annotations.bad key=x'], 'Service', (o) => void (o.metadata.annotations = { 'bad key': 'x' }), "at '/metrics/service/annotations': additional properties 'bad key' not allowed"],
    ['a name override in upper case', ['nameOverride=Bad_Name'], 'ServiceAccount', (o) => void (o.metadata.name = `${o.metadata.name}-Bad_Name`), "at '/nameOverride'"],
    ['a full name beginning with a digit (a Service name must not)', ['fullnameOverride=1srec'], 'Service', (o) => void (o.metadata.name = '1srec-metrics'), "at '/fullnameOverride'"],
  ];

  let ns: string;
  let defaults: Obj[];
  beforeAll(async () => {
    ns = await freshNamespace(kc, 'chart-refused-k8s', RESTRICTED);
    defaults = parseObjects(expectOk(await helm(kubeconfig, ['template', 'srec', CHART_DIR, '--namespace', ns]), 'helm template').stdout) as Obj[];
  });

  it.each(cases)('%s', async (_title, set, kind, mutate, message) => {
    // GIVEN the object those values would change, changed so: the API server refuses it
    const obj = structuredClone(find(defaults, kind) as Obj);
    mutate(obj);
    const dry = await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(obj) });
    expect(dry.code).not.toBe(0);
    // WHEN the values are given to helm install
    const release = `bad-${Math.random().toString(36).slice(2, 7)}`;
    const r = await helm(kubeconfig, ['install', release, CHART_DIR, '-n', ns, ...set.flatMap((s) => ['--set', s])]);
    // THEN helm fails naming the value, and nothing was created
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(expectOk(await helm(kubeconfig, ['list', '-n', ns, '-a', '-q']), 'helm list').stdout.trim()).toBe('');
    const left = expectOk(await kubectl(kubeconfig, ['get', '-n', ns, 'deployments,services,serviceaccounts,configmaps,secrets,roles,rolebindings,poddisruptionbudgets', '-o', 'name']), 'kubectl get');
    expect(left.stdout.split('\n').filter((l) => l && !['serviceaccount/default', 'configmap/kube-root-ca.crt'].includes(l))).toEqual([]);
    const roles = expectOk(await kubectl(kubeconfig, ['get', 'clusterroles,clusterrolebindings', '-o', 'name']), 'kubectl get clusterroles');
    expect(roles.stdout).not.toContain(release);
  });

  it('accepts the same kinds of values when they are right', async () => {
    const ok = ['operator.podLabels.tier=ops', 'operator.podAnnotations.example\\.com/owner=platform team', 'operator.nodeSelector.kubernetes\\.io/os=linux',
      'operator.resources.requests.cpu=0.5', 'operator.resources.limits.cpu=500m', 'operator.priorityClassName=srec-high',
      'operator.tolerations[0].operator=Exists', 'operator.topologySpreadConstraints[0].maxSkew=1', 'operator.topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone',
      'operator.topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway', 'nameOverride=recorders'];
    const text = expectOk(await helm(kubeconfig, ['template', 'srec', CHART_DIR, '--namespace', ns, ...ok.flatMap((s) => ['--set', s])]), 'helm template').stdout;
    expectOk(await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: text }), 'kubectl apply --dry-run=server');
  });
});
