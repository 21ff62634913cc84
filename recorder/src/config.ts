// The recorder's configuration file (CONTRACT §2, docs/internals.md): its shape, and the loader that reads
// it together with the files it names (host key, usersFile, credentials), gathering every problem into one
// error whose lines each name the field and say what to change.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { listenAddress, requireHostPort } from '../../common/host-port.js';
import { parseQuantity } from '../../common/quantity.js';

export { parseQuantity };

export type SshEventKind = 'stdin' | 'stdout' | 'stderr' | 'channel_request' | 'global_request';
export const SSH_EVENT_KINDS: readonly SshEventKind[] = ['stdin', 'stdout', 'stderr', 'channel_request', 'global_request'];

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

export interface CredentialsConfig {
  readonly username?: string;
  readonly usernameFile?: string;
  readonly privateKeyFile?: string;
  readonly passwordFile?: string;
}

export interface HostConfig {
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
  readonly credentials: CredentialsConfig;
}

export interface AuditConfig {
  /** SSH events (sensitive) on/off. @default false */
  readonly enabled?: boolean;
  /** @default ['stdout','stderr','channel_request','global_request'] */
  readonly events?: readonly SshEventKind[];
  readonly syslog?: { readonly address: string; readonly protocol?: 'tcp' | 'udp'; readonly format?: 'syslog' | 'cef' };
}

export interface RetentionConfig {
  /** @default 180 */
  readonly trailExpiryDays?: number;
  /** @default 180 */
  readonly transferredFilesExpiryDays?: number;
}

/** The file as written (docs/internals.md "Recorder config file"). */
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
  readonly users?: readonly UserConfig[];
  readonly usersFile?: string;
  readonly hosts: readonly HostConfig[];
  readonly audit?: AuditConfig;
  readonly retention?: RetentionConfig;
}

/** A person who may connect, with their keys parsed once. */
export interface ResolvedUser {
  readonly name: string;
  readonly keys: readonly ParsedKey[];
  /** undefined: every host. */
  readonly hosts?: ReadonlySet<string>;
}

export interface ResolvedCredentials {
  readonly username: string;
  readonly privateKey?: Buffer;
  readonly password?: string;
}

export interface ResolvedHost {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly hostKeys: readonly ParsedKey[];
  readonly recording: boolean;
  readonly fileTransfers: boolean;
  readonly credentials: ResolvedCredentials;
}

