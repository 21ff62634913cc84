// Why an authenticated person does not get their session, as a metrics label and as the one line they read.
import type { ResolvedHost } from '../config.js';

export type RefusalReason =
  | 'bad_login'
  | 'unknown_host'
  | 'no_access'
  | 'host_key_mismatch'
  | 'target_down'
  | 'target_auth_failed'
  | 'spool_full'
  | 'recording_unavailable'
  | 'shutting_down'
  | 'internal_error';

export interface Refusal {
  readonly reason: RefusalReason;
  /** One line for the person, prefixed `srec: `. Never includes secrets or session content. */
  readonly message: string;
}

const where = (h: ResolvedHost) => `${h.name} (${h.address}:${h.port})`;

export const refusals = {
  badLogin: (username: string): Refusal => ({
    reason: 'bad_login',
    message: `srec: "${username}" is not <targetUser>@<host>; connect as e.g. ssh -p 2222 root@db-1@<recorder>`,
  }),
  unknownHost: (hostName: string): Refusal => ({ reason: 'unknown_host', message: `srec: no host named "${hostName}" is configured on this recorder` }),
  noAccess: (user: string, hostName: string): Refusal => ({ reason: 'no_access', message: `srec: ${user} has no access to ${hostName}` }),
  wrongTargetUser: (h: ResolvedHost, targetUser: string): Refusal => ({
    reason: 'no_access',
    message: `srec: ${h.name} is reached as "${h.credentials.username}" only, not "${targetUser}"`,
  }),
  hostKeyMismatch: (h: ResolvedHost): Refusal => ({
    reason: 'host_key_mismatch',
    message: `srec: the host key of ${where(h)} does not match its pinned host keys; connection refused`,
  }),
  targetDown: (h: ResolvedHost, detail: string): Refusal => ({ reason: 'target_down', message: `srec: cannot reach ${where(h)}: ${detail}` }),
  targetAuthFailed: (h: ResolvedHost): Refusal => ({
    reason: 'target_auth_failed',
    message: `srec: ${h.name} refused the recorder's login as "${h.credentials.username}"; the host's credentials need fixing`,
  }),
  spoolFull: (): Refusal => ({
    reason: 'spool_full',
    message: "srec: the recorder's spool is full, so recorded sessions are refused until recordings reach the share; try again later",
  }),
  recordingUnavailable: (detail: string): Refusal => ({ reason: 'recording_unavailable', message: `srec: cannot start the session's recording (${detail}); session refused` }),
  shuttingDown: (): Refusal => ({ reason: 'shutting_down', message: 'srec: the recorder is shutting down; connect again' }),
  /** The detail goes to the log, not to the person. */
  internal: (): Refusal => ({ reason: 'internal_error', message: 'srec: the recorder could not start the session (internal error, logged); try again' }),
};
