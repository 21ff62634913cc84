// The install examples of README.md and docs/install.md (each fenced block after an
// `<!-- srec:example NAME -->` marker), rendered as the tool they are written for would render them:
// the chart values of the helm, Argo CD and Flux examples through the pinned helm and the API server,
// and the kustomization through kubectl's kustomize over manifests/install.yaml. A value that
// changes nothing (privx.syslog.* while sessionRecording.create is false) fails the test.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import yaml from 'js-yaml';
import { deleteFreshNamespaces, freshNamespace, REPO_ROOT, useCluster } from '../../e2e/support/cluster.js';
import { CHART_DIR, CRD_FILE, expectOk, helm, kubectl, type KubeObject, parseObjects, RESTRICTED } from './support.js';

jest.setTimeout(180_000);

type Values = Record<string, unknown>;

interface Example {
  readonly file: string;
  readonly name: string;
  readonly lang: string;
  readonly text: string;
}

/** Every `<!-- srec:example NAME -->` block of a Markdown file. */
function examples(file: string): Example[] {
  const md = readFileSync(path.join(REPO_ROOT, file), 'utf8');
  const out: Example[] = [];
  for (const m of md.matchAll(/<!-- srec:example ([a-z-]+) -->\n```(\w+)\n([\s\S]*?)\n```/g)) {
    out.push({ file, name: m[1], lang: m[2], text: m[3] });
  }
  return out;
}

const ALL = [...examples('README.md'), ...examples('docs/install.md')];
// Placeholders a reader replaces; the API server needs a real-looking name.
const real = (text: string): string => text.replace(/<your-registry>/g, 'registry.example.com/platform');

/** The chart values (or --set flags) an example gives helm. */
function chartInput(ex: Example): { values?: Values; set?: string[] } {
  if (ex.lang === 'sh') {
    return { set: [...real(ex.text).matchAll(/--set (\S+)/g)].map((m) => m[1]) };
  }
  const docs = gitOpsDocs(ex);
  const app = docs.find((d) => d.kind === 'Application' && d.spec?.source?.path === 'charts/srec');
  if (app) return { values: app.spec?.source?.helm?.valuesObject as Values };
  const release = docs.find((d) => d.kind === 'HelmRelease' && d.spec?.chart?.spec?.chart === './charts/srec');
  if (release) return { values: release.spec?.values as Values };
  return { values: docs[0] as Values };
}

type Doc = Record<string, unknown> & { kind?: string; metadata?: { name?: string; annotations?: Record<string, string> }; spec?: Record<string, any> };
function gitOpsDocs(ex: Example): Doc[] {
  return (yaml.loadAll(real(ex.text)) as Doc[]).filter((d) => d && typeof d === 'object');
}

