// reconcile(key): the steps, in order, with no business rules of its own. The rules live in desired/
// (pure builders and status checks); the I/O in kube/.
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/log.js';
import { type FieldError, formatErrors, validateObject } from './api/load.js';
import type { SessionRecording } from './api/types.js';
import { toCondition } from './desired/conditions.js';
import { storageKind } from './api/types.js';
import { buildHostKeySecret, type HostKeyGenerator } from './desired/hostkey.js';
import { renderObjects } from './desired/index.js';
import { childNames, claimName, DESIRED_HASH_ANNOTATION, FINALIZER, FIELD_MANAGER, type KubeObject, namespaceOf, OWNER_NAMESPACE_LABEL } from './desired/meta.js';
import type { Images } from './desired/recorder.js';
import { computeStatus, type DeploymentObservation, firstProblem, type Observed, statusEqual, warningFor } from './desired/status.js';
import { consoleSecretNames, consoleSpec } from './desired/console.js';
import { syslogSecretNames } from './desired/syslog.js';
import { apiMessage, type KubeClient, RESOURCES } from './kube/client.js';
import type { Clock } from './kube/clock.js';
import type { EventRecorder } from './kube/events.js';
import type { Result } from './kube/queue.js';
import type { Reflector } from './kube/reflector.js';
import { slimObject } from './kube/transforms.js';

export interface Caches {
  readonly sessionRecordings: Reflector;
  readonly configMaps: Reflector;
  readonly deployments: Reflector;
  readonly services: Reflector;
  readonly secrets: Reflector;
  readonly pvcs: Reflector;
  readonly pvs: Reflector;
  /** The recorder's PodDisruptionBudget and the NetworkPolicies (optional for callers that render none). */
  readonly pdbs?: Reflector;
  readonly networkPolicies?: Reflector;
  /** The console's ServiceAccount and ClusterRoleBinding (optional like pdbs). */
  readonly serviceAccounts?: Reflector;
  readonly clusterRoleBindings?: Reflector;
}

export interface ControllerMetrics {
  applied(kind: string): void;
  statusPatched(): void;
  deleted(kind: string): void;
}

export interface ControllerDeps {
  readonly client: KubeClient;
  readonly caches: Caches;
  readonly images: Images;
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: EventRecorder;
  readonly metrics: ControllerMetrics;
  readonly generateHostKey: HostKeyGenerator;
  /** Spec -> child objects (pure). @default renderObjects */
  readonly render?: typeof renderObjects;
  /** How soon to look again at a SessionRecording that is not Ready. @default 30000 */
  readonly notReadyRequeueMs?: number;
  /** Apply every object even when its hash is unchanged at least this often (drift). @default 600000 */
  readonly resyncMs?: number;
}

/**
 * How long a SessionRecording may be on its way to Ready (PROGRESS_REASONS) before a Warning Event: pods
 * pulling images or a claim being provisioned take minutes, and a Warning then would be followed by a
 * Ready Event for each of them (a Deployment's own progress deadline is 10 minutes).
 */
const PROGRESS_GRACE_MS = 300_000;

/** The kinds applied in order, the volume before its claim. */
const STORAGE_KINDS = new Set(['PersistentVolume', 'PersistentVolumeClaim']);

/** A child's key within its SessionRecording. */
function childKey(obj: KubeObject): string {
  return `${obj.kind}/${obj.metadata.name}`;
}

function desiredHash(obj: KubeObject | undefined): string | undefined {
  return obj?.metadata.annotations?.[DESIRED_HASH_ANNOTATION];
}

/** What the Secret cache keeps of a Secret: its key names, never its data. */
export function secretKeys(obj: KubeObject | undefined): readonly string[] | undefined {
  return obj ? ((obj as unknown as { keys?: string[] }).keys ?? []) : undefined;
}

function deploymentObservation(obj: KubeObject | undefined): DeploymentObservation | undefined {
  if (!obj) return undefined;
  const d = obj as unknown as {
    metadata: { generation?: number };
    spec?: { replicas?: number };
    status?: { observedGeneration?: number; updatedReplicas?: number; readyReplicas?: number; availableReplicas?: number };
  };
  return {
    generation: d.metadata.generation,
    observedGeneration: d.status?.observedGeneration,
    replicas: d.spec?.replicas ?? 1,
    updatedReplicas: d.status?.updatedReplicas,
    readyReplicas: d.status?.readyReplicas,
    availableReplicas: d.status?.availableReplicas,
  };
}

