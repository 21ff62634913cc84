// kubeconform (pinned, installed by scripts/ci-tools.sh) over every render of the chart and over
// `srec render` of examples/*.yaml, against the schemas of the cluster the project tests on: the
// built-in kinds from the real API server's own OpenAPI, the SessionRecording from crds/. Strict:
// a field no schema names is an error. (The public schema catalogue kubeconform downloads by default
// cannot be reached from here, and would be for another Kubernetes version anyway.)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import yaml from 'js-yaml';
import { REPO_ROOT, useCluster } from '../../e2e/support/cluster.js';
import { CHART_DIR, CI_VALUES, CRD_FILE, CRDS_CHART_DIR, expectOk, helm, kubectl, parseObjects, run } from './support.js';

jest.setTimeout(300_000);

type Schema = Record<string, unknown>;

let kubeconfig: string;
let toolsPath: string;
let schemaDir: string;
let renderDir: string;

/** additionalProperties: false on every object schema that lists its properties and says nothing else. */
function strict(s: Schema, skip: (path: string) => boolean = () => false, where = ''): Schema {
  if (!s || typeof s !== 'object') return s;
  const out: Schema = { ...s };
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields'] && !skip(where)) {
    out.additionalProperties = false;
  }
  if (out.properties) {
    out.properties = Object.fromEntries(Object.entries(out.properties as Record<string, Schema>).map(([k, v]) => [k, strict(v, skip, `${where}.${k}`)]));
  }
  if (out.items) out.items = strict(out.items as Schema, skip, `${where}[]`);
  return out;
}

/** One kubeconform schema file per kind the renders use, named as -schema-location below expects. */
function writeSchemas(openapi: { definitions: Record<string, Schema> }, kinds: ReadonlySet<string>): void {
  const defs: Record<string, Schema> = {};
  for (const [name, d] of Object.entries(openapi.definitions)) defs[name] = strict(d);
  // As kubeconform's own openapi2jsonschema does: these two are strings or numbers in YAML.
  defs['io.k8s.apimachinery.pkg.util.intstr.IntOrString'] = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  defs['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { oneOf: [{ type: 'string' }, { type: 'number' }] };
  for (const [name, d] of Object.entries(defs)) {
    for (const gvk of (openapi.definitions[name]['x-kubernetes-group-version-kind'] as Array<{ group: string; version: string; kind: string }>) ?? []) {
      const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
      if (!kinds.has(`${apiVersion} ${gvk.kind}`)) continue;
      const file = `${gvk.kind.toLowerCase()}_${gvk.group || gvk.version}_${gvk.version}.json`;
      writeFileSync(path.join(schemaDir, file), JSON.stringify({ ...d, definitions: defs }));
    }
  }
  // The SessionRecording: the CRD's own schema (metadata is the API server's, left open).
  const crd = yaml.load(readFileSync(CRD_FILE, 'utf8')) as { spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: Schema } }> } };
  for (const v of crd.spec.versions) {
    writeFileSync(
      path.join(schemaDir, `sessionrecording_recording.privx.io_${v.name}.json`),
      JSON.stringify(strict(v.schema.openAPIV3Schema, (p) => p === '.metadata')),
    );
  }
}

async function kubeconform(files: readonly string[]) {
  const args = ['-strict', '-summary', '-output', 'json', '-schema-location', `${schemaDir}/{{ .ResourceKind }}_{{ .Group }}_{{ .ResourceAPIVersion }}.json`, ...files];
  const r = await run('kubeconform', args, { env: { PATH: toolsPath } });
  return { ...r, report: JSON.parse(r.stdout || '{}') as { resources?: Array<{ filename: string; kind: string; name: string; status: string; msg: string }>; summary: Record<string, number> } };
}

