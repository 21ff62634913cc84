// Helpers for the chart's e2e tests: helm and kubectl pinned to the cluster's version, run against
// the real control plane of e2e/support, and the rendered chart parsed into objects.
import { spawn } from 'node:child_process';
import path from 'node:path';
import yaml from 'js-yaml';
import { clusterMode, clusterTools, REPO_ROOT } from '../../e2e/support/cluster.js';

export const CHART_DIR = path.join(REPO_ROOT, 'charts', 'srec');
/** The CRD's own chart: installed before the srec chart, its template a verbatim copy of crds/. */
export const CRDS_CHART_DIR = path.join(REPO_ROOT, 'charts', 'srec-crds');
export const CRD_FILE = path.join(REPO_ROOT, 'crds', 'sessionrecordings.recording.privx.io.yaml');
export const CI_VALUES = ['nfs', 'efs', 'existing-claim'].map((n) => path.join(CHART_DIR, 'ci', `${n}-values.yaml`));

/** The restricted Pod Security labels every test namespace gets (the issue asks all pods to pass). */
export const RESTRICTED = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/warn-version': 'latest',
};

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly input?: string;
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
}

/** Run a program to completion; never rejects on a non-zero exit (the caller asserts on it). */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A program that exits without reading its input (kubectl explain, helm on bad flags) closes the pipe
    // first: EPIPE on stdin is not the program's failure, its exit code says that.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Fails with the command's own output, so that a failing test shows what helm or kubectl said. */
export function expectOk(r: RunResult, what: string): RunResult {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r;
}

export function helm(kubeconfig: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(clusterTools().helm, args, { ...opts, env: { KUBECONFIG: kubeconfig, ...opts.env } });
}

export function kubectl(kubeconfig: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(clusterTools().kubectl, ['--kubeconfig', kubeconfig, ...args], opts);
}

/**
 * `--set` flags that point the chart at an image the cluster can run. kwok's fake nodes never
 * pull, so the default image does; a real cluster (e2e/kind) names a pullable one in SREC_E2E_IMAGE.
 */
export function imageOverrides(): string[] {
  const image = process.env.SREC_E2E_IMAGE;
  if (clusterMode() === 'local' || !image) return [];
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/')
    ? ['--set', `image.repository=${image.slice(0, at)}`, '--set', `image.tag=${image.slice(at + 1)}`]
    : ['--set', `image.repository=${image}`];
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

export function parseObjects(text: string): KubeObject[] {
  return yaml.loadAll(text).filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

/** `helm template` of the chart; rejects with helm's message when rendering fails. */
export async function renderChart(
  kubeconfig: string,
  opts: { release?: string; namespace: string; valuesFiles?: readonly string[]; set?: readonly string[] },
): Promise<{ text: string; objects: KubeObject[] }> {
  const args = ['template', opts.release ?? 'srec', CHART_DIR, '--namespace', opts.namespace];
  for (const f of opts.valuesFiles ?? []) args.push('-f', f);
  for (const s of opts.set ?? []) args.push('--set', s);
  const r = expectOk(await helm(kubeconfig, args), `helm ${args.join(' ')}`);
  return { text: r.stdout, objects: parseObjects(r.stdout) };
}

export function find(objects: readonly KubeObject[], kind: string, name?: string): KubeObject | undefined {
  return objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

/** Each rule expanded to `verb group/resource` strings, e.g. `update recording.privx.io/sessionrecordings/finalizers`. */
export function expandRules(rules: readonly PolicyRule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${v} ${g === '' ? 'core' : g}/${res}`);
  }
  return [...out].sort();
}

/** `kubectl auth can-i` as the ServiceAccount: 'yes' or 'no' (anything else fails the test). */
export async function canI(
  kubeconfig: string,
  serviceAccount: { namespace: string; name: string },
  verb: string,
  resource: string,
  namespace?: string,
): Promise<'yes' | 'no'> {
  // `kind/x` would ask about the object named x: a subresource goes in its own flag.
  const [kind, subresource] = resource.split('/');
  const args = ['auth', 'can-i', verb, kind, `--as=system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}`];
  if (subresource) args.push(`--subresource=${subresource}`);
  if (namespace !== undefined) args.push(`--namespace=${namespace}`);
  const r = await kubectl(kubeconfig, args);
  const answer = r.stdout.trim();
  if ((r.code === 0 && answer === 'yes') || (r.code === 1 && answer === 'no')) return answer;
  throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
}