export class Controller {
  /** When each key last had every object applied, hash or not (drift correction). */
  private readonly lastFullApply = new Map<string, number>();
  /** Per key: the answers to its applies (slimmed) until the cache shows them. */
  private readonly applyAnswers = new Map<string, Map<string, KubeObject>>();

  constructor(private readonly deps: ControllerDeps) {}

  /** A spec our schema rejects: say so in the status and an Event; apply nothing, delete nothing. */
  private reportInvalid(key: string, cr: SessionRecording, errors: readonly FieldError[]): Promise<Result> {
    return this.reportUnusable(key, cr, 'InvalidSpec', `the spec does not pass this operator's schema: ${formatErrors(errors).replace(/\n/g, '; ')}`, {
      errors: errors.map((e) => e.path),
    });
  }

  /**
   * A spec that cannot be acted on (invalid, or one the builders cannot render): Ready=False with the reason
   * and an Event, once; apply nothing, delete nothing, and no retry: only a change of the spec (or the
   * periodic resync) looks again, since the same spec fails the same way.
   */
  private async reportUnusable(key: string, cr: SessionRecording, reason: 'InvalidSpec' | 'RenderFailed', message: string, meta: Record<string, unknown>): Promise<Result> {
    const now = new Date(this.deps.clock.now());
    const previous = cr.status?.conditions;
    const verdict = { status: 'False' as const, reason, message };
    const status = {
      ...cr.status,
      ...(cr.metadata.generation !== undefined ? { observedGeneration: cr.metadata.generation } : {}),
      conditions: [toCondition('Ready', verdict, cr.metadata.generation, previous, now), ...(previous ?? []).filter((c) => c.type !== 'Ready')],
    };
    if (!statusEqual(cr.status, status)) {
      await this.deps.client.patchStatus(cr, status);
      this.deps.metrics.statusPatched();
      await this.deps.events.record(key, cr, 'Warning', reason, message);
    }
    this.deps.log.warn(reason === 'InvalidSpec' ? 'invalid spec' : 'cannot render the spec', { key, ...meta });
    return {};
  }

  async reconcile(key: string): Promise<Result> {
    const { caches, log } = this.deps;
    const [namespace, name] = key.split('/') as [string, string];

    // 1. Load from the cache; gone -> nothing to do (owned children go with it by garbage collection).
    const cached = caches.sessionRecordings.get(namespace, name);
    if (!cached) {
      this.deps.events.forget(key);
      this.lastFullApply.delete(key);
      this.applyAnswers.delete(key);
      return {};
    }
    // The API server validated it against the CRD it had; check it against ours (an older CRD may lack
    // a default this version relies on) and take our defaults.
    const checked = validateObject(cached);
    if (!checked.ok) return this.reportInvalid(key, cached as unknown as SessionRecording, checked.errors);
    const cr = checked.cr;

    // 2. Deletion: the finalizer releases or removes the storage objects, then lets go.
    if (cr.metadata.deletionTimestamp) return this.finalize(key, cr);

    // 3. The finalizer, before anything cluster-scoped exists.
    if (storageKind(cr.spec.storage) !== 'existingClaim' && !(cr.metadata.finalizers ?? []).includes(FINALIZER)) {
      await this.deps.client.setFinalizers(cr, [...(cr.metadata.finalizers ?? []), FINALIZER]);
      log.info('added finalizer', { key });
    }

    // 4. Desired state (pure), from the spec and the key names of the Secrets it mounts.
    const credentialKeys = new Map<string, readonly string[]>();
    for (const h of cr.spec.recorder.hosts) {
      const keys = secretKeys(caches.secrets.get(namespace, h.credentialsSecret));
      if (keys) credentialKeys.set(h.credentialsSecret, keys);
    }
    const tlsSecret = syslogSecretNames(cr)[0];
    const tlsSecretKeys = tlsSecret !== undefined ? secretKeys(caches.secrets.get(namespace, tlsSecret)) : undefined;
    let desired;
    try {
      desired = (this.deps.render ?? renderObjects)(cr, { images: this.deps.images, credentialKeys, ...(tlsSecretKeys ? { tlsSecretKeys } : {}) });
    } catch (err) {
      const message = `the operator cannot render this spec (change it, or report the operator bug): ${err instanceof Error ? err.message : String(err)}`;
      return this.reportUnusable(key, cr, 'RenderFailed', message, { error: err instanceof Error ? err.message : String(err) });
    }

    // 5. Apply what differs from what this operator last saw, all at once, with the host key Secret.
    const { seen, applyErrors } = await this.apply(key, cr, desired);

    // 6. Remove children this spec no longer wants (e.g. the syslog objects after syslog.enabled=false).
    await this.prune(key, cr, desired);

    // 7. Status, rebuilt from the world: the cache, or what the API server answered to this run's applies
    //    where the cache has not caught up yet. Patched only when it changed.
    const observed = this.observe(cr, applyErrors, seen);
    const status = computeStatus(cr, observed, { now: new Date(this.deps.clock.now()) });
    const changed = !statusEqual(cr.status, status);
    if (changed) {
      await this.deps.client.patchStatus(cr, status);
      this.deps.metrics.statusPatched();
      log.info('status updated', { key, ready: status.conditions?.find((c) => c.type === 'Ready')?.reason });
    }

    // 8. Tell people about a problem (once; progress only once it lasts) and about the recovery from one;
    //    a SessionRecording that simply comes up writes no Event. Look again later while not Ready,
    //    without hot-looping.
    const problem = firstProblem(status);
    const warning = warningFor(status, new Date(this.deps.clock.now()), PROGRESS_GRACE_MS);
    if (warning) await this.deps.events.record(key, cr, 'Warning', warning.reason, warning.message);
    else if (!problem) await this.deps.events.recordRecovery(key, cr, 'Ready', 'recording service ready');
    return problem ? { requeueAfter: this.deps.notReadyRequeueMs ?? 30_000 } : {};
  }

