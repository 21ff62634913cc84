// Checks a parsed recorder.yaml (or a usersFile) against schema.ts and says, for each problem, the field
// path and what to change: `hosts[0].port: must be a port number from 1 to 65535`. ajv finds the
// problems; the messages below, one per field, say them in the loader's words.
import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { listenAddress, parseHostPort } from '../host-port.js';
import { parseMaxStartups, parseNetBlockSize } from './limits.js';
import { HOST_NAME_PATTERN, recorderConfigSchema, usersSchema } from './schema.js';
import { FORWARDING_KINDS, RECORDER_CONFIG_DEFAULTS, SSH_EVENT_KINDS, type RecorderConfig } from './types.js';

/** How a public key line looks, in messages. */
export const KEY_EXAMPLE = '"ssh-ed25519 AAAA... comment"';
const NON_EMPTY = 'must be a non-empty string';
const TRUE_OR_FALSE = 'must be true or false';
const WHOLE = (least: number, what: string) => `must be a whole number${what}, at least ${least}`;
/** The fields a closed mapping may hold, by its field path (list items as `[]`), for "unknown field" messages. */
const KNOWN_FIELDS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(recorderConfigSchema.properties),
  'hosts[].forwarding': FORWARDING_KINDS,
  limits: Object.keys(recorderConfigSchema.properties.limits.properties),
  'limits.perSourcePenalties': Object.keys(recorderConfigSchema.properties.limits.properties.perSourcePenalties.properties),
};

interface Failure {
  /** The value at the field (undefined when it is missing). */
  readonly value: unknown;
  /** The object or list holding the field. */
  readonly parent: unknown;
  readonly missing: boolean;
  readonly error: ErrorObject;
}

type Message = (f: Failure) => string;

const hostPortMessage = (minPort: number) => (f: Failure) => `"${String(f.value)}" is not host:port with a port from ${minPort} to 65535`;
const listen: Message = (f) => (f.error.keyword === 'format' ? hostPortMessage(0)(f) : NON_EMPTY);

/**
 * By field pattern (`hosts[].port`; `pattern:keyword` for one keyword only). A field without an entry
 * is reported at the nearest enclosing field that has one (`audit.events[]` as `audit.events`).
 */