beforeAll(async () => {
  ({ kubeconfigPath: kubeconfig } = await useCluster());
  // GIVEN the pinned tools (installed on first use), the renders, and the API server's schemas
  const exported = execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'ci-tools.sh')], { encoding: 'utf8' });
  toolsPath = (/export PATH="(.*):\$PATH"/.exec(exported)?.[1] ?? '') + `:${process.env.PATH}`;
  schemaDir = mkdtempSync(path.join(tmpdir(), 'srec-kubeconform-schemas-'));
  renderDir = mkdtempSync(path.join(tmpdir(), 'srec-kubeconform-renders-'));
  const renders: Array<[string, string[]]> = [
    ['defaults', []],
    ...CI_VALUES.map((f): [string, string[]] => [path.basename(f, '-values.yaml'), ['-f', f]]),
    ['servicemonitor-off-openshift', ['--set', 'podSecurity.fixedUid=false', '--set', 'operator.replicas=1']],
  ];
  for (const [name, extra] of renders) {
    const r = expectOk(await helm(kubeconfig, ['template', 'srec', CHART_DIR, '-n', 'srec-system', ...extra]), `helm template ${name}`);
    writeFileSync(path.join(renderDir, `chart-${name}.yaml`), r.stdout);
  }
  const crds = expectOk(await helm(kubeconfig, ['template', 'srec-crds', CRDS_CHART_DIR, '-n', 'srec-system']), 'helm template srec-crds');
  writeFileSync(path.join(renderDir, 'chart-srec-crds.yaml'), crds.stdout);
  for (const cr of readdirSync(path.join(REPO_ROOT, 'examples')).filter((f) => f.endsWith('.yaml'))) {
    const r = expectOk(
      await run(process.execPath, [
        '--import',
        './testing/ts-register.mjs',
        '--input-type=module',
        '-e',
        "const { main } = await import('./cli.ts'); process.exitCode = await main(process.argv.slice(1));",
        'render',
        '-f',
        path.join('examples', cr),
      ]),
      `srec render -f examples/${cr}`,
    );
    writeFileSync(path.join(renderDir, `srec-render-${cr}`), r.stdout);
  }
  const kinds = new Set<string>();
  for (const f of readdirSync(renderDir)) for (const o of parseObjects(readFileSync(path.join(renderDir, f), 'utf8'))) kinds.add(`${o.apiVersion} ${o.kind}`);
  const openapi = JSON.parse(expectOk(await kubectl(kubeconfig, ['get', '--raw', '/openapi/v2'], { timeoutMs: 120_000 }), 'GET /openapi/v2').stdout);
  writeSchemas(openapi, kinds);
});

describe('kubeconform -strict', () => {
  it('passes every render of the chart and every `srec render` of examples/, no kind skipped', async () => {
    const files = readdirSync(renderDir).map((f) => path.join(renderDir, f));
    const { code, report, stderr } = await kubeconform(files);
    const bad = (report.resources ?? []).filter((r) => r.status !== 'statusValid');
    expect({ code, bad, stderr }).toEqual({ code: 0, bad: [], stderr: '' });
    expect(report.summary.invalid + report.summary.errors + report.summary.skipped).toBe(0);
    expect(report.summary.valid).toBeGreaterThan(40);
  });

  it('refuses a field that no schema names (a misspelt key in a Deployment and in a SessionRecording)', async () => {
    // GIVEN a render with a typo in the operator Deployment and in the SessionRecording
    const text = readFileSync(path.join(renderDir, 'chart-nfs.yaml'), 'utf8')
      .replace('imagePullPolicy: IfNotPresent', 'imagePullPolcy: IfNotPresent')
      .replace('tempSizeLimit:', 'tempSizeLimt:');
    const file = path.join(renderDir, '..', `srec-kubeconform-typo-${process.pid}.yaml`);
    writeFileSync(file, text);
    // WHEN kubeconform checks it, THEN both are reported
    const { code, report } = await kubeconform([file]);
    expect(code).not.toBe(0);
    const msgs = (report.resources ?? []).filter((r) => r.status === 'statusInvalid').map((r) => `${r.kind}: ${r.msg}`).join('\n');
    expect(msgs).toMatch(/Deployment: .*imagePullPolcy/);
    expect(msgs).toMatch(/SessionRecording: .*tempSizeLimt/);
  });
});
