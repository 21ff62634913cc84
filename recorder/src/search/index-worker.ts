// A worker thread that builds and stores session indexes, so that a first search uses every core.
// Message in: { dir }. Message out: { dir, outcome } or { dir, error }. The index buffers come back (copied:
// small Buffers live in Node's shared pool, which cannot be transferred) only when the share refused them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parentPort } from 'node:worker_threads';
import { buildAndStore } from './index-store.js';
import { parseManifest } from './trail-files.js';

parentPort?.on('message', (msg: { dir: string }) => {
  void (async () => {
    try {
      const manifest = parseManifest(readFileSync(path.join(msg.dir, 'manifest.json'), 'utf8'));
      const outcome = await buildAndStore({ id: manifest.sessionId || path.basename(msg.dir), dir: msg.dir, manifest });
      parentPort!.postMessage({ dir: msg.dir, outcome });
    } catch (err) {
      parentPort!.postMessage({ dir: msg.dir, error: (err as Error).message });
    }
  })();
});
