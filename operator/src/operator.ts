// startOperator: the caches (list + watch), the work queue, the controller, leader election and the
// probe/metrics server, wired together. `srec operator` runs it until SIGTERM; tests run it in-process.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { errorMessage, type Logger } from '../../common/log.js';
import { startProbeServer } from '../../common/http.js';
import { Counter, Gauge, Histogram, Registry } from '../../common/metrics.js';
import type { SessionRecording } from './api/types.js';
import { type Caches, Controller } from './controller.js';
import { generateEd25519HostKey, type HostKeyGenerator } from './desired/hostkey.js';
import { claimName, childNames, type KubeObject, MANAGED_BY_SELECTOR, OWNER_NAMESPACE_LABEL } from './desired/meta.js';
import type { renderObjects } from './desired/index.js';
import type { Images } from './desired/recorder.js';
import { consoleSecretNames } from './desired/console.js';
import { syslogSecretNames } from './desired/syslog.js';
import { defaultImages } from './images.js';
import { KubeClient, type Resource, RESOURCES } from './kube/client.js';
import type { ClusterAccess } from './kube/http.js';
import { type Clock, type Random, systemClock, type Timer } from './kube/clock.js';
import { EventRecorder } from './kube/events.js';
import { LeaderElector } from './kube/leader.js';
import { WorkQueue } from './kube/queue.js';
import { objectKey, Reflector } from './kube/reflector.js';
import { slimObject, stripSecret, withoutManagedFields } from './kube/transforms.js';

export interface OperatorOptions {
  /** A client-node KubeConfig, or loadClusterAccess()'s answer. */
  readonly kubeConfig: ClusterAccess;
  /** Watch one namespace only. @default every namespace */
  readonly namespace?: string;
  /** Campaign for the Lease before reconciling. @default false */
  readonly leaderElect?: boolean;
  /** Namespace of the Lease. @default POD_NAMESPACE, else `namespace`, else 'default' */
  readonly leaseNamespace?: string;
  /** @default 'srec-operator' */
  readonly leaseName?: string;
  /** @default POD_NAME or hostname, plus a random suffix */
  readonly identity?: string;
  readonly log: Logger;
  /** /healthz /readyz /metrics. @default '0.0.0.0:8080' */
  readonly probes?: string;
  /** @default defaultImages() */
  readonly images?: Images;
  readonly clock?: Clock;
  readonly random?: Random;
  /**
   * SessionRecordings reconciled at once. A run waits mostly on the API server (each one applies up to 8
   * objects at once), so more workers than cores pay off: bench/operator.ts converged 500 of them in
   * 52 s with 4 and 106 s with 2 (8 mostly slowed the API server down). @default 4
   */
  readonly workers?: number;
  /** Restart a watch silent this long. @default 300000 */
  readonly staleWatchMs?: number;
  /** Requeue of a SessionRecording that is not Ready. @default 30000 */
  readonly notReadyRequeueMs?: number;
  /** Every SessionRecording is reconciled, and all its objects applied, this often. @default 600000 */
  readonly resyncMs?: number;
  readonly generateHostKey?: HostKeyGenerator;
  /** Spec -> child objects (tests make it fail). @default renderObjects */
  readonly render?: typeof renderObjects;
  /** Lease timings (tests shorten them). */
  readonly lease?: { readonly durationMs?: number; readonly renewDeadlineMs?: number; readonly retryPeriodMs?: number };
}

export interface OperatorHandle {
  /** Port of the probe server (useful with `probes: '127.0.0.1:0'`). */
  readonly probePort: number;
  readonly metrics: Registry;
  /** Resolves when every cache has listed once (after becoming leader, with leader election). */
  synced(): Promise<void>;
  /** Whether this instance currently reconciles. */
  isLeader(): boolean;
  /** Graceful stop: no new work, wait for runs in progress, stop watches, release the Lease. */
  stop(): Promise<void>;
  /** Resolves when the operator has stopped, by stop() or because it lost leadership (then: 'lost'). */
  readonly done: Promise<'stopped' | 'lost'>;
}

