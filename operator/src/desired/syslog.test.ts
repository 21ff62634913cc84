import { example, IMAGES, withSpec } from '../../test/cr.js';
import { renderRsyslogConf } from './rsyslog-conf.js';
import { buildSyslog, rsyslogInput, sensitiveRouting } from './syslog.js';

const build = (cr = example('nfs-forward', { uid: 'uid-9' })) => buildSyslog(cr, { images: IMAGES });
const get = (kind: string, objs = build()) => objs.find((o) => o.kind === kind) as any;

describe('buildSyslog', () => {
  it('renders <cr>-syslog ConfigMap, Deployment and Service, owned by the CR', () => {
    const objs = build();
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['ConfigMap/forward-syslog', 'Deployment/forward-syslog', 'Service/forward-syslog']);
    for (const o of objs) {
      expect(o.metadata.labels?.['app.kubernetes.io/component']).toBe('syslog');
      expect(o.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'SessionRecording', name: 'forward', uid: 'uid-9', controller: true });
    }
  });

  it('puts the rsyslog.conf of spec.syslog in the ConfigMap', () => {
    const cr = example('nfs-forward');
    expect(rsyslogInput(cr)).toEqual({ enabled: true, format: 'cef', auditTo: '@logs.internal:514', sensitiveTo: '@@siem.internal:6514', listenPort: 5514 });
    expect(get('ConfigMap').data['rsyslog.conf']).toBe(renderRsyslogConf(rsyslogInput(cr)));
  });

  it('runs one restricted rsyslogd with nothing that persists', () => {
    const d = get('Deployment');
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(d.spec.replicas).toBe(1);
    expect(c.image).toBe('rsyslog:test');
    expect(c.command).toEqual(['rsyslogd']);
    expect(c.args).toEqual(['-n', '-f', '/etc/rsyslog/rsyslog.conf', '-i', '/run/rsyslog/rsyslogd.pid']);
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    // every volume is the config or a memory-backed emptyDir
    for (const v of pod.volumes) {
      if (v.name === 'config') expect(v.configMap.name).toBe('forward-syslog');
      else expect(v.emptyDir.medium).toBe('Memory');
    }
    expect(c.readinessProbe.tcpSocket).toEqual({ port: 5514 });
  });

  it('serves 5514 over TCP and UDP', () => {
    expect(get('Service').spec.ports).toEqual([
      { name: 'syslog-tcp', port: 5514, targetPort: 5514, protocol: 'TCP' },
      { name: 'syslog-udp', port: 5514, targetPort: 5514, protocol: 'UDP' },
    ]);
  });

  it('rolls the pod when spec.syslog.audit.sensitive.to changes', () => {
    const hash = (objs: any[]) => get('Deployment', objs).spec.template.metadata.annotations['recording.privx.io/config-hash'];
    const before = hash(build());
    const after = hash(
      build(
        withSpec(example('nfs-forward', { uid: 'uid-9' }), (s) => {
          s.syslog.audit.sensitive.to = '/dev/null';
        }),
      ),
    );
    expect(after).not.toBe(before);
  });

  it('renders nothing when syslog is disabled', () => {
    const cr = withSpec(example('nfs'), (s) => {
      s.syslog.enabled = false;
    });
    expect(build(cr)).toEqual([]);
  });

  it('reports sensitive routing for the status', () => {
    expect(sensitiveRouting(example('nfs-forward'))).toEqual({ sensitive: 'forward', target: '@@siem.internal:6514' });
    expect(sensitiveRouting(example('nfs'))).toEqual({ sensitive: 'discard', target: '/dev/null' });
  });
});
