// computeStatus(cr, observed): the SessionRecording's status rebuilt from what the operator saw of the
// world this run (claim, Secrets, Deployments, apply errors). Pure; the clock is passed in.
import type { Condition, SessionRecording, SessionRecordingStatus } from '../api/types.js';
import { storageKind } from '../api/types.js';
import { canonicalJson } from '../../../common/canonical-json.js';
import { childNames, claimName, namespaceOf } from './meta.js';
import { check, type Check, firstVerdict, isFalse, isTrue, toCondition, type Verdict } from './conditions.js';
import { consoleSpec } from './console.js';
import { sensitiveRouting } from './syslog.js';

export interface ClaimObservation {
  readonly phase?: string;
  /** status.accessModes once bound, else spec.accessModes. */
  readonly accessModes: readonly string[];
}

export interface DeploymentObservation {
  readonly generation?: number;
  readonly observedGeneration?: number;
  readonly replicas: number;
  readonly updatedReplicas?: number;
  readonly readyReplicas?: number;
  readonly availableReplicas?: number;
}

export interface Observed {
  /** The claim the recorders mount; `undefined` when it does not exist. */
  readonly claim?: ClaimObservation;
  /** Keys of every Secret the CR names; a name missing from the map means the Secret does not exist. */
  readonly secrets: ReadonlyMap<string, readonly string[]>;
  readonly recorder?: DeploymentObservation;
  /** `undefined` when absent (or not wanted: syslog disabled). */
  readonly syslog?: DeploymentObservation;
  /** `undefined` when absent (or not wanted: spec.console.enabled false). */
  readonly console?: DeploymentObservation;
  /** Applying the desired objects failed: what the API server said. */
  readonly applyError?: string;
}

interface Input {
  readonly cr: SessionRecording;
  readonly observed: Observed;
}

// ---- StorageReady -------------------------------------------------------------------------------------

const claimExists = check<Input>('claimExists', ({ cr, observed }) => {
  if (observed.claim) return undefined;
  const name = claimName(cr);
  const ns = namespaceOf(cr);
  return storageKind(cr.spec.storage) === 'existingClaim'
    ? isFalse('ClaimNotFound', `PersistentVolumeClaim ${name} (spec.storage.existingClaim) does not exist in namespace ${ns}: create it, ReadWriteMany, or name another claim`)
    : isFalse('ClaimNotCreated', `PersistentVolumeClaim ${name} is not created yet; the operator creates it on the next reconcile`);
});

const claimReadWriteMany = check<Input>('claimReadWriteMany', ({ cr, observed }) => {
  const modes = observed.claim?.accessModes ?? [];
  if (cr.spec.recorder.replicas <= 1 || modes.includes('ReadWriteMany')) return undefined;
  return isFalse(
    'ClaimNotReadWriteMany',
    `PersistentVolumeClaim ${claimName(cr)} has access modes [${modes.join(', ')}] but ${cr.spec.recorder.replicas} recorder replicas must all mount it: use a ReadWriteMany claim or set spec.recorder.replicas to 1`,
  );
});

const claimBound = check<Input>('claimBound', ({ cr, observed }) => {
  const phase = observed.claim?.phase ?? 'Pending';
  if (phase === 'Bound') return undefined;
  const name = claimName(cr);
  if (phase === 'Lost') return isFalse('ClaimLost', `PersistentVolumeClaim ${name} lost its PersistentVolume: check that the volume still exists`);
  const hint =
    storageKind(cr.spec.storage) === 'existingClaim'
      ? 'check its events (kubectl describe pvc)'
      : cr.spec.storage.efs?.storageClassName
        ? `check StorageClass ${cr.spec.storage.efs.storageClassName} and the EFS CSI driver`
        : `check PersistentVolume ${childNames(cr).pv} (kubectl describe pv)`;
  return isFalse('ClaimPending', `PersistentVolumeClaim ${name} is ${phase}: ${hint}`);
});

export const STORAGE_CHECKS: readonly Check<Input>[] = [claimExists, claimReadWriteMany, claimBound];

// ---- RecorderReady ------------------------------------------------------------------------------------

