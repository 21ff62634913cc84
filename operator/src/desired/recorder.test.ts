import { example, expectRestrictedPod, IMAGES, withSpec } from '../../test/cr.js';
import { buildRecorder } from './recorder.js';

const build = (cr = example('nfs', { uid: 'uid-1' })) => buildRecorder(cr, { images: IMAGES });
const get = (kind: string, objs = build()) => objs.find((o) => o.kind === kind) as any;

describe('buildRecorder', () => {
  it('renders a ConfigMap, a Deployment and a Service named <cr>-recorder, owned by the CR', () => {
    const objs = build();
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['ConfigMap/prod-recorder', 'Deployment/prod-recorder', 'Service/prod-recorder']);
    for (const o of objs) {
      expect(o.metadata.namespace).toBe('privx');
      expect(o.metadata.labels).toEqual({
        'app.kubernetes.io/name': 'srec',
        'app.kubernetes.io/instance': 'prod',
        'app.kubernetes.io/component': 'recorder',
        'app.kubernetes.io/managed-by': 'srec-operator',
      });
      expect(o.metadata.ownerReferences).toEqual([
        { apiVersion: 'recording.privx.io/v1alpha1', kind: 'SessionRecording', name: 'prod', uid: 'uid-1', controller: true, blockOwnerDeletion: true },
      ]);
    }
  });

  it('runs under the restricted pod security profile', () => {
    const pod = get('Deployment').spec.template.spec;
    const c = pod.containers[0];
    expectRestrictedPod(pod);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('mounts the share at dataFolder, the spool on /tmp with its size limit, and every Secret read-only', () => {
    // GIVEN a custom dataFolder
    const cr = withSpec(example('nfs', { uid: 'u' }), (s) => {
      s.dataFolder = '/data/audit';
    });
    const pod = get('Deployment', build(cr)).spec.template.spec;
    const mounts = Object.fromEntries(pod.containers[0].volumeMounts.map((m: any) => [m.name, m]));
    const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    // THEN the share claim is at /data/audit
    expect(mounts.share.mountPath).toBe('/data/audit');
    expect(volumes.share.persistentVolumeClaim.claimName).toBe('prod-share');
    // AND /tmp is an emptyDir limited to tempSizeLimit (10Gi)
    expect(mounts.tmp.mountPath).toBe('/tmp');
    expect(volumes.tmp.emptyDir.sizeLimit).toBe('10240Mi');
    // AND the Secrets are mounted read-only where recorder.yaml points
    expect(mounts.hostkey).toMatchObject({ mountPath: '/etc/srec/hostkey', readOnly: true });
    expect(volumes.hostkey.secret.secretName).toBe('prod-recorder-hostkey');
    expect(mounts.users).toMatchObject({ mountPath: '/etc/srec/users', readOnly: true });
    expect(volumes.users.secret.secretName).toBe('recorder-users');
    expect(mounts['creds-db-1']).toMatchObject({ mountPath: '/etc/srec/creds/db-1', readOnly: true });
    expect(volumes['creds-db-1'].secret.secretName).toBe('db-1-login');
    expect(mounts.config).toMatchObject({ mountPath: '/etc/srec/config', readOnly: true });
  });

  it('mounts spec.trail\'s Secrets read-only as one key set directory and names it in recorder.yaml', () => {
    // GIVEN both trail Secrets named
    const cr = withSpec(example('nfs', { uid: 'u' }), (s) => {
      s.trail = { encryption: { secretName: 'trail-kek' }, signing: { secretName: 'trail-sign' } };
    });
    const objs = build(cr);
    const pod = get('Deployment', objs).spec.template.spec;
    const mounts = Object.fromEntries(pod.containers[0].volumeMounts.map((m: any) => [m.name, m]));
    const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    // THEN each is one read-only file in /etc/srec/trail
    expect(mounts['trail-encryption']).toEqual({ name: 'trail-encryption', mountPath: '/etc/srec/trail/encryption.json', subPath: 'encryption.json', readOnly: true });
    expect(volumes['trail-encryption'].secret.secretName).toBe('trail-kek');
    expect(mounts['trail-signing']).toEqual({ name: 'trail-signing', mountPath: '/etc/srec/trail/signing.key', subPath: 'signing.key', readOnly: true });
    expect(volumes['trail-signing'].secret.secretName).toBe('trail-sign');
    // AND recorder.yaml points the recorder at it; without spec.trail it has no trail at all
    expect(get('ConfigMap', objs).data['recorder.yaml']).toContain('trail:\n  keysDir: /etc/srec/trail\n');
    expect(get('ConfigMap').data['recorder.yaml']).not.toContain('trail:');
    expect(get('Deployment').spec.template.spec.volumes.map((v: any) => v.name)).not.toContain('trail-encryption');
  });

  it('mounts an existing claim when the spec names one', () => {
    const pod = get('Deployment', build(example('existing-claim'))).spec.template.spec;
    expect(pod.volumes.find((v: any) => v.name === 'share').persistentVolumeClaim.claimName).toBe('my-rwx-claim');
  });

  it('runs `srec recorder --config` with probes on 9090 and the SSH port from the spec', () => {
    const d = get('Deployment');
    const c = d.spec.template.spec.containers[0];
    expect(d.spec.replicas).toBe(2);
    expect(c.image).toBe('srec:test');
    expect(c.args).toEqual(['recorder', '--config', '/etc/srec/config/recorder.yaml']);
    expect(c.ports).toEqual([
      { name: 'ssh', containerPort: 2222, protocol: 'TCP' },
      { name: 'probes', containerPort: 9090, protocol: 'TCP' },
    ]);
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 9090 });
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 9090 });
    expect(d.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'srec', 'app.kubernetes.io/instance': 'prod', 'app.kubernetes.io/component': 'recorder' });
  });

  it('uses spec.recorder.image when given', () => {
    const cr = withSpec(example('nfs'), (s) => {
      s.recorder.image = 'mirror.internal/srec:9';
    });
    expect(get('Deployment', build(cr)).spec.template.spec.containers[0].image).toBe('mirror.internal/srec:9');
  });

  it('rolls the pods when recorder.yaml changes, and only then', () => {
    // GIVEN the same CR twice and once with another host port
    const hash = (objs: any[]) => get('Deployment', objs).spec.template.metadata.annotations['recording.privx.io/config-hash'];
    const a = hash(build());
    const b = hash(build());
    const changed = hash(
      build(
        withSpec(example('nfs', { uid: 'uid-1' }), (s) => {
          s.recorder.hosts[0].port = 2200;
        }),
      ),
    );
    // THEN the hash is stable and follows the config
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(b).toBe(a);
    expect(changed).not.toBe(a);
  });

  it('exposes the SSH port on a Service selecting the recorder pods', () => {
    const svc = get('Service');
    expect(svc.spec.ports).toEqual([{ name: 'ssh', port: 2222, targetPort: 2222, protocol: 'TCP' }]);
    expect(svc.spec.selector).toEqual({ 'app.kubernetes.io/name': 'srec', 'app.kubernetes.io/instance': 'prod', 'app.kubernetes.io/component': 'recorder' });
  });

  it('renders without owner references when the CR has no uid (srec render)', () => {
    for (const o of build(example('nfs'))) expect(o.metadata.ownerReferences).toBeUndefined();
  });
});
