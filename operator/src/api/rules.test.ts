import { loadCrd } from './schema.js';
import { checkRules, isForwardTarget, MESSAGES, RULES } from './rules.js';
import { parseAndValidate } from './load.js';
import type { SessionRecording } from './types.js';

/** Every x-kubernetes-validations entry in a schema tree, with the path of the schema node. */
function celRules(node: unknown, path: string, out: Array<{ path: string; message: string; fieldPath?: string }>): typeof out {
  if (typeof node !== 'object' || node === null) return out;
  const n = node as Record<string, unknown>;
  for (const r of (n['x-kubernetes-validations'] as Array<{ message: string; fieldPath?: string }> | undefined) ?? []) {
    out.push({ path: path + (r.fieldPath ?? ''), message: r.message });
  }
  for (const [k, v] of Object.entries((n.properties as Record<string, unknown>) ?? {})) celRules(v, path ? `${path}.${k}` : k, out);
  if (n.items) celRules(n.items, `${path}[]`, out);
  return out;
}

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

describe('CEL rules mirrored in TypeScript', () => {
  it('mirrors every CRD rule with the same message and field path', () => {
    // GIVEN the CEL rules of the CRD file
    const versions = (loadCrd().spec.versions[0]?.schema.openAPIV3Schema) ?? {};
    const cel = celRules(versions, '', []);
    // THEN each has a TypeScript rule with the same message at the same path
    expect(cel.length).toBeGreaterThanOrEqual(10);
    for (const c of cel) {
      expect(RULES.filter((r) => r.message === c.message).map((r) => r.path)).toContain(c.path);
    }
    // AND no TypeScript rule claims a CEL message the CRD does not have
    for (const r of RULES) if (r.message !== undefined) expect(cel.map((c) => c.message)).toContain(r.message);
  });

  it.each([
    ['@logs:514', true],
    ['@@10.0.0.1:6514', true],
    ['@@[fd00::1]:6514', true],
    ['@host:0', false],
    ['@host:65536', false],
    ['@@host', false],
    ['@@host:514/x', false],
    ['@@-host:514', false],
    ['host:514', false],
  ])('isForwardTarget(%s) is %s', (to, ok) => {
    expect(isForwardTarget(to)).toBe(ok);
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
    expect(r.ok ? [] : r.errors).toEqual(ok ? [] : [{ path: 'spec.syslog.tls', message: MESSAGES.tlsNeedsTcp }]);
    if (r.ok) expect(r.cr.spec.syslog.tls).toEqual({ secretName: 'siem-tls', authMode: 'x509/name' });
    expect(MESSAGES.tlsNeedsTcp).toContain('UDP cannot carry TLS');
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