function leaves(v: Values, prefix = ''): string[] {
  return Object.entries(v).flatMap(([k, x]) =>
    x !== null && typeof x === 'object' && !Array.isArray(x) ? leaves(x as Values, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

function get(v: Values, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((o, k) => (o as Values | undefined)?.[k], v);
}

function without(v: Values, dotted: string): Values {
  const copy = structuredClone(v);
  const keys = dotted.split('.');
  const parent = keys.slice(0, -1).reduce<Values>((o, k) => o[k] as Values, copy);
  delete parent[keys.at(-1) as string];
  return copy;
}

let kubeconfig: string;
let ns: string;
const defaults = yaml.load(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8')) as Values;

/** The rendered chart, or undefined when helm refuses the values (then the value left out was needed). */
async function tryRender(values: Values | undefined, set: readonly string[] = []): Promise<string | undefined> {
  const args = ['template', 'srec', CHART_DIR, '--namespace', ns];
  if (values) {
    const f = path.join(mkdtempSync(path.join(tmpdir(), 'srec-example-')), 'values.yaml');
    writeFileSync(f, yaml.dump(values));
    args.push('-f', f);
  }
  for (const s of set) args.push('--set', s);
  const r = await helm(kubeconfig, args);
  return r.code === 0 ? r.stdout : undefined;
}

async function render(values: Values | undefined, set: readonly string[] = []): Promise<string> {
  const text = await tryRender(values, set);
  if (text === undefined) throw new Error(`helm template refused the example's values: ${JSON.stringify(values ?? set)}`);
  return text;
}

beforeAll(async () => {
  const c = await useCluster();
  kubeconfig = c.kubeconfigPath;
  ns = await freshNamespace(c.kc, 'docs-examples', RESTRICTED);
  expectOk(await kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]), 'apply CRD');
  expectOk(await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/sessionrecordings.recording.privx.io']), 'wait for CRD');
});

afterAll(async () => {
  await deleteFreshNamespaces();
});

describe('the install examples', () => {
  it('are found in README.md and docs/install.md', () => {
    expect(ALL.map((e) => `${e.file}:${e.name}`).sort()).toEqual(
      ['README.md:argocd', 'README.md:helm-set', 'docs/install.md:argocd', 'docs/install.md:flux', 'docs/install.md:kustomize', 'docs/install.md:values-prod'].sort(),
    );
  });

  const chartExamples = ALL.filter((e) => e.name !== 'kustomize').map((e): [string, Example] => [`${e.file} ${e.name}`, e]);

  it.each(chartExamples)('%s renders a SessionRecording the API server accepts, and every value it sets does something', async (_n, ex) => {
    // GIVEN the example's values, WHEN the chart is rendered with them
    const { values, set = [] } = chartInput(ex);
    const text = await render(values, set);
    // THEN the API server accepts every object, the SessionRecording among them
    const objects = parseObjects(text);
    expect(objects.some((o) => o.kind === 'SessionRecording')).toBe(true);
    expectOk(await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: text }), 'kubectl apply --dry-run=server');
    // AND each value that is not the chart's default changes the render when left out
    const idle: string[] = [];
    if (values) {
      for (const leaf of leaves(values)) {
        if (JSON.stringify(get(values, leaf)) === JSON.stringify(get(defaults, leaf))) continue;
        if ((await tryRender(without(values, leaf))) === text) idle.push(leaf);
      }
    } else {
      for (const [i, s] of set.entries()) {
        const [k, v] = s.split(/=(.*)/s);
        if (String(get(defaults, k)) === v) continue;
        if ((await tryRender(undefined, set.filter((_, j) => j !== i))) === text) idle.push(k);
      }
    }
    expect(idle).toEqual([]);
  });

  const gitOps = ALL.filter((e) => e.name === 'argocd' || e.name === 'flux').map((e): [string, Example] => [`${e.file} ${e.name}`, e]);

  it.each(gitOps)('%s installs charts/srec-crds before charts/srec, at the same revision', (_n, ex) => {
    const docs = gitOpsDocs(ex);
    if (ex.name === 'argocd') {
      // GIVEN the two Applications, THEN the CRD's syncs in an earlier wave, from the same revision
      const [crds, srec] = ['charts/srec-crds', 'charts/srec'].map((p) => docs.find((d) => d.kind === 'Application' && d.spec?.source?.path === p));
      expect(crds && srec).toBeTruthy();
      expect(Number(crds?.metadata?.annotations?.['argocd.argoproj.io/sync-wave'])).toBeLessThan(Number(srec?.metadata?.annotations?.['argocd.argoproj.io/sync-wave'] ?? 0));
      expect(crds?.spec?.source?.targetRevision).toBe(srec?.spec?.source?.targetRevision);
      expect(srec?.spec?.syncPolicy?.retry?.limit).toBeGreaterThan(0);
    } else {
      // GIVEN the two HelmReleases, THEN srec dependsOn srec-crds, both from the one GitRepository
      const [crds, srec] = ['./charts/srec-crds', './charts/srec'].map((c) => docs.find((d) => d.kind === 'HelmRelease' && d.spec?.chart?.spec?.chart === c));
      expect(crds && srec).toBeTruthy();
      expect(srec?.spec?.dependsOn).toEqual([{ name: crds?.metadata?.name }]);
      expect(crds?.spec?.chart?.spec?.sourceRef).toEqual(srec?.spec?.chart?.spec?.sourceRef);
    }
  });

  it('kustomize: the kustomization over manifests/install.yaml leaves no image unqualified, SREC_IMAGE and SREC_SYSLOG_IMAGE included', async () => {
    // GIVEN the example's kustomization beside a copy of manifests/install.yaml
    const ex = ALL.find((e) => e.name === 'kustomize') as Example;
    const dir = mkdtempSync(path.join(tmpdir(), 'srec-kustomize-'));
    writeFileSync(path.join(dir, 'kustomization.yaml'), ex.text);
    writeFileSync(path.join(dir, 'install.yaml'), readFileSync(path.join(REPO_ROOT, 'manifests', 'install.yaml')));
    // WHEN kubectl's kustomize builds it
    const built = parseObjects(expectOk(await kubectl(kubeconfig, ['kustomize', dir]), 'kubectl kustomize').stdout);
    // THEN every image the operator runs or names is the registry's
    const deploy = built.find((o) => o.kind === 'Deployment') as KubeObject & {
      spec: { template: { spec: { containers: Array<{ image: string; env?: Array<{ name: string; value?: string }> }> } } };
    };
    const images: string[] = [];
    for (const c of deploy.spec.template.spec.containers) {
      images.push(c.image);
      for (const e of c.env ?? []) if (e.name === 'SREC_IMAGE' || e.name === 'SREC_SYSLOG_IMAGE') images.push(e.value ?? '');
    }
    expect(images).toHaveLength(3);
    for (const image of images) expect(image).toBe('registry.example.com/platform/srec:0.1.0');
  });
});
