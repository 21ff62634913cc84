// recorder.yaml as written (docs/internals.md, "Recorder config file"): the contract between the
// operator, which renders it, and the recorder, which loads it. schema.ts says the same in JSON Schema and
// validate.ts checks a document against it; neither wing imports the other, both import this.

/** The SSH events `audit.events` may name (the sensitive ones: they carry session content). */
export const SSH_EVENT_KINDS = ['stdin', 'stdout', 'stderr', 'channel_request', 'global_request'] as const;
export type SshEventKind = (typeof SSH_EVENT_KINDS)[number];

/** What the recorder takes for a field the file leaves out. */
export const RECORDER_CONFIG_DEFAULTS = {
  listen: '0.0.0.0:2222',
  probes: '0.0.0.0:9090',
  dataFolder: '/var/privx/audit',
  tempFolder: '/tmp/srec',
  port: 22,
  recording: true,
  fileTransfers: false,
  /** Every kind of forwarding is off unless a host turns it on. */
  forwarding: { local: false, remote: false, agent: false, x11: false, unixSockets: false },
  auditEnabled: false,
  auditEvents: ['stdout', 'stderr', 'channel_request', 'global_request'],
  bulkData: 'summary',
  syslogProtocol: 'tcp',
  syslogFormat: 'syslog',
  trailExpiryDays: 180,
  transferredFilesExpiryDays: 180,
  limits: {
    loginGraceSeconds: 30,
    maxStartups: '10:30:100',
    perSourceMaxStartups: 5,
    perSourceNetBlockSize: '32:128',
    maxAuthTries: 6,
    maxSessionsPerConnection: 10,
    maxChannelsPerConnection: 100,
    perSourcePenalties: { authFailureSeconds: 5, loginGraceExceededSeconds: 10, minSeconds: 15, maxSeconds: 600 },
  },
} as const;

export interface UserConfig {
  readonly name: string;
  /** authorized_keys lines without options: `ssh-ed25519 AAAA... comment`. */
  readonly authorizedKeys: readonly string[];
  /**
   * Names of the hosts this person may reach. An addition to the documented shape for "a host with no
   * access"; the operator does not render it.
   * @default every host
   */
  readonly hosts?: readonly string[];
}

/** username | usernameFile, and privateKeyFile | passwordFile: exactly one of each pair. */
export interface CredentialsConfig {
  readonly username?: string;
  readonly usernameFile?: string;
  readonly privateKeyFile?: string;
  readonly passwordFile?: string;
}

/** The kinds of forwarding a host allows (CONTRACT §6); each one off by default. */
export const FORWARDING_KINDS = ['local', 'remote', 'agent', 'x11', 'unixSockets'] as const;
export type ForwardingKind = (typeof FORWARDING_KINDS)[number];

/**
 * Per host: which forwarding the recorder relays (and records) to it. `local`: direct-tcpip channels (ssh -L,
 * -D, -W, -J); `remote`: tcpip-forward (ssh -R); `agent`: ssh -A; `x11`: ssh -X/-Y; `unixSockets`: streamlocal
 * both ways. A kind left off is refused with the setting's name.
 */
export type ForwardingConfig = { readonly [K in ForwardingKind]?: boolean };

export interface HostConfig {
  /** What people type after `user@`: letters, digits, `.`, `_`, `-`; unique among the hosts. */
  readonly name: string;
  readonly address: string;
  /** @default 22 */
  readonly port?: number;
  /** Pinned host keys, `ssh-ed25519 AAAA...`; the target must present one of them. */
  readonly hostKeys: readonly string[];
  /** @default true */
  readonly recording?: boolean;
  /** @default false */
  readonly fileTransfers?: boolean;
  /** @default every kind false */
  readonly forwarding?: ForwardingConfig;
  readonly credentials: CredentialsConfig;
}

/**
 * A host's policy with every default applied: what the CR's `spec.hosts[]` and the recorder's resolved hosts
 * share (each adds its own form of host keys and credentials).
 */
export type HostPolicy = Required<Pick<HostConfig, 'name' | 'address' | 'port' | 'recording' | 'fileTransfers'>> & {
  readonly forwarding: Readonly<Record<ForwardingKind, boolean>>;
};

export interface SyslogConfig {
  /** `host:port` of the syslog service. */
  readonly address: string;
  /** @default 'tcp' */
  readonly protocol?: 'tcp' | 'udp';
  /** @default 'syslog' */
  readonly format?: 'syslog' | 'cef';
}

