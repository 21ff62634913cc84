// The CRD's own openAPIV3Schema, loaded into ajv: the same file the API server enforces, so that
// `srec validate` and the cluster agree. Its CEL rules are evaluated separately, by rules.ts.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import yaml from 'js-yaml';
import { findUp } from '../paths.js';

export const CRD_FILE_NAME = 'sessionrecordings.recording.privx.io.yaml';

/** A validation error in the API server's terms: the field path and what is wrong with it. */
export interface FieldError {
  /** e.g. `spec.storage.nfs.server`, `spec.recorder.hosts[0].name` */
  readonly path: string;
  readonly message: string;
}

/**
 * The crds/ file, found by walking up from this module: works from the sources (operator/src/api)
 * and from the build (dist/operator/src/api). `SREC_CRD_FILE` overrides it (e.g. in an image).
 */
export function crdPath(): string {
  const override = process.env.SREC_CRD_FILE;
  if (override) return resolve(override);
  const found = findUp(`crds/${CRD_FILE_NAME}`);
  if (!found) throw new Error(`cannot find crds/${CRD_FILE_NAME} above the srec modules; set SREC_CRD_FILE`);
  return found;
}

interface CrdDoc {
  readonly spec: { readonly versions: ReadonlyArray<{ readonly name: string; readonly schema: { readonly openAPIV3Schema: SchemaObject } }> };
}

let cachedCrd: CrdDoc | undefined;

/** The parsed CRD document. */
export function loadCrd(): CrdDoc {
  cachedCrd ??= yaml.load(readFileSync(crdPath(), 'utf8')) as CrdDoc;
  return cachedCrd;
}

/** The openAPIV3Schema of the served version, exactly as the file says. */
export function openApiSchema(version = 'v1alpha1'): SchemaObject {
  const v = loadCrd().spec.versions.find((x) => x.name === version);
  if (!v) throw new Error(`CRD has no version ${version}`);
  return v.schema.openAPIV3Schema;
}

/**
 * The API server prunes (or, with fieldValidation=Strict, rejects) fields the schema does not know;
 * a structural schema may not say `additionalProperties: false`, so it is added here to report them.
 * Root `metadata` stays open: only name is constrained.
 */
function closeObjects(schema: SchemaObject, atRoot = true): SchemaObject {
  const out: SchemaObject = { ...schema };
  if (schema.properties && typeof schema.properties === 'object') {
    const props: Record<string, SchemaObject> = {};
    for (const [k, v] of Object.entries(schema.properties as Record<string, SchemaObject>)) {
      props[k] = atRoot && k === 'metadata' ? v : closeObjects(v, false);
    }
    out.properties = props;
    if (!schema['x-kubernetes-preserve-unknown-fields'] && schema.additionalProperties === undefined) {
      out.additionalProperties = false;
    }
  }
  if (schema.items && typeof schema.items === 'object') out.items = closeObjects(schema.items as SchemaObject, false);
  return out;
}

const KUBERNETES_KEYWORDS = [
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-map-type',
];

let cachedValidator: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (cachedValidator) return cachedValidator;
  // verbose: errors carry the offending value, which the messages show as the API server does.
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictTypes: false, verbose: true });
  for (const k of KUBERNETES_KEYWORDS) ajv.addKeyword({ keyword: k });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i);
  cachedValidator = ajv.compile(closeObjects(openApiSchema()));
  return cachedValidator;
}

/** `/spec/recorder/hosts/0/name` -> `spec.recorder.hosts[0].name` (the API server's notation). */
export function toFieldPath(pointer: string, child?: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? `"${Array.isArray(v) ? 'array' : v === null ? 'null' : 'object'}"` : String(v);
}

/** One ajv error in the words the API server uses for the same problem. */
function toFieldError(e: ErrorObject): FieldError {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: toFieldPath(e.instancePath, String(p.missingProperty)), message: 'Required value' };
    case 'additionalProperties':
      return { path: toFieldPath(e.instancePath, String(p.additionalProperty)), message: 'unknown field' };
    case 'enum':
      return {
        path: toFieldPath(e.instancePath),
        message: `Unsupported value: ${show(e.data)}: supported values: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'type':
      return { path: toFieldPath(e.instancePath), message: `Invalid value: ${show(e.data)}: must be of type ${String(p.type)}` };
    case 'pattern':
      return { path: toFieldPath(e.instancePath), message: `Invalid value: ${show(e.data)}: should match '${String(p.pattern)}'` };
    case 'maxLength':
      return { path: toFieldPath(e.instancePath), message: `Too long: may not be more than ${String(p.limit)} bytes` };
    case 'minLength':
      return { path: toFieldPath(e.instancePath), message: `Invalid value: ${show(e.data)}: should be at least ${String(p.limit)} chars long` };
    case 'maxItems':
      return { path: toFieldPath(e.instancePath), message: `Too many: must have at most ${String(p.limit)} items` };
    case 'minItems':
      return { path: toFieldPath(e.instancePath), message: `Invalid value: should have at least ${String(p.limit)} items` };
    case 'minimum':
      return { path: toFieldPath(e.instancePath), message: `Invalid value: ${show(e.data)}: should be greater than or equal to ${String(p.limit)}` };
    case 'maximum':
      return { path: toFieldPath(e.instancePath), message: `Invalid value: ${show(e.data)}: should be less than or equal to ${String(p.limit)}` };
    default:
      return { path: toFieldPath(e.instancePath), message: `Invalid value: ${e.message ?? e.keyword}` };
  }
}

/**
 * Validate and default `obj` in place against the CRD's schema, as the API server does before CEL.
 * Returns the schema errors (empty when valid).
 */
export function validateSchema(obj: unknown): FieldError[] {
  const validate = validator();
  if (validate(obj)) return [];
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const e of validate.errors ?? []) {
    const fe = toFieldError(e);
    const k = `${fe.path}\n${fe.message}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(fe);
    }
  }
  return out;
}
