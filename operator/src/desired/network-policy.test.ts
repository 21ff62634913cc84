import { example, withSpec } from '../../test/cr.js';
import { buildNetworkPolicies, forwardPort } from './network-policy.js';

const on = (name: 'nfs' | 'nfs-forward' = 'nfs-forward') => withSpec(example(name, { uid: 'uid-1' }), (s) => (s.networkPolicy = { enabled: true }));
const byName = (objs: any[], name: string) => objs.find((o) => o.metadata.name === name);

describe('buildNetworkPolicies', () => {
  it('renders nothing unless spec.networkPolicy.enabled', () => {
    expect(buildNetworkPolicies(example('nfs'))).toEqual([]);
    expect(buildNetworkPolicies(withSpec(example('nfs'), (s) => (s.networkPolicy = { enabled: false })))).toEqual([]);
  });

  it('recorder: SSH and probes in; its targets, the syslog pods and DNS out', () => {
    // GIVEN a SessionRecording with policies on
    const cr = on();
    const rec = byName(buildNetworkPolicies(cr), `${cr.metadata.name}-recorder`);
    // THEN it selects the recorder pods and names each port it needs
    expect(rec.spec.podSelector.matchLabels['app.kubernetes.io/component']).toBe('recorder');
    expect(rec.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(rec.spec.ingress).toEqual([{ ports: [{ protocol: 'TCP', port: cr.spec.recorder.port }, { protocol: 'TCP', port: 9090 }] }]);
    const hostPorts = [...new Set(cr.spec.recorder.hosts.map((h) => h.port))].sort((a, b) => a - b);
    expect(rec.spec.egress).toContainEqual({ ports: hostPorts.map((port) => ({ protocol: 'TCP', port })) });
    expect(rec.spec.egress).toContainEqual({
      to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'srec', 'app.kubernetes.io/instance': cr.metadata.name, 'app.kubernetes.io/component': 'syslog' } } }],
      ports: [{ protocol: 'TCP', port: 5514 }],
    });
    expect(rec.spec.egress).toContainEqual({ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] });
    expect(rec.metadata.ownerReferences).toEqual([expect.objectContaining({ uid: 'uid-1', controller: true })]);
  });

  it('syslog: 5514 in from the recorder pods only; the SIEM targets and DNS out', () => {
    const cr = on();
    const sys = byName(buildNetworkPolicies(cr), `${cr.metadata.name}-syslog`);
    expect(sys.spec.ingress).toEqual([
      {
        from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'srec', 'app.kubernetes.io/instance': cr.metadata.name, 'app.kubernetes.io/component': 'recorder' } } }],
        ports: [{ protocol: 'TCP', port: 5514 }, { protocol: 'UDP', port: 5514 }],
      },
    ]);
    const siem = [cr.spec.syslog.audit.to, cr.spec.syslog.audit.sensitive.to].flatMap((t) => forwardPort(t) ?? []);
    expect(siem.length).toBeGreaterThan(0);
    for (const p of siem) expect(sys.spec.egress[1].ports).toContainEqual(p);
  });

  it('has no syslog policy, nor a way to the syslog pods, when syslog is off', () => {
    const cr = withSpec(on('nfs'), (s) => ((s.syslog.enabled = false), (s.audit.sshEvents.enabled = false)));
    const objs = buildNetworkPolicies(cr);
    expect(objs.map((o) => o.metadata.name)).toEqual(['prod-recorder']);
    expect(JSON.stringify(objs[0])).not.toContain('5514');
  });

  it('reads the port and protocol of a forward target', () => {
    expect(forwardPort('@@siem.internal:6514')).toEqual({ protocol: 'TCP', port: 6514 });
    expect(forwardPort('@[fd00::1]:514')).toEqual({ protocol: 'UDP', port: 514 });
    expect(forwardPort('stdout')).toBeUndefined();
    expect(forwardPort('/dev/null')).toBeUndefined();
  });
});