const MESSAGES: Readonly<Record<string, Message>> = {
  listen,
  probes: listen,
  hostKeyFile: (f) => (f.missing || f.value === null ? "required; the recorder's own SSH host key, e.g. from `ssh-keygen -t ed25519 -N '' -f host_key`" : NON_EMPTY),
  dataFolder: () => NON_EMPTY,
  tempFolder: () => NON_EMPTY,
  workers: () => 'must be a whole number of worker processes from 1 to 256 (leave it out to size it from the CPU the container may use)',
  tempSizeLimit: (f) => `"${String(f.value)}" is not a size; write e.g. 10Gi, 500Mi or a number of bytes`,
  users: (f) => (f.missing ? 'no one could connect; set users (a list of {name, authorizedKeys}) or usersFile' : 'must be a list of {name, authorizedKeys}'),
  'users[]': () => 'must be a mapping {name, authorizedKeys}',
  'users[].name': () => "required; the person's name as it appears in recordings and audit events",
  'users[].authorizedKeys': () => `at least one public key is required, e.g. ${KEY_EXAMPLE}`,
  'users[].authorizedKeys[]': () => `must be a public key line like ${KEY_EXAMPLE}`,
  'users[].hosts': () => 'must be a list of host names',
  usersFile: () => NON_EMPTY,
  hosts: () => 'required; a list of {name, address, port, hostKeys, recording, credentials}',
  'hosts[]': () => 'must be a mapping {name, address, port, hostKeys, recording, credentials}',
  'hosts[].name': (f) => `"${typeof f.value === 'string' ? f.value : ''}" is not a host name people can type after user@ (letters, digits, . _ -)`,
  'hosts[].address': () => "required; the target's IP address or DNS name",
  'hosts[].port': () => 'must be a port number from 1 to 65535',
  'hosts[].hostKeys': (f) => {
    const address = isObject(f.parent) && typeof f.parent.address === 'string' && f.parent.address !== '' ? f.parent.address : '<address>';
    return `at least one pinned host key is required; add the target's public host key, e.g. a line of \`ssh-keyscan -t ed25519 ${address}\` without the leading host name`;
  },
  'hosts[].hostKeys[]': () => `must be a public key line like ${KEY_EXAMPLE}`,
  'hosts[].recording': () => TRUE_OR_FALSE,
  'hosts[].fileTransfers': () => TRUE_OR_FALSE,
  'hosts[].forwarding': () => `must be a mapping of ${FORWARDING_KINDS.join(', ')} to true or false`,
  ...Object.fromEntries(FORWARDING_KINDS.map((k) => [`hosts[].forwarding.${k}`, () => TRUE_OR_FALSE])),
  'hosts[].credentials': (f) => {
    if (f.error.keyword !== 'oneOf') return 'required; {username | usernameFile, privateKeyFile | passwordFile} the recorder logs in to the target with';
    if (f.error.schemaPath.endsWith('/allOf/1/oneOf')) return 'set exactly one of privateKeyFile or passwordFile';
    return (f.error.params as { passingSchemas: unknown }).passingSchemas === null ? 'set username or usernameFile' : 'set username or usernameFile, not both';
  },
  'hosts[].credentials.username': () => NON_EMPTY,
  'hosts[].credentials.usernameFile': () => NON_EMPTY,
  'hosts[].credentials.privateKeyFile': () => NON_EMPTY,
  'hosts[].credentials.passwordFile': () => NON_EMPTY,
  audit: () => 'must be a mapping {enabled, events, syslog}',
  'audit.enabled': () => TRUE_OR_FALSE,
  'audit.events': (f) => {
    if (!Array.isArray(f.value)) return `must be a list drawn from ${SSH_EVENT_KINDS.join(', ')}`;
    const bad = f.value.filter((e) => !(SSH_EVENT_KINDS as readonly unknown[]).includes(e));
    return `${bad.map((b) => JSON.stringify(b)).join(', ')} unknown; choose from ${SSH_EVENT_KINDS.join(', ')}`;
  },
  'audit.syslog': () => 'must be {address: host:port, protocol: tcp|udp, format: syslog|cef}',
  'audit.syslog.address:format': hostPortMessage(1),
  'audit.syslog.protocol': () => 'must be tcp or udp',
  'audit.syslog.format': () => 'must be syslog or cef',
  retention: () => 'must be a mapping {trailExpiryDays, transferredFilesExpiryDays}',
  'retention.trailExpiryDays': () => 'must be a whole number of days, at least 1',
  'retention.transferredFilesExpiryDays': () => 'must be a whole number of days, at least 1',
  limits: () => 'must be a mapping {loginGraceSeconds, maxStartups, perSourceMaxStartups, maxAuthTries, ...}',
  'limits.loginGraceSeconds': () => WHOLE(1, ' of seconds'),
  'limits.maxStartups': (f) =>
    `"${String(f.value)}" is not start:rate:full (e.g. 10:30:100: from 10 connections not yet logged in, drop 30% of new ones, rising to all at 100) with start <= full and rate 1-100, nor a whole number at least 1`,
  'limits.perSourceMaxStartups': () => WHOLE(1, ''),
  'limits.perSourceNetBlockSize': (f) => `"${String(f.value)}" is not v4:v6 prefix lengths (e.g. 32:128; 24:56 makes each IPv4 /24 and IPv6 /56 one source), v4 0-32 and v6 0-128`,
  'limits.maxAuthTries': () => WHOLE(1, ''),
  'limits.maxSessionsPerConnection': () => WHOLE(1, ''),
  'limits.maxChannelsPerConnection': () => WHOLE(1, ''),
  'limits.perSourcePenalties': () => 'must be a mapping {authFailureSeconds, loginGraceExceededSeconds, minSeconds, maxSeconds}',
  'limits.perSourcePenalties.authFailureSeconds': () => `${WHOLE(0, ' of seconds')} (0: no penalty)`,
  'limits.perSourcePenalties.loginGraceExceededSeconds': () => `${WHOLE(0, ' of seconds')} (0: no penalty)`,
  'limits.perSourcePenalties.minSeconds': () => WHOLE(1, ' of seconds'),
  'limits.perSourcePenalties.maxSeconds': () => WHOLE(1, ' of seconds'),
};

let compiled: { config: ValidateFunction; users: ValidateFunction } | undefined;

function validators(): { config: ValidateFunction; users: ValidateFunction } {
  if (compiled) return compiled;
  // strictRequired would want each `required` of an if / oneOf branch to restate its properties.
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  ajv.addFormat('listen-address', (s: string) => {
    try {
      listenAddress(s);
      return true;
    } catch {
      return false;
    }
  });
  ajv.addFormat('host-port', (s: string) => parseHostPort(s) !== undefined);
  ajv.addFormat('max-startups', (s: string) => parseMaxStartups(s) !== undefined);
  ajv.addFormat('net-block-size', (s: string) => parseNetBlockSize(s) !== undefined);
  compiled = { config: ajv.compile(recorderConfigSchema), users: ajv.compile(usersSchema) };
  return compiled;
}

/**
 * Every problem of a parsed recorder.yaml, each `field.path: what to change`; empty when it is valid.
 * The files it names are not read here (the recorder does that).
 */
