// The recorder's side of recorder.yaml (CONTRACT §2, docs/internals.md): the loader that checks it against
// the contract (common/recorder-config: shape, JSON Schema, validate) and reads the files it names (host
// key, usersFile, credentials), gathering every problem into one error whose lines each name the field.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { parseQuantity } from '../../common/quantity.js';
import { loadTrailKeys, type TrailKeys } from './trail/crypto/keys.js';
import { parseMaxStartups, parseNetBlockSize, type MaxStartups, type NetBlockSize } from '../../common/recorder-config/limits.js';
import { RECORDER_CONFIG_DEFAULTS as D } from '../../common/recorder-config/types.js';
import { KEY_EXAMPLE, validateRecorderConfig, validateUsers } from '../../common/recorder-config/validate.js';

export { parseQuantity };
export type { AuditConfig, CredentialsConfig, ForwardingConfig, HostConfig, LimitsConfig, PenaltiesConfig, RecorderConfig, RetentionConfig, UserConfig } from '../../common/recorder-config/types.js';
export type { MaxStartups, NetBlockSize };

import { FORWARDING_KINDS, SSH_EVENT_KINDS, type BulkDataPolicy, type ForwardingKind, type HostPolicy, type SshEventKind } from '../../common/recorder-config/types.js';

export { FORWARDING_KINDS, SSH_EVENT_KINDS, type ForwardingKind, type SshEventKind };

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

export interface ResolvedHost extends HostPolicy {
  readonly hostKeys: readonly ParsedKey[];
  readonly credentials: ResolvedCredentials;
}

/** `limits` with its defaults applied (common/recorder-config/types.ts says what each is). */
export interface ResolvedLimits {
  readonly loginGraceMs: number;
  readonly maxStartups: MaxStartups;
  readonly perSourceMaxStartups: number;
  readonly perSourceNetBlockSize: NetBlockSize;
  readonly maxAuthTries: number;
  readonly maxSessionsPerConnection: number;
  readonly maxChannelsPerConnection: number;
  readonly perSourcePenalties: {
    readonly authFailureSeconds: number;
    readonly loginGraceExceededSeconds: number;
    readonly minSeconds: number;
    readonly maxSeconds: number;
  };
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
    readonly bulkData: BulkDataPolicy;
  };
  readonly retention: { readonly trailExpiryDays: number; readonly transferredFilesExpiryDays: number };
  readonly limits: ResolvedLimits;
  /** Present with `trail.keysDir`: the key set read from it. */
  readonly trail?: { readonly keysDir: string; readonly keys: TrailKeys };
  /** Worker processes asked for; undefined: sized from the CPU quota (workers.ts autoWorkers). */
  readonly workers?: number;
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

/**
 * Checks a parsed document against the contract and reads the files it names. Every problem goes into one
 * ConfigError: the contract's, then those only the files show (unreadable, not a key, a user twice, ...).
 */
