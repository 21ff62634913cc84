// Builds the missing indexes of a search in parallel worker threads, largest recording first. Where
// workers cannot run (sources not compiled, one core, one session), the search builds in its own thread.
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { checkSessionFile } from '../trail/session-file.js';
import { castFiles, type StoredSession } from '../trail/sessions.js';
import { indexState, type BuildOutcome, type IndexFiles } from './index-store.js';

export interface PoolOptions {
  /** Worker threads; 0 or 1 builds in the calling thread. @default the cores, at most 4 */
  readonly workers?: number;
  /** The worker module. @default index-worker.js beside this file, when it exists (a build) */
  readonly workerUrl?: URL;
  /** Node options for the workers (tests pass a TypeScript loader). */
  readonly execArgv?: readonly string[];
  /** The key set's directory: each worker loads it to open encrypted sessions. */
  readonly keysDir?: string;
}

function defaultWorkerUrl(): URL | undefined {
  const url = new URL('./index-worker.js', import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : undefined;
}

function castBytes(ref: StoredSession): number {
  return castFiles(ref).reduce((n, c) => n + (checkSessionFile(c.ref).stat?.size ?? 0), 0);
}

interface Reply {
  readonly dir: string;
  readonly outcome?: BuildOutcome;
  readonly error?: string;
}

/** Rebuilds Buffers from what came through postMessage (typed arrays arrive as Uint8Array). */
function revive(o: BuildOutcome): BuildOutcome {
  if (o.files === undefined) return o;
  const b = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  const f = o.files;
  const files: IndexFiles = { meta: f.meta, terms: b(f.terms), postings: b(f.postings), lines: b(f.lines), blocks: b(f.blocks) };
  return { ...o, files };
}

/**
 * Builds (and stores) the indexes the given sessions lack, several at a time. Returns what each build
 * gave, by session directory; sessions left out (no workers, a failed worker) are built by the search.
 */
export async function prebuildIndexes(refs: readonly StoredSession[], opts: PoolOptions = {}): Promise<Map<string, BuildOutcome>> {
  const done = new Map<string, BuildOutcome>();
  const workerUrl = opts.workerUrl ?? defaultWorkerUrl();
  const want = Math.min(opts.workers ?? Math.min(os.availableParallelism(), 4), 8);
  if (workerUrl === undefined || want < 2) return done;
  const missing = indexState(refs).toBuild;
  if (missing.length < 2) return done;
  const queue = missing.map((r) => ({ r, size: castBytes(r) })).sort((a, b) => b.size - a.size).map((x) => x.r);
  let readOnly = false;

  const runWorker = async (): Promise<void> => {
    const worker = new Worker(workerUrl, { execArgv: [...(opts.execArgv ?? [])] });
    // One set of listeners for the worker's whole life (not one per job: a reused Worker would collect
    // them); each settles the job in flight.
    let job: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
    const settle = (f: (j: NonNullable<typeof job>) => void) => {
      const j = job;
      job = undefined;
      if (j !== undefined) f(j);
    };
    worker.on('message', (r: Reply) => settle((j) => j.resolve(r)));
    worker.on('error', (e: Error) => settle((j) => j.reject(e)));
    worker.on('exit', (code: number) => settle((j) => j.reject(new Error(`index worker exited (${code})`))));
    try {
      while (queue.length > 0 && !readOnly) {
        const ref = queue.shift()!;
        const reply = await new Promise<Reply>((resolve, reject) => {
          job = { resolve, reject };
          worker.postMessage({ dir: ref.dir, ...(opts.keysDir !== undefined ? { keysDir: opts.keysDir } : {}) });
        });
        if (reply.outcome === undefined) continue; // the search will build it and report why it fails
        const outcome = revive(reply.outcome);
        done.set(ref.dir, outcome);
        // A share that refuses the index: build the rest one at a time, not all of them in memory at once.
        if (outcome.writeError !== undefined) readOnly = true;
      }
    } catch {
      /* a worker that dies leaves its sessions to the search */
    } finally {
      await worker.terminate();
    }
  };
  await Promise.all(Array.from({ length: Math.min(want, missing.length) }, runWorker));
  return done;
}
