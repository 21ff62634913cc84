// Deterministic test data: log-like text (what `cat` of a log or `ls -l` prints; gzip makes it about 5x
// smaller) and a seeded PRNG for the generators.
import { createWriteStream } from 'node:fs';

/** xorshift32: deterministic, fast, good enough to vary test data. */
export function prng(seed = 0x9e3779b9): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const WORDS = (
  'the a connection user root session request response error warning info debug failed accepted closed opened ' +
  'timeout retry backup database replica primary kube-system nginx postgres redis cron systemd kernel eth0 ' +
  'disk volume mount filesystem memory cpu load process thread worker queue job scheduled completed started ' +
  'stopped restarting healthy unhealthy upstream downstream client server proxy cache hit miss key value'
).split(' ');
const PATHS = ['/api/v1/pods', '/healthz', '/var/log/syslog', '/etc/nginx/nginx.conf', '/home/alice/.bashrc', '/srv/app/releases', '/usr/lib/x86_64-linux-gnu', '/metrics'];
const LEVELS = ['INFO', 'WARN', 'ERROR', 'DEBUG'];
const HOSTS = ['db-1', 'db-2', 'web-1', 'web-2', 'cache-1', 'batch-7'];

/** One block of log-like lines, about `bytes` long. */
export function logText(rand: () => number, bytes: number, t0 = 1_740_823_200): string {
  const out: string[] = [];
  let n = 0;
  let t = t0;
  while (n < bytes) {
    const r = rand();
    t += r % 3;
    const words: string[] = [];
    for (let i = 0, k = 4 + (r % 9); i < k; i++) words.push(WORDS[rand() % WORDS.length]!);
    const line =
      `${new Date(t * 1000).toISOString()} ${HOSTS[r % HOSTS.length]} ${LEVELS[(r >>> 8) % 4]} [pid ${1000 + (rand() % 30000)}] ` +
      `${words.join(' ')} ip=10.${(r >>> 4) & 255}.${(r >>> 12) & 255}.${(r >>> 20) & 255} path=${PATHS[rand() % PATHS.length]} ` +
      `status=${[200, 200, 200, 201, 304, 404, 500][rand() % 7]} dur=${rand() % 5000}ms id=${rand().toString(16)}${rand().toString(16)}\n`;
    out.push(line);
    n += line.length;
  }
  return out.join('');
}

/**
 * Writes `bytes` of log-like text to `file`: up to `uniqueBytes` generated, then repeated (a repeat is far
 * beyond gzip's 32 KiB window, so it compresses like new text).
 */
export async function writeLogFile(file: string, bytes: number, seed = 1, uniqueBytes = 32 << 20): Promise<void> {
  const rand = prng(seed);
  const out = createWriteStream(file);
  const blocks: Buffer[] = [];
  let made = 0;
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    let block: Buffer;
    if (made < uniqueBytes) {
      block = Buffer.from(logText(rand, (1 << 20) + 200), 'latin1').subarray(0, 1 << 20);
      blocks.push(block);
      made += block.length;
    } else {
      block = blocks[i % blocks.length]!;
    }
    block = block.subarray(0, Math.min(left, block.length));
    left -= block.length;
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}
