import type { Condition, SessionRecording } from '../api/types.js';
import { example, withSpec } from '../../test/cr.js';
import { computeStatus, firstProblem, type Observed, statusEqual, warningFor } from './status.js';

const NOW = new Date('2025-01-02T03:04:05.678Z');
const LATER = new Date('2025-01-02T04:00:00Z');

const healthy = (replicas = 2): Observed => ({
  claim: { phase: 'Bound', accessModes: ['ReadWriteMany'] },
  secrets: new Map([
    ['recorder-users', ['users.yaml']],
    ['db-1-login', ['username', 'privateKey']],
  ]),
  recorder: { generation: 1, observedGeneration: 1, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas },
  syslog: { generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
});

const cond = (conds: readonly Condition[] | undefined, type: string) => conds?.find((c) => c.type === type);
const nfs = () => example('nfs', { uid: 'u', generation: 3 });

describe('computeStatus', () => {
  it('GIVEN everything ready THEN Ready=True with observedGeneration and routing', () => {
    const s = computeStatus(nfs(), healthy(), { now: NOW });
    expect(s.observedGeneration).toBe(3);
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'Ready'],
      ['StorageReady', 'True', 'ClaimBound'],
      ['RecorderReady', 'True', 'ReplicasReady'],
      ['SyslogReady', 'True', 'ReplicasReady'],
      ['ConsoleReady', 'True', 'Disabled'],
    ]);
    for (const c of s.conditions ?? []) {
      expect(c.observedGeneration).toBe(3);
      expect(c.lastTransitionTime).toBe('2025-01-02T03:04:05Z');
    }
    expect(s.storage).toEqual({ claimName: 'prod-share', phase: 'Bound' });
    expect(s.syslog).toEqual({ sensitive: 'discard', target: '/dev/null' });
  });

  it('GIVEN the users Secret is missing THEN RecorderReady=False SecretNotFound naming the Secret and field', () => {
    const o = { ...healthy(), secrets: new Map([['db-1-login', ['username', 'privateKey']]]) };
    const s = computeStatus(nfs(), o, { now: NOW });
    const r = cond(s.conditions, 'RecorderReady');
    expect(r).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    expect(r?.message).toBe('Secret recorder-users (spec.recorder.usersSecret) does not exist in namespace privx: create it');
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
  });

  it('GIVEN a credentials Secret without a key or password THEN SecretKeyMissing names the host field', () => {
    const o = { ...healthy(), secrets: new Map([['recorder-users', ['users.yaml']], ['db-1-login', ['username']]]) };
    const r = cond(computeStatus(nfs(), o, { now: NOW }).conditions, 'RecorderReady');
    expect(r).toMatchObject({ status: 'False', reason: 'SecretKeyMissing' });
    expect(r?.message).toContain('spec.recorder.hosts[0].credentialsSecret');
    expect(r?.message).toContain('privateKey or password');
  });

  it('GIVEN an existing ReadWriteOnce claim and 2 replicas THEN StorageReady=False ClaimNotReadWriteMany', () => {
    const o = { ...healthy(), claim: { phase: 'Bound', accessModes: ['ReadWriteOnce'] } };
    const s = computeStatus(example('existing-claim'), o, { now: NOW });
    const st = cond(s.conditions, 'StorageReady');
    expect(st).toMatchObject({ status: 'False', reason: 'ClaimNotReadWriteMany' });
    expect(st?.message).toContain('use a ReadWriteMany claim or set spec.recorder.replicas to 1');
    expect(cond(s.conditions, 'Ready')?.reason).toBe('ClaimNotReadWriteMany');
  });

  it('GIVEN one replica THEN a ReadWriteOnce claim is fine', () => {
    const cr = withSpec(example('existing-claim'), (s) => {
      s.recorder.replicas = 1;
    });
    const o = { ...healthy(1), claim: { phase: 'Bound', accessModes: ['ReadWriteOnce'] } };
    expect(cond(computeStatus(cr, o, { now: NOW }).conditions, 'StorageReady')?.status).toBe('True');
  });

  it('GIVEN the existing claim is missing THEN ClaimNotFound; GIVEN ours is Pending THEN ClaimPending naming the PV', () => {
    expect(cond(computeStatus(example('existing-claim'), { ...healthy(), claim: undefined }, { now: NOW }).conditions, 'StorageReady')?.reason).toBe('ClaimNotFound');
    const pending = cond(computeStatus(nfs(), { ...healthy(), claim: { phase: 'Pending', accessModes: ['ReadWriteMany'] } }, { now: NOW }).conditions, 'StorageReady');
    expect(pending).toMatchObject({ status: 'False', reason: 'ClaimPending' });
    expect(pending?.message).toContain('PersistentVolume srec-privx-prod');
  });

  it('GIVEN a rollout in progress THEN RecorderReady=False RollingOut; GIVEN pods not ready THEN ReplicasNotReady', () => {
    const rolling = { ...healthy(), recorder: { generation: 2, observedGeneration: 2, replicas: 2, updatedReplicas: 1, readyReplicas: 2 } };
    expect(cond(computeStatus(nfs(), rolling, { now: NOW }).conditions, 'RecorderReady')?.reason).toBe('RollingOut');
    const notReady = { ...healthy(), syslog: { generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 0 } };
    const s = cond(computeStatus(nfs(), notReady, { now: NOW }).conditions, 'SyslogReady');
    expect(s).toMatchObject({ status: 'False', reason: 'ReplicasNotReady' });
    expect(s?.message).toContain('0 of 1 pods ready');
  });

  it('GIVEN syslog disabled THEN SyslogReady=True Disabled without a Deployment', () => {
    const cr = withSpec(nfs(), (s) => {
      s.syslog.enabled = false;
    });
    const s = computeStatus(cr, { ...healthy(), syslog: undefined }, { now: NOW });
    expect(cond(s.conditions, 'SyslogReady')).toMatchObject({ status: 'True', reason: 'Disabled' });
    expect(cond(s.conditions, 'Ready')?.status).toBe('True');
  });

  it('GIVEN spec.syslog.tls THEN SyslogReady names a missing Secret, a missing ca.crt, or half a client certificate', () => {
    const cr = withSpec(nfs(), (s) => {
      s.syslog.audit.sensitive.to = '@@siem.internal:6514';
      s.syslog.tls = { secretName: 'siem-tls', authMode: 'x509/name' };
    });
    const withTls = (keys?: string[]) => {
      const secrets = new Map(healthy().secrets);
      if (keys) secrets.set('siem-tls', keys);
      return cond(computeStatus(cr, { ...healthy(), secrets }, { now: NOW }).conditions, 'SyslogReady');
    };
    // GIVEN no Secret THEN SecretNotFound naming it and the field
    expect(withTls()).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    expect(withTls()?.message).toBe('Secret siem-tls (spec.syslog.tls.secretName) does not exist in namespace privx: create it');
    // GIVEN no ca.crt THEN SecretKeyMissing
    expect(withTls(['tls.crt', 'tls.key'])).toMatchObject({ status: 'False', reason: 'SecretKeyMissing', message: 'Secret siem-tls (spec.syslog.tls.secretName) has no key ca.crt: add it' });
    // GIVEN tls.crt without tls.key THEN SecretKeyMissing that says what to do
    expect(withTls(['ca.crt', 'tls.crt'])?.message).toBe(
      'Secret siem-tls (spec.syslog.tls.secretName) has tls.crt but no tls.key: add it, or remove tls.crt if the SIEM does not authenticate senders',
    );
    // GIVEN ca.crt alone, or with a whole client certificate THEN ready
    expect(withTls(['ca.crt'])).toMatchObject({ status: 'True', reason: 'ReplicasReady' });
    expect(withTls(['ca.crt', 'tls.crt', 'tls.key'])).toMatchObject({ status: 'True', reason: 'ReplicasReady' });
  });

  it('GIVEN the console enabled THEN ConsoleReady follows its Deployment and its OIDC Secret, and Ready waits for it', () => {
    const on = withSpec(nfs(), (s) => (s.console = { enabled: true, replicas: 2, port: 8080, resources: { cpuRequest: '100m', memoryRequest: '128Mi', memoryLimit: '512Mi' } }));
    // no Deployment yet
    let s = computeStatus(on, healthy(), { now: NOW });
    expect(cond(s.conditions, 'ConsoleReady')).toMatchObject({ status: 'False', reason: 'DeploymentNotFound', message: 'Deployment prod-console is not created yet' });
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'DeploymentNotFound' });
    // pods starting
    const starting = { ...healthy(), console: { generation: 1, observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1 } };
    s = computeStatus(on, starting, { now: NOW });
    expect(cond(s.conditions, 'ConsoleReady')).toMatchObject({ status: 'False', reason: 'ReplicasNotReady', message: expect.stringContaining('Deployment prod-console: 1 of 2 pods ready') });
    // up
    const up = { ...healthy(), console: { ...starting.console, readyReplicas: 2, availableReplicas: 2 } };
    s = computeStatus(on, up, { now: NOW });
    expect(cond(s.conditions, 'ConsoleReady')).toMatchObject({ status: 'True', reason: 'ReplicasReady', message: '2 of 2 console pods ready' });
    expect(cond(s.conditions, 'Ready')?.status).toBe('True');
    // single sign-on whose Secret is missing, then has no client-secret key
    const sso = withSpec(on, (x) => (x.console.oidc = { issuerURL: 'https://login.example.com', clientID: 'c', clientSecretName: 'console-oidc', redirectURL: 'https://console.example.com/oidc/callback' }));
    s = computeStatus(sso, up, { now: NOW });
    expect(cond(s.conditions, 'ConsoleReady')).toMatchObject({ status: 'False', reason: 'SecretNotFound', message: 'Secret console-oidc (spec.console.oidc.clientSecretName) does not exist in namespace privx: create it' });
    s = computeStatus(sso, { ...up, secrets: new Map([...up.secrets, ['console-oidc', ['secret']]]) }, { now: NOW });
    expect(cond(s.conditions, 'ConsoleReady')).toMatchObject({ status: 'False', reason: 'SecretKeyMissing', message: 'Secret console-oidc (spec.console.oidc.clientSecretName) has no key client-secret: add it' });
  });

  it('GIVEN an apply error THEN Ready=False ApplyFailed with the API server message', () => {
    const s = computeStatus(nfs(), { ...healthy(), applyError: 'PersistentVolume srec-privx-prod: spec is immutable' }, { now: NOW });
    expect(cond(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'ApplyFailed' });
    expect(cond(s.conditions, 'Ready')?.message).toContain('spec is immutable');
  });

  it('keeps lastTransitionTime unless the status flips', () => {
    // GIVEN a status computed at NOW
    const first = computeStatus(nfs(), healthy(), { now: NOW });
    const cr: SessionRecording = { ...nfs(), status: first };
    // WHEN recomputed later with the same world THEN nothing changes at all
    const same = computeStatus(cr, healthy(), { now: LATER });
    expect(statusEqual(same, first)).toBe(true);
    // WHEN the syslog pod stops being ready THEN SyslogReady and Ready get the new time, the others keep theirs
    const flipped = computeStatus(cr, { ...healthy(), syslog: { replicas: 1, readyReplicas: 0, updatedReplicas: 1 } }, { now: LATER });
    expect(cond(flipped.conditions, 'SyslogReady')?.lastTransitionTime).toBe('2025-01-02T04:00:00Z');
    expect(cond(flipped.conditions, 'Ready')?.lastTransitionTime).toBe('2025-01-02T04:00:00Z');
    expect(cond(flipped.conditions, 'StorageReady')?.lastTransitionTime).toBe('2025-01-02T03:04:05Z');
    expect(firstProblem(flipped)?.type).toBe('SyslogReady');
  });
});

