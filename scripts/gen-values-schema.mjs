#!/usr/bin/env node
// Generates, from the CRD (crds/sessionrecordings.recording.privx.io.yaml, the one schema and the one
// source of field docs), everything in the chart that says what a SessionRecording field may be:
//   - the SessionRecording part of charts/srec/values.schema.json (the subtrees of the values that
//     fill the SessionRecording's spec; the rest of the file is hand-written and kept as it is),
//   - the `## @param` texts of those values in charts/srec/values.yaml,
//   - the CR-reference table in README.md (between the srec:cr-reference markers).
// Each CEL rule of the CRD must be named in CEL_RULES below: translated into JSON Schema, checked by a
// srec.validateValues helper, or a transition rule (oldSelf) that has no meaning at install. A new
// rule fails this script until someone decides, so a value the API server would refuse never renders.
//
//   node scripts/gen-values-schema.mjs           write the three files
//   node scripts/gen-values-schema.mjs --check   change nothing; exit 1 naming each file that differs
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CRD_FILE = 'crds/sessionrecordings.recording.privx.io.yaml';
const SCHEMA_FILE = 'charts/srec/values.schema.json';
const VALUES_FILE = 'charts/srec/values.yaml';
const HELPERS_FILE = 'charts/srec/templates/_helpers.tpl';
const README_FILE = 'README.md';
const GENERATED = 'generated from the CRD by scripts/gen-values-schema.mjs; do not edit';

// A port 1..65535, as the CEL rules' `int(...) <= 65535` says.
const PORT = '([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';
const HOST = '(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?([.][A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*)';

/**
 * Every CEL rule of the CRD, by its exact text. `schema`: the JSON Schema that says the same (helm
 * prints only the failed pattern, so a named group carries the reason); `helper`: the
 * srec.validateValues.* template that checks it with the CRD's message; `transition`: compares with
 * the stored object (oldSelf), which a first install does not have.
 */
const CEL_RULES = {
  "!(has(self.audit) && has(self.audit.sshEvents) && has(self.audit.sshEvents.enabled) && self.audit.sshEvents.enabled) || !has(self.syslog) || !has(self.syslog.enabled) || self.syslog.enabled":
    { helper: 'srec.validateValues.sshEvents' },
  "self.startsWith('/') && !self.matches('//|(^|/)[.][.]?(/|$)') && self != '/' && !(self == '/tmp' || self.startsWith('/tmp/')) && !(self == '/etc/srec' || self.startsWith('/etc/srec/'))":
    { helper: 'srec.validateValues.dataFolder' },
  '(has(self.efs) ? 1 : 0) + (has(self.nfs) ? 1 : 0) + (has(self.existingClaim) ? 1 : 0) == 1':
    // The values say "unset" with "", so exactly-one-of is a count over three values: a helper.
    { helper: 'srec.validateValues.storage' },
  'has(self.efs) == has(oldSelf.efs) && has(self.nfs) == has(oldSelf.nfs) && has(self.existingClaim) == has(oldSelf.existingClaim)':
    { transition: true },
  'self.fileSystemId == oldSelf.fileSystemId && (has(self.accessPointId) ? self.accessPointId : "") == (has(oldSelf.accessPointId) ? oldSelf.accessPointId : "")':
    { transition: true },
  'self.server == oldSelf.server && self.path == oldSelf.path': { transition: true },
  'self == oldSelf': { transition: true },
  'self != 9090': { helper: 'srec.validateValues.recorderPort' },
  "!has(self.tls) || self.audit.sensitive.to.startsWith('@@') || !self.audit.sensitive.to.startsWith('@') && self.audit.to.startsWith('@@')":
    { helper: 'srec.validateValues.syslogTls' },
  "self == 'stdout' || self.matches('^@{1,2}(\\\\[[0-9A-Fa-f:.]+\\\\]|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?([.][A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*):[1-9][0-9]{0,4}$') && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535":
    { schema: { pattern: `^(?<stdout_or_at_host_colon_port_up_to_65535>stdout|@{1,2}${HOST}:${PORT})$` } },
  "self == '/dev/null' || self.startsWith('@')":
    { schema: { pattern: '^(?<never_a_file_nor_stdout__sensitive_session_content_may_never_be_written_to_disk>/dev/null|@.*)$' } },
  "!self.startsWith('@') || self.matches('^@{1,2}(\\\\[[0-9A-Fa-f:.]+\\\\]|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?([.][A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*):[1-9][0-9]{0,4}$') && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535":
    { schema: { pattern: `^(?<dev_null_or_at_host_colon_port_up_to_65535>[^@].*|@{1,2}${HOST}:${PORT})$` } },
  // The root's rules: no forward to the syslog pod itself (the chart knows the SessionRecording's name).
  "!has(self.spec.syslog) || !has(self.spec.syslog.audit) || !has(self.spec.syslog.audit.to) || !self.spec.syslog.audit.to.endsWith(':5514') || !(self.spec.syslog.audit.to.startsWith('@' + self.metadata.name + '-syslog:') || self.spec.syslog.audit.to.startsWith('@' + self.metadata.name + '-syslog.') || self.spec.syslog.audit.to.startsWith('@@' + self.metadata.name + '-syslog:') || self.spec.syslog.audit.to.startsWith('@@' + self.metadata.name + '-syslog.') || self.spec.syslog.audit.to.matches('^@{1,2}(localhost|127[.][0-9.]+|\\\\[::1\\\\]):5514$'))":
    { helper: 'srec.validateValues.syslogLoop' },
  "!has(self.spec.syslog) || !has(self.spec.syslog.audit) || !has(self.spec.syslog.audit.sensitive) || !has(self.spec.syslog.audit.sensitive.to) || !self.spec.syslog.audit.sensitive.to.endsWith(':5514') || !(self.spec.syslog.audit.sensitive.to.startsWith('@' + self.metadata.name + '-syslog:') || self.spec.syslog.audit.sensitive.to.startsWith('@' + self.metadata.name + '-syslog.') || self.spec.syslog.audit.sensitive.to.startsWith('@@' + self.metadata.name + '-syslog:') || self.spec.syslog.audit.sensitive.to.startsWith('@@' + self.metadata.name + '-syslog.') || self.spec.syslog.audit.sensitive.to.matches('^@{1,2}(localhost|127[.][0-9.]+|\\\\[::1\\\\]):5514$'))":
    { helper: 'srec.validateValues.syslogLoop' },
};

