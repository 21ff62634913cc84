// Why an authenticated person does not get their session, as a metrics label and as the one line they read.
// The line never shows a target's address or port, and says the same for a host that does not exist and one
// the person may not use, so that it cannot be used to map the hosts behind the recorder; the detail an
// operator needs goes to the log and the audit event only.
import type { ResolvedHost } from '../config.js';

export type RefusalReason =
  | 'bad_login'
  | 'unknown_host'
  | 'no_access'
  | 'wrong_target_user'
  | 'host_key_mismatch'
  | 'target_down'
  | 'target_auth_failed'
  | 'spool_full'
  | 'recording_unavailable'
  | 'shutting_down'
  | 'internal_error';

export interface Refusal {
  readonly reason: RefusalReason;
  /** One line for the person, prefixed `srec: `. Never includes secrets, session content or a target's address. */
  readonly message: string;
  /** For operators only (the log and the audit event): what the message leaves out. */
  readonly detail?: string;
}

const where = (h: ResolvedHost) => `${h.name} (${h.address}:${h.port})`;
/** The one answer for "no such host" and "not yours". */
const notYours = (hostName: string) => `srec: "${hostName}" is not a host you can connect to through this recorder`;

export const refusals = {
  badLogin: (username: string): Refusal => ({
    reason: 'bad_login',
    message: `srec: "${username}" is not <targetUser>@<host>; connect as e.g. ssh -p 2222 root@db-1@<recorder>`,
  }),
  unknownHost: (hostName: string): Refusal => ({ reason: 'unknown_host', message: notYours(hostName), detail: `no host named "${hostName}" is configured` }),
  noAccess: (user: string, hostName: string): Refusal => ({ reason: 'no_access', message: notYours(hostName), detail: `${user} has no access to ${hostName}` }),
  wrongTargetUser: (h: ResolvedHost, targetUser: string): Refusal => ({
    reason: 'wrong_target_user',
    message: `srec: ${h.name} is reached as "${h.credentials.username}" only, not "${targetUser}"`,
  }),
  hostKeyMismatch: (h: ResolvedHost): Refusal => ({
    reason: 'host_key_mismatch',
    message: `srec: the host key of ${h.name} does not match its pinned host keys; connection refused`,
    detail: `${where(h)} presented a host key that is not pinned`,
  }),
  /** `cause` is for the person (no address in it), `error` the full error for the operator. */
  targetDown: (h: ResolvedHost, cause: string, error: string = cause): Refusal => ({
    reason: 'target_down',
    message: `srec: cannot reach ${h.name}: ${cause}`,
    detail: `cannot reach ${where(h)}: ${error}`,
  }),
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

export type ChannelLimit = 'max_sessions' | 'max_channels';

/** Why a channel open was refused by a per-connection limit (the description OpenSSH prints after "open failed:"). */
export function channelLimitMessage(limit: ChannelLimit, max: number): string {
  const n = (what: string) => `${max} ${what}${max === 1 ? '' : 's'}`;
  return limit === 'max_sessions'
    ? `srec: this connection already has ${n('session')} open, the recorder's limit; close one, or connect again for another`
    : `srec: this connection already has ${n('channel')} open, the recorder's limit; close some first`;
}
