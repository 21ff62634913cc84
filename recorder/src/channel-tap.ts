// The seam between the relay (ssh/) and the parsers that read a channel's bytes on its side (transfer/): neither
// imports the other, `srec recorder` hands the bastion its taps. The relay hands every chunk to the tap after
// forwarding it untouched; a tap that falls behind returns false and the relay pauses that direction until
// onceDrain() fires, so a big copy is never buffered in memory.
import type { FileTransfer } from './audit/connection.js';
import type { ResolvedHost } from './config.js';
import type { SessionRecording } from './trail/recording.js';

export interface ChannelTapContext {
  /** The session's channel number, as in the channel log and `ch-<n>.cast.gz`. */
  readonly channel: number;
  readonly kind: 'shell' | 'exec' | 'subsystem';
  readonly command?: string;
  readonly subsystem?: string;
  readonly host: ResolvedHost;
  /** Absent when the host is not recorded. */
  readonly recording?: SessionRecording;
  /** Emits the session's non-sensitive `file_transfer` audit event for this channel. */
  readonly auditTransfer: (t: FileTransfer) => void;
}

/** fromClient/fromServer are called in the order the relay forwarded the chunks, in the same tick (SCP needs both sides in that order). */
export interface ChannelTap {
  /** Write no asciicast of the channel: its bytes are protocol and file content, not a terminal's (`scp -t`). */
  readonly suppressCast?: boolean;
  /**
   * Send no stdin/stdout audit events for the channel: its bytes are file content (sftp, scp), and the SIEM would
   * get a copy of every file. Its requests and stderr are audited as on any channel.
   */
  readonly suppressDataEvents?: boolean;
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

/** Called when a session channel starts its program; returns a tap for it, or undefined. */
export type ChannelTapFactory = (ctx: ChannelTapContext) => ChannelTap | undefined;
