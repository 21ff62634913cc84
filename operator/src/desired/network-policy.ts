// spec.networkPolicy.enabled: one NetworkPolicy per workload. The recorder takes SSH from anyone
// (people connect to it) and its probe/metrics port, and reaches only its targets' SSH ports, the
// syslog pods and DNS; the syslog pods take events from the recorder pods only and reach only the
// SIEM targets of syslog.audit.to / sensitive.to and DNS. Target and SIEM addresses may be names, so
// egress is allowed by port, to any address.
import type { SessionRecording } from '../api/types.js';
import { childMetadata, childNames, type Component, type KubeObject, selectorLabels } from './meta.js';
import { PROBE_PORT, SYSLOG_PORT } from './recorder-config.js';

type Port = { protocol: 'TCP' | 'UDP'; port: number };

const DNS: Port[] = [
  { protocol: 'UDP', port: 53 },
  { protocol: 'TCP', port: 53 },
];

/** The port and protocol of a `@host:port` (UDP) or `@@host:port` (TCP) target; none for stdout or /dev/null. */
export function forwardPort(to: string): Port | undefined {
  const m = /^(@{1,2}).*:(\d+)$/.exec(to);
  if (!m) return undefined;
  return { protocol: m[1] === '@@' ? 'TCP' : 'UDP', port: Number(m[2]) };
}

function unique(ports: readonly Port[]): Port[] {
  const seen = new Map(ports.map((p) => [`${p.protocol}/${p.port}`, p]));
  return [...seen.values()].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

function policy(cr: SessionRecording, component: Component, name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMetadata(cr, name, component),
    spec: { podSelector: { matchLabels: selectorLabels(cr, component) }, policyTypes: ['Ingress', 'Egress'], ...spec },
  };
}

export function buildNetworkPolicies(cr: SessionRecording): KubeObject[] {
  if (!cr.spec.networkPolicy?.enabled) return [];
  const names = childNames(cr);
  const r = cr.spec.recorder;
  const syslogOn = cr.spec.syslog.enabled;
  const recorderEgress: Array<Record<string, unknown>> = [{ ports: DNS }];
  if (r.hosts.length > 0) recorderEgress.push({ ports: unique(r.hosts.map((h) => ({ protocol: 'TCP', port: h.port }))) });
  if (syslogOn) recorderEgress.push({ to: [{ podSelector: { matchLabels: selectorLabels(cr, 'syslog') } }], ports: [{ protocol: 'TCP', port: SYSLOG_PORT }] });
  const out = [
    policy(cr, 'recorder', names.recorder, {
      ingress: [{ ports: [{ protocol: 'TCP', port: r.port }, { protocol: 'TCP', port: PROBE_PORT }] }],
      egress: recorderEgress,
    }),
  ];
  if (syslogOn) {
    const siem = unique([cr.spec.syslog.audit.to, cr.spec.syslog.audit.sensitive.to].flatMap((t) => forwardPort(t) ?? []));
    out.push(
      policy(cr, 'syslog', names.syslog, {
        ingress: [
          {
            from: [{ podSelector: { matchLabels: selectorLabels(cr, 'recorder') } }],
            ports: [
              { protocol: 'TCP', port: SYSLOG_PORT },
              { protocol: 'UDP', port: SYSLOG_PORT },
            ],
          },
        ],
        egress: [{ ports: DNS }, ...(siem.length > 0 ? [{ ports: siem }] : [])],
      }),
    );
  }
  return out;
}