/** `x-kubernetes-list-type: map` keys cannot be said in JSON Schema: the helper that checks them. */
const LIST_MAP_HELPERS = { 'spec.recorder.hosts': 'srec.validateValues.hosts' };

/**
 * The values that fill the SessionRecording, and the CRD field each becomes. `emptyUnset`: the chart
 * writes the field only when the value is not "" (so "" is allowed whatever the CRD says). `note`: what
 * the value adds to the CRD's description (from the CRD node), at the end of its @param text.
 */
const VALUES_TO_CRD = [
  ['sessionRecording.name', 'metadata.name', { emptyUnset: true, note: () => 'Empty: the release\'s full name (`srec.fullname`).' }],
  ['sessionRecording.dataFolder', 'spec.dataFolder'],
  ['storage.size', 'spec.storage.size'],
  ['storage.deletionPolicy', 'spec.storage.deletionPolicy'],
  ['storage.efs.fileSystemId', 'spec.storage.efs.fileSystemId', { emptyUnset: true }],
  ['storage.efs.accessPointId', 'spec.storage.efs.accessPointId', { emptyUnset: true }],
  ['storage.efs.storageClassName', 'spec.storage.efs.storageClassName', { emptyUnset: true }],
  ['storage.nfs.server', 'spec.storage.nfs.server', { emptyUnset: true }],
  ['storage.nfs.path', 'spec.storage.nfs.path', { emptyUnset: true }],
  ['storage.nfs.mountOptions', 'spec.storage.nfs.mountOptions', { emptyUnset: true, note: (n) => `Empty: ${n.default.join(', ')}.` }],
  ['storage.existingClaim', 'spec.storage.existingClaim', { emptyUnset: true }],
  ['recorder.replicas', 'spec.recorder.replicas'],
  ['recorder.image', 'spec.recorder.image', { emptyUnset: true }],
  ['recorder.port', 'spec.recorder.port'],
  ['recorder.workers', 'spec.recorder.workers', { emptyUnset: true, note: () => '0: left out (sized from the pod).' }],
  ['recorder.tempSizeLimit', 'spec.recorder.tempSizeLimit'],
  ['recorder.usersSecret', 'spec.recorder.usersSecret', { emptyUnset: true }],
  ['recorder.hosts', 'spec.recorder.hosts'],
  ['audit.sshEvents.enabled', 'spec.audit.sshEvents.enabled'],
  ['audit.sshEvents.events', 'spec.audit.sshEvents.events'],
  ['audit.sshEvents.bulkData', 'spec.audit.sshEvents.bulkData'],
  ['privx.syslog.enabled', 'spec.syslog.enabled'],
  ['privx.syslog.audit.format', 'spec.syslog.format'],
  ['privx.syslog.audit.to', 'spec.syslog.audit.to'],
  ['privx.syslog.audit.sensitive.to', 'spec.syslog.audit.sensitive.to'],
  ['privx.syslog.tls.secretName', 'spec.syslog.tls.secretName', { emptyUnset: true }],
  ['privx.syslog.tls.serverName', 'spec.syslog.tls.serverName', { emptyUnset: true }],
  ['privx.syslog.tls.authMode', 'spec.syslog.tls.authMode'],
  ['networkPolicy.enabled', 'spec.networkPolicy.enabled'],
  ['console.enabled', 'spec.console.enabled'],
  ['console.replicas', 'spec.console.replicas'],
  ['console.port', 'spec.console.port'],
  ['console.resources.cpuRequest', 'spec.console.resources.cpuRequest'],
  ['console.resources.memoryRequest', 'spec.console.resources.memoryRequest'],
  ['console.resources.memoryLimit', 'spec.console.resources.memoryLimit'],
  ['console.oidc.issuerURL', 'spec.console.oidc.issuerURL', { emptyUnset: true, note: () => 'Empty: no single sign-on (Kubernetes tokens only).' }],
  ['console.oidc.clientID', 'spec.console.oidc.clientID', { emptyUnset: true }],
  ['console.oidc.clientSecretName', 'spec.console.oidc.clientSecretName', { emptyUnset: true }],
  ['console.oidc.redirectURL', 'spec.console.oidc.redirectURL', { emptyUnset: true }],
  ['console.oidc.usernameClaim', 'spec.console.oidc.usernameClaim'],
  ['console.oidc.groupsClaim', 'spec.console.oidc.groupsClaim'],
  ['console.oidc.usernamePrefix', 'spec.console.oidc.usernamePrefix'],
  ['console.oidc.groupsPrefix', 'spec.console.oidc.groupsPrefix'],
  ['console.oidc.scopes', 'spec.console.oidc.scopes'],
  ['podSecurity.fixedUid', 'spec.podSecurity.fixedUid', { note: () => 'The same for the operator\'s own pods.' }],
  ['retention.trailExpiryDays', 'spec.retention.trailExpiryDays'],
  ['retention.transferredFilesExpiryDays', 'spec.retention.transferredFilesExpiryDays'],
  ['trail.encryptionSecretName', 'spec.trail.encryption.secretName', { emptyUnset: true, note: () => 'Empty: not encrypted.' }],
  ['trail.signingSecretName', 'spec.trail.signing.secretName', { emptyUnset: true, note: () => 'Empty: not signed, not tamper-evident.' }],
];

