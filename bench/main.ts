// `node dist/bench/main.js NAME`: runs one benchmark; its results go to stdout as JSON lines, progress to
// stderr. scripts/bench.sh runs each benchmark in its own process.
import { runCleanups } from './support/common.js';

const BENCHES: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  throughput: () => import('./throughput.js'),
  parallel: () => import('./parallel.js'),
  latency: () => import('./latency.js'),
  sessions: () => import('./sessions.js'),
  size: () => import('./size.js'),
  sftp: () => import('./sftp.js'),
  search: () => import('./search.js'),
  console: () => import('./console.js'),
  operator: () => import('./operator.js'),
  audit: () => import('./audit.js'),
};

export const NAMES = Object.keys(BENCHES);

async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  if (name === '--list') {
    process.stdout.write(NAMES.join('\n') + '\n');
    return 0;
  }
  const load = name !== undefined ? BENCHES[name] : undefined;
  if (!load) {
    process.stderr.write(`usage: node dist/bench/main.js <${NAMES.join('|')}>\n`);
    return 2;
  }
  let stopping = false;
  const onSignal = (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${sig}: cleaning up\n`);
    void runCleanups().then(() => process.exit(130));
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  try {
    await (await load()).run();
    return 0;
  } catch (err) {
    process.stderr.write(`bench ${name} failed: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    await runCleanups();
  }
}

process.exitCode = await main(process.argv.slice(2));
// Children and sockets are gone; a stray handle must not keep a finished benchmark alive.
setTimeout(() => process.exit(), 2000).unref();
