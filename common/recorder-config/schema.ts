// recorder.yaml in JSON Schema (draft 2020-12), the checkable half of the contract in types.ts. Two
// formats are srec's own and registered by validate.ts: `listen-address` (host:port, :port or port;
// port 0 picks a free one), `host-port` (host:port or [v6]:port, port 1-65535), `max-startups`
// (start:rate:full) and `net-block-size` (v4:v6), the last two as limits.ts reads them.
// The loader takes null for an optional field as "not set", so those fields allow null.
import { QUANTITY_PATTERN } from '../quantity.js';
import { FORWARDING_KINDS, RECORDER_CONFIG_DEFAULTS as D, SSH_EVENT_KINDS } from './types.js';

/** What people type after `user@`. */
export const HOST_NAME_PATTERN = '^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$';

const optionalString = { type: ['string', 'null'], minLength: 1 } as const;
const keyLine = { type: 'string', pattern: '\\S', description: 'ssh-ed25519 AAAA... comment (no authorized_keys options)' } as const;

/** The people who may connect: recorder.yaml's `users`, and the whole of a `usersFile`. */
export const usersSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['name', 'authorizedKeys'],
    properties: {
      name: { type: 'string', pattern: '\\S', description: 'as it appears in recordings and audit events' },
      authorizedKeys: { type: 'array', minItems: 1, items: keyLine },
      hosts: { type: 'array', items: { type: 'string' }, description: 'the hosts this person may reach; default every host' },
    },
  },
} as const;

const credentialsSchema = {
  type: 'object',
  properties: {
    username: { type: 'string', minLength: 1 },
    usernameFile: { type: 'string', minLength: 1 },
    privateKeyFile: { type: 'string', minLength: 1, description: 'an unencrypted OpenSSH or PEM private key' },
    passwordFile: { type: 'string', minLength: 1 },
  },
  allOf: [
    { oneOf: [{ required: ['username'] }, { required: ['usernameFile'] }] },
    { oneOf: [{ required: ['privateKeyFile'] }, { required: ['passwordFile'] }] },
  ],
} as const;

/** Closed: a misspelt kind (`ssh-agent: true`) would otherwise leave that forwarding off without a word. */
const forwardingSchema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(FORWARDING_KINDS.map((k) => [k, { type: 'boolean', default: D.forwarding[k] }])) as Record<(typeof FORWARDING_KINDS)[number], { type: 'boolean'; default: boolean }>,
  description: 'local: direct-tcpip (ssh -L, -D, -W, -J); remote: tcpip-forward (ssh -R); agent: ssh -A; x11: ssh -X; unixSockets: streamlocal both ways',
} as const;

const hostSchema = {
  type: 'object',
  required: ['name', 'address', 'hostKeys', 'credentials'],
  properties: {
    name: { type: 'string', pattern: HOST_NAME_PATTERN, description: 'unique among the hosts' },
    address: { type: 'string', minLength: 1 },
    port: { type: ['integer', 'null'], minimum: 1, maximum: 65535, default: D.port },
    hostKeys: { type: 'array', minItems: 1, items: keyLine, description: 'pinned: the target must present one of them' },
    recording: { type: 'boolean', default: D.recording },
    fileTransfers: { type: 'boolean', default: D.fileTransfers },
    forwarding: forwardingSchema,
    credentials: credentialsSchema,
  },
} as const;

const L = D.limits;
const count = (min: number, dflt: number, description: string) => ({ type: 'integer', minimum: min, default: dflt, description }) as const;
const seconds = (dflt: number, description: string) => ({ type: 'integer', minimum: 0, default: dflt, description }) as const;

