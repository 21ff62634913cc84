// Read a SessionRecording from a YAML file and check it as the API server would: the CRD schema
// (with its defaults), then the CRD's CEL rules. Used by `srec validate`, `render`, `syslog-config`.
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { checkRules } from './rules.js';
import { type FieldError, validateSchema } from './schema.js';
import { API_VERSION, KIND, type SessionRecording } from './types.js';

export type { FieldError } from './schema.js';

/** A namespace name, as the API server checks it (an RFC 1123 label). */
const NAMESPACE = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export type LoadResult =
  | { readonly ok: true; readonly cr: SessionRecording }
  | { readonly ok: false; readonly errors: readonly FieldError[] };

/**
 * Validate and default an already-parsed object. Does not mutate `input`.
 * A missing `metadata.namespace` becomes `default`, as kubectl would send it.
 */
export function validateObject(input: unknown): LoadResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ path: '', message: 'expected one SessionRecording object (a YAML mapping)' }] };
  }
  const obj = structuredClone(input) as Record<string, unknown>;
  const errors: FieldError[] = [];
  if (obj.apiVersion !== API_VERSION) errors.push({ path: 'apiVersion', message: `Invalid value: ${JSON.stringify(obj.apiVersion)}: must be ${API_VERSION}` });
  if (obj.kind !== KIND) errors.push({ path: 'kind', message: `Invalid value: ${JSON.stringify(obj.kind)}: must be ${KIND}` });
  const meta = obj.metadata;
  if (typeof meta !== 'object' || meta === null || typeof (meta as Record<string, unknown>).name !== 'string') {
    errors.push({ path: 'metadata.name', message: 'Required value: name is required' });
  }
  errors.push(...validateSchema(obj));
  if (errors.length > 0) return { ok: false, errors };
  const m = obj.metadata as Record<string, unknown>;
  if (m.namespace === undefined || m.namespace === '') m.namespace = 'default';
  else if (typeof m.namespace !== 'string' || !NAMESPACE.test(m.namespace)) {
    return { ok: false, errors: [{ path: 'metadata.namespace', message: `Invalid value: ${JSON.stringify(m.namespace)}: a namespace is a lowercase RFC 1123 label of at most 63 characters (a-z, 0-9 and -, starting and ending with a letter or digit)` }] };
  }
  const cr = obj as unknown as SessionRecording;
  const ruleErrors = checkRules(cr);
  if (ruleErrors.length > 0) return { ok: false, errors: ruleErrors };
  return { ok: true, cr };
}

/** Parse YAML text holding exactly one SessionRecording, then {@link validateObject}. */
export function parseAndValidate(text: string, source = 'input'): LoadResult {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text).filter((d) => d !== null && d !== undefined);
  } catch (err) {
    return { ok: false, errors: [{ path: '', message: `${source}: not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` }] };
  }
  if (docs.length !== 1) {
    return { ok: false, errors: [{ path: '', message: `${source}: expected exactly one SessionRecording, found ${docs.length} YAML documents` }] };
  }
  return validateObject(docs[0]);
}

/** Read `file` and validate it; I/O problems come back as an error with an empty path. */
export function loadAndValidate(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, errors: [{ path: '', message: `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}` }] };
  }
  return parseAndValidate(text, file);
}

/** `path: message` lines, the way `srec validate` prints them. */
export function formatErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('\n');
}
