import { example, expectRestrictedPod, IMAGES, withSpec } from '../../test/cr.js';
import { validateObject } from '../api/load.js';
import type { SessionRecording } from '../api/types.js';
import { buildConsole, consoleArgs, toCpu } from './console.js';

const enabled = (cr = example('nfs', { uid: 'uid-1' }), f: (s: Record<string, any>) => void = () => {}) =>
  withSpec(cr, (s) => {
    s.console.enabled = true;
    f(s);
  });
/** `cr` as the API server stores it: validated, with the schema's defaults. */
const validated = (cr: SessionRecording): SessionRecording => {
  const r = validateObject(cr);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.cr;
};
const build = (cr = enabled()) => buildConsole(cr, { images: IMAGES });
const get = (kind: string, objs = build()) => objs.find((o) => o.kind === kind) as any;

describe('buildConsole', () => {
  it('renders nothing while spec.console.enabled is false (the default)', () => {
    const cr = example('nfs', { uid: 'uid-1' });
    expect(cr.spec.console?.enabled).toBe(false);
    expect(buildConsole(cr, { images: IMAGES })).toEqual([]);
  });

  it('renders a ServiceAccount, a Deployment and a Service named <cr>-console, owned by the CR, and a ClusterRoleBinding', () => {
    const objs = build();
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ServiceAccount/prod-console',
      'Deployment/prod-console',
      'Service/prod-console',
      'ClusterRoleBinding/srec-privx-prod-console',
    ]);
    for (const o of objs.filter((x) => x.kind !== 'ClusterRoleBinding')) {
      expect(o.metadata.namespace).toBe('privx');
      expect(o.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'prod', 'app.kubernetes.io/component': 'console', 'app.kubernetes.io/managed-by': 'srec-operator' });
      expect(o.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'SessionRecording', name: 'prod', uid: 'uid-1', controller: true })]);
    }
  });

  it('binds only the system:auth-delegator ClusterRole to the console ServiceAccount, with no owner reference (it is cluster-scoped)', () => {
    const b = get('ClusterRoleBinding');
    expect(b.metadata.namespace).toBeUndefined();
    expect(b.metadata.ownerReferences).toBeUndefined();
    expect(b.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'prod', 'recording.privx.io/owner-namespace': 'privx' });
    expect(b.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' });
    expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'prod-console', namespace: 'privx' }]);
  });

  it('runs under the restricted pod security profile as the console ServiceAccount, with its token', () => {
    const pod = get('Deployment').spec.template.spec;
    const c = pod.containers[0];
    expect(pod.serviceAccountName).toBe('prod-console');
    expect(pod.automountServiceAccountToken).toBe(true);
    expectRestrictedPod(pod);
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 8080 });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/healthz', port: 8080 });
  });

  it('mounts the share read-only at dataFolder, in the volume and in the mount', () => {
    // GIVEN a custom dataFolder
    const pod = get('Deployment', build(enabled(undefined, (s) => (s.dataFolder = '/data/audit')))).spec.template.spec;
    const mounts = Object.fromEntries(pod.containers[0].volumeMounts.map((m: any) => [m.name, m]));
    const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    expect(mounts.share).toMatchObject({ mountPath: '/data/audit', readOnly: true });
    expect(volumes.share.persistentVolumeClaim).toEqual({ claimName: 'prod-share', readOnly: true });
    // AND no mount but /tmp is writable
    for (const m of pod.containers[0].volumeMounts) if (m.mountPath !== '/tmp') expect(m).toMatchObject({ readOnly: true });
  });

  it('runs srec console in-cluster for this SessionRecording, auditing to the syslog Service', () => {
    const c = get('Deployment').spec.template.spec.containers[0];
    expect(c.image).toBe('srec:test');
    expect(c.args).toEqual([
      'console', '--data', '/var/privx/audit', '--listen', '0.0.0.0:8080', '--in-cluster', '--namespace', 'privx', '--recording', 'prod',
      '--audit', 'prod-syslog:5514', '--audit-protocol', 'tcp', '--audit-format', 'syslog',
    ]);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
  });

  it('sends its events to stdout (no --audit) when syslog is off', () => {
    const args = consoleArgs(enabled(undefined, (s) => (s.syslog.enabled = false)));
    expect(args).not.toContain('--audit');
  });

  it('mounts the trail key Secrets read-only and passes --keys when spec.trail has them', () => {
    const cr = enabled(undefined, (s) => {
      s.trail = { encryption: { secretName: 'trail-enc' }, signing: { secretName: 'trail-sign' } };
    });
    const c = get('Deployment', build(cr)).spec.template.spec.containers[0];
    expect(c.args.slice(-2)).toEqual(['--keys', '/etc/srec/trail']);
    const volumes = Object.fromEntries(get('Deployment', build(cr)).spec.template.spec.volumes.map((v: any) => [v.name, v]));
    expect(c.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'trail-encryption', mountPath: '/etc/srec/trail/encryption.json', subPath: 'encryption.json', readOnly: true },
        { name: 'trail-signing', mountPath: '/etc/srec/trail/signing.key', subPath: 'signing.key', readOnly: true },
      ]),
    );
    expect(volumes['trail-encryption'].secret.secretName).toBe('trail-enc');
    expect(volumes['trail-signing'].secret.secretName).toBe('trail-sign');
    expect(consoleArgs(enabled())).not.toContain('--keys');
  });

  it('takes replicas, port and resources from spec.console', () => {
    const cr = enabled(undefined, (s) => {
      s.console.replicas = 3;
      s.console.port = 9443;
      s.console.resources = { cpuRequest: '2', memoryRequest: '1Gi', memoryLimit: '2Gi' };
    });
    const d = get('Deployment', build(cr));
    expect(d.spec.replicas).toBe(3);
    expect(d.spec.template.spec.containers[0].resources).toEqual({ requests: { cpu: '2', memory: '1024Mi' }, limits: { memory: '2048Mi' } });
    expect(get('Service', build(cr)).spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'http', port: 9443, targetPort: 9443, protocol: 'TCP' }], selector: { 'app.kubernetes.io/component': 'console', 'app.kubernetes.io/instance': 'prod' } });
  });

  it('with spec.console.oidc: the --oidc-* flags with their defaults, the client secret mounted read-only and never in the args', () => {
    // GIVEN the required OIDC fields only, through the API's validation and defaults
    const cr = validated(
      enabled(undefined, (s) => {
        s.console.oidc = { issuerURL: 'https://login.example.com/realms/ops', clientID: 'srec-console', clientSecretName: 'console-oidc', redirectURL: 'https://console.example.com/oidc/callback' };
      }),
    );
    const pod = get('Deployment', build(cr)).spec.template.spec;
    const c = pod.containers[0];
    expect(c.args.slice(c.args.indexOf('--oidc-issuer'))).toEqual([
      '--oidc-issuer', 'https://login.example.com/realms/ops',
      '--oidc-client-id', 'srec-console',
      '--oidc-client-secret-file', '/etc/srec/oidc/client-secret',
      '--oidc-redirect-url', 'https://console.example.com/oidc/callback',
      '--oidc-username-claim', 'email',
      '--oidc-groups-claim', 'groups',
      '--oidc-username-prefix', 'oidc:',
      '--oidc-groups-prefix', 'oidc:',
      '--oidc-scopes', 'openid profile email',
    ]);
    expect(c.volumeMounts).toEqual(expect.arrayContaining([{ name: 'oidc-client', mountPath: '/etc/srec/oidc/client-secret', subPath: 'client-secret', readOnly: true }]));
    expect(pod.volumes.find((v: any) => v.name === 'oidc-client').secret).toMatchObject({ secretName: 'console-oidc', defaultMode: 0o440 });
    expect(consoleArgs(enabled())).not.toContain('--oidc-issuer');
  });

  it('refuses an OIDC issuer or redirect that is not https, or a redirect elsewhere than /oidc/callback, naming the field', () => {
    const bad = (oidc: Record<string, string>) =>
      validateObject(withSpec(enabled(), (s) => (s.console.oidc = { issuerURL: 'https://login.example.com', clientID: 'c', clientSecretName: 's', redirectURL: 'https://console.example.com/oidc/callback', ...oidc })));
    expect(bad({})).toMatchObject({ ok: true });
    expect(bad({ issuerURL: 'http://login.example.com' })).toMatchObject({ ok: false, errors: [expect.objectContaining({ path: 'spec.console.oidc.issuerURL' })] });
    expect(bad({ redirectURL: 'http://console.example.com/oidc/callback' })).toMatchObject({ ok: false, errors: [expect.objectContaining({ path: 'spec.console.oidc.redirectURL' })] });
    expect(bad({ redirectURL: 'https://console.example.com/callback' })).toMatchObject({ ok: false, errors: [expect.objectContaining({ path: 'spec.console.oidc.redirectURL' })] });
  });

  it('keeps each browser on one console pod: its login lives there', () => {
    expect(get('Service').spec.sessionAffinity).toBe('ClientIP');
  });

  it('names the field of a cpu quantity it cannot read', () => {
    expect(() => toCpu('0.5', 'spec.console.resources.cpuRequest')).toThrow('spec.console.resources.cpuRequest: "0.5" is not a cpu quantity');
  });
});
