// What the bastion tells the audit pipeline: emit() never blocks and never throws. createBastionAudit()
// in recorder/src/audit/bastion-port.ts maps these onto the AuditSink of docs/internals.md.

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

/** A type alias (not an interface) so it fits structural index-signature types such as audit's BastionEventLike. */
export type BastionAuditEvent = {
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
  /** The target's `address`, or `address:port` when the port is not 22. */
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
  /** session_start: whether the host is recorded, and by which replica. */
  readonly recording?: boolean;
  readonly recorder?: string;
  /** session_end: bytes relayed each way. */
  readonly bytesIn?: number;
  readonly bytesOut?: number;
} & Partial<TransferAudit>;

/** file_transfer: what crossed a channel, never its content (non-sensitive). */
export type TransferAudit = {
  readonly protocol: 'sftp' | 'scp';
  readonly direction: 'upload' | 'download';
  /** The remote path. */
  readonly path: string;
  readonly size: number;
  /** Absent when it cannot be known exactly (see the manifest's `note`). */
  readonly sha256?: string;
  /** The transfer ended the normal way (SFTP close ok, SCP final ack ok). */
  readonly complete: boolean;
};

export interface AuditPort {
  /** Never blocks, never throws. */
  emit(event: BastionAuditEvent): void;
  close(): Promise<void>;
}

export const NO_AUDIT: AuditPort = {
  emit: () => undefined,
  close: async () => undefined,
};