  /**
   * Server-side apply (one field manager, force) of every desired object that differs from what this
   * operator last saw, concurrently, and the host key Secret if it is missing. The storage objects go
   * in order, the volume before its claim. Unchanged objects (same desired hash) are skipped; every
   * resync period all are applied anyway to undo drift (an apply of an unchanged object is a no-op for
   * the API server: no new resourceVersion). Returns the children as this run leaves them, by childKey.
   */
  private async apply(key: string, cr: SessionRecording, desired: readonly KubeObject[]): Promise<{ seen: Map<string, KubeObject | undefined>; applyErrors: string[] }> {
    const { caches, log } = this.deps;
    const namespace = namespaceOf(cr);
    const now = this.deps.clock.now();
    if (!this.lastFullApply.has(key)) this.lastFullApply.set(key, now);
    const resync = now - (this.lastFullApply.get(key) ?? now) >= (this.deps.resyncMs ?? 600_000);
    if (resync) this.lastFullApply.set(key, now);
    const answers = this.answers(key);
    const seen = new Map(desired.map((obj) => [childKey(obj), this.seen(answers, obj)]));
    const errors = new Map<KubeObject | 'hostKey', string>();
    const applyOne = async (obj: KubeObject) => {
      if (!resync && desiredHash(seen.get(childKey(obj))) === desiredHash(obj)) return;
      try {
        const answer = await this.deps.client.apply(obj);
        answers.set(childKey(obj), slimObject(answer));
        seen.set(childKey(obj), answer);
        this.deps.metrics.applied(obj.kind);
        log.info('applied', { key, kind: obj.kind, name: obj.metadata.name });
      } catch (err) {
        errors.set(obj, `${obj.kind} ${obj.metadata.name}: ${apiMessage(err)}`);
        log.warn('apply failed', { key, kind: obj.kind, name: obj.metadata.name, error: apiMessage(err) });
      }
    };
    const createHostKey = async () => {
      if (caches.secrets.get(namespace, childNames(cr).hostKey)) return;
      try {
        if (await this.deps.client.createIfAbsent(buildHostKeySecret(cr, this.deps.generateHostKey))) {
          log.info('created host key', { key, name: childNames(cr).hostKey });
        }
      } catch (err) {
        errors.set('hostKey', `Secret ${childNames(cr).hostKey}: ${apiMessage(err)}`);
      }
    };
    const storage = desired.filter((o) => STORAGE_KINDS.has(o.kind));
    await Promise.all([
      createHostKey(),
      (async () => {
        for (const obj of storage) await applyOne(obj);
      })(),
      ...desired.filter((o) => !STORAGE_KINDS.has(o.kind)).map(applyOne),
    ]);
    const applyErrors = (['hostKey', ...desired] as const).flatMap((k) => errors.get(k) ?? []);
    if (answers.size === 0) this.applyAnswers.delete(key);
    return { seen, applyErrors };
  }