/** Closed, unlike the top level's neighbours: a misspelt limit would silently leave its default. */
const limitsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    loginGraceSeconds: count(1, L.loginGraceSeconds, 'seconds to log in (OpenSSH LoginGraceTime)'),
    maxStartups: { type: ['string', 'integer'], format: 'max-startups', minimum: 1, default: L.maxStartups, description: 'start:rate:full (OpenSSH MaxStartups)' },
    perSourceMaxStartups: count(1, L.perSourceMaxStartups, 'connections not yet logged in from one source (OpenSSH PerSourceMaxStartups)'),
    perSourceNetBlockSize: { type: ['string', 'integer'], format: 'net-block-size', minimum: 0, maximum: 32, default: L.perSourceNetBlockSize, description: 'v4:v6 prefix lengths' },
    maxAuthTries: count(1, L.maxAuthTries, 'failed authentication attempts per connection (OpenSSH MaxAuthTries)'),
    maxSessionsPerConnection: count(1, L.maxSessionsPerConnection, 'session channels open at once (OpenSSH MaxSessions)'),
    maxChannelsPerConnection: count(1, L.maxChannelsPerConnection, 'channels of any type open at once'),
    perSourcePenalties: {
      type: 'object',
      additionalProperties: false,
      properties: {
        authFailureSeconds: seconds(L.perSourcePenalties.authFailureSeconds, 'per connection that failed to authenticate'),
        loginGraceExceededSeconds: seconds(L.perSourcePenalties.loginGraceExceededSeconds, 'per connection that did not log in in time'),
        minSeconds: count(1, L.perSourcePenalties.minSeconds, 'a source holding this much is refused'),
        maxSeconds: count(1, L.perSourcePenalties.maxSeconds, 'the most one source can hold'),
      },
    },
  },
} as const;

export const recorderConfigSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'srec recorder.yaml',
  type: 'object',
  required: ['hostKeyFile', 'hosts'],
  // Only the top level is closed, as the loader always had it: a typo there loses a whole setting.
  additionalProperties: false,
  // users, usersFile or both.
  if: { not: { required: ['usersFile'] } },
  then: { required: ['users'] },
  properties: {
    listen: { ...optionalString, format: 'listen-address', default: D.listen },
    probes: { ...optionalString, format: 'listen-address', default: D.probes, description: '/healthz /readyz /metrics' },
    hostKeyFile: { type: 'string', minLength: 1, description: "the recorder's own SSH host key (unencrypted private key)" },
    dataFolder: { ...optionalString, default: D.dataFolder, description: 'the share' },
    tempFolder: { ...optionalString, default: D.tempFolder, description: 'spool for open sessions' },
    tempSizeLimit: { type: ['string', 'number'], pattern: QUANTITY_PATTERN, minimum: 0, description: 'Kubernetes quantity or bytes; default no limit' },
    users: usersSchema,
    usersFile: optionalString,
    hosts: { type: 'array', items: hostSchema },
    audit: {
      type: 'object',
      properties: {
        enabled: { type: 'boolean', default: D.auditEnabled },
        events: { type: 'array', items: { enum: [...SSH_EVENT_KINDS] }, default: [...D.auditEvents] },
        bulkData: { enum: ['summary', 'events'], default: D.bulkData, description: 'summary: bulk transfers, binary data and text beyond 1 MiB at once then 256 KiB/s per stream of channels without a pty go to the SIEM as one data_summary event per stream' },
        syslog: {
          type: 'object',
          required: ['address'],
          properties: {
            address: { type: 'string', format: 'host-port' },
            protocol: { enum: ['tcp', 'udp', null], default: D.syslogProtocol },
            format: { enum: ['syslog', 'cef', null], default: D.syslogFormat },
          },
        },
      },
    },
    retention: {
      type: 'object',
      properties: {
        trailExpiryDays: { type: 'integer', minimum: 1, default: D.trailExpiryDays },
        transferredFilesExpiryDays: { type: 'integer', minimum: 1, default: D.transferredFilesExpiryDays },
      },
    },
    limits: limitsSchema,
    workers: { type: 'integer', minimum: 1, maximum: 256, description: 'processes serving sessions; default the container CPU quota rounded up, at most its cores and one per 256 MiB of its memory limit' },
    trail: {
      type: 'object',
      additionalProperties: false,
      required: ['keysDir'],
      properties: { keysDir: { type: 'string', minLength: 1, description: 'a key set of srec keys init: encryption.json and/or signing.key' } },
    },
  },
} as const;
