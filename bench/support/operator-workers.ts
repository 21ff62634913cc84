// `srec operator` with a different number of reconcile workers (startOperator's `workers` option, default 2)
// and, with --keepalive, one keep-alive HTTPS agent for every request (@kubernetes/client-node makes a new
// agent, so a new TCP and TLS handshake, per request): the experiments behind BENCH_OPERATOR_WORKERS and
// BENCH_OPERATOR_KEEPALIVE. Arguments: --kubeconfig F --probes HOST:PORT --workers N [--keepalive].
import https from 'node:https';
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
if (args.includes('--keepalive')) {
  // createAgent is private in the typings: reached through a structural view of the instance.
  type AgentMaker = { createAgent(cluster: unknown, options: https.AgentOptions): unknown };
  const kc = kubeConfig as unknown as AgentMaker;
  const make = kc.createAgent.bind(kubeConfig);
  let agent: https.Agent | undefined;
  kc.createAgent = (cluster, options) => {
    if (!agent) {
      const made = make(cluster, options);
      if (!(made instanceof https.Agent)) return made;
      agent = new https.Agent({ ...options, keepAlive: true, maxSockets: 16 });
    }
    return agent;
  };
}
const handle = await startOperator({ kubeConfig, probes: arg('probes'), workers: Number(arg('workers')), log: createLogger({ component: 'operator' }) });
process.once('SIGTERM', () => void handle.stop());
await handle.done;
