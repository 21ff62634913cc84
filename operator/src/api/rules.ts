// The CRD's CEL rules (x-kubernetes-validations) mirrored in TypeScript, with the same field paths and
// messages, so that `srec validate` says what the API server would say. rules.test.ts checks that every
// CEL message in the CRD has its mirror here; the e2e test checks both reject the same fixtures.
import type { FieldError } from './schema.js';
import type { SessionRecording } from './types.js';

export interface Rule {
  /** A name for logs and tests. */
  readonly name: string;
  /** The field path reported (the rule's location, or its `fieldPath`). */
  readonly path: string;
  /** The CRD rule's message, byte for byte; `undefined` for checks that are not CEL (list-map keys). */
  readonly message: string | undefined;
  /** Errors for `cr` (already schema-valid and defaulted); `old` is set on updates (transition rules). */
  check(cr: SessionRecording, old?: SessionRecording): FieldError[];
}

/** `@host:port` (UDP) or `@@host:port` (TCP), host a DNS name, IPv4 or [IPv6]; port 1..65535. */
const FORWARD_TARGET = /^@{1,2}(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[1-9][0-9]{0,4}$/;

export function isForwardTarget(to: string): boolean {
  return FORWARD_TARGET.test(to) && Number(to.slice(to.lastIndexOf(':') + 1)) <= 65535;
}

export const MESSAGES = {
  sshEventsNeedSyslog:
    'SSH events are sent only through the syslog pipeline: set spec.syslog.enabled to true or spec.audit.sshEvents.enabled to false',
  dataFolder: 'must be an absolute path other than /, /tmp and /etc/srec (the operator mounts the spool and the configuration there)',
  oneStorageSource: 'set exactly one of efs, nfs, existingClaim',
  storageSourceImmutable: 'the storage source cannot change: recordings stay where they are; create a new SessionRecording for a new share',
  efsImmutable: 'fileSystemId and accessPointId cannot change (a PersistentVolume source is immutable)',
  nfsImmutable: 'server and path cannot change (a PersistentVolume source is immutable)',
  existingClaimImmutable: 'existingClaim cannot change: recordings stay where they are; create a new SessionRecording for a new share',
  probePort: "port 9090 is the recorder's probe and metrics port; choose another SSH port",
  auditTo: 'must be stdout, @host:port (UDP) or @@host:port (TCP)',
  sensitiveNotOnDisk:
    'sensitive session content may never be written to disk (a file, or stdout which the node keeps in log files); use /dev/null to discard or @host:port (UDP) / @@host:port (TCP) to forward',
  sensitiveTarget: 'must be /dev/null, @host:port (UDP) or @@host:port (TCP)',
  tlsNeedsTcp:
    'tls needs a TCP forward, and UDP cannot carry TLS: set spec.syslog.audit.sensitive.to (or, when sensitive events are discarded, spec.syslog.audit.to) to @@host:port, not @host:port',
} as const;

function when(cond: boolean, path: string, message: string): FieldError[] {
  return cond ? [{ path, message }] : [];
}

export const RULES: readonly Rule[] = [
  {
    name: 'sshEventsNeedSyslog',
    path: 'spec.audit.sshEvents.enabled',
    message: MESSAGES.sshEventsNeedSyslog,
    check: (cr) => when(cr.spec.audit.sshEvents.enabled && !cr.spec.syslog.enabled, 'spec.audit.sshEvents.enabled', MESSAGES.sshEventsNeedSyslog),
  },
  {
    name: 'dataFolderOutsideOperatorMounts',
    path: 'spec.dataFolder',
    message: MESSAGES.dataFolder,
    check: (cr) => {
      const d = cr.spec.dataFolder;
      const ok = d.startsWith('/') && d !== '/' && !(d === '/tmp' || d.startsWith('/tmp/')) && !(d === '/etc/srec' || d.startsWith('/etc/srec/'));
      return when(!ok, 'spec.dataFolder', MESSAGES.dataFolder);
    },
  },
  {
    name: 'exactlyOneStorageSource',
    path: 'spec.storage',
    message: MESSAGES.oneStorageSource,
    check: (cr) => {
      const s = cr.spec.storage;
      const n = [s.efs, s.nfs, s.existingClaim].filter((x) => x !== undefined).length;
      return when(n !== 1, 'spec.storage', MESSAGES.oneStorageSource);
    },
  },
  {
    name: 'storageSourceImmutable',
    path: 'spec.storage',
    message: MESSAGES.storageSourceImmutable,
    check: (cr, old) => {
      if (!old) return [];
      const [a, b] = [cr.spec.storage, old.spec.storage];
      const same = (a.efs === undefined) === (b.efs === undefined) && (a.nfs === undefined) === (b.nfs === undefined) && (a.existingClaim === undefined) === (b.existingClaim === undefined);
      return when(!same, 'spec.storage', MESSAGES.storageSourceImmutable);
    },
  },
  {
    name: 'efsSourceImmutable',
    path: 'spec.storage.efs',
    message: MESSAGES.efsImmutable,
    check: (cr, old) => {
      const [a, b] = [cr.spec.storage.efs, old?.spec.storage.efs];
      if (!a || !b) return [];
      return when(a.fileSystemId !== b.fileSystemId || (a.accessPointId ?? '') !== (b.accessPointId ?? ''), 'spec.storage.efs', MESSAGES.efsImmutable);
    },
  },
  {
    name: 'nfsSourceImmutable',
    path: 'spec.storage.nfs',
    message: MESSAGES.nfsImmutable,
    check: (cr, old) => {
      const [a, b] = [cr.spec.storage.nfs, old?.spec.storage.nfs];
      if (!a || !b) return [];
      return when(a.server !== b.server || a.path !== b.path, 'spec.storage.nfs', MESSAGES.nfsImmutable);
    },
  },
  {
    name: 'existingClaimImmutable',
    path: 'spec.storage.existingClaim',
    message: MESSAGES.existingClaimImmutable,
    check: (cr, old) => {
      const [a, b] = [cr.spec.storage.existingClaim, old?.spec.storage.existingClaim];
      if (a === undefined || b === undefined) return [];
      return when(a !== b, 'spec.storage.existingClaim', MESSAGES.existingClaimImmutable);
    },
  },
  {
    name: 'recorderPortNotProbePort',
    path: 'spec.recorder.port',
    message: MESSAGES.probePort,
    check: (cr) => when(cr.spec.recorder.port === 9090, 'spec.recorder.port', MESSAGES.probePort),
  },
  {
    name: 'uniqueHostNames',
    path: 'spec.recorder.hosts',
    // x-kubernetes-list-type: map with key `name`: the API server reports the duplicate entry.
    message: undefined,
    check: (cr) => {
      const seen = new Set<string>();
      return cr.spec.recorder.hosts.flatMap((h, i) => {
        const dup = seen.has(h.name);
        seen.add(h.name);
        return when(dup, `spec.recorder.hosts[${i}]`, `Duplicate value: host name "${h.name}"`);
      });
    },
  },
  {
    name: 'auditTarget',
    path: 'spec.syslog.audit.to',
    message: MESSAGES.auditTo,
    check: (cr) => {
      const to = cr.spec.syslog.audit.to;
      return when(!(to === 'stdout' || isForwardTarget(to)), 'spec.syslog.audit.to', MESSAGES.auditTo);
    },
  },
  {
    name: 'sensitiveNeverOnDisk',
    path: 'spec.syslog.audit.sensitive.to',
    message: MESSAGES.sensitiveNotOnDisk,
    check: (cr) => {
      const to = cr.spec.syslog.audit.sensitive.to;
      return when(!(to === '/dev/null' || to.startsWith('@')), 'spec.syslog.audit.sensitive.to', MESSAGES.sensitiveNotOnDisk);
    },
  },
  {
    name: 'sensitiveTarget',
    path: 'spec.syslog.audit.sensitive.to',
    message: MESSAGES.sensitiveTarget,
    check: (cr) => {
      const to = cr.spec.syslog.audit.sensitive.to;
      return when(to.startsWith('@') && !isForwardTarget(to), 'spec.syslog.audit.sensitive.to', MESSAGES.sensitiveTarget);
    },
  },
  {
    name: 'tlsNeedsTcpForward',
    path: 'spec.syslog.tls',
    message: MESSAGES.tlsNeedsTcp,
    check: (cr) => {
      const s = cr.spec.syslog;
      // Sensitive events over plain UDP while TLS is on would send the secret part in clear; with them
      // discarded, TLS must have a TCP audit forward to apply to.
      const ok = s.audit.sensitive.to.startsWith('@@') || (!s.audit.sensitive.to.startsWith('@') && s.audit.to.startsWith('@@'));
      return when(s.tls !== undefined && !ok, 'spec.syslog.tls', MESSAGES.tlsNeedsTcp);
    },
  },
];

/** Every rule's errors for a schema-valid, defaulted CR (and its previous version on updates). */
export function checkRules(cr: SessionRecording, old?: SessionRecording): FieldError[] {
  return RULES.flatMap((r) => r.check(cr, old));
}
