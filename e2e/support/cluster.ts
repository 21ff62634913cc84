// One real Kubernetes control plane per test run, for the e2e jest project.
//
// - jest globalSetup (e2e/support/global-setup.ts) calls startCluster(), which runs
//   e2e/cluster/up.sh (idempotent: reuses a running cluster of this checkout).
// - Tests call useCluster() for { kubeconfigPath, kc } and freshNamespace() for an
//   isolated namespace, deleted by deleteFreshNamespaces() in afterAll.
//
// Environment:
//   SREC_CLUSTER=external   do not run up.sh; use an existing cluster (kind, ...) whose
//                           kubeconfig is at SREC_KUBECONFIG or <repo>/.cluster/kubeconfig
//   SREC_KUBECONFIG=path    kubeconfig to use (default <repo>/.cluster/kubeconfig)
//   SREC_CLUSTER_KEEP=1     globalTeardown leaves a cluster it started running
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig, type V1Namespace } from '@kubernetes/client-node';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const STATE_DIR = process.env.SREC_CLUSTER_STATE ?? path.join(REPO_ROOT, '.cluster');

/** 'external' when SREC_CLUSTER=external (cluster provided by someone else), else 'local'. */
export function clusterMode(): 'local' | 'external' {
  return process.env.SREC_CLUSTER === 'external' ? 'external' : 'local';
}

export function kubeconfigPath(): string {
  return process.env.SREC_KUBECONFIG ?? path.join(STATE_DIR, 'kubeconfig');
}

/** Facts written by up.sh to .cluster/cluster.env (empty for an external cluster). */
export function clusterEnv(): Record<string, string> {
  const f = path.join(STATE_DIR, 'cluster.env');
  if (!existsSync(f)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** kubectl/helm pinned to the cluster version (from the build cache); PATH ones for external clusters. */
export function clusterTools(): { kubectl: string; helm: string } {
  const env = clusterEnv();
  return { kubectl: env.SREC_KUBECTL ?? 'kubectl', helm: env.SREC_HELM ?? 'helm' };
}

export interface StartResult {
  kubeconfigPath: string;
  /** true when up.sh started the cluster, false when it reused a running one (or external). */
  started: boolean;
}

function runScript(script: string, label: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(REPO_ROOT, 'e2e', 'cluster', script)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.length > 200_000) out = out.slice(-100_000);
      process.stderr.write(d); // progress (a cold build takes many minutes)
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) return resolve(out);
      const tail = out.trimEnd().split('\n').slice(-60).join('\n');
      reject(new Error(`${label} failed (exit ${code}). Last output:\n${tail}`));
    });
  });
}

/**
 * Start (or reuse) the local cluster with e2e/cluster/up.sh, or check the external one.
 * A failing start rejects with up.sh's message, which names the component and its log tail.
 */
export async function startCluster(): Promise<StartResult> {
  if (clusterMode() === 'external') {
    const p = kubeconfigPath();
    if (!existsSync(p)) throw new Error(`SREC_CLUSTER=external but no kubeconfig at ${p} (set SREC_KUBECONFIG)`);
    const kc = loadKubeConfig(p);
    const ready = await getRaw(kc, '/readyz');
    if (ready.status !== 200) throw new Error(`external cluster not ready: /readyz -> ${ready.status} ${ready.body}`);
    return { kubeconfigPath: p, started: false };
  }
  const out = await runScript('up.sh', 'cluster:up (e2e/cluster/up.sh)');
  return { kubeconfigPath: kubeconfigPath(), started: /^cluster-status: started$/m.test(out) };
}

/** Stop the local cluster of this checkout (e2e/cluster/down.sh). No-op for an external cluster. */
export async function stopCluster(): Promise<void> {
  if (clusterMode() === 'external') return;
  await runScript('down.sh', 'cluster:down (e2e/cluster/down.sh)');
}

