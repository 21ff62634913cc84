// The recorder's Prometheus metrics, registered once on the process's Registry.
import { Counter, Gauge, type Registry } from '../../../common/metrics.js';

export interface RecorderMetrics {
  readonly sessionsOpen: Gauge;
  /** label direction: `in` (person -> target) | `out` (target -> person). */
  readonly bytesRelayed: Counter<'direction'>;
  readonly recordingsPending: Gauge;
  readonly moveFailures: Counter;
  /** label result: stored | failed. Sessions indexed when sealed (search/seal-indexer.ts). */
  readonly sessionsIndexed: Counter<'result'>;
  /** label reason: unknown_key | bad_signature | method. */
  readonly authFailures: Counter<'reason'>;
  /** label reason: a RefusalReason. */
  readonly connectionsRefused: Counter<'reason'>;
  /** Connections not logged in yet. */
  readonly loginsPending: Gauge;
  /** label reason: a DropReason (startups.ts, bastion.ts): closed before logging in. */
  readonly connectionsDropped: Counter<'reason'>;
  /** label reason: auth_failure | login_grace. Penalties a source address collected (penalties.ts). */
  readonly sourcePenalties: Counter<'reason'>;
  /** label reason: max_sessions | max_channels. */
  readonly channelsRefused: Counter<'reason'>;
  /** Processes serving sessions now (the primary's count; workers.ts). */
  readonly workers: Gauge;
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
    sessionsIndexed: new Counter({
      name: 'srec_sessions_indexed_total',
      help: 'Sessions indexed for search when sealed on the share (stored), or left to the first search (failed).',
      labelNames: ['result'],
      registers,
    }),
    authFailures: new Counter({ name: 'srec_auth_failures_total', help: 'Rejected authentication attempts, by reason.', labelNames: ['reason'], registers }),
    connectionsRefused: new Counter({ name: 'srec_connections_refused_total', help: 'Authenticated connections refused, by reason.', labelNames: ['reason'], registers }),
    loginsPending: new Gauge({ name: 'srec_logins_pending', help: 'Connections accepted and not logged in yet.', registers }),
    connectionsDropped: new Counter({
      name: 'srec_connections_dropped_total',
      help: 'Connections closed before logging in, by reason (per_source, max_startups, penalised, login_grace, max_auth_tries, shutting_down).',
      labelNames: ['reason'],
      registers,
    }),
    sourcePenalties: new Counter({
      name: 'srec_source_penalties_total',
      help: 'Penalties given to a source address for a failed login (auth_failure) or a login not finished in time (login_grace).',
      labelNames: ['reason'],
      registers,
    }),
    channelsRefused: new Counter({
      name: 'srec_channels_refused_total',
      help: 'Channel opens refused by the per-connection limits (max_sessions, max_channels).',
      labelNames: ['reason'],
      registers,
    }),
    workers: new Gauge({ name: 'srec_recorder_workers', help: 'Processes serving sessions now: 1 when the recorder runs in one process, else its workers that are up.', registers }),
  };
}