export interface AuditConfig {
  /** SSH events (sensitive) on/off. @default false */
  readonly enabled?: boolean;
  /** @default ['stdout','stderr','channel_request','global_request'] */
  readonly events?: readonly SshEventKind[];
  /** Omitted when syslog is disabled: non-sensitive events then go to stdout, sensitive ones nowhere. */
  readonly syslog?: SyslogConfig;
  /**
   * The stdin/stdout/stderr events of channels without a pty: `summary` sends bulk transfers (rsync, git, tar
   * over ssh) and binary chunks as one `data_summary` event per stream (bytes, sha256, what was left out)
   * instead of their bytes; `events` sends every byte. The recording keeps every byte either way.
   * @default 'summary'
   */
  readonly bulkData?: BulkDataPolicy;
}

export type BulkDataPolicy = 'summary' | 'events';

/** The trail's keys (CONTRACT §6): without them recordings are plain and unsigned, as before. */
export interface TrailConfig {
  /**
   * A directory holding a key set of `srec keys init`: encryption.json (the KEKs, first current) seals every
   * file of a session, signing.key signs manifests and this replica's ledger. Either may be left out.
   */
  readonly keysDir: string;
}

export interface RetentionConfig {
  /** Whole days, at least 1. @default 180 */
  readonly trailExpiryDays?: number;
  /** Whole days, at least 1. @default 180 */
  readonly transferredFilesExpiryDays?: number;
}

/**
 * Penalties a source address (its net block) collects, as OpenSSH's PerSourcePenalties: each event adds its
 * seconds (up to maxSeconds); while a source holds at least minSeconds, its new connections are closed at once.
 * An event's seconds of 0 turn that penalty off.
 */
export interface PenaltiesConfig {
  /** A connection that ended without logging in after failed authentication attempts. @default 5 */
  readonly authFailureSeconds?: number;
  /** A connection that did not log in within loginGraceSeconds. @default 10 */
  readonly loginGraceExceededSeconds?: number;
  /** A source is refused once its penalty reaches this. @default 15 */
  readonly minSeconds?: number;
  /** The most penalty one source can hold. @default 600 */
  readonly maxSeconds?: number;
}

/** What one source, one connection and the whole recorder may hold before logging in and after (OpenSSH's names in brackets). */
export interface LimitsConfig {
  /** Seconds a connection has to log in (LoginGraceTime). @default 30 */
  readonly loginGraceSeconds?: number;
  /**
   * Connections not yet logged in, `start:rate:full` (MaxStartups): from `start` on, a new one is dropped with
   * probability `rate`% rising linearly to 100% at `full`. A single number N is N:100:N. @default '10:30:100'
   */
  readonly maxStartups?: string | number;
  /** Connections not yet logged in from one source (PerSourceMaxStartups). @default 5 */
  readonly perSourceMaxStartups?: number;
  /** `v4:v6` prefix lengths that make addresses one source (PerSourceNetBlockSize); N alone is N:128. @default '32:128' */
  readonly perSourceNetBlockSize?: string | number;
  /** Failed authentication attempts before the connection is closed (MaxAuthTries). @default 6 */
  readonly maxAuthTries?: number;
  /** Session channels open at once on one connection (MaxSessions). @default 10 */
  readonly maxSessionsPerConnection?: number;
  /** Channels of any type open at once on one connection. @default 100 */
  readonly maxChannelsPerConnection?: number;
  readonly perSourcePenalties?: PenaltiesConfig;
}

/** The file as written. Relative paths are taken from the file's folder. */
export interface RecorderConfig {
  /** @default '0.0.0.0:2222' */
  readonly listen?: string;
  /** /healthz /readyz /metrics. @default '0.0.0.0:9090' */
  readonly probes?: string;
  readonly hostKeyFile: string;
  /** The share. @default '/var/privx/audit' */
  readonly dataFolder?: string;
  /** Spool for open sessions. @default '/tmp/srec' */
  readonly tempFolder?: string;
  /** Kubernetes quantity, e.g. `10Gi`; spool full -> new recorded sessions are refused. @default no limit */
  readonly tempSizeLimit?: string;
  /** Inline people; `usersFile` adds more (at least one of the two). */
  readonly users?: readonly UserConfig[];
  /** A YAML file with the same list (or `{users: [...]}`), e.g. a mounted Secret. */
  readonly usersFile?: string;
  readonly hosts: readonly HostConfig[];
  readonly audit?: AuditConfig;
  readonly retention?: RetentionConfig;
  /** Encryption at rest and signatures. @default none: plain trail, not tamper-evident */
  readonly trail?: TrailConfig;
  /** Not rendered by the operator (its defaults apply in a cluster). */
  readonly limits?: LimitsConfig;
  /**
   * Processes that serve sessions (recorder/src/ssh/workers.ts); 1: everything in one process.
   * @default the container's cgroup CPU quota rounded up, at most its cores and one per 256 MiB of its memory limit
   */
  readonly workers?: number;
}