/** What the recorder runs on: defaults applied, files read, keys parsed. */
export interface ResolvedRecorderConfig {
  readonly listen: string;
  readonly probes: string;
  readonly hostKey: Buffer;
  readonly dataFolder: string;
  readonly tempFolder: string;
  /** Bytes; undefined when no limit. */
  readonly tempSizeLimit?: number;
  readonly users: readonly ResolvedUser[];
  readonly hosts: readonly ResolvedHost[];
  readonly audit: {
    readonly enabled: boolean;
    readonly events: ReadonlySet<SshEventKind>;
    readonly syslog?: { readonly address: string; readonly protocol: 'tcp' | 'udp'; readonly format: 'syslog' | 'cef' };
  };
  readonly retention: { readonly trailExpiryDays: number; readonly transferredFilesExpiryDays: number };
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`${source}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
    this.name = 'ConfigError';
  }
}

const KEY_EXAMPLE = '"ssh-ed25519 AAAA... comment"';
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** Reads the file at `file` and everything it names; throws ConfigError listing every problem. */
export function loadRecorderConfig(file: string): ResolvedRecorderConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the configuration file: ${(err as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  return resolveRecorderConfig(doc, { source: file, baseDir: path.dirname(path.resolve(file)) });
}

export interface ResolveOptions {
  /** Named in error messages. */
  readonly source: string;
  /** Relative paths in the file are taken from here (the config file's folder). */
  readonly baseDir: string;
  /** @default node:fs readFileSync */
  readonly readFile?: (p: string) => Buffer;
}

/** Validates a parsed document and reads the files it names. */
export function resolveRecorderConfig(doc: unknown, opts: ResolveOptions): ResolvedRecorderConfig {
  const problems: string[] = [];
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p));
  const abs = (p: string) => path.resolve(opts.baseDir, p);
  const read = (field: string, p: string, what: string): Buffer | undefined => {
    try {
      return readFile(abs(p));
    } catch (err) {
      problems.push(`${field}: cannot read ${what} "${p}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return undefined;
    }
  };

  if (!isObject(doc)) throw new ConfigError(opts.source, ['the file must be a YAML mapping (listen, hostKeyFile, dataFolder, users, hosts, ...)']);
  const known = new Set(['listen', 'probes', 'hostKeyFile', 'dataFolder', 'tempFolder', 'tempSizeLimit', 'users', 'usersFile', 'hosts', 'audit', 'retention']);
  for (const k of Object.keys(doc)) if (!known.has(k)) problems.push(`${k}: unknown field; expected one of ${[...known].join(', ')}`);

  const listen = optString(doc, 'listen', problems) ?? '0.0.0.0:2222';
  const probes = optString(doc, 'probes', problems) ?? '0.0.0.0:9090';
  for (const [field, value] of [['listen', listen], ['probes', probes]] as const) {
    try {
      listenAddress(value, field);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }

  let hostKey: Buffer | undefined;
  const hostKeyFile = optString(doc, 'hostKeyFile', problems);
  if (hostKeyFile === undefined) {
    problems.push("hostKeyFile: required; the recorder's own SSH host key, e.g. from `ssh-keygen -t ed25519 -N '' -f host_key`");
  } else {
    hostKey = read('hostKeyFile', hostKeyFile, 'the host key');
    if (hostKey !== undefined && !isPrivateKey(hostKey)) {
      problems.push(`hostKeyFile: "${hostKeyFile}" is not an unencrypted OpenSSH/PEM private key; generate one with \`ssh-keygen -t ed25519 -N '' -f ${hostKeyFile}\``);
      hostKey = undefined;
    }
  }

  const dataFolder = abs(optString(doc, 'dataFolder', problems) ?? '/var/privx/audit');
  const tempFolder = abs(optString(doc, 'tempFolder', problems) ?? '/tmp/srec');
  let tempSizeLimit: number | undefined;
  const limit = doc.tempSizeLimit;
  if (limit !== undefined) {
    tempSizeLimit = parseQuantity(String(limit));
    if (tempSizeLimit === undefined) problems.push(`tempSizeLimit: "${String(limit)}" is not a size; write e.g. 10Gi, 500Mi or a number of bytes`);
  }

  // users + usersFile
  const users: ResolvedUser[] = [];
  if (doc.users === undefined && doc.usersFile === undefined) {
    problems.push('users: no one could connect; set users (a list of {name, authorizedKeys}) or usersFile');
  }
  if (doc.users !== undefined) resolveUsers(doc.users, 'users', problems, users);
  const usersFile = optString(doc, 'usersFile', problems);
  if (usersFile !== undefined) {
    const buf = read('usersFile', usersFile, 'the users file');
    if (buf !== undefined) {
      let parsed: unknown;
      try {
        parsed = yaml.load(buf.toString('utf8'));
      } catch (err) {
        problems.push(`usersFile: "${usersFile}" is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
      }
      if (isObject(parsed) && 'users' in parsed) parsed = parsed.users;
      if (parsed === undefined || parsed === null) parsed = [];
      resolveUsers(parsed, `usersFile(${usersFile})`, problems, users);
    }
  }
  const seenUsers = new Set<string>();
  for (const u of users) {
    if (seenUsers.has(u.name)) problems.push(`users: "${u.name}" is listed twice; merge the entries`);
    seenUsers.add(u.name);
  }

  // hosts
  const hosts: ResolvedHost[] = [];
  if (!Array.isArray(doc.hosts)) {
    problems.push('hosts: required; a list of {name, address, port, hostKeys, recording, credentials}');
  } else {
    const seen = new Set<string>();
    doc.hosts.forEach((h: unknown, i: number) => {
      const host = resolveHost(h, `hosts[${i}]`, problems, read);
      if (host === undefined) return;
      if (seen.has(host.name)) problems.push(`hosts[${i}].name: "${host.name}" is used by an earlier host; host names must be unique`);
      seen.add(host.name);
      hosts.push(host);
    });
  }
  for (const [i, u] of users.entries()) {
    for (const h of u.hosts ?? []) {
      if (!hosts.some((x) => x.name === h)) problems.push(`users[${i}].hosts: "${h}" is not the name of any entry in hosts`);
    }
  }

  // audit
  let audit: ResolvedRecorderConfig['audit'] = { enabled: false, events: new Set<SshEventKind>(['stdout', 'stderr', 'channel_request', 'global_request']) };
  if (doc.audit !== undefined) {
    if (!isObject(doc.audit)) problems.push('audit: must be a mapping {enabled, events, syslog}');
    else {
      const a = doc.audit;
      const enabled = a.enabled === undefined ? false : a.enabled;
      if (typeof enabled !== 'boolean') problems.push('audit.enabled: must be true or false');
      let events = audit.events;
      if (a.events !== undefined) {
        if (!Array.isArray(a.events)) problems.push(`audit.events: must be a list drawn from ${SSH_EVENT_KINDS.join(', ')}`);
        else {
          const bad = a.events.filter((e) => !SSH_EVENT_KINDS.includes(e as SshEventKind));
          if (bad.length > 0) problems.push(`audit.events: ${bad.map((b) => JSON.stringify(b)).join(', ')} unknown; choose from ${SSH_EVENT_KINDS.join(', ')}`);
          events = new Set(a.events.filter((e) => SSH_EVENT_KINDS.includes(e as SshEventKind)) as SshEventKind[]);
        }
      }
      let syslog: ResolvedRecorderConfig['audit']['syslog'];
      if (a.syslog !== undefined) {
        if (!isObject(a.syslog) || typeof a.syslog.address !== 'string') problems.push('audit.syslog: must be {address: host:port, protocol: tcp|udp, format: syslog|cef}');
        else {
          const protocol = a.syslog.protocol ?? 'tcp';
          const format = a.syslog.format ?? 'syslog';
          if (protocol !== 'tcp' && protocol !== 'udp') problems.push('audit.syslog.protocol: must be tcp or udp');
          if (format !== 'syslog' && format !== 'cef') problems.push('audit.syslog.format: must be syslog or cef');
          try {
            requireHostPort(a.syslog.address, 'audit.syslog.address');
          } catch (err) {
            problems.push((err as Error).message);
          }
          syslog = { address: a.syslog.address, protocol: protocol as 'tcp' | 'udp', format: format as 'syslog' | 'cef' };
        }
      }
      audit = { enabled: enabled === true, events, ...(syslog ? { syslog } : {}) };
    }
  }

  // retention
  const retention = { trailExpiryDays: 180, transferredFilesExpiryDays: 180 };
  if (doc.retention !== undefined) {
    if (!isObject(doc.retention)) problems.push('retention: must be a mapping {trailExpiryDays, transferredFilesExpiryDays}');
    else {
      for (const k of ['trailExpiryDays', 'transferredFilesExpiryDays'] as const) {
        const v = doc.retention[k];
        if (v === undefined) continue;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) problems.push(`retention.${k}: must be a whole number of days, at least 1`);
        else retention[k] = v;
      }
    }
  }

  if (problems.length > 0 || hostKey === undefined) throw new ConfigError(opts.source, problems);
  return { listen, probes, hostKey, dataFolder, tempFolder, ...(tempSizeLimit !== undefined ? { tempSizeLimit } : {}), users, hosts, audit, retention };
}

function resolveUsers(list: unknown, field: string, problems: string[], out: ResolvedUser[]): void {
  if (!Array.isArray(list)) {
    problems.push(`${field}: must be a list of {name, authorizedKeys}`);
    return;
  }
  list.forEach((u: unknown, i: number) => {
    const f = `${field}[${i}]`;
    if (!isObject(u)) return void problems.push(`${f}: must be a mapping {name, authorizedKeys}`);
    const name = typeof u.name === 'string' ? u.name.trim() : '';
    if (name === '') problems.push(`${f}.name: required; the person's name as it appears in recordings and audit events`);
    const keys: ParsedKey[] = [];
    if (!Array.isArray(u.authorizedKeys) || u.authorizedKeys.length === 0) {
      problems.push(`${f}.authorizedKeys: at least one public key is required, e.g. ${KEY_EXAMPLE}`);
    } else {
      u.authorizedKeys.forEach((k: unknown, j: number) => {
        const key = parsePublicKey(k);
        if (typeof key === 'string') problems.push(`${f}.authorizedKeys[${j}]: ${key}`);
        else keys.push(key);
      });
    }
    let hosts: Set<string> | undefined;
    if (u.hosts !== undefined) {
      if (!Array.isArray(u.hosts) || u.hosts.some((h) => typeof h !== 'string')) problems.push(`${f}.hosts: must be a list of host names`);
      else hosts = new Set(u.hosts as string[]);
    }
    out.push({ name, keys, ...(hosts ? { hosts } : {}) });
  });
}

function resolveHost(
  h: unknown,
  f: string,
  problems: string[],
  read: (field: string, p: string, what: string) => Buffer | undefined,
): ResolvedHost | undefined {
  if (!isObject(h)) {
    problems.push(`${f}: must be a mapping {name, address, port, hostKeys, recording, credentials}`);
    return undefined;
  }
  const name = typeof h.name === 'string' ? h.name : '';
  if (!HOST_NAME.test(name)) problems.push(`${f}.name: "${name}" is not a host name people can type after user@ (letters, digits, . _ -)`);
  const address = typeof h.address === 'string' ? h.address : '';
  if (address === '') problems.push(`${f}.address: required; the target's IP address or DNS name`);
  const port = h.port ?? 22;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) problems.push(`${f}.port: must be a port number from 1 to 65535`);
  const hostKeys: ParsedKey[] = [];
  if (!Array.isArray(h.hostKeys) || h.hostKeys.length === 0) {
    problems.push(
      `${f}.hostKeys: at least one pinned host key is required; add the target's public host key, e.g. a line of \`ssh-keyscan -t ed25519 ${address || '<address>'}\` without the leading host name`,
    );
  } else {
    h.hostKeys.forEach((k: unknown, j: number) => {
      const key = parsePublicKey(k);
      if (typeof key === 'string') problems.push(`${f}.hostKeys[${j}]: ${key}`);
      else hostKeys.push(key);
    });
  }
  for (const b of ['recording', 'fileTransfers'] as const) {
    if (h[b] !== undefined && typeof h[b] !== 'boolean') problems.push(`${f}.${b}: must be true or false`);
  }
  const credentials = resolveCredentials(h.credentials, `${f}.credentials`, problems, read);
  if (credentials === undefined) return undefined;
  return {
    name,
    address,
    port: port as number,
    hostKeys,
    recording: h.recording !== false,
    fileTransfers: h.fileTransfers === true,
    credentials,
  };
}

function resolveCredentials(
  c: unknown,
  f: string,
  problems: string[],
  read: (field: string, p: string, what: string) => Buffer | undefined,
): ResolvedCredentials | undefined {
  if (!isObject(c)) {
    problems.push(`${f}: required; {username | usernameFile, privateKeyFile | passwordFile} the recorder logs in to the target with`);
    return undefined;
  }
  let username: string | undefined;
  if (typeof c.username === 'string' && c.username !== '') username = c.username;
  else if (typeof c.usernameFile === 'string') username = read(`${f}.usernameFile`, c.usernameFile, 'the username')?.toString('utf8').trim();
  if (c.username !== undefined && c.usernameFile !== undefined) problems.push(`${f}: set username or usernameFile, not both`);
  if (username === undefined || username === '') {
    if (c.username === undefined && c.usernameFile === undefined) problems.push(`${f}: set username or usernameFile`);
    else if (username === '') problems.push(`${f}: the username is empty`);
    return undefined;
  }
  const hasKey = typeof c.privateKeyFile === 'string';
  const hasPassword = typeof c.passwordFile === 'string';
  if (hasKey === hasPassword) {
    problems.push(`${f}: set exactly one of privateKeyFile or passwordFile`);
    return undefined;
  }
  if (hasKey) {
    const key = read(`${f}.privateKeyFile`, c.privateKeyFile as string, 'the private key');
    if (key === undefined) return undefined;
    if (!isPrivateKey(key)) {
      problems.push(`${f}.privateKeyFile: "${String(c.privateKeyFile)}" is not an unencrypted OpenSSH/PEM private key`);
      return undefined;
    }
    return { username, privateKey: key };
  }
  const pw = read(`${f}.passwordFile`, c.passwordFile as string, 'the password');
  if (pw === undefined) return undefined;
  return { username, password: pw.toString('utf8').replace(/\r?\n$/, '') };
}

/** A parsed public key, or a message saying what is wrong with the line. */
export function parsePublicKey(line: unknown): ParsedKey | string {
  if (typeof line !== 'string' || line.trim() === '') return `must be a public key line like ${KEY_EXAMPLE}`;
  const parsed = ssh2.utils.parseKey(line.trim());
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || key instanceof Error) {
    return `"${line.trim().slice(0, 40)}..." is not a public key line like ${KEY_EXAMPLE} (authorized_keys options are not supported)`;
  }
  if (key.isPrivateKey()) return 'this is a private key; give the public key line instead';
  return key;
}

function isPrivateKey(buf: Buffer): boolean {
  const parsed = ssh2.utils.parseKey(buf);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return key !== undefined && !(key instanceof Error) && key.isPrivateKey();
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(doc: Record<string, unknown>, key: string, problems: string[]): string | undefined {
  const v = doc[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') {
    problems.push(`${key}: must be a non-empty string`);
    return undefined;
  }
  return v;
}
