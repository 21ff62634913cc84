// `npm start` as a newcomer runs it, minus the wait for Ctrl-C: against the test run's control plane,
// in its own namespace and state folder, it must record a session that `srec search` then finds.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, kubeconfigPath } from './support/cluster.js';

describe('npm start (quickstart)', () => {
  const state = mkdtempSync(path.join(os.tmpdir(), 'srec-quickstart-'));
  afterAll(() => rmSync(state, { recursive: true, force: true }));

  it('brings up operator, recorder and rsyslogd from the rendered ConfigMaps and records a searchable session', async () => {
    // GIVEN the running control plane and a fresh state folder
    const env = {
      ...process.env,
      SREC_QUICKSTART_ONESHOT: '1',
      SREC_QUICKSTART_DIR: state,
      SREC_QUICKSTART_NAMESPACE: `qs-${Date.now().toString(36)}`,
      SREC_KUBECONFIG: kubeconfigPath(),
    };
    // WHEN the quickstart runs (compiled by npm test's build step)
    const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const p = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'scripts', 'quickstart.js')], { env, cwd: REPO_ROOT });
      let text = '';
      p.stdout.on('data', (c: Buffer) => (text += c.toString()));
      p.stderr.on('data', (c: Buffer) => (text += c.toString()));
      p.on('exit', (code) => resolve({ code, text }));
    });
    // THEN it reached Ready, recorded the demo session, found it, and printed how to connect
    expect(out.text).toContain('Ready=True');
    expect(out.text).toMatch(/"stream":"output".*"line":"quickstart-demo 42"/);
    expect(out.text).toMatch(/ssh -F \/dev\/null .* -p \d+ \S+@db-1@127\.0\.0\.1/);
    expect(out.text).toContain('the typed marker among them');
    expect(out.text).toMatch(/The console: +http:\/\/127\.0\.0\.1:\d+\/login\?token=[0-9a-f]{48}\n/);
    expect(out.code).toBe(0);
  }, 240_000);
});
