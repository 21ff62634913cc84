// What the bastion tells the audit pipeline. Structurally the AuditSink of recorder/src/audit/emitter.ts
// (docs/internals.md): emit() never blocks and never throws. Until that sink is wired in, NO_AUDIT.

export type AuditExposure = 'SSH-PRIVX-AUDIT' | 'SSH-PRIVX-SENSITIVE-AUDIT';

export type BastionAuditEventName =
  | 'session_start'
  | 'session_end'
  | 'connection_refused'
  | 'file_transfer'
  | 'stdin'
  | 'stdout'
  | 'stderr'
  | 'channel_request'
  | 'global_request';

export interface BastionAuditEvent {
  readonly exposure: AuditExposure;
  readonly event: BastionAuditEventName;
  /** ISO-8601. */
  readonly timestamp: string;
  readonly connectionId: string;
  readonly sessionId?: string;
  /** The person (users[].name); absent before authentication. */
  readonly username?: string;
  readonly targetUsername?: string;
  /** hosts[].name */
  readonly hostId?: string;
  /** `address:port` of the target. */
  readonly hostAddress?: string;
  /** `ip:port` of the person. */
  readonly remoteAddress: string;
  /** The session's channel number (as in the trail). */
  readonly channel?: number;
  /** stdin / stdout / stderr bytes (sensitive). */
  readonly data?: Buffer;
  /** channel_request / global_request: the request name and its details (sensitive). */
  readonly request?: { readonly name: string; readonly accepted?: boolean; readonly [detail: string]: unknown };
  /** connection_refused: the reason code (metrics label) and the message the person saw. */
  readonly reason?: string;
  readonly message?: string;
}

export interface AuditPort {
  /** Never blocks, never throws. */
  emit(event: BastionAuditEvent): void;
  close(): Promise<void>;
}

export const NO_AUDIT: AuditPort = {
  emit: () => undefined,
  close: async () => undefined,
};
