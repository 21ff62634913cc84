// A cache of one kind kept by list + watch: list, then watch from the list's resourceVersion; on 410 Gone
// relist; when the watch ends, re-watch from the last resourceVersion seen; when it is silent for too
// long (the client-node informer is known to go quiet), restart it with a relist. Every change calls
// `onChange` with the object (new, or last known when deleted); handlers only map it to keys.
import { backoffDelay, type BackoffPolicy } from '../../../common/backoff.js';
import type { Logger } from '../../../common/log.js';
import type { KubeObject } from '../desired/meta.js';
import { type Clock, type Random, sleep, type Timer } from './clock.js';
import { apiMessage, type KubeClient, type Resource, statusCode } from './client.js';

export interface ReflectorOptions {
  readonly client: KubeClient;
  readonly resource: Resource;
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  /** Reduce what is kept (e.g. a Secret's data to its key names). */
  readonly transform?: (obj: KubeObject) => KubeObject;
  readonly onChange: (obj: KubeObject) => void;
  /** Restart a watch that has delivered nothing (not even a bookmark) for this long. @default 300000 */
  readonly staleAfterMs?: number;
  /** Server-side watch timeout, jittered up to 2x so watches do not all end together. @default 240 */
  readonly watchTimeoutSeconds?: number;
  readonly onRestart?: (reason: 'gone' | 'stale' | 'closed' | 'error') => void;
}

/** A failed watch is retried after 0.5 s, doubling up to 30 s, and up to 20% later. */
const WATCH_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000, jitter: [1, 1.2] };

export function objectKey(obj: { metadata: { namespace?: string; name: string } }): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

export class Reflector {
  private readonly items = new Map<string, KubeObject>();
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private staleTimer: Timer | undefined;
  private stopped = false;
  private synced = false;
  private readonly syncedWaiters: Array<() => void> = [];
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: ReflectorOptions) {}

  get kind(): string {
    return this.opts.resource.kind;
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.items.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): KubeObject[] {
    return [...this.items.values()];
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Resolves after the first successful list. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncedWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.staleTimer?.cancel();
    this.abort?.abort();
    this.wake?.();
    await this.loop;
  }

  /** Wakes the loop when the current watch ends. */
  private wake: (() => void) | undefined;

  private async run(): Promise<void> {
    let needList = true;
    let failures = 0;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        const end = await this.watchOnce();
        failures = 0;
        if (end === 'gone' || end === 'stale') needList = true;
        if (end !== 'stopped') this.opts.onRestart?.(end);
      } catch (err) {
        failures++;
        const code = statusCode(err);
        if (code === 410) needList = true;
        else if (failures > 1) needList = true;
        this.opts.onRestart?.(code === 410 ? 'gone' : 'error');
        const delay = backoffDelay(failures, WATCH_BACKOFF, this.opts.random);
        // 404 on a list of SessionRecordings: the API server serves no such kind yet (srec-crds not installed).
        const hint = code === 404 && this.kind === 'SessionRecording' ? { hint: 'the SessionRecording CRD is not installed: helm install srec-crds charts/srec-crds, or kubectl apply --server-side -f crds/' } : {};
        this.opts.log.warn('watch failed', { kind: this.kind, error: apiMessage(err), code, retryInMs: delay, ...hint });
        if (!this.stopped) await sleep(this.opts.clock, delay);
      }
    }
  }

  /** List, replace the cache, and report every object that appeared, changed or disappeared meanwhile. */
  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.opts.client.list(this.opts.resource, {
      namespace: this.opts.namespace,
      labelSelector: this.opts.labelSelector,
    });
    const fresh = new Map(items.map((o) => [objectKey(o), this.opts.transform ? this.opts.transform(o) : o]));
    const gone = [...this.items.entries()].filter(([k]) => !fresh.has(k));
    const changed = [...fresh.entries()].filter(([k, o]) => this.items.get(k)?.metadata.resourceVersion !== o.metadata.resourceVersion);
    this.items.clear();
    for (const [k, o] of fresh) this.items.set(k, o);
    this.resourceVersion = resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncedWaiters.splice(0)) w();
    }
    for (const [, o] of gone) this.opts.onChange(o);
    for (const [, o] of changed) this.opts.onChange(o);
  }

  /** One watch connection, until it ends: why it ended. */
  private watchOnce(): Promise<'gone' | 'stale' | 'closed' | 'stopped'> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let gone = false;
      const finish = (how: 'gone' | 'stale' | 'closed' | 'stopped' | Error) => {
        if (settled) return;
        settled = true;
        this.staleTimer?.cancel();
        this.wake = undefined;
        if (how instanceof Error) reject(how);
        else resolve(how);
      };
      const staleAfter = this.opts.staleAfterMs ?? 300_000;
      const armStale = () => {
        this.staleTimer?.cancel();
        this.staleTimer = this.opts.clock.after(staleAfter, () => {
          this.opts.log.warn('watch silent; restarting it', { kind: this.kind, silentMs: staleAfter });
          finish('stale');
          this.abort?.abort();
        });
      };
      this.wake = () => finish('stopped');
      const timeout = Math.round((this.opts.watchTimeoutSeconds ?? 240) * (1 + this.opts.random()));
      armStale();
      this.opts.client
        .watch(
          this.opts.resource,
          { namespace: this.opts.namespace, labelSelector: this.opts.labelSelector, resourceVersion: this.resourceVersion, timeoutSeconds: timeout },
          (type, obj) => {
            armStale();
            if (type === 'ERROR') {
              const code = (obj as unknown as { code?: number }).code;
              if (code === 410) gone = true;
              this.opts.log.info('watch error event', { kind: this.kind, code, message: (obj as unknown as { message?: string }).message });
              finish(gone ? 'gone' : 'closed');
              this.abort?.abort();
              return;
            }
            const rv = obj.metadata?.resourceVersion;
            if (typeof rv === 'string' && rv !== '') this.resourceVersion = rv;
            if (type === 'BOOKMARK') return;
            const key = objectKey(obj);
            if (type === 'DELETED') {
              const last = this.items.get(key) ?? obj;
              this.items.delete(key);
              this.opts.onChange(last);
              return;
            }
            const kept = this.opts.transform ? this.opts.transform(obj) : obj;
            this.items.set(key, kept);
            this.opts.onChange(kept);
          },
          (err: unknown) => {
            if (this.stopped) return finish('stopped');
            if (err && (err as { name?: string }).name !== 'AbortError') {
              if (statusCode(err) === 410) return finish('gone');
              return finish(err instanceof Error ? err : new Error(String(err)));
            }
            finish(gone ? 'gone' : 'closed');
          },
        )
        .then((ac) => {
          this.abort = ac;
          if (this.stopped || settled) ac.abort();
        }, (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
    });
  }
}
