// The SessionRecording resource as TypeScript sees it. The schema itself lives in crds/ (the one source);
// these types describe the object *after* defaulting, which is what the API server stores and what
// `loadAndValidate` returns.

import type { HostPolicy } from '../../../common/recorder-config/types.js';

export const GROUP = 'recording.privx.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'SessionRecording';
export const PLURAL = 'sessionrecordings';

export type DeletionPolicy = 'Retain' | 'Delete';
export type SyslogFormat = 'syslog' | 'cef';
export type SshEventKind = 'stdin' | 'stdout' | 'stderr' | 'channel_request' | 'global_request';

export interface EfsSource {
  readonly fileSystemId: string;
  readonly accessPointId?: string;
  /** When non-empty: a PVC on this StorageClass instead of a static PV. */
  readonly storageClassName?: string;
}

export interface NfsSource {
  readonly server: string;
  readonly path: string;
  /** @default ['nfsvers=4.1','hard','timeo=600','retrans=2','noresvport'] */
  readonly mountOptions: readonly string[];
}

export interface StorageSpec {
  /** @default '100Gi' */
  readonly size: string;
  readonly efs?: EfsSource;
  readonly nfs?: NfsSource;
  readonly existingClaim?: string;
  /** @default 'Retain' */
  readonly deletionPolicy: DeletionPolicy;
}

export interface HostSpec extends HostPolicy {
  readonly hostKeys: readonly string[];
  readonly credentialsSecret: string;
}

export interface RecorderSpec {
  /** @default 2 */
  readonly replicas: number;
  /** @default the operator's configured recorder image */
  readonly image?: string;
  /** @default 2222 */
  readonly port: number;
  /** @default '10Gi' */
  readonly tempSizeLimit: string;
  /** Session worker processes per pod. @default sized from the pod's CPU and memory limits (recorder/src/ssh/workers.ts) */
  readonly workers?: number;
  readonly usersSecret: string;
  /** @default [] */
  readonly hosts: readonly HostSpec[];
}

export interface AuditSpec {
  readonly sshEvents: {
    /** @default false */
    readonly enabled: boolean;
    /** @default ['stdout','stderr','channel_request','global_request'] */
    readonly events: readonly SshEventKind[];
    /** Bulk and binary data of channels without a pty as data_summary events. @default 'summary' */
    readonly bulkData: 'summary' | 'events';
  };
}

export type SyslogTlsAuthMode = 'x509/name' | 'x509/certvalid';

/** TLS for every `@@host:port` forward of the syslog pod. */
export interface SyslogTlsSpec {
  /** Secret in the CR's namespace: `ca.crt`, and `tls.crt` + `tls.key` for SIEMs that authenticate senders. */
  readonly secretName: string;
  /** The name the SIEM's certificate must carry. @default the host of the forward target */
  readonly serverName?: string;
  /** @default 'x509/name' */
  readonly authMode: SyslogTlsAuthMode;
}

export interface SyslogSpec {
  /** @default true */
  readonly enabled: boolean;
  /** @default 'syslog' */
  readonly format: SyslogFormat;
  readonly audit: {
    /** @default 'stdout' */
    readonly to: string;
    readonly sensitive: {
      /** @default '/dev/null' */
      readonly to: string;
    };
  };
  /** @default plain TCP */
  readonly tls?: SyslogTlsSpec;
  readonly queue: SyslogQueueSpec;
}

/** What the syslog pod holds in memory for each forward while its target is down. */
export interface SyslogQueueSpec {
  /** Events per forward (sensitive, audit); when full, new ones are dropped, counted and reported. @default 10000 */
  readonly size: number;
}

export interface RetentionSpec {
  /** @default 180 */
  readonly trailExpiryDays: number;
  /** @default 180 */
  readonly transferredFilesExpiryDays: number;
}