  /** The answers to this key's applies that the cache has not caught up with yet, by childKey. */
  private answers(key: string): Map<string, KubeObject> {
    let m = this.applyAnswers.get(key);
    if (!m) this.applyAnswers.set(key, (m = new Map()));
    return m;
  }

  /**
   * A child as this operator last saw it: the cached copy once it carries the desired hash this
   * operator last applied (watch events arrive in order, so it is then at least as new as the apply's
   * answer), else the answer to that apply.
   */
  private seen(answers: Map<string, KubeObject>, obj: KubeObject): KubeObject | undefined {
    const cached = this.cached(obj);
    const answer = answers.get(childKey(obj));
    if (!answer) return cached;
    if (cached && desiredHash(cached) === desiredHash(answer)) {
      answers.delete(childKey(obj));
      return cached;
    }
    return answer;
  }

  private cached(obj: KubeObject): KubeObject | undefined {
    const c = this.deps.caches;
    const ns = obj.metadata.namespace;
    switch (obj.kind) {
      case 'ConfigMap':
        return c.configMaps.get(ns, obj.metadata.name);
      case 'Deployment':
        return c.deployments.get(ns, obj.metadata.name);
      case 'Service':
        return c.services.get(ns, obj.metadata.name);
      case 'PersistentVolumeClaim':
        return c.pvcs.get(ns, obj.metadata.name);
      case 'PersistentVolume':
        return c.pvs.get(undefined, obj.metadata.name);
      case 'PodDisruptionBudget':
        return c.pdbs?.get(ns, obj.metadata.name);
      case 'NetworkPolicy':
        return c.networkPolicies?.get(ns, obj.metadata.name);
      case 'ServiceAccount':
        return c.serviceAccounts?.get(ns, obj.metadata.name);
      case 'ClusterRoleBinding':
        return c.clusterRoleBindings?.get(undefined, obj.metadata.name);
      default:
        return undefined;
    }
  }

  /** What the status is computed from; `seen` holds the children as this run left them, by childKey. */
  private observe(cr: SessionRecording, applyErrors: readonly string[], seen: ReadonlyMap<string, KubeObject | undefined>): Observed {
    const { caches } = this.deps;
    const child = (kind: string, name: string, cache: Reflector) => (seen.has(`${kind}/${name}`) ? seen.get(`${kind}/${name}`) : cache.get(namespaceOf(cr), name));
    const ns = namespaceOf(cr);
    const names = childNames(cr);
    const secrets = new Map<string, readonly string[]>();
    for (const s of [cr.spec.recorder.usersSecret, ...cr.spec.recorder.hosts.map((h) => h.credentialsSecret), ...syslogSecretNames(cr), ...consoleSecretNames(cr)]) {
      const keys = secretKeys(caches.secrets.get(ns, s));
      if (keys) secrets.set(s, keys);
    }
    const pvc = child('PersistentVolumeClaim', claimName(cr), caches.pvcs) as unknown as
      | { spec?: { accessModes?: string[] }; status?: { phase?: string; accessModes?: string[] } }
      | undefined;
    return {
      claim: pvc ? { phase: pvc.status?.phase, accessModes: pvc.status?.accessModes ?? pvc.spec?.accessModes ?? [] } : undefined,
      secrets,
      recorder: deploymentObservation(child('Deployment', names.recorder, caches.deployments)),
      syslog: cr.spec.syslog.enabled ? deploymentObservation(child('Deployment', names.syslog, caches.deployments)) : undefined,
      console: consoleSpec(cr).enabled ? deploymentObservation(child('Deployment', names.console, caches.deployments)) : undefined,
      ...(applyErrors.length > 0 ? { applyError: applyErrors.join('; ') } : {}),
    };
  }

