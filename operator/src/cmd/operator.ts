// `srec operator [--kubeconfig F] [--namespace N] [--leader-elect] [--probes HOST:PORT]`: runs the
// controller until SIGTERM/SIGINT (graceful: runs in progress finish, the Lease is released).
import { createLogger, errorMessage } from '../../../common/log.js';
import type { ClusterAccess } from '../kube/http.js';
import { loadClusterAccess } from '../kube/kubeconfig.js';
import { startOperator } from '../operator.js';
import { parseCommand } from '../../../common/args.js';

export { startOperator } from '../operator.js';
export type { OperatorHandle, OperatorOptions } from '../operator.js';

const USAGE = 'usage: srec operator [--kubeconfig F] [--namespace N] [--leader-elect] [--probes HOST:PORT]\n';

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand('operator', USAGE, args, {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    probes: { type: 'string' },
    'leader-elect': { type: 'boolean' },
  }, false);
  if (typeof parsed === 'number') return parsed;
  const opts = parsed.values;
  const log = createLogger({ component: 'operator' });
  let kubeConfig: ClusterAccess;
  try {
    kubeConfig = await loadClusterAccess(opts.kubeconfig);
  } catch (err) {
    process.stderr.write(`srec operator: cannot load the kubeconfig: ${errorMessage(err)}\n`);
    return 2;
  }
  const handle = await startOperator({
    kubeConfig,
    namespace: opts.namespace,
    leaderElect: opts['leader-elect'] === true,
    probes: opts.probes,
    log,
  });
  log.info('operator started', { namespace: opts.namespace ?? '(all)', leaderElect: opts['leader-elect'] === true, probePort: handle.probePort });
  const onSignal = (signal: NodeJS.Signals) => {
    log.info('signal received', { signal });
    void handle.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const why = await handle.done;
  process.removeListener('SIGTERM', onSignal);
  process.removeListener('SIGINT', onSignal);
  // Lost leadership: exit non-zero so the pod restarts and campaigns afresh (as controller-runtime does).
  return why === 'lost' ? 1 : 0;
}
