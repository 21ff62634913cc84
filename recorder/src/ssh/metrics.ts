// The recorder's Prometheus metrics, registered once on the process's Registry.
import { Counter, Gauge, type Registry } from '../../../common/metrics.js';

export interface RecorderMetrics {
  readonly sessionsOpen: Gauge;
  /** label direction: `in` (person -> target) | `out` (target -> person). */
  readonly bytesRelayed: Counter<'direction'>;
  readonly recordingsPending: Gauge;
  readonly moveFailures: Counter;
  /** label reason: unknown_key | bad_signature | method. */
  readonly authFailures: Counter<'reason'>;
  /** label reason: a RefusalReason. */
  readonly connectionsRefused: Counter<'reason'>;
}

export function createRecorderMetrics(registry: Registry): RecorderMetrics {
  const registers = [registry];
  return {
    sessionsOpen: new Gauge({ name: 'srec_sessions_open', help: 'SSH sessions relayed right now.', registers }),
    bytesRelayed: new Counter({
      name: 'srec_bytes_relayed_total',
      help: 'Channel bytes relayed, by direction (in: person to target, out: target to person).',
      labelNames: ['direction'],
      registers,
    }),
    recordingsPending: new Gauge({ name: 'srec_recordings_pending', help: 'Closed recordings in the spool waiting to move to the share.', registers }),
    moveFailures: new Counter({ name: 'srec_recording_move_failures_total', help: 'Failed attempts to move a recording to the share.', registers }),
    authFailures: new Counter({ name: 'srec_auth_failures_total', help: 'Rejected authentication attempts, by reason.', labelNames: ['reason'], registers }),
    connectionsRefused: new Counter({ name: 'srec_connections_refused_total', help: 'Authenticated connections refused, by reason.', labelNames: ['reason'], registers }),
  };
}
