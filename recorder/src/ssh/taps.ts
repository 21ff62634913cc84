// The seam for parsers that read a channel's bytes on the side (SFTP, SCP: recorder/src/transfer/). The relay
// hands every chunk to the tap after forwarding it untouched; a tap that falls behind returns false and the
// relay pauses that direction until onceDrain() fires, so a big copy is never buffered in memory.
import type { ResolvedHost } from '../config.js';
import type { SessionRecording } from '../trail/recording.js';
import type { FileTransfer } from '../audit/connection.js';

export interface ChannelTapContext {
  /** The session's channel number, as in the channel log and `ch-<n>.cast.gz`. */
  readonly channel: number;
  readonly kind: 'shell' | 'exec' | 'subsystem';
  readonly command?: string;
  readonly subsystem?: string;
  readonly host: ResolvedHost;
  /** Absent when the host is not recorded. */
  readonly recording?: SessionRecording;
  /** Emits the session's non-sensitive `file_transfer` audit event (set by the bastion). */
  readonly auditTransfer?: (t: FileTransfer) => void;
}

export interface ChannelTap {
  /** The channel's asciicast would only hold binary protocol data (e.g. `scp -t`): do not write one. */
  readonly suppressCast?: boolean;
  /** Bytes from the person to the target. */
  fromClient?(data: Buffer): boolean | void;
  /** stdout bytes from the target. */
  fromServer?(data: Buffer): boolean | void;
  /** stderr bytes from the target. */
  fromServerStderr?(data: Buffer): boolean | void;
  onceDrain?(cb: () => void): void;
  /** The channel closed: finish captures. Errors are logged, never thrown at the session. */
  close?(): Promise<void>;
}

/** Called when a session channel starts; returns a tap for it, or undefined. */
export type ChannelTapFactory = (ctx: ChannelTapContext) => ChannelTap | undefined;
