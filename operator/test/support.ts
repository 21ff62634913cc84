// Helpers for the operator's e2e tests: the CRD from crds/, SessionRecordings and their Secrets in a
// fresh namespace, the operator in-process, and reading what it wrote.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { createLogger } from '../../common/log.js';
import { clusterTools, waitFor } from '../../e2e/support/cluster.js';
import { crdPath } from '../src/api/schema.js';
import { GROUP, PLURAL, type SessionRecording, VERSION } from '../src/api/types.js';
import { type OperatorHandle, startOperator } from '../src/operator.js';

const execFileP = promisify(execFile);

export const IMAGES = { recorder: 'srec:e2e', syslog: 'srec:e2e' } as const;

/**
 * `kubectl apply --server-side -f crds/`, as a user installs it, then wait until it is served.
 * (Not KubernetesObjectApi.patch: its typed serializer drops `x-kubernetes-*` and `default` keys.)
 */
export async function applyCrd(kc: KubeConfig, kubeconfigPath: string): Promise<void> {
  const crd = yaml.load(readFileSync(crdPath(), 'utf8')) as KubernetesObject;
  const api = KubernetesObjectApi.makeApiClient(kc);
  await execFileP(clusterTools().kubectl, ['--kubeconfig', kubeconfigPath, 'apply', '--server-side', '--force-conflicts', '--field-manager', 'srec-e2e', '-f', crdPath()]);
  await waitFor('the CRD to be Established', async () => {
    const got = (await api.read({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: crd.metadata?.name ?? '' } })) as unknown as {
      status?: { conditions?: Array<{ type: string; status: string }> };
    };
    return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  });
}

export function loadYaml(file: string, namespace: string): Record<string, any> {
  const obj = yaml.load(readFileSync(file, 'utf8')) as Record<string, any>;
  obj.metadata = { ...obj.metadata, namespace };
  return obj;
}

export class Cluster {
  readonly objects: KubernetesObjectApi;
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
  constructor(readonly kc: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async createSecret(namespace: string, name: string, stringData: Record<string, string>): Promise<void> {
    await this.core.createNamespacedSecret({ namespace, body: { metadata: { name, namespace }, stringData } });
  }

  /** The Secrets the examples name: users (users.yaml) and db-1 / web-1 credentials. */
  async createExampleSecrets(namespace: string): Promise<void> {
    await this.createSecret(namespace, 'recorder-users', { 'users.yaml': 'users:\n  - name: alice\n    authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0b2V4YW1wbGVob3N0a2V5Zm9yZGJvbmVvbmx5MDE= alice"]\n' });
    for (const n of ['db-1-login', 'web-1-login']) await this.createSecret(namespace, n, { username: 'root', privateKey: 'not-a-real-key' });
  }

  async createCr(obj: Record<string, any>): Promise<SessionRecording> {
    return (await this.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: obj.metadata.namespace, body: obj })) as SessionRecording;
  }

  async getCr(namespace: string, name: string): Promise<SessionRecording | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })) as SessionRecording;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  /** JSON merge patch of the CR (what `kubectl patch --type merge` sends). */
  async patchCr(namespace: string, name: string, patch: Record<string, unknown>): Promise<void> {
    const cr = await this.getCr(namespace, name);
    if (!cr) throw new Error(`no SessionRecording ${namespace}/${name}`);
    const merged = deepMerge(structuredClone(cr) as unknown as Record<string, unknown>, patch);
    await this.custom.replaceNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: merged });
  }

  /**
   * Remove every SessionRecording left in `namespace`, finalizers included, so the namespace can go
   * even when no operator runs any more.
   */
  async forceDeleteAll(namespace: string): Promise<void> {
    const list = (await this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace })) as { items: SessionRecording[] };
    for (const cr of list.items) {
      await this.custom
        .patchNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name: cr.metadata.name, body: [{ op: 'add', path: '/metadata/finalizers', value: [] }] })
        .catch(() => undefined);
      await this.deleteCr(namespace, cr.metadata.name).catch(() => undefined);
    }
  }

  /** The PersistentVolumes the operator made for `namespace` (Retain keeps them after the namespace). */
  async deleteVolumesOf(namespace: string): Promise<void> {
    const list = await this.objects.list('v1', 'PersistentVolume', undefined, undefined, undefined, undefined, undefined, `recording.privx.io/owner-namespace=${namespace}`);
    for (const pv of list.items) {
      await this.objects.delete({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: pv.metadata?.name ?? '' } }).catch(() => undefined);
    }
  }

  async deleteCr(namespace: string, name: string): Promise<void> {
    await this.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name });
  }

  async read(apiVersion: string, kind: string, name: string, namespace?: string): Promise<Record<string, any> | undefined> {
    try {
      return (await this.objects.read({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } })) as unknown as Record<string, any>;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  async waitForCondition(namespace: string, name: string, type: string, status: string, reason?: string, timeoutMs = 60_000): Promise<SessionRecording> {
    return waitFor(
      `${namespace}/${name} ${type}=${status}${reason ? ` (${reason})` : ''}`,
      async () => {
        const cr = await this.getCr(namespace, name);
        const c = cr?.status?.conditions?.find((x) => x.type === type);
        return c && c.status === status && (reason === undefined || c.reason === reason) && cr?.status?.observedGeneration === cr?.metadata.generation ? cr : undefined;
      },
      { timeoutMs },
    );
  }

  async events(namespace: string, name: string): Promise<Array<{ reason?: string; message?: string; type?: string }>> {
    const list = await this.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
    return list.items.map((e) => ({ reason: e.reason, message: e.message, type: e.type }));
  }
}

function deepMerge(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(patch)) {
    const t = target[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && t && typeof t === 'object' && !Array.isArray(t)) deepMerge(t as Record<string, unknown>, v as Record<string, unknown>);
    else target[k] = v;
  }
  return target;
}

export function operatorLog() {
  return createLogger({ component: 'operator', silent: !process.env.SREC_E2E_LOG, level: process.env.SREC_E2E_LOG || 'info', stderr: true });
}

/** The operator, in-process, watching one namespace, with short requeues for tests. */
export function runOperator(kc: KubeConfig, namespace: string, extra: Partial<Parameters<typeof startOperator>[0]> = {}): Promise<OperatorHandle> {
  return startOperator({ kubeConfig: kc, namespace, log: operatorLog(), probes: '127.0.0.1:0', images: IMAGES, notReadyRequeueMs: 2000, ...extra });
}