export async function startOperator(opts: OperatorOptions): Promise<OperatorHandle> {
  const log = opts.log;
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const client = new KubeClient(opts.kubeConfig);
  const images = opts.images ?? defaultImages();

  // ---- metrics ----
  const registry = new Registry();
  const registers = [registry];
  const reconciles = new Counter({ name: 'srec_operator_reconciles_total', help: 'Reconciles by result (ok, requeue, error).', labelNames: ['result'], registers });
  const errors = new Counter({ name: 'srec_operator_reconcile_errors_total', help: 'Reconciles that failed and were retried with backoff.', registers });
  // prom-client's default buckets, 5 ms to 10 s.
  const duration = new Histogram({ name: 'srec_operator_reconcile_duration_seconds', help: 'Time of one reconcile.', registers });
  const depth = new Gauge({ name: 'srec_operator_queue_depth', help: 'Keys waiting in the work queue.', registers });
  const applies = new Counter({ name: 'srec_operator_applies_total', help: 'Server-side applies by kind.', labelNames: ['kind'], registers });
  const deletes = new Counter({ name: 'srec_operator_deletes_total', help: 'Deletes by kind.', labelNames: ['kind'], registers });
  const statusPatches = new Counter({ name: 'srec_operator_status_patches_total', help: 'SessionRecording status patches.', registers });
  const watchRestarts = new Counter({ name: 'srec_operator_watch_restarts_total', help: 'Watches restarted, by kind and reason.', labelNames: ['kind', 'reason'], registers });
  const leader = new Gauge({ name: 'srec_operator_leader', help: '1 while this instance is the leader.', registers });

  // ---- caches; events only map to keys ----
  let queue: WorkQueue | undefined;
  // Nothing runs before every cache has listed (a half-filled cache would look like missing children,
  // to be applied again); then every SessionRecording is queued once.
  let synced = false;
  const enqueue = (key: string) => {
    if (synced) queue?.add(key);
  };
  const ns = opts.namespace;
  const reflector = (resource: Resource, onChange: (obj: KubeObject) => void, extra: { labelSelector?: string; transform?: (o: KubeObject) => KubeObject } = {}) =>
    new Reflector({
      client,
      resource,
      namespace: ns,
      clock,
      random,
      log,
      onChange,
      staleAfterMs: opts.staleWatchMs,
      onRestart: (reason) => watchRestarts.inc({ kind: resource.kind, reason }),
      ...extra,
    });

  const toOwner = (obj: KubeObject) => {
    const instance = obj.metadata.labels?.['app.kubernetes.io/instance'];
    const namespace = obj.metadata.namespace ?? obj.metadata.labels?.[OWNER_NAMESPACE_LABEL];
    if (instance && namespace) enqueue(`${namespace}/${instance}`);
  };
  const sessionRecordingsIn = (namespace: string | undefined) =>
    caches.sessionRecordings.list().filter((o) => o.metadata.namespace === namespace) as unknown as SessionRecording[];
  const toReferencingSecret = (obj: KubeObject) => {
    for (const cr of sessionRecordingsIn(obj.metadata.namespace)) {
      const names = [cr.spec.recorder.usersSecret, childNames(cr).hostKey, ...cr.spec.recorder.hosts.map((h) => h.credentialsSecret), ...syslogSecretNames(cr), ...consoleSecretNames(cr)];
      if (names.includes(obj.metadata.name)) enqueue(objectKey(cr));
    }
  };
  const toClaimUser = (obj: KubeObject) => {
    for (const cr of sessionRecordingsIn(obj.metadata.namespace)) if (claimName(cr) === obj.metadata.name) enqueue(objectKey(cr));
  };

  const caches: Caches = {
    sessionRecordings: reflector(RESOURCES.sessionRecording, (o) => enqueue(objectKey(o)), { transform: withoutManagedFields }),
    configMaps: reflector(RESOURCES.configMap, toOwner, { labelSelector: MANAGED_BY_SELECTOR, transform: slimObject }),
    deployments: reflector(RESOURCES.deployment, toOwner, { labelSelector: MANAGED_BY_SELECTOR, transform: slimObject }),
    services: reflector(RESOURCES.service, toOwner, { labelSelector: MANAGED_BY_SELECTOR, transform: slimObject }),
    secrets: reflector(RESOURCES.secret, toReferencingSecret, { transform: stripSecret }),
    // Every claim: an existingClaim is not ours to label.
    pvcs: reflector(RESOURCES.pvc, toClaimUser, { transform: slimObject }),
    pvs: reflector(RESOURCES.pv, toOwner, { labelSelector: MANAGED_BY_SELECTOR, transform: slimObject }),
    pdbs: reflector(RESOURCES.pdb, toOwner, { labelSelector: MANAGED_BY_SELECTOR, transform: slimObject }),
    networkPolicies: reflector(RESOURCES.networkPolicy, toOwner, { labelSelector: MANAGED_BY_SELECTOR, transform: slimObject }),
    serviceAccounts: reflector(RESOURCES.serviceAccount, toOwner, { labelSelector: MANAGED_BY_SELECTOR, transform: slimObject }),
    clusterRoleBindings: reflector(RESOURCES.clusterRoleBinding, toOwner, { labelSelector: MANAGED_BY_SELECTOR, transform: slimObject }),
  };
  const all = Object.values(caches) as Reflector[];

  const events = new EventRecorder(client, clock, log);
  const controller = new Controller({
    client,
    caches,
    images,
    clock,
    log,
    events,
    generateHostKey: opts.generateHostKey ?? generateEd25519HostKey,
    ...(opts.render ? { render: opts.render } : {}),
    notReadyRequeueMs: opts.notReadyRequeueMs,
    resyncMs: opts.resyncMs,
    metrics: {
      applied: (kind) => applies.inc({ kind }),
      deleted: (kind) => deletes.inc({ kind }),
      statusPatched: () => statusPatches.inc(),
    },
  });

  queue = new WorkQueue(
    async (key) => {
      const t0 = clock.now();
      try {
        const r = await controller.reconcile(key);
        reconciles.inc({ result: r.requeueAfter !== undefined ? 'requeue' : 'ok' });
        return r;
      } catch (err) {
        reconciles.inc({ result: 'error' });
        throw err;
      } finally {
        duration.observe((clock.now() - t0) / 1000);
      }
    },
    {
      clock,
      random,
      workers: opts.workers ?? 4,
      onDepth: (d) => depth.set(d),
      onError: (key, err, attempt, retryInMs) => {
        errors.inc();
        log.error('reconcile failed', { key, error: errorMessage(err), attempt, retryInMs });
        const cr = caches.sessionRecordings.get(...(key.split('/') as [string, string])) as unknown as SessionRecording | undefined;
        if (cr) void events.record(key, cr, 'Warning', 'ReconcileError', errorMessage(err));
      },
    },
  );

  // ---- start: caches and workers, now or once leader ----
  let running = false;
  let syncedResolve!: () => void;
  const syncedPromise = new Promise<void>((r) => (syncedResolve = r));
  let resyncTimer: Timer | undefined;
  const resync = () => {
    for (const o of caches.sessionRecordings.list()) enqueue(objectKey(o));
    resyncTimer = clock.after(opts.resyncMs ?? 600_000, resync);
  };
  const startWork = () => {
    running = true;
    leader.set(1);
    for (const r of all) r.start();
    resyncTimer = clock.after(opts.resyncMs ?? 600_000, resync);
    void Promise.all(all.map((r) => r.waitForSync())).then(() => {
      synced = true;
      for (const o of caches.sessionRecordings.list()) enqueue(objectKey(o));
      log.info('caches synced', { kinds: all.map((r) => r.kind), namespace: ns ?? '(all)' });
      syncedResolve();
    });
  };

  let doneResolve!: (why: 'stopped' | 'lost') => void;
  const done = new Promise<'stopped' | 'lost'>((r) => (doneResolve = r));
  let stopping: Promise<void> | undefined;

  const probes = await startProbeServer({
    listen: opts.probes ?? '0.0.0.0:8080',
    registry,
    // A standby (not leader) is ready: it is doing its job, waiting.
    ready: () => (!running || synced ? { ok: true } : { ok: false, reason: 'caches not synced' }),
  });

  const identity = opts.identity ?? `${process.env.POD_NAME ?? hostname()}_${randomUUID().slice(0, 8)}`;
  const elector = opts.leaderElect
    ? new LeaderElector({
        client,
        namespace: opts.leaseNamespace ?? process.env.POD_NAMESPACE ?? ns ?? 'default',
        name: opts.leaseName,
        identity,
        clock,
        log,
        leaseDurationMs: opts.lease?.durationMs,
        renewDeadlineMs: opts.lease?.renewDeadlineMs,
        retryPeriodMs: opts.lease?.retryPeriodMs,
      })
    : undefined;

  const stop = (why: 'stopped' | 'lost' = 'stopped'): Promise<void> => {
    stopping ??= (async () => {
      log.info('stopping', { why });
      resyncTimer?.cancel();
      await queue?.shutdown();
      await Promise.all(all.map((r) => r.stop()));
      if (why === 'stopped') await elector?.stop();
      client.close();
      await probes.close();
      leader.set(0);
      doneResolve(why);
    })();
    return stopping;
  };

  if (elector) {
    log.info('waiting for leadership', { identity });
    elector.run(startWork, () => void stop('lost'));
  } else {
    startWork();
  }

  return {
    probePort: probes.port,
    metrics: registry,
    synced: () => syncedPromise,
    isLeader: () => running && !stopping,
    stop: () => stop('stopped'),
    done,
  };
}
