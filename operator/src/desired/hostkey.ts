// The recorder's own SSH host key, in Secret `<cr>-recorder-hostkey` (key `host_key`). Generated once by
// the operator and never overwritten: clients pin it, so a new key would look like an attack.
// node:crypto makes the key and openSshPrivateKey() writes OpenSSH's file format, so that the operator
// does not load ssh2 (cli.ts: `srec operator` does not pay for it).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { SessionRecording } from '../api/types.js';
import { childMetadata, childNames, type KubeObject } from './meta.js';

/** An OpenSSH private key (ed25519). */
export type HostKeyGenerator = () => string;

export const generateEd25519HostKey: HostKeyGenerator = () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = (jwkPart: string | undefined) => Buffer.from(jwkPart ?? '', 'base64url');
  return openSshPrivateKey(raw(privateKey.export({ format: 'jwk' }).d), raw(publicKey.export({ format: 'jwk' }).x), randomBytes(4).readUInt32BE(0));
};

/**
 * An unencrypted ed25519 key in OpenSSH's format (PROTOCOL.key in OpenSSH's sources, `ssh-keygen -t
 * ed25519 -N ''`): "openssh-key-v1", cipher and kdf none, one public key, then the private section with
 * its check number twice, the 64-byte private key (seed then public key), the comment, and padding.
 */
export function openSshPrivateKey(seed: Buffer, publicKey: Buffer, checkint: number, comment = ''): string {
  if (seed.length !== 32 || publicKey.length !== 32) throw new Error('an ed25519 seed and public key are 32 bytes each');
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0, 0);
    return b;
  };
  const str = (b: Buffer | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b) : b;
    return Buffer.concat([u32(buf.length), buf]);
  };
  const pub = Buffer.concat([str('ssh-ed25519'), str(publicKey)]);
  let priv = Buffer.concat([u32(checkint), u32(checkint), pub, str(Buffer.concat([seed, publicKey])), str(comment)]);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), str('none'), str('none'), str(''), u32(1), str(pub), str(priv)]).toString('base64');
  const lines = body.match(/.{1,70}/g) ?? [];
  return ['-----BEGIN OPENSSH PRIVATE KEY-----', ...lines, '-----END OPENSSH PRIVATE KEY-----', ''].join('\n');
}

export function buildHostKeySecret(cr: SessionRecording, generate: HostKeyGenerator = generateEd25519HostKey): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: childMetadata(cr, childNames(cr).hostKey, 'recorder'),
    type: 'Opaque',
    immutable: true,
    stringData: { host_key: generate() },
  };
}