function secretCheck(cr: SessionRecording, secrets: Observed['secrets'], name: string, field: string, needs: readonly (readonly string[])[]): Verdict | undefined {
  const keys = secrets.get(name);
  const ns = namespaceOf(cr);
  if (keys === undefined) return isFalse('SecretNotFound', `Secret ${name} (${field}) does not exist in namespace ${ns}: create it`);
  for (const alternatives of needs) {
    if (!alternatives.some((k) => keys.includes(k))) {
      return isFalse('SecretKeyMissing', `Secret ${name} (${field}) has no key ${alternatives.join(' or ')}: add it`);
    }
  }
  return undefined;
}

const usersSecretPresent = check<Input>('usersSecretPresent', ({ cr, observed }) =>
  secretCheck(cr, observed.secrets, cr.spec.recorder.usersSecret, 'spec.recorder.usersSecret', [['users.yaml']]),
);

const credentialsSecretsPresent = check<Input>('credentialsSecretsPresent', ({ cr, observed }) => {
  for (const [i, h] of cr.spec.recorder.hosts.entries()) {
    const v = secretCheck(cr, observed.secrets, h.credentialsSecret, `spec.recorder.hosts[${i}].credentialsSecret`, [['username'], ['privateKey', 'password']]);
    if (v) return v;
  }
  return undefined;
});

function deploymentChecks(component: 'recorder' | 'syslog' | 'console', pick: (o: Observed) => DeploymentObservation | undefined): Check<Input>[] {
  return [
    check<Input>(`${component}DeploymentExists`, ({ cr, observed }) =>
      pick(observed) ? undefined : isFalse('DeploymentNotFound', `Deployment ${childNames(cr)[component]} is not created yet`),
    ),
    check<Input>(`${component}RolledOut`, ({ cr, observed }) => {
      const d = pick(observed);
      if (!d) return undefined;
      const updated = d.updatedReplicas ?? 0;
      if ((d.observedGeneration ?? 0) >= (d.generation ?? 0) && updated >= d.replicas) return undefined;
      return isFalse('RollingOut', `Deployment ${childNames(cr)[component]}: ${updated} of ${d.replicas} pods run the current configuration`);
    }),
    check<Input>(`${component}ReplicasReady`, ({ cr, observed }) => {
      const d = pick(observed);
      if (!d || (d.readyReplicas ?? 0) >= d.replicas) return undefined;
      return isFalse(
        'ReplicasNotReady',
        `Deployment ${childNames(cr)[component]}: ${d.readyReplicas ?? 0} of ${d.replicas} pods ready; see kubectl describe pods -l app.kubernetes.io/instance=${cr.metadata.name},app.kubernetes.io/component=${component}`,
      );
    }),
  ];
}

export const RECORDER_CHECKS: readonly Check<Input>[] = [usersSecretPresent, credentialsSecretsPresent, ...deploymentChecks('recorder', (o) => o.recorder)];

// ---- SyslogReady --------------------------------------------------------------------------------------

const syslogEnabled = check<Input>('syslogEnabled', ({ cr }) =>
  cr.spec.syslog.enabled ? undefined : isTrue('Disabled', 'spec.syslog.enabled is false: audit events go to the recorder log and SSH events are not sent'),
);

const syslogTlsSecretPresent = check<Input>('syslogTlsSecretPresent', ({ cr, observed }) => {
  const tls = cr.spec.syslog.tls;
  if (!tls) return undefined;
  const field = 'spec.syslog.tls.secretName';
  const missing = secretCheck(cr, observed.secrets, tls.secretName, field, [['ca.crt']]);
  if (missing) return missing;
  // A client certificate is optional, but half of one is a mistake: rsyslog would present nothing.
  const keys = observed.secrets.get(tls.secretName) ?? [];
  const [has, lacks] = keys.includes('tls.crt') ? ['tls.crt', 'tls.key'] : ['tls.key', 'tls.crt'];
  if (keys.includes(has) && !keys.includes(lacks)) {
    return isFalse('SecretKeyMissing', `Secret ${tls.secretName} (${field}) has ${has} but no ${lacks}: add it, or remove ${has} if the SIEM does not authenticate senders`);
  }
  return undefined;
});

export const SYSLOG_CHECKS: readonly Check<Input>[] = [syslogEnabled, syslogTlsSecretPresent, ...deploymentChecks('syslog', (o) => o.syslog)];

// ---- ConsoleReady -------------------------------------------------------------------------------------