function loadKubeConfig(p: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(p);
  return kc;
}

/**
 * The cluster for this test file. Normally globalSetup already started it; when a test
 * file runs without it (e.g. an IDE runner), this starts it (idempotent).
 */
export async function useCluster(): Promise<{ kubeconfigPath: string; kc: KubeConfig }> {
  let p = kubeconfigPath();
  if (!existsSync(p)) p = (await startCluster()).kubeconfigPath;
  return { kubeconfigPath: p, kc: loadKubeConfig(p) };
}

/** GET a raw API path (e.g. '/readyz') with the kubeconfig's credentials. */
export async function getRaw(kc: KubeConfig, apiPath: string): Promise<{ status: number; body: string }> {
  return rawRequest(kc, 'GET', apiPath);
}

/**
 * A raw request to the API server. With anonymous=true no client credentials are sent
 * (only the CA is trusted), i.e. the request is made as system:anonymous. Extra headers
 * (e.g. Impersonate-User) are added as given.
 */
export async function rawRequest(
  kc: KubeConfig,
  method: string,
  apiPath: string,
  body?: unknown,
  opts: { anonymous?: boolean; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(apiPath, cluster.server);
  const reqOpts: https.RequestOptions = {
    method,
    hostname: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
  };
  await kc.applyToHTTPSOptions(reqOpts);
  if (opts.anonymous) {
    delete reqOpts.cert;
    delete reqOpts.key;
    const h = reqOpts.headers;
    if (h && !Array.isArray(h)) {
      delete (h as Record<string, unknown>).Authorization;
      delete (h as Record<string, unknown>).authorization;
    }
  }
  if (opts.headers) reqOpts.headers = { ...(reqOpts.headers as Record<string, string>), ...opts.headers };
  reqOpts.agent = new https.Agent({ ca: reqOpts.ca, cert: reqOpts.cert, key: reqOpts.key, keepAlive: false });
  return new Promise((resolve, reject) => {
    const req = https.request(reqOpts, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`${method} ${apiPath} timed out`)));
    if (body !== undefined) req.write(JSON.stringify(body));
    req.end();
  });
}

const created = new Map<string, KubeConfig>();

/**
 * Create a namespace with a unique name `<prefix>-<random>` (and the given labels),
 * remembered for deleteFreshNamespaces(), and wait until its default ServiceAccount
 * exists (so pods can be created at once). Returns its name.
 */
export async function freshNamespace(
  kc: KubeConfig,
  prefix: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'e2e';
  const name = `${base}-${Date.now().toString(36).slice(-4)}${Math.random().toString(36).slice(2, 7)}`;
  const body: V1Namespace = { metadata: { name, labels: { 'srec.e2e/test': 'true', ...labels }, annotations } };
  await core.createNamespace({ body });
  created.set(name, kc);
  // Pods are rejected ("serviceaccount default not found") until the controller-manager
  // has created the namespace's default ServiceAccount: wait for it.
  await waitFor(`ServiceAccount default in namespace ${name}`, async () => {
    try {
      return await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
    } catch (e) {
      if ((e as { code?: number }).code === 404) return undefined;
      throw e;
    }
  }, { timeoutMs: 30_000, intervalMs: 100 });
  return name;
}

/** Delete every namespace freshNamespace() created in this test file (call in afterAll). */
export async function deleteFreshNamespaces(): Promise<void> {
  const names = [...created.entries()];
  created.clear();
  await Promise.all(
    names.map(async ([name, kc]) => {
      try {
        await kc.makeApiClient(CoreV1Api).deleteNamespace({ name });
      } catch (e) {
        if ((e as { code?: number }).code !== 404) throw e;
      }
    }),
  );
}

/**
 * Poll `probe` until it returns a value other than undefined/false, or fail after
 * timeoutMs with the description and the last value/error seen.
 */
export async function waitFor<T>(
  description: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 60_000, intervalMs = 250 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description} (last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