describe('warningFor', () => {
  const GRACE = 60_000;
  const at = (ms: number) => new Date(NOW.getTime() + ms);

  it('GIVEN a new SessionRecording whose pods are starting THEN no Warning until the grace period has passed', () => {
    // GIVEN Ready=False since NOW because the recorder pods are not ready yet
    const s = computeStatus(nfs(), { ...healthy(), recorder: { generation: 1, observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 0 } }, { now: NOW });
    expect(firstProblem(s)?.reason).toBe('ReplicasNotReady');
    // WHEN asked within the grace period THEN nothing to report
    expect(warningFor(s, at(GRACE - 1000), GRACE)).toBeUndefined();
    // WHEN the pods are still not ready after it THEN the problem is reported
    expect(warningFor(s, at(GRACE + 1000), GRACE)).toMatchObject({ type: 'RecorderReady', reason: 'ReplicasNotReady' });
  });

  it('GIVEN a problem a person must fix THEN a Warning at once', () => {
    const s = computeStatus(nfs(), { ...healthy(), secrets: new Map() }, { now: NOW });
    expect(warningFor(s, NOW, GRACE)).toMatchObject({ type: 'RecorderReady', reason: 'SecretNotFound' });
  });

  it('GIVEN Ready THEN nothing to report', () => {
    expect(warningFor(computeStatus(nfs(), healthy(), { now: NOW }), at(GRACE * 10), GRACE)).toBeUndefined();
  });
});