const consoleEnabled = check<Input>('consoleEnabled', ({ cr }) => (consoleSpec(cr).enabled ? undefined : isTrue('Disabled', 'spec.console.enabled is false: no console runs')));

const consoleOidcSecretPresent = check<Input>('consoleOidcSecretPresent', ({ cr, observed }) => {
  const oidc = consoleSpec(cr).oidc;
  return oidc === undefined ? undefined : secretCheck(cr, observed.secrets, oidc.clientSecretName, 'spec.console.oidc.clientSecretName', [['client-secret']]);
});

export const CONSOLE_CHECKS: readonly Check<Input>[] = [consoleEnabled, consoleOidcSecretPresent, ...deploymentChecks('console', (o) => o.console)];

// ---- Ready ----------------------------------------------------------------------------------------------

export interface ComputeOptions {
  readonly now: Date;
}

export function computeStatus(cr: SessionRecording, observed: Observed, opts: ComputeOptions): SessionRecordingStatus {
  const input: Input = { cr, observed };
  const generation = cr.metadata.generation;
  const previous = cr.status?.conditions;

  const storage = firstVerdict(STORAGE_CHECKS, input, ({ cr: c }) => isTrue('ClaimBound', `PersistentVolumeClaim ${claimName(c)} is Bound`));
  const recorder = firstVerdict(RECORDER_CHECKS, input, ({ observed: o }) =>
    isTrue('ReplicasReady', `${o.recorder?.readyReplicas ?? 0} of ${o.recorder?.replicas ?? 0} recorder pods ready`),
  );
  const syslog = firstVerdict(SYSLOG_CHECKS, input, () => isTrue('ReplicasReady', 'rsyslog is ready on port 5514'));
  const console = firstVerdict(CONSOLE_CHECKS, input, ({ observed: o }) => isTrue('ReplicasReady', `${o.console?.readyReplicas ?? 0} of ${o.console?.replicas ?? 0} console pods ready`));

  let ready: Verdict;
  if (observed.applyError !== undefined) {
    ready = isFalse('ApplyFailed', `applying the recorder and syslog objects failed: ${observed.applyError}`);
  } else {
    const failing = [storage, recorder, syslog, console].find((v) => v.status !== 'True');
    ready = failing ?? isTrue('Ready', 'recording service ready');
  }

  const conditions: Condition[] = [
    toCondition('Ready', ready, generation, previous, opts.now),
    toCondition('StorageReady', storage, generation, previous, opts.now),
    toCondition('RecorderReady', recorder, generation, previous, opts.now),
    toCondition('SyslogReady', syslog, generation, previous, opts.now),
    toCondition('ConsoleReady', console, generation, previous, opts.now),
  ];
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
    storage: { claimName: claimName(cr), phase: observed.claim?.phase ?? 'Missing' },
    syslog: sensitiveRouting(cr),
  };
}

/** Whether a status patch would change anything. */
export function statusEqual(a: SessionRecordingStatus | undefined, b: SessionRecordingStatus | undefined): boolean {
  return canonicalJson(a ?? {}) === canonicalJson(b ?? {});
}

/** The first condition that is not True, for Events and requeue decisions. */
export function firstProblem(status: SessionRecordingStatus): Condition | undefined {
  return status.conditions?.find((c) => c.type !== 'Ready' && c.status !== 'True') ?? status.conditions?.find((c) => c.status !== 'True');
}

/**
 * Reasons a new or changed SessionRecording passes through on its way to Ready: the objects are being
 * created, the claim bound, the pods started. They are in the status at once; they are worth a Warning
 * Event only once they last (a claim that never binds, pods that never start).
 */
export const PROGRESS_REASONS: ReadonlySet<string> = new Set(['ClaimNotCreated', 'ClaimPending', 'DeploymentNotFound', 'RollingOut', 'ReplicasNotReady']);

/**
 * The problem a Warning Event should report, if any: the first condition that is not True, unless it
 * is progress (PROGRESS_REASONS) and Ready turned False less than `graceMs` ago.
 */
export function warningFor(status: SessionRecordingStatus, now: Date, graceMs: number): Condition | undefined {
  const problem = firstProblem(status);
  if (!problem || !PROGRESS_REASONS.has(problem.reason)) return problem;
  const since = Date.parse(status.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime ?? '');
  return Number.isNaN(since) || now.getTime() - since >= graceMs ? problem : undefined;
}
