// Indexes each session as soon as it is sealed on the share, so that no search (the CLI's, the console's,
// over a share the console mounts read-only) waits for an index to be built. One worker thread, one
// session at a time, off the relay's event loop; a session whose index cannot be built or stored is left
// to the first search, which builds it as before.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { errorMessage, type Logger } from '../../../common/log.js';
import type { Counter } from '../../../common/metrics.js';
import { readSession } from '../trail/sessions.js';
import type { TrailKeys } from '../trail/crypto/keys.js';
import { buildAndStore, type BuildOutcome } from './index-store.js';

export interface SealIndexerOptions {
  readonly log: Logger;
  /** The key set's directory (the worker loads it) and the keys themselves (for an in-thread build). */
  readonly keysDir?: string;
  readonly keys?: TrailKeys;
  /** Counts indexes stored (`result="stored"`) and left to the first search (`result="failed"`). */
  readonly indexed?: Counter<'result'>;
  /** @default index-worker.js beside this module (a build), or index-worker.ts when run from source */
  readonly workerUrl?: URL;
}

interface Reply {
  readonly dir: string;
  readonly outcome?: BuildOutcome;
  readonly error?: string;
}

/** The worker module beside this one: compiled, or the TypeScript source when the process runs from it. */
function workerUrl(): URL | undefined {
  for (const name of ['./index-worker.js', ...(import.meta.url.endsWith('.ts') ? ['./index-worker.ts'] : [])]) {
    const url = new URL(name, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  return undefined;
}

export class SealIndexer {
  private readonly queue: string[] = [];
  private draining: Promise<void> | undefined;
  private worker: Worker | undefined;
  private job: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
  private closed = false;

  constructor(private readonly opts: SealIndexerOptions) {}

  /** Indexes the sealed session in `dir` (on the share) after those queued before it. */
  add(dir: string): void {
    if (this.closed) return;
    this.queue.push(dir);
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /** Resolves when every session queued so far has been indexed or given up on. */
  async idle(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
  }

  /** Stops taking sessions, lets the one in progress finish (at most `waitMs`), ends the worker. */
  async close(waitMs = 5000): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.draining, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    await this.worker?.terminate();
    this.worker = undefined;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.closed) {
      const dir = this.queue.shift()!;
      const started = Date.now();
      try {
        const outcome = await this.build(dir);
        if (outcome.writeError !== undefined) throw new Error(`the share refused the index (${outcome.writeError})`);
        this.opts.indexed?.inc({ result: 'stored' });
        this.opts.log.info('session indexed', { dir, ms: Date.now() - started, bytesRead: outcome.bytesRead, problems: outcome.problems.length });
      } catch (err) {
        this.opts.indexed?.inc({ result: 'failed' });
        this.opts.log.warn('session not indexed at seal; the first search indexes it', { dir, error: errorMessage(err) });
      }
    }
  }

  private async build(dir: string): Promise<BuildOutcome> {
    const url = this.opts.workerUrl ?? workerUrl();
    if (url === undefined) return buildAndStore(readSession(dir, this.opts.keys));
    const worker = this.startWorker(url);
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.job = { resolve, reject };
      worker.postMessage({ dir, ...(this.opts.keysDir !== undefined ? { keysDir: this.opts.keysDir } : {}) });
    });
    if (reply.outcome === undefined) throw new Error(reply.error ?? 'the index worker gave no answer');
    return reply.outcome;
  }

  /** The worker, started on first use and again after one died; its listeners settle the job in flight. */
  private startWorker(url: URL): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = new Worker(url);
    const settle = (f: (j: NonNullable<SealIndexer['job']>) => void) => {
      const j = this.job;
      this.job = undefined;
      if (j !== undefined) f(j);
    };
    w.on('message', (r: Reply) => settle((j) => j.resolve(r)));
    w.on('error', (e: Error) => settle((j) => j.reject(e)));
    w.on('exit', (code: number) => {
      if (this.worker === w) this.worker = undefined;
      settle((j) => j.reject(new Error(`the index worker exited (${code})`)));
    });
    w.unref();
    this.worker = w;
    return w;
  }
}
