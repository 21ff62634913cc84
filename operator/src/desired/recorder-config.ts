// The recorder's recorder.yaml (CONTRACT §2, docs/internals.md) for a SessionRecording, pointing at the
// paths where the recorder Deployment mounts the Secrets.
import yaml from 'js-yaml';
import { wholeMebibytes } from '../../../common/quantity.js';
import type { RecorderConfig } from '../../../common/recorder-config/types.js';
import type { SessionRecording } from '../api/types.js';
import { childNames } from './meta.js';

/** Where the recorder pod finds what the operator mounts. */
export const RECORDER_PATHS = {
  configDir: '/etc/srec/config',
  configFile: '/etc/srec/config/recorder.yaml',
  hostKeyDir: '/etc/srec/hostkey',
  hostKeyFile: '/etc/srec/hostkey/host_key',
  usersDir: '/etc/srec/users',
  usersFile: '/etc/srec/users/users.yaml',
  credsDir: (host: string) => `/etc/srec/creds/${host}`,
  /** spec.trail's Secrets, one file each (subPath mounts: two Secrets in one key set directory). */
  trailKeysDir: '/etc/srec/trail',
  tmpDir: '/tmp',
  tempFolder: '/tmp/srec',
} as const;

export const PROBE_PORT = 9090;
export const SYSLOG_PORT = 5514;

export interface RecorderConfigOptions {
  /**
   * Keys present in each host's credentials Secret, when known (the controller observes them). A Secret
   * with `password` and no `privateKey` gets `passwordFile`; otherwise `privateKeyFile`.
   * @default every host uses privateKeyFile
   */
  readonly credentialKeys?: ReadonlyMap<string, readonly string[]>;
}

/**
 * The recorder refuses new sessions at 90% of the emptyDir's size: the kubelet evicts a pod whose
 * emptyDir outgrows its sizeLimit, and that would cut every open session.
 */
export function spoolLimit(tempSizeLimit: string): string {
  const mi = wholeMebibytes(tempSizeLimit);
  if (mi === undefined) return tempSizeLimit;
  return `${Math.max(1, Math.floor(mi * 0.9))}Mi`;
}

export function buildRecorderConfig(cr: SessionRecording, opts: RecorderConfigOptions = {}): RecorderConfig {
  const spec = cr.spec;
  // The Service's short name: the recorder runs in the CR's namespace.
  const syslogService = childNames(cr).syslog;
  return {
    listen: `0.0.0.0:${spec.recorder.port}`,
    probes: `0.0.0.0:${PROBE_PORT}`,
    hostKeyFile: RECORDER_PATHS.hostKeyFile,
    dataFolder: spec.dataFolder,
    tempFolder: RECORDER_PATHS.tempFolder,
    tempSizeLimit: spoolLimit(spec.recorder.tempSizeLimit),
    ...(spec.recorder.workers !== undefined ? { workers: spec.recorder.workers } : {}),
    usersFile: RECORDER_PATHS.usersFile,
    hosts: spec.recorder.hosts.map((h) => {
      const keys = opts.credentialKeys?.get(h.credentialsSecret);
      const usePassword = keys !== undefined && keys.includes('password') && !keys.includes('privateKey');
      const dir = RECORDER_PATHS.credsDir(h.name);
      return {
        name: h.name,
        address: h.address,
        port: h.port,
        hostKeys: [...h.hostKeys],
        recording: h.recording,
        fileTransfers: h.fileTransfers,
        forwarding: { ...h.forwarding },
        credentials: usePassword
          ? { usernameFile: `${dir}/username`, passwordFile: `${dir}/password` }
          : { usernameFile: `${dir}/username`, privateKeyFile: `${dir}/privateKey` },
      };
    }),
    audit: {
      enabled: spec.audit.sshEvents.enabled,
      events: [...spec.audit.sshEvents.events],
      bulkData: spec.audit.sshEvents.bulkData,
      // Without syslog, non-sensitive events go to the recorder's stdout and sensitive ones are not emitted.
      ...(spec.syslog.enabled ? { syslog: { address: `${syslogService}:${SYSLOG_PORT}`, protocol: 'tcp' as const, format: spec.syslog.format } } : {}),
    },
    retention: { trailExpiryDays: spec.retention.trailExpiryDays, transferredFilesExpiryDays: spec.retention.transferredFilesExpiryDays },
    ...(spec.trail?.encryption !== undefined || spec.trail?.signing !== undefined ? { trail: { keysDir: RECORDER_PATHS.trailKeysDir } } : {}),
  };
}

/** The file text, keys in the documented order. */
export function renderRecorderYaml(config: RecorderConfig): string {
  return yaml.dump(config, { lineWidth: -1, noRefs: true, sortKeys: false });
}
