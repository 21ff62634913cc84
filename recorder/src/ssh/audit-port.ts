// What the bastion tells the audit pipeline: emit() never blocks and never throws. The event type lives
// with its mapping in recorder/src/audit/bastion-port.ts; createBastionAudit() there is the AuditPort
// `srec recorder` wires.
import type { BastionAuditEvent } from '../audit/bastion-port.js';

export type { AuditExposure, BastionAuditEvent, BastionAuditEventName, TransferAudit } from '../audit/bastion-port.js';

export interface AuditPort {
  /** Never blocks, never throws. */
  emit(event: BastionAuditEvent): void;
  close(): Promise<void>;
}

export const NO_AUDIT: AuditPort = {
  emit: () => undefined,
  close: async () => undefined,
};