/** The trail's key Secrets (CONTRACT §6), each mounted read-only at /etc/srec/trail. */
export interface TrailSpec {
  /** Secret with key `encryption.json`. @default none: the trail is not encrypted */
  readonly encryption?: { readonly secretName: string };
  /** Secret with key `signing.key`. @default none: manifests are not signed, no ledger */
  readonly signing?: { readonly secretName: string };
}

export interface PodSecuritySpec {
  /** @default true */
  readonly fixedUid: boolean;
}

export interface NetworkPolicySpec {
  /** @default false */
  readonly enabled: boolean;
}

/** The auditors' console (spec.console). */
/** spec.console.oidc: single sign-on (the CRD's descriptions say what each field is). */
export interface ConsoleOidcSpec {
  readonly issuerURL: string;
  readonly clientID: string;
  /** A Secret in the namespace with key `client-secret`. */
  readonly clientSecretName: string;
  readonly redirectURL: string;
  /** @default 'email' */
  readonly usernameClaim: string;
  /** @default 'groups' */
  readonly groupsClaim: string;
  /** @default 'oidc:' */
  readonly usernamePrefix: string;
  /** @default 'oidc:' */
  readonly groupsPrefix: string;
  /** @default 'openid profile email' */
  readonly scopes: string;
}

export interface ConsoleSpec {
  /** @default false */
  readonly enabled: boolean;
  /** @default 1 */
  readonly replicas: number;
  /** HTTP port of the container and the Service. @default 8080 */
  readonly port: number;
  readonly resources: {
    /** @default '100m' */
    readonly cpuRequest: string;
    /** @default '128Mi' */
    readonly memoryRequest: string;
    /** @default '512Mi' */
    readonly memoryLimit: string;
  };
  readonly oidc?: ConsoleOidcSpec;
}

export interface SessionRecordingSpec {
  /** @default '/var/privx/audit' */
  readonly dataFolder: string;
  readonly storage: StorageSpec;
  readonly recorder: RecorderSpec;
  readonly audit: AuditSpec;
  readonly syslog: SyslogSpec;
  readonly retention: RetentionSpec;
  /** Absent in objects stored before the field existed (the API server defaults it on the next write). */
  readonly networkPolicy?: NetworkPolicySpec;
  /** Absent in objects stored before the field existed, like networkPolicy. */
  readonly podSecurity?: PodSecuritySpec;
  /** Absent in objects stored before the field existed, like networkPolicy. */
  readonly trail?: TrailSpec;
  /** Absent in objects stored before the field existed, like networkPolicy. */
  readonly console?: ConsoleSpec;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';
export type ConditionType = 'Ready' | 'StorageReady' | 'RecorderReady' | 'SyslogReady' | 'ConsoleReady';

export interface Condition {
  readonly type: ConditionType;
  readonly status: ConditionStatus;
  /** CamelCase, stable: scripts match on it. */
  readonly reason: string;
  /** What a person should do about it. */
  readonly message: string;
  readonly observedGeneration?: number;
  readonly lastTransitionTime?: string;
}

export interface SessionRecordingStatus {
  readonly observedGeneration?: number;
  readonly conditions?: readonly Condition[];
  readonly storage?: { readonly claimName?: string; readonly phase?: string };
  readonly syslog?: { readonly sensitive?: 'forward' | 'discard'; readonly target?: string };
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly generation?: number;
  readonly resourceVersion?: string;
  readonly deletionTimestamp?: string;
  readonly finalizers?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly creationTimestamp?: string;
}

export interface SessionRecording {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: typeof KIND;
  readonly metadata: ObjectMeta;
  readonly spec: SessionRecordingSpec;
  readonly status?: SessionRecordingStatus;
}

/** Which storage source a spec uses (exactly one is set once validated). */
export type StorageKind = 'efs' | 'nfs' | 'existingClaim';

export function storageKind(spec: StorageSpec): StorageKind {
  if (spec.nfs) return 'nfs';
  if (spec.efs) return 'efs';
  return 'existingClaim';
}