export function resolveRecorderConfig(doc: unknown, opts: ResolveOptions): ResolvedRecorderConfig {
  if (!isObject(doc)) throw new ConfigError(opts.source, validateRecorderConfig(doc));
  const problems = validateRecorderConfig(doc);
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p));
  const abs = (p: string) => path.resolve(opts.baseDir, p);
  const read: Reader = (field, p, what) => {
    try {
      return readFile(abs(p));
    } catch (err) {
      problems.push(`${field}: cannot read ${what} "${p}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return undefined;
    }
  };
  // From here on the contract has said what is wrong with the document's shape: what does not fit it
  // is skipped (and the ConfigError thrown at the end), what fits it is resolved.

  let hostKey: Buffer | undefined;
  const hostKeyFile = text(doc.hostKeyFile);
  if (hostKeyFile !== undefined) {
    hostKey = read('hostKeyFile', hostKeyFile, 'the host key');
    if (hostKey !== undefined && !isPrivateKey(hostKey)) {
      problems.push(`hostKeyFile: "${hostKeyFile}" is not an unencrypted OpenSSH/PEM private key; generate one with \`ssh-keygen -t ed25519 -N '' -f ${hostKeyFile}\``);
      hostKey = undefined;
    }
  }
  const limit = doc.tempSizeLimit;
  const tempSizeLimit = typeof limit === 'string' || typeof limit === 'number' ? parseQuantity(limit) : undefined;

  const users: ResolvedUser[] = [];
  resolveUsers(doc.users, 'users', problems, users);
  const usersFile = text(doc.usersFile);
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
      const field = `usersFile(${usersFile})`;
      problems.push(...validateUsers(parsed, field));
      resolveUsers(parsed, field, problems, users);
    }
  }
  const seenUsers = new Set<string>();
  for (const u of users) {
    if (seenUsers.has(u.name)) problems.push(`users: "${u.name}" is listed twice; merge the entries`);
    seenUsers.add(u.name);
  }

  const hosts: ResolvedHost[] = [];
  if (Array.isArray(doc.hosts)) {
    doc.hosts.forEach((h: unknown, i: number) => {
      const host = resolveHost(h, `hosts[${i}]`, problems, read);
      if (host !== undefined) hosts.push(host);
    });
  }
  for (const [i, u] of users.entries()) {
    for (const h of u.hosts ?? []) {
      if (!hosts.some((x) => x.name === h)) problems.push(`users[${i}].hosts: "${h}" is not the name of any entry in hosts`);
    }
  }

  const a = isObject(doc.audit) ? doc.audit : {};
  const events = Array.isArray(a.events) ? a.events.filter((e): e is SshEventKind => SSH_EVENT_KINDS.includes(e as SshEventKind)) : D.auditEvents;
  const s = isObject(a.syslog) && typeof a.syslog.address === 'string' ? a.syslog : undefined;
  const syslog = s && { address: s.address as string, protocol: s.protocol === 'udp' ? ('udp' as const) : ('tcp' as const), format: s.format === 'cef' ? ('cef' as const) : ('syslog' as const) };
  const audit = { enabled: a.enabled === true, events: new Set<SshEventKind>(events), ...(syslog ? { syslog } : {}), bulkData: a.bulkData === 'events' ? ('events' as const) : D.bulkData };

  const r = isObject(doc.retention) ? doc.retention : {};
  const days = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : fallback);
  const retention = {
    trailExpiryDays: days(r.trailExpiryDays, D.trailExpiryDays),
    transferredFilesExpiryDays: days(r.transferredFilesExpiryDays, D.transferredFilesExpiryDays),
  };

  const limits = resolveLimits(doc.limits);

  let trail: ResolvedRecorderConfig['trail'];
  const keysDir = isObject(doc.trail) ? text(doc.trail.keysDir) : undefined;
  if (keysDir !== undefined) {
    try {
      const keys = loadTrailKeys(abs(keysDir));
      // A public key alone protects nothing the recorder writes: it is the auditor's half.
      if (keys.keks.length === 0 && keys.signingKey === undefined) {
        problems.push(`trail.keysDir: "${keysDir}" holds only signing.pub; the recorder needs encryption.json and/or signing.key (srec keys init)`);
      } else trail = { keysDir: abs(keysDir), keys };
    } catch (err) {
      problems.push(`trail.keysDir: ${(err as Error).message}`);
    }
  }

  if (problems.length > 0 || hostKey === undefined) throw new ConfigError(opts.source, problems);
  return {
    listen: text(doc.listen) ?? D.listen,
    probes: text(doc.probes) ?? D.probes,
    hostKey,
    dataFolder: abs(text(doc.dataFolder) ?? D.dataFolder),
    tempFolder: abs(text(doc.tempFolder) ?? D.tempFolder),
    ...(tempSizeLimit !== undefined ? { tempSizeLimit } : {}),
    users,
    hosts,
    audit,
    retention,
    limits,
    ...(trail !== undefined ? { trail } : {}),
    ...(typeof doc.workers === 'number' ? { workers: doc.workers } : {}),
  };
}

/** The limits the contract has checked, each left out one at its default. */
export function resolveLimits(l: unknown): ResolvedLimits {
  const L = D.limits;
  const o = isObject(l) ? l : {};
  const p = isObject(o.perSourcePenalties) ? o.perSourcePenalties : {};
  const whole = (v: unknown, least: number, fallback: number) => (typeof v === 'number' && Number.isInteger(v) && v >= least ? v : fallback);
  return {
    loginGraceMs: whole(o.loginGraceSeconds, 1, L.loginGraceSeconds) * 1000,
    maxStartups: parseMaxStartups(o.maxStartups) ?? parseMaxStartups(L.maxStartups)!,
    perSourceMaxStartups: whole(o.perSourceMaxStartups, 1, L.perSourceMaxStartups),
    perSourceNetBlockSize: parseNetBlockSize(o.perSourceNetBlockSize) ?? parseNetBlockSize(L.perSourceNetBlockSize)!,
    maxAuthTries: whole(o.maxAuthTries, 1, L.maxAuthTries),
    maxSessionsPerConnection: whole(o.maxSessionsPerConnection, 1, L.maxSessionsPerConnection),
    maxChannelsPerConnection: whole(o.maxChannelsPerConnection, 1, L.maxChannelsPerConnection),
    perSourcePenalties: {
      authFailureSeconds: whole(p.authFailureSeconds, 0, L.perSourcePenalties.authFailureSeconds),
      loginGraceExceededSeconds: whole(p.loginGraceExceededSeconds, 0, L.perSourcePenalties.loginGraceExceededSeconds),
      minSeconds: whole(p.minSeconds, 1, L.perSourcePenalties.minSeconds),
      maxSeconds: whole(p.maxSeconds, 1, L.perSourcePenalties.maxSeconds),
    },
  };
}

