// jest globalTeardown for the e2e project.
// Policy: a cluster that this jest run started is stopped (no stray processes after
// `npm test`/CI); a cluster that was already running (npm run cluster:up) is left alone,
// so developers keep a warm cluster between runs. SREC_CLUSTER_KEEP=1 keeps it anyway.
// Self-contained for the same reason as global-setup.ts.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export default async function globalTeardown(): Promise<void> {
  if (process.env.SREC_CLUSTER_STARTED_BY_JEST !== '1') return;
  if (process.env.SREC_CLUSTER_KEEP === '1') {
    process.stderr.write('[e2e] SREC_CLUSTER_KEEP=1: leaving the cluster running (npm run cluster:down stops it)\n');
    return;
  }
  execFileSync('bash', [path.join(REPO_ROOT, 'e2e', 'cluster', 'down.sh')], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
}
