// The chart's optional parts: a ServiceMonitor, a securityContext with no fixed uid (OpenShift
// restricted-v2), the auditors' console and its ClusterRoles, and the `helm test` pod that checks the recorder answers SSH, whose script is run
// here against a real OpenSSH server (sshd -i behind a local port).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import type { KubeConfig } from '@kubernetes/client-node';
import { deleteFreshNamespaces, freshNamespace, useCluster } from '../../e2e/support/cluster.js';
import { example, IMAGES, withSpec } from '../../operator/test/cr.js';
import { renderObjects } from '../../operator/src/desired/index.js';
import { CI_VALUES, CRD_FILE, expectOk, find, type KubeObject, kubectl, renderChart, RESTRICTED, run } from './support.js';

jest.setTimeout(120_000);

let kubeconfig: string;
let kc: KubeConfig;
let ns: string;

beforeAll(async () => {
  ({ kubeconfigPath: kubeconfig, kc } = await useCluster());
  ns = await freshNamespace(kc, 'chart-options', RESTRICTED);
  expectOk(await kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]), 'apply CRD');
  expectOk(await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/sessionrecordings.recording.privx.io']), 'wait for CRD');
});

afterAll(async () => {
  await deleteFreshNamespaces();
});

type Pod = { spec: { securityContext?: Record<string, unknown>; containers: Array<{ securityContext?: Record<string, unknown>; args?: string[]; env?: Array<{ name: string; value: string }> }> } };

describe('metrics.serviceMonitor', () => {
  it('is off by default; on, it scrapes the metrics Service by its labels and port name', async () => {
    expect(find((await renderChart(kubeconfig, { namespace: ns })).objects, 'ServiceMonitor')).toBeUndefined();
    const { objects } = await renderChart(kubeconfig, { namespace: ns, set: ['metrics.serviceMonitor.enabled=true', 'metrics.serviceMonitor.labels.release=prom'] });
    const sm = find(objects, 'ServiceMonitor') as KubeObject & { spec: any };
    const svc = find(objects, 'Service', 'srec-metrics') as KubeObject & { spec: { ports: Array<{ name: string }> } };
    expect(sm.metadata.labels?.release).toBe('prom');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Record<string, string>)) expect(svc.metadata.labels?.[k]).toBe(v);
    expect(svc.spec.ports.map((p) => p.name)).toContain(sm.spec.endpoints[0].port);
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: [ns] });
  });
});

describe('podSecurity.fixedUid=false', () => {
  it('sets no runAsUser or runAsGroup, and the operator still passes Pod Security restricted', async () => {
    // GIVEN the chart rendered for a platform that assigns the uid itself
    const { text, objects } = await renderChart(kubeconfig, { namespace: ns, set: ['podSecurity.fixedUid=false'] });
    const pod = (find(objects, 'Deployment') as unknown as { spec: { template: Pod } }).spec.template;
    // THEN no fixed uid is left anywhere, runAsNonRoot stays
    expect(JSON.stringify(pod)).not.toMatch(/runAsUser|runAsGroup/);
    expect(pod.spec.securityContext?.runAsNonRoot).toBe(true);
    const r = expectOk(await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: text }), 'kubectl apply --dry-run=server');
    expect(r.stderr).not.toMatch(/PodSecurity|would violate/);
  });
});

describe('spec.podSecurity.fixedUid=false (the SessionRecording\'s pods)', () => {
  it('renders recorder and syslog pods with no fixed uid that the API server admits under restricted', async () => {
    // GIVEN what the operator renders for a SessionRecording that leaves the uid to the platform
    const cr = withSpec(example('nfs'), (s) => (s.podSecurity = { fixedUid: false }));
    const deployments = renderObjects({ ...cr, metadata: { ...cr.metadata, namespace: ns } }, { images: IMAGES }).filter((o) => o.kind === 'Deployment');
    expect(deployments).toHaveLength(2);
    expect(JSON.stringify(deployments)).not.toMatch(/runAsUser|runAsGroup|"fsGroup"/);
    // WHEN the API server validates them in a namespace enforcing "restricted", THEN it admits them
    const r = expectOk(
      await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: deployments.map((d) => JSON.stringify(d)).join('\n') }),
      'kubectl apply --dry-run=server',
    );
    expect(r.stderr).not.toMatch(/PodSecurity|would violate/);
  });
});