type Reader = (field: string, p: string, what: string) => Buffer | undefined;

/** The people of a list the contract has checked: their keys parsed (only a key line shows a bad key). */
function resolveUsers(list: unknown, field: string, problems: string[], out: ResolvedUser[]): void {
  if (!Array.isArray(list)) return;
  list.forEach((u: unknown, i: number) => {
    if (!isObject(u)) return;
    const keys: ParsedKey[] = [];
    if (Array.isArray(u.authorizedKeys)) {
      u.authorizedKeys.forEach((k: unknown, j: number) => {
        if (typeof k !== 'string' || k.trim() === '') return;
        const key = parsePublicKey(k);
        if (typeof key === 'string') problems.push(`${field}[${i}].authorizedKeys[${j}]: ${key}`);
        else keys.push(key);
      });
    }
    const hosts = Array.isArray(u.hosts) && u.hosts.every((h) => typeof h === 'string') ? new Set(u.hosts as string[]) : undefined;
    out.push({ name: typeof u.name === 'string' ? u.name.trim() : '', keys, ...(hosts ? { hosts } : {}) });
  });
}

function resolveHost(h: unknown, f: string, problems: string[], read: Reader): ResolvedHost | undefined {
  if (!isObject(h)) return undefined;
  const hostKeys: ParsedKey[] = [];
  if (Array.isArray(h.hostKeys)) {
    h.hostKeys.forEach((k: unknown, j: number) => {
      if (typeof k !== 'string' || k.trim() === '') return;
      const key = parsePublicKey(k);
      if (typeof key === 'string') problems.push(`${f}.hostKeys[${j}]: ${key}`);
      else hostKeys.push(key);
    });
  }
  const credentials = resolveCredentials(h.credentials, `${f}.credentials`, problems, read);
  if (credentials === undefined) return undefined;
  return {
    name: typeof h.name === 'string' ? h.name : '',
    address: typeof h.address === 'string' ? h.address : '',
    port: typeof h.port === 'number' ? h.port : D.port,
    hostKeys,
    recording: h.recording !== false,
    fileTransfers: h.fileTransfers === true,
    forwarding: resolveForwarding(h.forwarding),
    credentials,
  };
}

/** Only an explicit `true` turns a kind on (the contract has reported anything else). */
function resolveForwarding(f: unknown): Record<ForwardingKind, boolean> {
  const given = isObject(f) ? f : {};
  return Object.fromEntries(FORWARDING_KINDS.map((k) => [k, given[k] === true])) as Record<ForwardingKind, boolean>;
}

/** The username and the key or password, read from the files the credentials name. */
function resolveCredentials(c: unknown, f: string, problems: string[], read: Reader): ResolvedCredentials | undefined {
  if (!isObject(c)) return undefined;
  const usernameFile = text(c.usernameFile);
  const username = text(c.username) ?? (usernameFile !== undefined ? read(`${f}.usernameFile`, usernameFile, 'the username')?.toString('utf8').trim() : undefined);
  if (username === '') problems.push(`${f}: the username is empty`);
  const keyFile = text(c.privateKeyFile);
  const passwordFile = text(c.passwordFile);
  if (username === undefined || username === '' || (keyFile === undefined) === (passwordFile === undefined)) return undefined;
  if (keyFile !== undefined) {
    const key = read(`${f}.privateKeyFile`, keyFile, 'the private key');
    if (key === undefined) return undefined;
    if (!isPrivateKey(key)) {
      problems.push(`${f}.privateKeyFile: "${keyFile}" is not an unencrypted OpenSSH/PEM private key`);
      return undefined;
    }
    return { username, privateKey: key };
  }
  const pw = read(`${f}.passwordFile`, passwordFile as string, 'the password');
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

/** A non-empty string, or undefined (the contract reports the rest). */
function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
