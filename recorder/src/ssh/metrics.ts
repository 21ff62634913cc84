// The recorder's Prometheus metrics, registered once on the process's Registry.
import type { Counter, Gauge, Registry } from '../../../common/metrics.js';

export interface RecorderMetrics {
  readonly sessionsOpen: Gauge;
  /** label direction: `in` (person -> target) | `out` (target -> person). */
  readonly bytesRelayed: Counter;
  readonly recordingsPending: Gauge;
  readonly moveFailures: Counter;
  /** label reason: unknown_key | bad_signature | method. */
  readonly authFailures: Counter;
  /** label reason: a RefusalReason. */
  readonly connectionsRefused: Counter;
}

export function createRecorderMetrics(registry: Registry): RecorderMetrics {
  return {
    sessionsOpen: registry.gauge('srec_sessions_open', 'SSH sessions relayed right now.'),
    bytesRelayed: registry.counter('srec_bytes_relayed_total', 'Channel bytes relayed, by direction (in: person to target, out: target to person).'),
    recordingsPending: registry.gauge('srec_recordings_pending', 'Closed recordings in the spool waiting to move to the share.'),
    moveFailures: registry.counter('srec_recording_move_failures_total', 'Failed attempts to move a recording to the share.'),
    authFailures: registry.counter('srec_auth_failures_total', 'Rejected authentication attempts, by reason.'),
    connectionsRefused: registry.counter('srec_connections_refused_total', 'Authenticated connections refused, by reason.'),
  };
}
