// Who a session recorded by the tests with the trail writer (SessionRecording) is: alice from 10.1.2.3, as
// root on db-1, through recorder rec-a.
import { randomUUID } from 'node:crypto';
import type { SessionIdentity } from '../../src/trail/manifest.js';

export function sessionIdentity(start: Date): SessionIdentity {
  return {
    sessionId: randomUUID(),
    connectionId: randomUUID(),
    recorder: 'rec-a',
    user: 'alice',
    remoteAddress: '10.1.2.3:51234',
    targetUser: 'root',
    host: { name: 'db-1', address: '10.0.0.5', port: 22 },
    start: start.toISOString(),
  };
}
