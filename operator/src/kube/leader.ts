// Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it: take the Lease
// when it is free or expired, renew it every retry period, and give up leadership when a renewal has not
// succeeded within the renew deadline. Writes use the Lease's resourceVersion, so two candidates cannot
// both win.
import type { Logger } from '../../../common/log.js';
import { type Clock, sleep } from './clock.js';
import { apiMessage, type KubeClient, type LeaseObject, microTime, statusCode } from './client.js';

export interface LeaderElectionOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  /** @default 'srec-operator' */
  readonly name?: string;
  readonly identity: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** @default 15000 */
  readonly leaseDurationMs?: number;
  /** @default 10000 */
  readonly renewDeadlineMs?: number;
  /** @default 2000 */
  readonly retryPeriodMs?: number;
}

export class LeaderElector {
  private stopped = false;
  private leading = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: LeaderElectionOptions) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaign until leader, call `onStarted`, keep renewing; when leadership is lost call `onStopped`
   * (the caller should stop work and exit, like controller-runtime does).
   */
  run(onStarted: () => void, onStopped: () => void): void {
    this.loop ??= (async () => {
      const retry = this.opts.retryPeriodMs ?? 2000;
      while (!this.stopped && !(await this.tryAcquireOrRenew())) await sleep(this.opts.clock, retry);
      if (this.stopped) return;
      this.leading = true;
      this.opts.log.info('became leader', { lease: `${this.opts.namespace}/${this.name}`, identity: this.opts.identity });
      onStarted();
      let lastRenew = this.opts.clock.now();
      while (!this.stopped) {
        await sleep(this.opts.clock, retry);
        if (this.stopped) break;
        if (await this.tryAcquireOrRenew()) lastRenew = this.opts.clock.now();
        else if (this.opts.clock.now() - lastRenew > (this.opts.renewDeadlineMs ?? 10_000)) {
          this.leading = false;
          this.opts.log.error('lost leadership', { lease: `${this.opts.namespace}/${this.name}` });
          onStopped();
          return;
        }
      }
    })();
  }

  /** Stop campaigning; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    if (this.leading) {
      this.leading = false;
      try {
        const lease = await this.opts.client.readLease(this.opts.namespace, this.name);
        if (lease?.spec?.holderIdentity === this.opts.identity) {
          const { holderIdentity: _released, ...rest } = lease.spec;
          await this.opts.client.replaceLease({ ...lease, spec: { ...rest, leaseDurationSeconds: 1, renewTime: microTime(this.opts.clock.now()) } });
        }
      } catch (err) {
        this.opts.log.warn('could not release the lease', { error: apiMessage(err) });
      }
    }
  }

  private get name(): string {
    return this.opts.name ?? 'srec-operator';
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.opts.clock.now();
    const durationS = Math.ceil((this.opts.leaseDurationMs ?? 15_000) / 1000);
    try {
      const current = await this.opts.client.readLease(this.opts.namespace, this.name);
      if (!current) {
        await this.opts.client.createLease({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.name, namespace: this.opts.namespace },
          spec: { holderIdentity: this.opts.identity, leaseDurationSeconds: durationS, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
        });
        return true;
      }
      const spec = current.spec;
      const holder = spec.holderIdentity;
      const renewedAt = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
      const expired = renewedAt + (spec.leaseDurationSeconds ?? durationS) * 1000 < now;
      if (holder && holder !== this.opts.identity && !expired) return false;
      const takingOver = holder !== this.opts.identity;
      const next: LeaseObject = {
        ...current,
        spec: {
          ...spec,
          holderIdentity: this.opts.identity,
          leaseDurationSeconds: durationS,
          renewTime: microTime(now),
          ...(takingOver ? { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
        },
      };
      await this.opts.client.replaceLease(next);
      return true;
    } catch (err) {
      // 409: someone else wrote the Lease first; they won this round.
      if (statusCode(err) !== 409) this.opts.log.warn('lease request failed', { error: apiMessage(err) });
      return false;
    }
  }
}
