import { example, IMAGES, withSpec } from '../../test/cr.js';
import { renderRsyslogConf } from './rsyslog-conf.js';
import { buildSyslog, rsyslogInput, sensitiveRouting, syslogMemoryLimitMiB, syslogSecretNames } from './syslog.js';

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
    expect(rsyslogInput(cr)).toEqual({
      enabled: true,
      format: 'cef',
      auditTo: '@logs.internal:514',
      sensitiveTo: '@@siem.internal:6514',
      listenPort: 5514,
      queueSize: 10000,
      statsPort: 5515,
      statsInterval: 10,
    });
    expect(get('ConfigMap').data['rsyslog.conf']).toBe(renderRsyslogConf(rsyslogInput(cr)));
  });

  it('runs one restricted rsyslogd with nothing that persists', () => {
    const d = get('Deployment');
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(d.spec.replicas).toBe(1);
    expect(c.image).toBe('rsyslog:test');
    // srec syslog-run (the image's entrypoint is srec) starts rsyslogd with the mounted conf
    expect(c.command).toBeUndefined();
    expect(c.args).toEqual([
      'syslog-run',
      '--config', '/etc/rsyslog/rsyslog.conf',
      '--pid-file', '/run/rsyslog/rsyslogd.pid',
      '--stats-port', '5515',
      '--listen-port', '5514',
      '--probes', '0.0.0.0:9090',
      '--format', 'cef',
      '--queue-size', '10000',
    ]);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, fsGroup: 65532 });
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    // every volume is the config or a memory-backed emptyDir
    for (const v of pod.volumes) {
      if (v.name === 'config') expect(v.configMap.name).toBe('forward-syslog');
      else expect(v.emptyDir.medium).toBe('Memory');
    }
  });

  it('exposes syslog-run\'s probes and metrics on 9090 and probes them over HTTP', () => {
    const c = get('Deployment').spec.template.spec.containers[0];
    expect(c.ports).toEqual([
      { name: 'syslog-tcp', containerPort: 5514, protocol: 'TCP' },
      { name: 'syslog-udp', containerPort: 5514, protocol: 'UDP' },
      { name: 'probes', containerPort: 9090, protocol: 'TCP' },
    ]);
    expect(c.startupProbe.httpGet).toMatchObject({ path: '/readyz', port: 9090 });
    expect(c.startupProbe.failureThreshold).toBe(30);
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 9090 });
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 9090 });
    // the stats port is loopback only: neither a container port nor in the Service
    expect(JSON.stringify(get('Service').spec.ports)).not.toContain('5515');
  });

  it('puts spec.syslog.queue.size in the conf and the args, and sizes the memory limit for full queues', () => {
    // GIVEN the default queue WHEN rendered THEN 256Mi (what it always was)
    const mem = (objs: any[]) => get('Deployment', objs).spec.template.spec.containers[0].resources.limits.memory;
    expect(mem(build())).toBe('256Mi');
    // GIVEN the largest queue WHEN rendered THEN the limit holds two full queues, and the conf says the size
    const big = withSpec(example('nfs-forward', { uid: 'uid-9' }), (s) => {
      (s.syslog as any).queue = { size: 100000 };
    });
    const objs = build(big);
    expect(mem(objs)).toBe(`${syslogMemoryLimitMiB(100000)}Mi`);
    expect(syslogMemoryLimitMiB(100000)).toBe(128 + Math.ceil((100000 * 11000) / 2 ** 20));
    expect(get('ConfigMap', objs).data['rsyslog.conf']).toContain('queue.size="100000"');
    expect(get('Deployment', objs).spec.template.spec.containers[0].args).toContain('100000');
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

  describe('with spec.syslog.tls', () => {
    const tlsCr = (tls: Record<string, unknown> = { secretName: 'siem-tls' }) =>
      withSpec(example('nfs-forward', { uid: 'uid-9' }), (s) => {
        s.syslog.tls = { authMode: 'x509/name', ...tls };
      });

    it('points rsyslog at the mounted CA, and at the client certificate only when the Secret has one', () => {
      // GIVEN a CR with tls WHEN the Secret's keys are unknown or CA-only THEN CA only, peer = target host
      expect(rsyslogInput(tlsCr()).tls).toEqual({ driver: 'ossl', authMode: 'x509/name', caFile: '/etc/srec/syslog-tls/ca.crt' });
      expect(rsyslogInput(tlsCr(), { tlsSecretKeys: ['ca.crt', 'tls.crt'] }).tls?.certFile).toBeUndefined();
      // WHEN the Secret has tls.crt and tls.key THEN rsyslog presents them
      expect(rsyslogInput(tlsCr(), { tlsSecretKeys: ['ca.crt', 'tls.crt', 'tls.key'] }).tls).toMatchObject({
        certFile: '/etc/srec/syslog-tls/tls.crt',
        keyFile: '/etc/srec/syslog-tls/tls.key',
      });
      // WHEN serverName and authMode are set THEN they are the permitted peer and the mode
      expect(rsyslogInput(tlsCr({ secretName: 'siem-tls', serverName: 'siem.example', authMode: 'x509/certvalid' })).tls).toMatchObject({
        permittedPeers: ['siem.example'],
        authMode: 'x509/certvalid',
      });
    });

    it('renders the TLS action for the TCP forward into the ConfigMap', () => {
      const conf = get('ConfigMap', buildSyslog(tlsCr({ secretName: 'siem-tls', serverName: 'siem.example' }), { images: IMAGES })).data['rsyslog.conf'];
      expect(conf).toContain('StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/name"');
      expect(conf).toContain('StreamDriverPermittedPeers="siem.example"');
      expect(conf).toContain('StreamDriver.CAFile="/etc/srec/syslog-tls/ca.crt"');
    });

    it('mounts the Secret read-only, readable by the non-root pod through its fsGroup', () => {
      const d = get('Deployment', buildSyslog(tlsCr(), { images: IMAGES }));
      const pod = d.spec.template.spec;
      expect(pod.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'siem-tls', defaultMode: 0o440 } });
      expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/srec/syslog-tls', readOnly: true });
      expect(pod.securityContext).toMatchObject({ runAsUser: 65532, fsGroup: 65532 });
    });

    it('rolls the pod when TLS is turned on, the Secret changes, or a client certificate appears', () => {
      const hash = (objs: any[]) => get('Deployment', objs).spec.template.metadata.annotations['recording.privx.io/config-hash'];
      const plain = hash(build());
      const caOnly = hash(buildSyslog(tlsCr(), { images: IMAGES }));
      const other = hash(buildSyslog(tlsCr({ secretName: 'siem-tls-2' }), { images: IMAGES }));
      const client = hash(buildSyslog(tlsCr(), { images: IMAGES, tlsSecretKeys: ['ca.crt', 'tls.crt', 'tls.key'] }));
      expect(new Set([plain, caOnly, other, client]).size).toBe(4);
    });

    it('names the Secret for the watch and the status only while syslog runs', () => {
      expect(syslogSecretNames(tlsCr())).toEqual(['siem-tls']);
      expect(syslogSecretNames(example('nfs-forward'))).toEqual([]);
      expect(
        syslogSecretNames(
          withSpec(tlsCr(), (s) => {
            s.syslog.enabled = false;
          }),
        ),
      ).toEqual([]);
    });
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
