// The syslog pipeline: ConfigMap (rsyslog.conf), Deployment (`srec syslog-run`, which runs one rsyslogd and
// serves its counters on :9090; restricted, nothing persisted: its runtime dirs are memory-backed
// emptyDirs) and a Service on 5514 (TCP and UDP).
// Not rendered when spec.syslog.enabled is false: the recorder then sends nothing to syslog.
// With spec.syslog.tls, the Secret it names is mounted read-only for the ossl stream driver.
import { App, Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-34';
import type { SessionRecording } from '../api/types.js';
import { childNames, CONFIG_HASH_ANNOTATION, hashOf, type KubeObject, labels, namespaceOf, selectorLabels, toSize } from './meta.js';
import { ownAll, restrictedContainerSecurity, restrictedPodSecurity, type Images } from './recorder.js';
import { SYSLOG_PORT } from './recorder-config.js';
import { renderRsyslogConf, type RsyslogInput } from './rsyslog-conf.js';

export const SYSLOG_PATHS = {
  configDir: '/etc/rsyslog',
  configFile: '/etc/rsyslog/rsyslog.conf',
  /** rsyslog's work directory (queues, state): memory, so no event ever reaches a disk. */
  workDir: '/var/lib/rsyslog',
  runDir: '/run/rsyslog',
  pidFile: '/run/rsyslog/rsyslogd.pid',
  /** Secret spec.syslog.tls.secretName, read-only. */
  tlsDir: '/etc/srec/syslog-tls',
} as const;

/** /healthz, /readyz and /metrics of `srec syslog-run`, as on the recorder. */
export const SYSLOG_PROBE_PORT = 9090;
/** Loopback UDP port where rsyslogd's impstats reports reach `srec syslog-run` (not exposed). */
export const SYSLOG_STATS_PORT = 5515;
/** Seconds between impstats reports: how soon a loss shows on /metrics and a return is noticed. */
export const SYSLOG_STATS_INTERVAL = 10;

/**
 * The container's memory limit for a queue size: rsyslogd and Node (~60 MiB idle together, measured; 128Mi
 * leaves room) plus a
 * full queue of 8 KiB output chunks (9.5 KB each in rsyslogd, measured) and of audit events (1.5 KB),
 * so that a long outage fills the queues instead of getting the pod OOM-killed (which loses all of them).
 */
export function syslogMemoryLimitMiB(queueSize: number): number {
  return Math.max(256, 128 + Math.ceil((queueSize * (9_500 + 1_500)) / 2 ** 20));
}

export interface SyslogOptions {
  /**
   * Keys of Secret spec.syslog.tls.secretName, when known (the controller observes them). With both
   * `tls.crt` and `tls.key` rsyslog presents them as its client certificate.
   * @default unknown: no client certificate
   */
  readonly tlsSecretKeys?: readonly string[];
}

/** Whether the syslog pod presents a client certificate to the SIEM. */
export function hasClientCert(keys: readonly string[] | undefined): boolean {
  return keys !== undefined && keys.includes('tls.crt') && keys.includes('tls.key');
}

export function rsyslogInput(cr: SessionRecording, opts: SyslogOptions = {}): RsyslogInput {
  const s = cr.spec.syslog;
  const input: RsyslogInput = {
    enabled: s.enabled,
    format: s.format,
    auditTo: s.audit.to,
    sensitiveTo: s.audit.sensitive.to,
    listenPort: SYSLOG_PORT,
    queueSize: s.queue.size,
    statsPort: SYSLOG_STATS_PORT,
    statsInterval: SYSLOG_STATS_INTERVAL,
  };
  if (!s.tls) return input;
  const dir = SYSLOG_PATHS.tlsDir;
  return {
    ...input,
    tls: {
      driver: 'ossl',
      authMode: s.tls.authMode,
      caFile: `${dir}/ca.crt`,
      ...(s.tls.serverName !== undefined ? { permittedPeers: [s.tls.serverName] } : {}),
      ...(hasClientCert(opts.tlsSecretKeys) ? { certFile: `${dir}/tls.crt`, keyFile: `${dir}/tls.key` } : {}),
    },
  };
}

/** Secrets the syslog pod mounts (none without spec.syslog.tls, or with syslog disabled). */
export function syslogSecretNames(cr: SessionRecording): string[] {
  const tls = cr.spec.syslog.tls;
  return cr.spec.syslog.enabled && tls ? [tls.secretName] : [];
}

/** What the status and the printer column say about sensitive events. */
export function sensitiveRouting(cr: SessionRecording): { sensitive: 'forward' | 'discard'; target: string } {
  const to = cr.spec.syslog.audit.sensitive.to;
  if (!cr.spec.syslog.enabled || !to.startsWith('@')) return { sensitive: 'discard', target: '/dev/null' };
  return { sensitive: 'forward', target: to };
}

export function buildSyslog(cr: SessionRecording, opts: SyslogOptions & { readonly images: Images }): KubeObject[] {
  if (!cr.spec.syslog.enabled) return [];
  const names = childNames(cr);
  const app = new App();
  const chart = new Chart(app, 'syslog', { namespace: namespaceOf(cr), labels: labels(cr, 'syslog') });

  const conf = renderRsyslogConf(rsyslogInput(cr, opts));
  const tls = cr.spec.syslog.tls;
  const configMap = new kplus.ConfigMap(chart, 'config', { metadata: { name: names.syslog }, data: { 'rsyslog.conf': conf } });

  const queueSize = cr.spec.syslog.queue.size;
  const deployment = new kplus.Deployment(chart, 'deployment', {
    metadata: { name: names.syslog },
    // One rsyslogd: the events are a stream, not state; a second replica would only split it.
    replicas: 1,
    select: false,
    podMetadata: {
      labels: selectorLabels(cr, 'syslog'),
      // The conf names the TLS files it reads; the Secret's name is here so that switching it rolls the pod too.
      annotations: { [CONFIG_HASH_ANNOTATION]: hashOf({ 'rsyslog.conf': conf, ...(tls ? { tlsSecret: tls.secretName } : {}) }) },
    },
    automountServiceAccountToken: false,
    securityContext: restrictedPodSecurity(),
    containers: [
      {
        name: 'rsyslog',
        image: opts.images.syslog,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        // The image's entrypoint is `srec`; syslog-run starts rsyslogd as its child and exits with it.
        args: [
          'syslog-run',
          '--config', SYSLOG_PATHS.configFile,
          '--pid-file', SYSLOG_PATHS.pidFile,
          '--stats-port', String(SYSLOG_STATS_PORT),
          '--listen-port', String(SYSLOG_PORT),
          '--probes', `0.0.0.0:${SYSLOG_PROBE_PORT}`,
          '--format', cr.spec.syslog.format,
          '--queue-size', String(queueSize),
        ],
        ports: [
          { name: 'syslog-tcp', number: SYSLOG_PORT, protocol: kplus.Protocol.TCP },
          { name: 'syslog-udp', number: SYSLOG_PORT, protocol: kplus.Protocol.UDP },
          { name: 'probes', number: SYSLOG_PROBE_PORT, protocol: kplus.Protocol.TCP },
        ],
        securityContext: restrictedContainerSecurity(),
        resources: {
          cpu: { request: kplus.Cpu.millis(50) },
          memory: { request: toSize('96Mi'), limit: toSize(`${syslogMemoryLimitMiB(queueSize)}Mi`) },
        },
        startup: kplus.Probe.fromHttpGet('/readyz', { port: SYSLOG_PROBE_PORT, failureThreshold: 30, periodSeconds: Duration.seconds(2) }),
        // ready: rsyslogd accepts on 5514; live: rsyslogd runs (syslog-run exits with it anyway)
        readiness: kplus.Probe.fromHttpGet('/readyz', { port: SYSLOG_PROBE_PORT }),
        liveness: kplus.Probe.fromHttpGet('/healthz', { port: SYSLOG_PROBE_PORT }),
      },
    ],
  });
  deployment.select(kplus.LabelSelector.of({ labels: selectorLabels(cr, 'syslog') }));
  const c = deployment.containers[0];
  if (!c) throw new Error('rsyslog container missing');
  c.mount(SYSLOG_PATHS.configDir, kplus.Volume.fromConfigMap(chart, 'config-volume', configMap, { name: 'config' }), { readOnly: true });
  if (tls) {
    // 0440: root-owned, group fsGroup (the pod's 65532), which is how the non-root rsyslogd reads them.
    const secret = kplus.Secret.fromSecretName(chart, 'tls-ref', tls.secretName);
    c.mount(SYSLOG_PATHS.tlsDir, kplus.Volume.fromSecret(chart, 'tls-volume', secret, { name: 'tls', defaultMode: 0o440 }), { readOnly: true });
  }
  const memory = { medium: kplus.EmptyDirMedium.MEMORY, sizeLimit: toSize('64Mi') };
  c.mount(SYSLOG_PATHS.workDir, kplus.Volume.fromEmptyDir(chart, 'work', 'work', memory));
  c.mount(SYSLOG_PATHS.runDir, kplus.Volume.fromEmptyDir(chart, 'run', 'run', { medium: kplus.EmptyDirMedium.MEMORY, sizeLimit: toSize('1Mi') }));

  const service = new kplus.Service(chart, 'service', {
    metadata: { name: names.syslog },
    ports: [
      { name: 'syslog-tcp', port: SYSLOG_PORT, targetPort: SYSLOG_PORT, protocol: kplus.Protocol.TCP },
      { name: 'syslog-udp', port: SYSLOG_PORT, targetPort: SYSLOG_PORT, protocol: kplus.Protocol.UDP },
    ],
  });
  for (const [k, v] of Object.entries(selectorLabels(cr, 'syslog'))) service.selectLabel(k, v);

  ownAll(chart, cr);
  return chart.toJson() as KubeObject[];
}
