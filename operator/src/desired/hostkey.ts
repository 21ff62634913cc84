// The recorder's own SSH host key, in Secret `<cr>-recorder-hostkey` (key `host_key`). Generated once by
// the operator and never overwritten: clients pin it, so a new key would look like an attack.
import ssh2 from 'ssh2';
import type { SessionRecording } from '../api/types.js';
import { childNames, type KubeObject, labels, namespaceOf, ownerReference } from './meta.js';

/** An OpenSSH private key (ed25519). */
export type HostKeyGenerator = () => string;

export const generateEd25519HostKey: HostKeyGenerator = () => ssh2.utils.generateKeyPairSync('ed25519').private;

export function buildHostKeySecret(cr: SessionRecording, generate: HostKeyGenerator = generateEd25519HostKey): KubeObject {
  const ref = ownerReference(cr);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: childNames(cr).hostKey,
      namespace: namespaceOf(cr),
      labels: labels(cr, 'recorder'),
      ...(ref ? { ownerReferences: [ref] } : {}),
    },
    type: 'Opaque',
    immutable: true,
    stringData: { host_key: generate() },
  };
}