describe('console.*', () => {
  it('passes console.* into the SessionRecording, which the API server accepts, and ships the auditor ClusterRoles', async () => {
    // GIVEN the chart rendered with the console on, on its own port
    const { text, objects } = await renderChart(kubeconfig, {
      namespace: ns,
      valuesFiles: [CI_VALUES[0]],
      set: ['console.enabled=true', 'console.port=9443', 'console.resources.memoryLimit=1Gi'],
    });
    // THEN the SessionRecording carries them
    const sr = find(objects, 'SessionRecording') as KubeObject & { spec: { console: unknown } };
    expect(sr.spec.console).toEqual({ enabled: true, replicas: 1, port: 9443, resources: { cpuRequest: '100m', memoryRequest: '128Mi', memoryLimit: '1Gi' } });
    // AND single sign-on, when its four values are given, with the CRD's defaults for the rest
    const sso = await renderChart(kubeconfig, {
      namespace: ns,
      valuesFiles: [CI_VALUES[0]],
      set: ['console.enabled=true', 'console.oidc.issuerURL=https://login.example.com/realms/ops', 'console.oidc.clientID=srec-console', 'console.oidc.clientSecretName=console-oidc', 'console.oidc.redirectURL=https://console.example.com/oidc/callback'],
    });
    expect((find(sso.objects, 'SessionRecording') as KubeObject & { spec: { console: { oidc: unknown } } }).spec.console.oidc).toEqual({
      issuerURL: 'https://login.example.com/realms/ops',
      clientID: 'srec-console',
      clientSecretName: 'console-oidc',
      redirectURL: 'https://console.example.com/oidc/callback',
      usernameClaim: 'email',
      groupsClaim: 'groups',
      usernamePrefix: 'oidc:',
      groupsPrefix: 'oidc:',
      scopes: 'openid profile email',
    });
    expectOk(await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: sso.text }), 'kubectl apply --dry-run=server (oidc)');
    // AND the ClusterRoles for people grant get on the console's subresources and nothing else
    const rules = (name: string) => (find(objects, 'ClusterRole', name) as KubeObject & { rules: unknown }).rules;
    expect(rules('srec-auditor')).toEqual([{ apiGroups: ['recording.privx.io'], resources: ['sessionrecordings/recordings'], verbs: ['get'] }]);
    expect(rules('srec-file-auditor')).toEqual([{ apiGroups: ['recording.privx.io'], resources: ['sessionrecordings/recordings', 'sessionrecordings/files'], verbs: ['get'] }]);
    // AND the API server accepts the whole render (the SessionRecording against the CRD's schema)
    const r = expectOk(await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: text }), 'kubectl apply --dry-run=server');
    expect(r.stderr).not.toMatch(/PodSecurity|would violate/);
  });

  it("renders a console pod that the API server admits under restricted", async () => {
    // GIVEN what the operator renders for a SessionRecording with the console on
    const cr = withSpec(example('nfs'), (s) => (s.console.enabled = true));
    const objs = renderObjects({ ...cr, metadata: { ...cr.metadata, namespace: ns } }, { images: IMAGES });
    const consoleDeployment = objs.filter((o) => o.kind === 'Deployment' && o.metadata.name === 'prod-console');
    expect(consoleDeployment).toHaveLength(1);
    // WHEN the API server validates it in a namespace enforcing "restricted", THEN it admits it
    const r = expectOk(
      await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: consoleDeployment.map((d) => JSON.stringify(d)).join('\n') }),
      'kubectl apply --dry-run=server',
    );
    expect(r.stderr).not.toMatch(/PodSecurity|would violate/);
  });
});

describe('helm test: the recorder answers SSH', () => {
  let testPod: KubeObject & Pod;
  beforeAll(async () => {
    const { objects } = await renderChart(kubeconfig, { namespace: ns, valuesFiles: [CI_VALUES[0]] });
    testPod = objects.find((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test') as KubeObject & Pod;
  });

  it("is a test hook for the SessionRecording's recorder Service, accepted under restricted", async () => {
    expect(testPod.metadata.annotations?.['helm.sh/hook-delete-policy']).toBe('before-hook-creation,hook-succeeded');
    const env = Object.fromEntries((testPod.spec.containers[0].env ?? []).map((e) => [e.name, e.value]));
    expect(env).toEqual({ RECORDER_HOST: `prod-recorder.${ns}.svc`, RECORDER_PORT: '2222' });
    const r = expectOk(await kubectl(kubeconfig, ['apply', '--dry-run=server', '-n', ns, '-f', '-'], { input: JSON.stringify(testPod) }), 'dry-run test pod');
    expect(r.stderr).not.toMatch(/PodSecurity|would violate/);
    const none = await renderChart(kubeconfig, { namespace: ns });
    expect(none.objects.some((o) => o.kind === 'Pod')).toBe(false);
  });

  it("its script passes against a real OpenSSH server and fails against something that is not SSH", async () => {
    // GIVEN sshd -i (OpenSSH's inetd mode) behind a local port, and a port that answers HTTP
    const dir = mkdtempSync(path.join(tmpdir(), 'srec-helm-test-'));
    const key = path.join(dir, 'host_ed25519');
    expect(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status).toBe(0);
    const sshd = net.createServer((sock) => {
      const p = spawn('/usr/sbin/sshd', ['-i', '-f', '/dev/null', '-o', `HostKey=${key}`, '-o', 'PidFile=none'], { stdio: ['pipe', 'pipe', 'ignore'] });
      sock.pipe(p.stdin);
      p.stdout.pipe(sock);
      sock.on('close', () => p.kill());
      sock.on('error', () => p.kill());
    });
    const http = net.createServer((sock) => sock.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const listen = (s: net.Server) => new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port)));
    const [sshPort, httpPort] = [await listen(sshd), await listen(http)];
    const script = (testPod.spec.containers[0].args ?? [])[0];
    try {
      // WHEN the hook's script runs against each
      const ok = await run(process.execPath, ['-e', script], { env: { RECORDER_HOST: '127.0.0.1', RECORDER_PORT: String(sshPort) } });
      const bad = await run(process.execPath, ['-e', script], { env: { RECORDER_HOST: '127.0.0.1', RECORDER_PORT: String(httpPort) } });
      // THEN it passes on the SSH server's identification and fails, saying why, on the other
      expect(ok.stdout).toMatch(/answers SSH-2\.0-OpenSSH/);
      expect(ok.code).toBe(0);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('not an SSH server');
    } finally {
      sshd.close();
      http.close();
    }
  });
});