  /** Delete our namespaced children (controller-owned by this CR) that the current spec does not render. */
  private async prune(key: string, cr: SessionRecording, desired: readonly KubeObject[]): Promise<void> {
    const wanted = new Set(desired.map((o) => `${o.kind}/${o.metadata.name}`));
    const { caches } = this.deps;
    for (const cache of [caches.configMaps, caches.deployments, caches.services, ...(caches.networkPolicies ? [caches.networkPolicies] : []), ...(caches.serviceAccounts ? [caches.serviceAccounts] : [])]) {
      for (const obj of cache.list()) {
        if (obj.metadata.namespace !== namespaceOf(cr) || obj.metadata.labels?.['app.kubernetes.io/instance'] !== cr.metadata.name) continue;
        const owned = (obj.metadata.ownerReferences ?? []).some((r) => r.uid === cr.metadata.uid && r.controller === true);
        const kind = cache.kind;
        if (!owned || wanted.has(`${kind}/${obj.metadata.name}`)) continue;
        const res = Object.values(RESOURCES).find((r) => r.kind === kind) ?? RESOURCES.configMap;
        await this.deps.client.delete({ apiVersion: res.apiVersion, kind, name: obj.metadata.name, namespace: obj.metadata.namespace });
        this.deps.metrics.deleted(kind);
        this.deps.log.info('deleted', { key, kind, name: obj.metadata.name, why: 'no longer wanted by the spec' });
      }
    }
    for (const obj of this.clusterChildren(cr)) {
      if (wanted.has(`ClusterRoleBinding/${obj.metadata.name}`)) continue;
      await this.deleteClusterChild(key, obj, 'no longer wanted by the spec');
    }
  }

  /** Our cluster-scoped children other than the volume: they cannot carry an owner reference, so their labels name the CR. */
  private clusterChildren(cr: SessionRecording): KubeObject[] {
    return (this.deps.caches.clusterRoleBindings?.list() ?? []).filter(
      (o) => o.metadata.labels?.[OWNER_NAMESPACE_LABEL] === namespaceOf(cr) && o.metadata.labels?.['app.kubernetes.io/instance'] === cr.metadata.name,
    );
  }

  private async deleteClusterChild(key: string, obj: KubeObject, why: string): Promise<void> {
    await this.deps.client.delete({ apiVersion: RESOURCES.clusterRoleBinding.apiVersion, kind: obj.kind, name: obj.metadata.name });
    this.deps.metrics.deleted(obj.kind);
    this.deps.log.info('deleted', { key, kind: obj.kind, name: obj.metadata.name, why });
  }

  /**
   * Retain (default): the claim and the volume stay, with every recording (the claim never had an owner
   * reference, so garbage collection leaves it). Delete: remove the claim and the volume objects; the
   * volume's reclaim policy is Retain, so the data on the share itself is left to its administrator.
   */
  private async finalize(key: string, cr: SessionRecording): Promise<Result> {
    const finalizers = cr.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) return {};
    const names = childNames(cr);
    // The garbage collector removes the namespaced children; the console's ClusterRoleBinding is ours to remove.
    for (const obj of this.clusterChildren(cr)) await this.deleteClusterChild(key, obj, 'SessionRecording deleted');
    if (cr.spec.storage.deletionPolicy === 'Delete' && storageKind(cr.spec.storage) !== 'existingClaim') {
      await this.deps.client.delete({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: names.pvc, namespace: namespaceOf(cr) });
      this.deps.metrics.deleted('PersistentVolumeClaim');
      if (!cr.spec.storage.efs?.storageClassName) {
        await this.deps.client.delete({ apiVersion: 'v1', kind: 'PersistentVolume', name: names.pv });
        this.deps.metrics.deleted('PersistentVolume');
      }
      this.deps.log.info('deleted storage objects', { key, pvc: names.pvc, pv: names.pv, deletionPolicy: 'Delete' });
    } else {
      this.deps.log.info('kept storage objects', { key, pvc: names.pvc, pv: names.pv, deletionPolicy: cr.spec.storage.deletionPolicy });
    }
    try {
      await this.deps.client.setFinalizers(cr, finalizers.filter((f) => f !== FINALIZER));
    } catch (err) {
      throw new Error(`removing finalizer ${FINALIZER} (${FIELD_MANAGER}): ${errorMessage(err)}`);
    }
    this.deps.events.forget(key);
    this.applyAnswers.delete(key);
    return {};
  }
}