const read = (f) => readFileSync(path.join(ROOT, f), 'utf8');
const problems = [];

function crdRoot() {
  const crd = yaml.load(read(CRD_FILE));
  return crd.spec.versions.find((v) => v.storage).schema.openAPIV3Schema;
}

/** The CRD schema node at a dotted path ("spec.storage.size"). */
function crdNode(root, dotted) {
  let node = root;
  for (const key of dotted.split('.')) {
    node = node?.properties?.[key];
    if (!node) throw new Error(`${CRD_FILE}: no field ${dotted}`);
  }
  return node;
}

const KEPT = ['type', 'description', 'enum', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems'];

/** A CRD (OpenAPI v3, structural) schema node as draft-07 JSON Schema for a value. */
function toJsonSchema(node, where, helpers) {
  const out = {};
  for (const k of KEPT) if (node[k] !== undefined) out[k] = node[k];
  if (node['x-kubernetes-list-type'] === 'set') out.uniqueItems = true;
  if (node['x-kubernetes-list-type'] === 'map') {
    const helper = LIST_MAP_HELPERS[where];
    if (!helper) problems.push(`${where}: x-kubernetes-list-type map needs a helper in LIST_MAP_HELPERS`);
    else helpers.add(helper);
  }
  if (node.items) out.items = toJsonSchema(node.items, `${where}[]`, helpers);
  if (node.properties) {
    out.additionalProperties = false;
    out.properties = {};
    for (const [k, v] of Object.entries(node.properties)) out.properties[k] = toJsonSchema(v, `${where}.${k}`, helpers);
    if (node.required) out.required = node.required;
  }
  const extra = [];
  for (const v of node['x-kubernetes-validations'] ?? []) {
    const t = CEL_RULES[v.rule];
    if (!t) {
      problems.push(`${where}: CEL rule not translated (add it to CEL_RULES in scripts/gen-values-schema.mjs): ${v.rule}`);
    } else if (t.schema) {
      extra.push(t.schema);
    } else if (t.helper) {
      helpers.add(t.helper);
    }
  }
  if (extra.length === 1 && !out.pattern) Object.assign(out, extra[0]);
  else if (extra.length) out.allOf = extra;
  return out;
}

/** CEL rules on nodes above the mapped values (spec, spec.storage, spec.syslog) are cross-field: helpers. */
function collectAncestorRules(root, helpers) {
  const visit = (node, where) => {
    for (const v of node['x-kubernetes-validations'] ?? []) {
      const t = CEL_RULES[v.rule];
      if (!t) problems.push(`${where}: CEL rule not translated (add it to CEL_RULES in scripts/gen-values-schema.mjs): ${v.rule}`);
      else if (t.schema && VALUES_TO_CRD.every(([, c]) => c !== where)) {
        // A schema translation must sit on a mapped value to be used; elsewhere it would be lost.
        if (!VALUES_TO_CRD.some(([, c]) => c.startsWith(`${where}.`) || where.startsWith(`${c}.`)))
          problems.push(`${where}: CEL rule has a schema translation but no value maps to it`);
      } else if (t.helper) helpers.add(t.helper);
    }
    for (const [k, v] of Object.entries(node.properties ?? {})) visit(v, `${where}.${k}`);
    if (node.items) visit(node.items, `${where}[]`);
  };
  visit({ 'x-kubernetes-validations': root['x-kubernetes-validations'] }, '<root>');
  visit(root.properties.spec, 'spec');
}

/** Values schema of one mapped value. */
function valueSchema(root, crdPath, opts, helpers) {
  const s = toJsonSchema(crdNode(root, crdPath), crdPath, helpers);
  s.$comment = `${crdPath}: ${GENERATED}`;
  if (opts?.emptyUnset) {
    if (s.type === 'string') {
      if (s.pattern) s.pattern = `^$|${s.pattern}`;
      if (s.allOf) s.allOf = s.allOf.map((p) => (p.pattern ? { pattern: `^$|${p.pattern}` } : p));
      delete s.minLength;
    } else if (s.type === 'array') {
      delete s.minItems;
    } else if (s.type === 'integer' && s.minimum === 1) {
      // 0 stands for "not set" (the chart leaves the field out).
      s.minimum = 0;
    } else {
      problems.push(`${crdPath}: emptyUnset needs a string, a list or an integer from 1`);
    }
  }
  return s;
}

function setIn(obj, dotted, value) {
  const keys = dotted.split('.');
  let node = obj;
  for (const k of keys.slice(0, -1)) {
    node.properties ??= {};
    node.properties[k] ??= { type: 'object', additionalProperties: false, properties: {} };
    node = node.properties[k];
  }
  node.properties ??= {};
  node.properties[keys.at(-1)] = value;
}

function genSchema(root) {
  const current = JSON.parse(read(SCHEMA_FILE));
  const helpers = new Set();
  for (const [valuePath, crdPath, opts] of VALUES_TO_CRD) setIn(current, valuePath, valueSchema(root, crdPath, opts, helpers));
  collectAncestorRules(root, helpers);
  const tpl = read(HELPERS_FILE);
  for (const h of helpers) {
    if (!tpl.includes(`define "${h}"`)) problems.push(`${HELPERS_FILE}: no template ${h} (a CEL rule of the CRD needs it)`);
    else if (!tpl.includes(`include "${h}" .`)) problems.push(`${HELPERS_FILE}: srec.validateValues does not include ${h}`);
  }
  return `${JSON.stringify(current, null, 2)}\n`;
}

// --- field docs: @param texts and the README table ---------------------------------------------

/** The CRD's description of a field, as one line (the @param and README form). */
function describe(node) {
  return (node.description ?? '').replace(/\s+/g, ' ').trim();
}

function genValues(root) {
  const byValue = new Map(VALUES_TO_CRD.map(([v, c, o]) => [v, { crdPath: c, note: o?.note }]));
  const lines = read(VALUES_FILE).split('\n');
  const out = lines.map((line) => {
    const m = /^(\s*## @param )(\S+)( .*)?$/.exec(line);
    if (!m || !byValue.has(m[2])) return line;
    const { crdPath, note } = byValue.get(m[2]);
    const node = crdNode(root, crdPath);
    const text = describe(node);
    if (!text) {
      problems.push(`${CRD_FILE}: ${crdPath} has no description (value ${m[2]})`);
      return line;
    }
    return `${m[1]}${m[2]} ${text}${note ? ` ${note(node)}` : ''}`;
  });
  for (const [v] of VALUES_TO_CRD) {
    if (!lines.some((l) => new RegExp(`^\\s*## @param ${v.replace(/[.[\]]/g, '\\$&')}( |$)`).test(l)))
      problems.push(`${VALUES_FILE}: no "## @param ${v}" line`);
  }
  return out.join('\n');
}

function fmtDefault(d) {
  if (d === undefined) return '';
  if (Array.isArray(d)) return d.length ? `\`[${d.join(', ')}]\`` : '`[]`';
  if (typeof d === 'object') return '';
  return `\`${d}\``;
}

/** Every spec field as a README row: `path` | default | the CRD's description. */
function genReadme(root) {
  const rows = [];
  const valueOf = new Map(VALUES_TO_CRD.map(([v, c]) => [c, v]));
  const cell = (t) => t.replace(/\|/g, '\\|').replace(/</g, '&lt;');
  const visit = (node, where) => {
    for (const [k, v] of Object.entries(node.properties ?? {})) {
      const p = where ? `${where}.${k}` : k;
      const item = v.type === 'array' && v.items?.properties ? v.items : undefined;
      const text = describe(v);
      if (!text) problems.push(`${CRD_FILE}: spec.${p} has no description`);
      const value = valueOf.get(`spec.${p}`);
      rows.push(`| \`${p}${item ? '[]' : ''}\` | ${fmtDefault(v.default)} | ${value ? `\`${value}\`` : ''} | ${cell(text)} |`);
      if (v.properties) visit(v, p);
      if (item) visit(item, `${p}[]`);
    }
  };
  visit(root.properties.spec, '');
  const table = ['| field | default | chart value | meaning |', '|---|---|---|---|', ...rows].join('\n');
  const begin = `<!-- srec:cr-reference:begin (${GENERATED}) -->`;
  const end = '<!-- srec:cr-reference:end -->';
  const text = read(README_FILE);
  const re = /<!-- srec:cr-reference:begin[^>]*-->[\s\S]*?<!-- srec:cr-reference:end -->/;
  if (!re.test(text)) {
    problems.push(`${README_FILE}: no <!-- srec:cr-reference:begin --> ... <!-- srec:cr-reference:end --> markers`);
    return text;
  }
  return text.replace(re, `${begin}\n${table}\n${end}`);
}

/** Every field of the CRD (spec and status) has a description: what `kubectl explain` shows. */
function checkDescriptions(root) {
  const visit = (node, where) => {
    if (where && !describe(node)) problems.push(`${CRD_FILE}: ${where} has no description (kubectl explain shows <empty>)`);
    for (const [k, v] of Object.entries(node.properties ?? {})) {
      if (!where && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue; // the API server's own
      visit(v, where ? `${where}.${k}` : k);
    }
    if (node.items?.properties) visit(node.items, `${where}[]`);
  };
  visit(root, '');
}

function main() {
  const check = process.argv[2] === '--check';
  if (process.argv[2] && !check) {
    console.error(`usage: ${path.basename(process.argv[1])} [--check]`);
    process.exit(2);
  }
  const root = crdRoot();
  checkDescriptions(root);
  const outputs = [
    [SCHEMA_FILE, genSchema(root)],
    [VALUES_FILE, genValues(root)],
    [README_FILE, genReadme(root)],
  ];
  if (problems.length) {
    console.error(`gen-values-schema: ${problems.length} problem(s):\n${problems.map((p) => `  ${p}`).join('\n')}`);
    process.exit(1);
  }
  const drift = outputs.filter(([f, text]) => read(f) !== text).map(([f]) => f);
  if (check) {
    if (drift.length) {
      console.error(`gen-values-schema: these differ from what ${CRD_FILE} says (run: node scripts/gen-values-schema.mjs):\n${drift.map((f) => `  ${f}`).join('\n')}`);
      process.exit(1);
    }
    console.log(`gen-values-schema: ${SCHEMA_FILE}, the @param texts and the README CR reference match ${CRD_FILE}`);
    return;
  }
  for (const [f, text] of outputs) writeFileSync(path.join(ROOT, f), text);
  console.log(`gen-values-schema: ${drift.length} file(s) updated (${drift.join(', ') || 'none'})`);
}

main();
