// Kubernetes Events for a SessionRecording, each (reason, message) once per key until it changes: a
// failure that persists is reported once, not on every requeue (steady state makes no writes). What
// this operator recorded is kept in memory only: after a restart a problem that persists is told again.
import type { Logger } from '../../../common/log.js';
import type { SessionRecording } from '../api/types.js';
import { apiMessage, type KubeClient } from './client.js';
import type { Clock } from './clock.js';

export class EventRecorder {
  private readonly last = new Map<string, string>();

  constructor(
    private readonly client: KubeClient,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Record unless the same reason and message were the last thing recorded for this key. */
  async record(key: string, cr: SessionRecording, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const fingerprint = `${type}\n${reason}\n${message}`;
    if (this.last.get(key) === fingerprint) return;
    this.last.set(key, fingerprint);
    try {
      await this.client.event({ regarding: cr, type, reason, message }, new Date(this.clock.now()));
    } catch (err) {
      // An Event is advice; failing to write one must not fail the reconcile.
      this.log.warn('could not record event', { key, reason, error: apiMessage(err) });
    }
  }

  /** Record a Normal Event only when a Warning was the last thing recorded for this key (a recovery). */
  async recordRecovery(key: string, cr: SessionRecording, reason: string, message: string): Promise<void> {
    if (this.last.get(key)?.startsWith('Warning\n')) await this.record(key, cr, 'Normal', reason, message);
  }

  /** Forget a key (its SessionRecording is gone). */
  forget(key: string): void {
    this.last.delete(key);
  }
}
