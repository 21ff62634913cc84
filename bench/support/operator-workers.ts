// `srec operator` with a different number of reconcile workers (startOperator's `workers` option): the
// experiment behind BENCH_OPERATOR_WORKERS. Arguments: --kubeconfig F --probes HOST:PORT --workers N.
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../common/log.js';
import { startOperator } from '../../operator/src/operator.js';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? args[i + 1] : undefined;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
};
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(arg('kubeconfig'));
const handle = await startOperator({ kubeConfig, probes: arg('probes'), workers: Number(arg('workers')), log: createLogger({ component: 'operator' }) });
process.once('SIGTERM', () => void handle.stop());
await handle.done;
