// The chart's metadata as Artifact Hub, helm and a cluster read it: kubeVersion checked by the pinned
// helm (built for the cluster's Kubernetes version), home/sources/icon/maintainers, and the Artifact
// Hub annotations agreeing with crds/, values.yaml and the API server; the same for the srec-crds chart.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { jest } from '@jest/globals';
import yaml from 'js-yaml';
import { deleteFreshNamespaces, freshNamespace, useCluster } from '../../e2e/support/cluster.js';
import { CHART_DIR, CRD_FILE, CRDS_CHART_DIR, expectOk, helm, kubectl, RESTRICTED } from './support.js';

jest.setTimeout(120_000);

interface Chart {
  kubeVersion?: string;
  home?: string;
  sources?: string[];
  icon?: string;
  maintainers?: Array<{ name: string; email?: string; url?: string }>;
  appVersion: string;
  annotations?: Record<string, string>;
}

const chart = yaml.load(readFileSync(path.join(CHART_DIR, 'Chart.yaml'), 'utf8')) as Chart;
const crdsChart = yaml.load(readFileSync(path.join(CRDS_CHART_DIR, 'Chart.yaml'), 'utf8')) as Chart & { version: string };
const annotation = (key: string, of: Chart = chart): unknown => yaml.load(of.annotations?.[`artifacthub.io/${key}`] ?? 'null');

let kubeconfig: string;

beforeAll(async () => {
  ({ kubeconfigPath: kubeconfig } = await useCluster());
  expectOk(await kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]), 'apply CRD');
  expectOk(await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/sessionrecordings.recording.privx.io']), 'wait for CRD');
});

afterAll(async () => {
  await deleteFreshNamespaces();
});

describe('kubeVersion', () => {
  it('is stated, and the pinned helm checks it against the cluster version it was built for', async () => {
    expect(chart.kubeVersion).toBe('>=1.30.0-0');
    // GIVEN the pinned helm, which assumes the cluster's Kubernetes (1.35) when it has no cluster
    const version = expectOk(await helm(kubeconfig, ['template', 'srec', CHART_DIR, '--show-only', 'templates/deployment.yaml']), 'helm template');
    expect(version.stdout).toContain('kind: Deployment');
    // WHEN an older Kubernetes is named, THEN the chart refuses it
    const old = await helm(kubeconfig, ['template', 'srec', CHART_DIR, '--kube-version', '1.29.0']);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toContain('chart requires kubeVersion: >=1.30.0-0 which is incompatible with Kubernetes v1.29.0');
    const lint = expectOk(await helm(kubeconfig, ['lint', '--strict', CHART_DIR]), 'helm lint');
    expect(lint.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });
});

describe('Artifact Hub metadata', () => {
  it('names home, sources, icon and maintainers', () => {
    expect(chart.home).toMatch(/^https:\/\//);
    expect(chart.sources?.length).toBeGreaterThan(0);
    expect(chart.icon).toMatch(/^https:\/\/.*\.svg$/);
    expect(readFileSync(path.join(CHART_DIR, path.basename(chart.icon ?? ''))).toString()).toContain('<svg');
    expect(chart.maintainers?.[0]?.name).toBeTruthy();
    expect(chart.annotations?.['artifacthub.io/operator']).toBe('true');
    expect(chart.annotations?.['artifacthub.io/license']).toBe('Apache-2.0');
  });

  it('lists every CRD of crds/ with its kind and served version, in both charts', () => {
    const crds = readdirSync(path.join(CHART_DIR, '..', '..', 'crds')).map(
      (f) => yaml.load(readFileSync(path.join(CHART_DIR, '..', '..', 'crds', f), 'utf8')) as {
        metadata: { name: string };
        spec: { names: { kind: string }; versions: Array<{ name: string; served: boolean }> };
      },
    );
    expect(readdirSync(path.join(CRDS_CHART_DIR, 'templates')).sort()).toEqual(readdirSync(path.join(CHART_DIR, '..', '..', 'crds')).sort());
    for (const of of [chart, crdsChart]) {
      const listed = annotation('crds', of) as Array<{ kind: string; version: string; name: string; description: string }>;
      expect(listed.map((c) => [c.name, c.kind, c.version]).sort()).toEqual(
        crds.map((c) => [c.metadata.name, c.spec.names.kind, c.spec.versions.find((v) => v.served)?.name]).sort(),
      );
      for (const c of listed) expect(c.description).toBeTruthy();
    }
  });

  it('gives srec-crds the metadata of srec, and the same version: the CRD of a release is its srec-crds', async () => {
    const full = chart as Chart & { version: string };
    expect({ version: crdsChart.version, appVersion: crdsChart.appVersion, kubeVersion: crdsChart.kubeVersion, home: crdsChart.home, sources: crdsChart.sources, maintainers: crdsChart.maintainers })
      .toEqual({ version: full.version, appVersion: full.appVersion, kubeVersion: full.kubeVersion, home: full.home, sources: full.sources, maintainers: full.maintainers });
    expect(crdsChart.icon).toMatch(/^https:\/\/.*\.svg$/);
    expect(readFileSync(path.join(CRDS_CHART_DIR, path.basename(crdsChart.icon ?? ''))).toString()).toContain('<svg');
    expect(crdsChart.annotations?.['artifacthub.io/license']).toBe('Apache-2.0');
    const lint = expectOk(await helm(kubeconfig, ['lint', '--strict', CRDS_CHART_DIR]), 'helm lint srec-crds');
    expect(lint.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('has a crdsExamples SessionRecording the API server accepts', async () => {
    const ns = await freshNamespace(await useCluster().then((c) => c.kc), 'chart-meta', RESTRICTED);
    const examples = annotation('crdsExamples') as Array<{ kind: string; metadata: { namespace?: string } }>;
    expect(examples.map((e) => e.kind)).toEqual(['SessionRecording']);
    const input = examples.map((e) => JSON.stringify({ ...e, metadata: { ...e.metadata, namespace: ns } })).join('\n');
    expectOk(await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input }), 'kubectl apply --dry-run=server');
  });

  it('names the image the chart deploys by default', () => {
    const values = yaml.load(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8')) as { image: { repository: string; tag: string } };
    expect(annotation('images')).toEqual([{ name: 'srec', image: `${values.image.repository}:${values.image.tag}` }]);
    expect(values.image.tag).toBe(chart.appVersion);
  });
});
