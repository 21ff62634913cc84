import { join } from 'node:path';
import { BAD_DIR as BAD, badFixtures } from '../../test/bad-fixtures.js';
import { loadAndValidate, parseAndValidate } from './load.js';

/** The smallest valid SessionRecording named `name`, as YAML text that more spec lines may follow. */
const minimal = (name: string) => `
apiVersion: recording.privx.io/v1alpha1
kind: SessionRecording
metadata: { name: ${name} }
spec:
  storage: { nfs: { server: nfs, path: /x } }
  recorder: { usersSecret: users }
`;

describe('loadAndValidate', () => {
  it.each(['efs', 'nfs', 'existing-claim', 'nfs-forward'])('accepts examples/%s.yaml', (name) => {
    // GIVEN an example WHEN it is validated THEN it is valid
    const r = loadAndValidate(`examples/${name}.yaml`);
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it('applies the CRD defaults, nested ones included', () => {
    // GIVEN a minimal CR
    const r = parseAndValidate(minimal('min'));
    // WHEN loaded THEN every default the CRD declares is filled in
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.cr.metadata.namespace).toBe('default');
    expect(r.cr.spec.dataFolder).toBe('/var/privx/audit');
    expect(r.cr.spec.storage.size).toBe('100Gi');
    expect(r.cr.spec.storage.deletionPolicy).toBe('Retain');
    expect(r.cr.spec.storage.nfs?.mountOptions).toEqual(['nfsvers=4.1', 'hard', 'timeo=600', 'retrans=2', 'noresvport']);
    expect(r.cr.spec.recorder).toMatchObject({ replicas: 2, port: 2222, tempSizeLimit: '10Gi', hosts: [] });
    expect(r.cr.spec.audit.sshEvents).toEqual({ enabled: false, events: ['stdout', 'stderr', 'channel_request', 'global_request'], bulkData: 'summary' });
    expect(r.cr.spec.syslog).toEqual({ enabled: true, format: 'syslog', audit: { to: 'stdout', sensitive: { to: '/dev/null' } }, queue: { size: 10000 } });
    expect(r.cr.spec.retention).toEqual({ trailExpiryDays: 180, transferredFilesExpiryDays: 180 });
  });

  it.each(badFixtures().map((f) => [f.name, f] as const))('rejects bad fixture %s naming the field', (_name, f) => {
    // GIVEN a fixture with one mistake WHEN validated THEN the error names the expected field
    const r = loadAndValidate(f.file);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path)).toContain(f.expectedPath);
  });

  it.each([
    [99, /greater than or equal to 100$/],
    [100001, /less than or equal to 100000$/],
    ['big', /must be of type integer$/],
  ])('rejects spec.syslog.queue.size %j naming the field', (size, why) => {
    // GIVEN a queue size outside the bounds WHEN validated THEN the error names the field and the bound
    const r = parseAndValidate(`${minimal('q')}  syslog: { queue: { size: ${JSON.stringify(size)} } }\n`);
    const errors = r.ok ? [] : r.errors;
    expect(errors.map((e) => e.path)).toEqual(['spec.syslog.queue.size']);
    expect(errors[0]?.message).toMatch(why);
  });

  it('says why a sensitive file target is refused', () => {
    const r = loadAndValidate(join(BAD, 'sensitive-to-file.yaml'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors[0]?.message).toMatch(/may never be written to disk.*\/dev\/null to discard.*@host:port/);
  });

  it('reports unknown fields, YAML errors and missing files with a clear message', () => {
    const unknown = parseAndValidate(`${minimal('x')}  syslog: { audit: { sensitve: { to: /var/log/x } } }\n`);
    expect(unknown).toEqual({ ok: false, errors: [{ path: 'spec.syslog.audit.sensitve', message: 'unknown field' }] });
    const broken = parseAndValidate('a: [', 'cr.yaml');
    expect(broken.ok ? '' : broken.errors[0]?.message).toMatch(/^cr.yaml: not valid YAML/);
    const missing = loadAndValidate('/nonexistent.yaml');
    expect(missing.ok ? '' : missing.errors[0]?.message).toMatch(/cannot read \/nonexistent.yaml/);
  });

  it('rejects a wrong kind and a name too long for the derived Service names', () => {
    const r = parseAndValidate(`
apiVersion: v1
kind: ConfigMap
metadata: { name: ${'a'.repeat(55)} }
spec: { storage: { nfs: { server: nfs, path: /x } }, recorder: { usersSecret: u } }
`);
    expect(r.ok ? [] : r.errors.map((e) => e.path)).toEqual(['apiVersion', 'kind', 'metadata.name']);
  });
});
