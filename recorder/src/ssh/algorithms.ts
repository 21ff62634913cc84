// What the recorder offers its clients: exactly what ssh2's server implements, minus SHA-1 signatures.
// ssh2 advertises diffie-hellman-group-exchange-sha256 but has no server side for it, so a client that picks
// it is disconnected with an empty reason; it is never offered here. `ssh-rsa` (RSA with SHA-1) and `ssh-dss`
// are refused as OpenSSH 8.8+ refuses them by default: as host key algorithms and as user signatures.
import type { Algorithms, KexAlgorithm, ServerHostKeyAlgorithm } from 'ssh2';

/** Key exchange methods ssh2 offers but cannot complete as a server. */
const UNIMPLEMENTED_SERVER_KEX: KexAlgorithm[] = ['diffie-hellman-group-exchange-sha256', 'diffie-hellman-group-exchange-sha1'];

/** Signature algorithms that hash with SHA-1 (RFC 8332 and OpenSSH 8.8's release notes). */
export const SHA1_SIGNATURES: readonly string[] = ['ssh-rsa', 'ssh-dss'];

/** The `algorithms` option for ssh2.Server: its defaults with what the server cannot do or should not do removed. */
export function serverAlgorithms(): Algorithms {
  return {
    kex: { append: [], prepend: [], remove: UNIMPLEMENTED_SERVER_KEX },
    serverHostKey: { append: [], prepend: [], remove: SHA1_SIGNATURES as ServerHostKeyAlgorithm[] },
  };
}

/**
 * True when a user's publickey request signs with SHA-1. ssh2 reports `rsa-sha2-256/512` requests as key type
 * `ssh-rsa` with hashAlgo sha256/sha512; a plain `ssh-rsa` request has no hashAlgo, which means SHA-1.
 */
export function isSha1Signature(keyType: string, hashAlgo: string | undefined): boolean {
  return keyType === 'ssh-dss' || (keyType === 'ssh-rsa' && hashAlgo === undefined);
}
