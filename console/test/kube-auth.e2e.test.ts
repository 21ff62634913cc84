// The console the Kubernetes way, against the real local API server: ServiceAccount tokens checked with
// TokenReview, every request with a SubjectAccessReview on sessionrecordings/recordings and /files, so
// that plain RBAC decides: 200 with the verb, 403 without it, 401 with no or a bad token.
import { execFileSync } from 'node:child_process';
import { createLogger } from '../../common/log.js';
import type { AuditSink } from '../../recorder/src/audit/emitter.js';
import { tempDataFolder, writeSession, type WrittenSession } from '../../recorder/test/support/trail-fixture.js';
import { clusterTools, freshNamespace, useCluster } from '../../e2e/support/cluster.js';
import { startConsole, type StartedConsole } from '../src/cmd.js';
import { KubeAuth } from '../src/kube-auth.js';

describe('srec console with TokenReview and SubjectAccessReview', () => {
  let c: StartedConsole;
  let data: ReturnType<typeof tempDataFolder>;
  let session: WrittenSession;
  const tokens: Record<string, string> = {};
  let ns: string;

  beforeAll(async () => {
    const { kubeconfigPath, kc } = await useCluster();
    ns = await freshNamespace(kc, 'console');
    const kubectl = (args: string[], input?: string) => execFileSync(clusterTools().kubectl, ['--kubeconfig', kubeconfigPath, ...args], { input, encoding: 'utf8' });
    // GIVEN three ServiceAccounts: one may see recordings and files, one only recordings, one nothing
    const rbac = `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: auditor, namespace: ${ns} }
rules: [{ apiGroups: [recording.privx.io], resources: [sessionrecordings/recordings], resourceNames: [prod], verbs: [get] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: file-auditor, namespace: ${ns} }
rules: [{ apiGroups: [recording.privx.io], resources: [sessionrecordings/files], resourceNames: [prod], verbs: [get] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: auditors, namespace: ${ns} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: auditor }
subjects: [{ kind: ServiceAccount, name: full, namespace: ${ns} }, { kind: ServiceAccount, name: viewer, namespace: ${ns} }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: file-auditors, namespace: ${ns} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: file-auditor }
subjects: [{ kind: ServiceAccount, name: full, namespace: ${ns} }]
`;
    for (const sa of ['full', 'viewer', 'nobody']) kubectl(['-n', ns, 'create', 'serviceaccount', sa]);
    kubectl(['apply', '-f', '-'], rbac);
    for (const sa of ['full', 'viewer', 'nobody']) tokens[sa] = kubectl(['-n', ns, 'create', 'token', sa, '--duration=20m']).trim();
    data = tempDataFolder();
    session = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events: [[0.5, 'o', 'hello\r\n']] }], files: { 'a.txt': 'kept copy\n' } });
    const sink: AuditSink = { emit: () => undefined, close: async () => undefined };
    // The console runs with the admin kubeconfig here; in a cluster its ServiceAccount has system:auth-delegator.
    const auth = await KubeAuth.create({ kubeconfig: kubeconfigPath, namespace: ns, recording: 'prod' });
    c = await startConsole({ dataFolder: data.dir, listen: '127.0.0.1:0', tokens: auth, authorizer: auth, audit: sink, log: createLogger({ component: 'console', silent: true }) });
  }, 120_000);
  afterAll(async () => {
    await c?.close();
    data?.cleanup();
  });

  const get = (p: string, token?: string) => fetch(`${c.url}${p}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

  test('a token with get on sessionrecordings/recordings lists the sessions', async () => {
    const r = await get('/api/sessions', tokens.viewer);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { items: Array<{ id: string }> }).items.map((i) => i.id)).toEqual([session.id]);
  });

  test('without the verb: 403 naming the permission; the file download needs sessionrecordings/files', async () => {
    const r = await get('/api/sessions', tokens.nobody);
    expect(r.status).toBe(403);
    expect(((await r.json()) as { error: string }).error).toBe(`system:serviceaccount:${ns}:nobody may not see recordings (needs get on sessionrecordings/recordings)`);
    const d = await get(`/api/sessions/${session.id}/files/0`, tokens.viewer);
    expect(d.status).toBe(403);
    expect(((await d.json()) as { error: string }).error).toContain('needs get on sessionrecordings/files');
    const ok = await get(`/api/sessions/${session.id}/files/0`, tokens.full);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('kept copy\n');
  });

  test('no token or one the API server does not accept: 401', async () => {
    expect((await get('/api/sessions')).status).toBe(401);
    expect((await get('/api/sessions', `${tokens.viewer}x`)).status).toBe(401);
  });

  test('a Kubernetes token logs a browser in through /login, and the cookie stays bound to RBAC', async () => {
    const r = await fetch(`${c.url}/login?token=${encodeURIComponent(tokens.nobody!)}`, { redirect: 'manual' });
    expect(r.status).toBe(303);
    const cookie = r.headers.get('set-cookie')!.split(';')[0]!;
    const page = await fetch(`${c.url}/`, { headers: { cookie } });
    expect(page.status).toBe(403);
  });
});
