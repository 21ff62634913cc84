// Runs one trail writer (trail-gen.ts) in a worker thread, so that two cores write at once; resolves with
// the output bytes it recorded.
import { Worker } from 'node:worker_threads';
import type { GenJob } from './trail-gen.js';

export function runTrailGen(job: GenJob): Promise<number> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./trail-gen.js', import.meta.url), { workerData: job });
    w.once('message', (m: { ok: boolean; bytes?: number; error?: string }) => (m.ok ? resolve(m.bytes ?? 0) : reject(new Error(m.error))));
    w.once('error', reject);
  });
}
