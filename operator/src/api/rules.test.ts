import { celRules, checkRules } from './rules.js';
import { parseAndValidate } from './load.js';
import type { SessionRecording } from './types.js';

function cr(yaml: string): SessionRecording {
  const r = parseAndValidate(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.cr;
}

const BASE = `
apiVersion: recording.privx.io/v1alpha1
kind: SessionRecording
metadata: { name: x, namespace: ns }
spec:
  storage: { nfs: { server: nfs, path: /x } }
  recorder: { usersSecret: users }
`;

/** The CRD's message for the rule reported at `path` (the one whose message contains `which`, where several are). */
function messageAt(path: string, which = ''): string {
  const r = celRules().find((x) => (x.location === '' ? x.fieldPath.slice(1) : x.location + x.fieldPath) === path && x.message.includes(which));
  if (!r) throw new Error(`no CEL rule reports ${path}`);
  return r.message;
}

const withSyslog = (audit: string) => `${BASE}  syslog:\n    audit: ${audit}\n`;

describe("the CRD's CEL rules, evaluated offline", () => {
  it('compiles every rule of the CRD file, transition rules among them', () => {
    // GIVEN the CRD file WHEN its rules are compiled THEN all of them are there, none mirrored by hand
    const rules = celRules();
    expect(rules.length).toBeGreaterThanOrEqual(12);
    expect(rules.filter((r) => r.transition).map((r) => r.location).sort()).toEqual(['spec.storage', 'spec.storage.efs', 'spec.storage.existingClaim', 'spec.storage.nfs']);
  });

  it.each([
    ['@logs:514', true],
    ['@@10.0.0.1:6514', true],
    ['@@[fd00::1]:6514', true],
    ['@@siem.example.internal:6514', true],
    ['@host:0', false],
    ['@host:65536', false],
    ['@@host', false],
    ['@@host:514/x', false],
    ['@@-host:514', false],
    ['@@a..b:514', false],
    ['@@a.-b:514', false],
    ['host:514', false],
  ])('audit.to %s is accepted: %s', (to, ok) => {
    // GIVEN spec.syslog.audit.to WHEN the CR is validated THEN only stdout / @host:port / @@host:port pass
    const r = parseAndValidate(withSyslog(`{ to: '${to}' }`));
    expect(r.ok ? [] : r.errors).toEqual(ok ? [] : [{ path: 'spec.syslog.audit.to', message: messageAt('spec.syslog.audit.to', 'must be stdout') }]);
  });

  it.each([
    ['/var/../tmp'],
    ['//tmp'],
    ['/var/./audit'],
    ['/var/audit/..'],
    ['/tmp'],
    ['/etc/srec/x'],
    ['relative/path'],
  ])('refuses dataFolder %s', (dataFolder) => {
    // GIVEN a dataFolder that is, or climbs into, a folder the operator mounts (or is not absolute)
    const r = parseAndValidate(BASE.replace('spec:\n', `spec:\n  dataFolder: '${dataFolder}'\n`));
    // THEN the rule names the field
    expect(r.ok ? [] : r.errors).toEqual([{ path: 'spec.dataFolder', message: messageAt('spec.dataFolder') }]);
    expect(messageAt('spec.dataFolder')).toContain('without //, . or ..');
  });

  it.each([
    ['sensitive: { to: "@@x-syslog:5514" }', 'spec.syslog.audit.sensitive.to'],
    ['sensitive: { to: "@x-syslog.ns.svc.cluster.local:5514" }', 'spec.syslog.audit.sensitive.to'],
    ['sensitive: { to: "@@127.0.0.1:5514" }', 'spec.syslog.audit.sensitive.to'],
    ['to: "@@localhost:5514"', 'spec.syslog.audit.to'],
    ['to: "@[::1]:5514"', 'spec.syslog.audit.to'],
  ])('refuses a forward to the syslog pod itself: %s', (audit, path) => {
    // GIVEN a target that is this SessionRecording's (named x) own syslog pod WHEN validated THEN refused there
    const r = parseAndValidate(withSyslog(`{ ${audit} }`));
    expect(r.ok ? [] : r.errors).toEqual([{ path, message: messageAt(path, 'back to itself') }]);
  });

  it.each([['sensitive: { to: "@@other-syslog:5514" }'], ['sensitive: { to: "@@x-syslog:6514" }'], ['to: "@@siem:5514"']])('accepts a forward elsewhere: %s', (audit) => {
    // GIVEN another SessionRecording's syslog pod, another port, another host THEN no loop is claimed
    const r = parseAndValidate(withSyslog(`{ ${audit} }`));
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it('refuses the same event twice in the events set, naming the second, as the API server does', () => {
    const r = parseAndValidate(`${BASE}  audit: { sshEvents: { enabled: true, events: [stdout, stderr, stdout] } }\n`);
    expect(r.ok ? [] : r.errors).toEqual([{ path: 'spec.audit.sshEvents.events[2]', message: 'Duplicate value: "stdout"' }]);
  });

  it('refuses two hosts of the same name, naming the second by its key', () => {
    const host = (n: string) => `{ name: ${n}, address: 10.0.0.5, hostKeys: ["ssh-ed25519 AAAA"], credentialsSecret: c }`;
    const r = parseAndValidate(BASE.replace('recorder: { usersSecret: users }', `recorder: { usersSecret: users, hosts: [${host('a')}, ${host('b')}, ${host('a')}] }`));
    expect(r.ok ? [] : r.errors).toEqual([{ path: 'spec.recorder.hosts[2]', message: 'Duplicate value: {"name":"a"}' }]);
  });

  it('refuses an invalid metadata.namespace and never prints an undefined value', () => {
    const badNs = parseAndValidate(BASE.replace('namespace: ns', 'namespace: Not_A_Namespace'));
    expect(badNs.ok ? [] : badNs.errors.map((e) => e.path)).toEqual(['metadata.namespace']);
    const badPort = parseAndValidate(BASE.replace('recorder: { usersSecret: users }', 'recorder: { usersSecret: users, port: 99999 }'));
    expect(badPort.ok ? [] : badPort.errors).toEqual([{ path: 'spec.recorder.port', message: 'Invalid value: 99999: should be less than or equal to 65535' }]);
    const badType = parseAndValidate(BASE.replace('recorder: { usersSecret: users }', 'recorder: { usersSecret: users, replicas: two }'));
    expect(badType.ok ? [] : badType.errors).toEqual([{ path: 'spec.recorder.replicas', message: 'Invalid value: "two": must be of type integer' }]);
  });

  it.each([
    ['/dev/null', 'stdout', false],
    ['/dev/null', '@logs:514', false],
    ['@siem:514', '@@logs:6514', false],
    ['@@siem:6514', 'stdout', true],
    ['@@siem:6514', '@logs:514', true],
    ['/dev/null', '@@logs:6514', true],
  ])('tls with sensitive.to %s and audit.to %s is allowed: %s', (sensitive, audit, ok) => {
    // GIVEN spec.syslog.tls WHEN the targets are these
    const r = parseAndValidate(`${BASE}  syslog:\n    audit: { to: '${audit}', sensitive: { to: '${sensitive}' } }\n    tls: { secretName: siem-tls }\n`);
    // THEN only a TCP forward (and no UDP one for sensitive events) may carry TLS
    expect(r.ok ? [] : r.errors).toEqual(ok ? [] : [{ path: 'spec.syslog.tls', message: messageAt('spec.syslog.tls') }]);
    if (r.ok) expect(r.cr.spec.syslog.tls).toEqual({ secretName: 'siem-tls', authMode: 'x509/name' });
    expect(messageAt('spec.syslog.tls')).toContain('UDP cannot carry TLS');
  });

  it('transition rules refuse a change of the storage source', () => {
    // GIVEN an NFS SessionRecording WHEN it is changed to an existing claim or another export
    const old = cr(BASE);
    const toClaim = { ...old, spec: { ...old.spec, storage: { ...old.spec.storage, nfs: undefined, existingClaim: 'c' } } } as SessionRecording;
    const otherExport = { ...old, spec: { ...old.spec, storage: { ...old.spec.storage, nfs: { server: 'nfs', path: '/y', mountOptions: [] } } } };
    // THEN the immutable rules name the field
    expect(checkRules(toClaim, old).map((e) => e.path)).toEqual(['spec.storage']);
    expect(checkRules(otherExport, old).map((e) => e.path)).toEqual(['spec.storage.nfs']);
    // AND mountOptions may change
    const mount = { ...old, spec: { ...old.spec, storage: { ...old.spec.storage, nfs: { server: 'nfs', path: '/x', mountOptions: ['hard'] } } } };
    expect(checkRules(mount, old)).toEqual([]);
  });
});
