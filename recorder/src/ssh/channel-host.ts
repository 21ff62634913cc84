// What a relayed channel needs from its connection; BastionConnection provides it.
import type { Client } from 'ssh2';
import type { Logger } from '../../../common/log.js';
import type { ConnectionAudit } from '../audit/connection.js';
import type { ChannelClassifier, ChannelTapContext } from '../channel-tap.js';
import type { LogInput, SessionRecording } from '../trail/recording.js';

export interface ChannelHandle {
  /** Resolves once the channel is closed and its close is in the channel log. */
  readonly closed: Promise<void>;
  /**
   * Tell the person why (on stderr where there is one) and close the channel; resolves once the message
   * has gone out (or could not within 2 s) and the target side is closing.
   */
  terminate(message: string): Promise<void>;
  /** The connection went away: close the target side and record what there is. */
  abort(): Promise<void>;
}

export interface ChannelHost {
  readonly log: Logger;
  /** The connection's audit: channel requests and the bytes of session channels. */
  readonly audit: ConnectionAudit;
  /** Absent when the host is not recorded. */
  readonly recording?: SessionRecording;
  /** The logged-in connection to the target. */
  targetClient(): Client;
  /** Append to the channel log (no-op without a recording). */
  record(entry: LogInput): boolean;
  /** The channel's classifier (the bastion's taps), or undefined: a plain terminal. */
  tapFor(ctx: Omit<ChannelTapContext, 'host' | 'recording' | 'auditTransfer'>): ChannelClassifier | undefined;
  countBytes(direction: 'in' | 'out', n: number): void;
  /**
   * A forwarding asked for on a session channel (x11-req, auth-agent-req): undefined when the host allows it,
   * otherwise the policy's one line, the refusal audited.
   */
  refusedForwarding(kind: 'agent' | 'x11', what: { readonly channel: number; readonly type: string }): string | undefined;
}
