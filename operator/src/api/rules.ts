// The CRD's own validation beyond its JSON Schema, evaluated offline so that `srec validate` and the
// operator say what the API server would: every `x-kubernetes-validations` CEL rule of the CRD file
// (evaluated by a CEL library, not mirrored by hand), and the `x-kubernetes-list-type` set/map uniqueness.
// The CRD is the one source: a rule added there is checked here without a line of code.
import { parse } from '@marcbachmann/cel-js';
import { type FieldError, openApiSchema } from './schema.js';
import type { SessionRecording } from './types.js';

type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

interface SchemaNode {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly items?: SchemaNode;
  readonly additionalProperties?: SchemaNode | boolean;
  readonly 'x-kubernetes-validations'?: ReadonlyArray<{ rule: string; message?: string; fieldPath?: string; reason?: string }>;
  readonly 'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  readonly 'x-kubernetes-list-map-keys'?: readonly string[];
}

/** One CEL rule of the CRD, compiled. */
export interface CelRule {
  /** Where the rule sits in the schema, `[]` for "each item": e.g. `spec.recorder.hosts[].port`. */
  readonly location: string;
  /** The rule's `fieldPath` (e.g. `.tls`): the API server reports the field below the location it names. */
  readonly fieldPath: string;
  readonly rule: string;
  /** The CRD's message, byte for byte (or the API server's default, "failed rule: <rule>"). */
  readonly message: string;
  /** A transition rule (uses `oldSelf`): checked on updates only, when the old object has the field. */
  readonly transition: boolean;
  readonly evaluate: (vars: Record<string, unknown>) => unknown;
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

let compiled: { readonly rules: readonly CelRule[]; readonly byNode: Map<SchemaNode, readonly CelRule[]> } | undefined;

/** Every CEL rule of the CRD's served schema, compiled once; a rule the library cannot parse fails here, loudly. */
function compile(): NonNullable<typeof compiled> {
  if (compiled) return compiled;
  const rules: CelRule[] = [];
  const byNode = new Map<SchemaNode, readonly CelRule[]>();
  const walk = (node: SchemaNode, location: string) => {
    const here = (node['x-kubernetes-validations'] ?? []).map((v): CelRule => {
      let program;
      try {
        program = parse(v.rule);
      } catch (err) {
        throw new Error(`the CRD's rule at ${location || '<root>'} cannot be compiled (${v.rule}): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      }
      return {
        location,
        fieldPath: v.fieldPath ?? '',
        rule: v.rule,
        message: v.message ?? `failed rule: ${v.rule}`,
        transition: /\boldSelf\b/.test(v.rule),
        evaluate: (vars) => program(vars),
      };
    });
    if (here.length > 0) byNode.set(node, here);
    rules.push(...here);
    for (const [k, child] of Object.entries(node.properties ?? {})) walk(child, join(location, k));
    if (node.items) walk(node.items, `${location}[]`);
    if (isObject(node.additionalProperties)) walk(node.additionalProperties as SchemaNode, `${location}[*]`);
  };
  walk(openApiSchema() as SchemaNode, '');
  compiled = { rules, byNode };
  return compiled;
}

/** The CRD's CEL rules, compiled (for tests and docs). */
export function celRules(): readonly CelRule[] {
  return compile().rules;
}

/**
 * A JSON value as CEL sees it, typed by its schema: integers are CEL `int` (BigInt), objects CEL maps.
 * Maps are built here rather than passed as they are, since the evaluator recognises plain objects only of
 * its own realm (not, e.g., a structuredClone's).
 */
function toCel(value: Json, node: SchemaNode | undefined): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return node?.type === 'integer' && Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map((v) => toCel(v, node?.items));
  const extra = isObject(node?.additionalProperties) ? (node?.additionalProperties as SchemaNode) : undefined;
  // A key whose value is undefined is absent, as it would be once sent as JSON.
  return new Map(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, toCel(v, node?.properties?.[k] ?? extra)]));
}

/** `spec.syslog` + `.tls` -> `spec.syslog.tls`; at the root, `.spec.x` -> `spec.x`. */
function reported(path: string, r: CelRule): string {
  return path === '' ? r.fieldPath.replace(/^\./, '') : path + r.fieldPath;
}

/** The path of an item in a list: the API server names list-map items by index too. */
const itemPath = (path: string, i: number) => `${path}[${i}]`;

function listKey(item: Json, keys: readonly string[]): string {
  return JSON.stringify(keys.map((k) => (isObject(item) ? (item[k] ?? null) : null)));
}

function showDuplicate(item: Json, keys: readonly string[] | undefined): string {
  if (keys === undefined || !isObject(item)) return JSON.stringify(item);
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, item[k] ?? null])));
}

/**
 * Checks `value` (at `path`, schema `node`) and everything below it; `old` is the same field of the previous
 * object on updates (undefined on create, or where the field is new).
 */
function check(node: SchemaNode, value: Json | undefined, old: Json | undefined, path: string, out: FieldError[]): void {
  if (value === undefined) return;
  for (const r of compile().byNode.get(node) ?? []) {
    if (r.transition && old === undefined) continue;
    let ok: unknown;
    try {
      ok = r.evaluate(r.transition ? { self: toCel(value, node), oldSelf: toCel(old as Json, node) } : { self: toCel(value, node) });
    } catch (err) {
      // The API server reports a rule that errors (e.g. a field it reads is absent) as a failed rule too.
      out.push({ path: reported(path, r), message: `${r.message} (the rule could not be evaluated: ${err instanceof Error ? err.message.split('\n')[0] : String(err)})` });
      continue;
    }
    if (ok !== true) out.push({ path: reported(path, r), message: r.message });
  }
  if (isObject(value)) {
    const oldObj = isObject(old) ? old : undefined;
    for (const [k, child] of Object.entries(node.properties ?? {})) check(child, value[k], oldObj?.[k], join(path, k), out);
    if (isObject(node.additionalProperties)) {
      for (const [k, v] of Object.entries(value)) {
        if (!(k in (node.properties ?? {}))) check(node.additionalProperties as SchemaNode, v, oldObj?.[k], `${path}[${JSON.stringify(k)}]`, out);
      }
    }
  }
  if (Array.isArray(value) && node.items) {
    const listType = node['x-kubernetes-list-type'];
    const keys = listType === 'map' ? (node['x-kubernetes-list-map-keys'] ?? []) : undefined;
    const oldList = Array.isArray(old) ? old : [];
    // Old items correspond to new ones by their keys in a list-map (the API server's correlation); other
    // lists' items are not correlated, so transition rules below them do not apply.
    const oldByKey = keys ? new Map(oldList.map((o) => [listKey(o, keys), o])) : undefined;
    const seen = new Set<string>();
    value.forEach((item, i) => {
      if (listType === 'set' || listType === 'map') {
        const k = keys ? listKey(item, keys) : JSON.stringify(item);
        if (seen.has(k)) out.push({ path: itemPath(path, i), message: `Duplicate value: ${showDuplicate(item, keys)}` });
        seen.add(k);
      }
      check(node.items as SchemaNode, item, oldByKey?.get(listKey(item, keys ?? [])), itemPath(path, i), out);
    });
  }
}

/** Every rule's errors for a schema-valid, defaulted CR (and its previous version on updates). */
export function checkRules(cr: SessionRecording, old?: SessionRecording): FieldError[] {
  compile();
  const out: FieldError[] = [];
  check(openApiSchema() as SchemaNode, cr as unknown as Json, old as unknown as Json | undefined, '', out);
  return out;
}