export function validateRecorderConfig(doc: unknown): string[] {
  if (!isObject(doc)) return ['the file must be a YAML mapping (listen, hostKeyFile, dataFolder, users, hosts, ...)'];
  const problems = explain(validators().config, doc, '', '');
  if (Array.isArray(doc.hosts)) {
    const seen = new Set<string>();
    doc.hosts.forEach((h: unknown, i: number) => {
      if (!isObject(h) || typeof h.name !== 'string' || !new RegExp(HOST_NAME_PATTERN).test(h.name)) return;
      if (seen.has(h.name)) problems.push(`hosts[${i}].name: "${h.name}" is used by an earlier host; host names must be unique`);
      seen.add(h.name);
    });
  }
  const penalties = isObject(doc.limits) && isObject(doc.limits.perSourcePenalties) ? doc.limits.perSourcePenalties : {};
  const P = RECORDER_CONFIG_DEFAULTS.limits.perSourcePenalties;
  const { minSeconds = P.minSeconds, maxSeconds = P.maxSeconds } = penalties;
  if (Number.isInteger(minSeconds) && Number.isInteger(maxSeconds) && (minSeconds as number) > (maxSeconds as number)) {
    problems.push(`limits.perSourcePenalties.minSeconds: ${String(minSeconds)} is more than maxSeconds (${String(maxSeconds)}), so no source would ever be refused; make it at most maxSeconds`);
  }
  return problems;
}

export function isRecorderConfig(doc: unknown): doc is RecorderConfig {
  return validateRecorderConfig(doc).length === 0;
}

/**
 * Every problem of a list of people (recorder.yaml's `users`, or the list a usersFile holds), reported
 * under `field`: `usersFile(/etc/srec/users/users.yaml)[0].name: ...`.
 */
export function validateUsers(list: unknown, field: string): string[] {
  return explain(validators().users, list, 'users', field);
}

/** ajv's errors as messages. `pattern` names the document's root in MESSAGES, `shown` in the output. */
function explain(validate: ValidateFunction, doc: unknown, pattern: string, shown: string): string[] {
  if (validate(doc)) return [];
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if' && !/\/(oneOf|anyOf)\/\d+\//.test(e.schemaPath));
  // A value of the wrong type, or an empty string, has only that problem (a string is not "missing
  // username" too, and '' is not also a bad host:port).
  const isShape = (e: ErrorObject) => e.keyword === 'type' || e.keyword === 'minLength';
  const badShape = new Set(errors.filter(isShape).map((e) => e.instancePath));
  const out: string[] = [];
  for (const e of errors) {
    if (!isShape(e) && badShape.has(e.instancePath)) continue;
    const p = e.params as { missingProperty?: string; additionalProperty?: string };
    let segments = pointerSegments(e.instancePath);
    if (p.missingProperty !== undefined) segments = [...segments, p.missingProperty];
    if (p.additionalProperty !== undefined) {
      const known = KNOWN_FIELDS[fieldPath('', segments.map((s) => (/^\d+$/.test(s) ? '' : s)))] ?? [];
      out.push(`${fieldPath(shown, [...segments, p.additionalProperty])}: unknown field; expected one of ${known.join(', ')}`);
      continue;
    }
    const message = messageFor(doc, segments, e, pattern, shown);
    if (!out.includes(message)) out.push(message);
  }
  return out;
}

function messageFor(doc: unknown, segments: readonly string[], error: ErrorObject, pattern: string, shown: string): string {
  for (let n = segments.length; n >= 0; n--) {
    const at = segments.slice(0, n);
    const key = fieldPath(pattern, at.map((s) => (/^\d+$/.test(s) ? '' : s)));
    const message = MESSAGES[`${key}:${error.keyword}`] ?? MESSAGES[key];
    if (message === undefined) continue;
    const value = valueAt(doc, at);
    const failure: Failure = { value, parent: valueAt(doc, at.slice(0, -1)), missing: n === segments.length && error.keyword === 'required', error };
    return `${fieldPath(shown, at)}: ${message(failure)}`;
  }
  return `${fieldPath(shown, segments) || '(top level)'}: ${error.message ?? error.keyword}`;
}

/** `/hosts/0/name` -> ['hosts', '0', 'name'] */
function pointerSegments(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** ('', ['hosts', '0', 'name']) -> `hosts[0].name`; an empty segment is an index pattern: `hosts[].name`. */
function fieldPath(root: string, segments: readonly string[]): string {
  let out = root;
  for (const s of segments) out += s === '' || /^\d+$/.test(s) ? `[${s}]` : out === '' ? s : `.${s}`;
  return out;
}

function valueAt(doc: unknown, segments: readonly string[]): unknown {
  let v = doc;
  for (const s of segments) v = isObject(v) || Array.isArray(v) ? (v as Record<string, unknown>)[s] : undefined;
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
