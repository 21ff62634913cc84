// The seam between the relay (ssh/) and the parsers that read a channel's bytes on its side (transfer/): neither
// imports the other, `srec recorder` hands the bastion its taps. A session channel's first bytes go to a
// ChannelClassifier, which tells from the protocol on the wire (not from the command line) whether the channel
// carries a file transfer; the relay holds those bytes meanwhile. Afterwards the relay hands every chunk to the
// chosen tap after forwarding it untouched; a tap that falls behind returns false and the relay pauses that
// direction until onceDrain() fires, so a big copy is never buffered in memory.
import type { FileTransfer } from './audit/connection.js';
import type { ResolvedHost } from './config.js';
import type { SessionRecording } from './trail/recording.js';

export interface ChannelTapContext {
  /** The session's channel number, as in the channel log and `ch-<n>.cast.gz`. */
  readonly channel: number;
  readonly kind: 'shell' | 'exec' | 'subsystem';
  /** A hint only (paths for SCP records); the bytes decide what the channel is. */
  readonly command?: string;
  readonly subsystem?: string;
  readonly host: ResolvedHost;
  /** Absent when the host is not recorded. */
  readonly recording?: SessionRecording;
  /** Emits the session's non-sensitive `file_transfer` audit event for this channel. */
  readonly auditTransfer: (t: FileTransfer) => void;
}

/** Which side sent a chunk: the person's client, or the target (stdout). stderr is never classified. */
export type ChannelSide = 'client' | 'server';

/**
 * What a channel's first bytes showed so far:
 * - `hold`: not known yet; keep the bytes back (nothing of them is forwarded).
 * - `handshake`: not known yet, but every byte held so far is a protocol greeting the other side waits for
 *   before it says more (SCP's ready `\0`, SFTP's SSH_FXP_INIT): the relay logs and forwards them, and goes on.
 * - `terminal`: not a transfer; the channel is recorded as a terminal (cast, data events).
 * - a tap: a file transfer; the tap follows it, and the channel gets no cast and no stdin/stdout events (its
 *   bytes are file content).
 */
export type ChannelVerdict = 'hold' | 'handshake' | 'terminal' | { readonly transfer: ChannelTap };

export interface ChannelClassifier {
  /** The next chunk, in the order the relay got them from both sides. After a final verdict it is not called again. */
  feed(side: ChannelSide, chunk: Buffer): ChannelVerdict;
}

/** fromClient/fromServer are called in the order the relay forwarded the chunks, in the same tick (SCP needs both sides in that order). */
export interface ChannelTap {
  /** Bytes from the person to the target. */
  fromClient?(data: Buffer): boolean | void;
  /** stdout bytes from the target. */
  fromServer?(data: Buffer): boolean | void;
  /** stderr bytes from the target. */
  fromServerStderr?(data: Buffer): boolean | void;
  onceDrain?(cb: () => void): void;
  /**
   * True once the tap stopped following the protocol (the bytes broke it): the relay then records the rest of
   * the channel as a terminal, so that a transfer's greeting cannot be used to slip a session past the recording.
   */
  stopped?(): boolean;
  /** The channel closed: finish captures. Errors are logged, never thrown at the session. */
  close?(): Promise<void>;
}

/** Called when a session channel starts its program; returns its classifier, or undefined for a plain terminal. */
export type ChannelTapFactory = (ctx: ChannelTapContext) => ChannelClassifier | undefined;
