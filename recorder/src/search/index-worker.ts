// A worker thread that builds and stores session indexes, so that a first search uses every core.
// Message in: { dir, keysDir? }. Message out: { dir, outcome } or { dir, error }. The index buffers come back (copied:
// small Buffers live in Node's shared pool, which cannot be transferred) only when the share refused them.
import { parentPort } from 'node:worker_threads';
import { loadTrailKeys } from '../trail/crypto/keys.js';
import { readSession } from '../trail/sessions.js';
import { buildAndStore } from './index-store.js';

parentPort?.on('message', (msg: { dir: string; keysDir?: string }) => {
  void (async () => {
    try {
      const outcome = await buildAndStore(readSession(msg.dir, msg.keysDir !== undefined ? loadTrailKeys(msg.keysDir) : undefined));
      parentPort!.postMessage({ dir: msg.dir, outcome });
    } catch (err) {
      parentPort!.postMessage({ dir: msg.dir, error: (err as Error).message });
    }
  })();
});
