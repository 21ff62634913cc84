// jest globalSetup for the e2e project: one real control plane per test run.
// Runs e2e/cluster/up.sh (idempotent: a cluster of this checkout that is already up is
// reused), or with SREC_CLUSTER=external only checks the given cluster's /readyz.
// Exports SREC_KUBECONFIG to the test workers.
//
// Self-contained on purpose: jest loads global hooks with Node's own ESM loader, which
// cannot resolve a sibling './cluster.js' to cluster.ts, so only packages are imported.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Health, KubeConfig } from '@kubernetes/client-node';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function runUp(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(REPO_ROOT, 'e2e', 'cluster', 'up.sh')], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const onData = (d: Buffer): void => {
      out = (out + d.toString()).slice(-200_000);
      process.stderr.write(d); // progress: a cold build takes minutes
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) return resolve(out);
      const tail = out.trimEnd().split('\n').slice(-60).join('\n');
      reject(new Error(`cluster:up (e2e/cluster/up.sh) failed with exit ${code}:\n${tail}`));
    });
  });
}

export default async function globalSetup(): Promise<void> {
  const t0 = Date.now();
  const stateDir = process.env.SREC_CLUSTER_STATE ?? path.join(REPO_ROOT, '.cluster');
  const kubeconfig = process.env.SREC_KUBECONFIG ?? path.join(stateDir, 'kubeconfig');
  let started = false;
  if (process.env.SREC_CLUSTER === 'external') {
    if (!existsSync(kubeconfig)) throw new Error(`SREC_CLUSTER=external but no kubeconfig at ${kubeconfig} (set SREC_KUBECONFIG)`);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const ready = await new Health(kc).readyz({ timeout: 10_000 });
    if (!ready) throw new Error(`external cluster in ${kubeconfig} is not ready (/readyz)`);
  } else {
    const out = await runUp();
    started = /^cluster-status: started$/m.test(out);
  }
  process.env.SREC_KUBECONFIG = kubeconfig;
  // Read by global-teardown.ts (same process): stop only what this run started.
  process.env.SREC_CLUSTER_STARTED_BY_JEST = started ? '1' : '0';
  process.stderr.write(
    `\n[e2e] cluster ${started ? 'started' : 'reused'} in ${((Date.now() - t0) / 1000).toFixed(1)}s; kubeconfig ${kubeconfig}\n`,
  );
}
