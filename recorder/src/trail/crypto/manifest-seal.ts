// What a manifest keeps readable, what it seals, and its signature. Readable without keys, for a listing:
// who (user, targetUser), from where (remoteAddress), which host, when (start, end), how it ended, the
// channels' ids, types, kinds, byte counts and exit status, each transfer's protocol, direction and size,
// and every file with its size and sha256 (of the sealed bytes). Sealed in `sealed` (a sealed file of its
// own, bound to the session): the content, that is the exec command lines, subsystem names, forwarding
// destinations and origins, and each transfer's remote path, note and content sha256 (a hash of a file's
// content confirms a guess of it). The signature covers the manifest as stored, `sealed` included, so
// that the public key alone verifies it; `filesExpired` is added later by retention and signed apart.
import { createHash, sign, verify } from 'node:crypto';
import type { ManifestChannel } from '../channel-log.js';
import type { Manifest, ManifestTransfer } from '../manifest.js';
import type { TrailKeys } from './keys.js';
import { openBufferSync, sealBuffer } from './sealed.js';
import { canonicalJson } from '../../../../common/canonical-json.js';

export const MANIFEST_SIGNATURE_ALG = 'Ed25519';

export interface ManifestSignature {
  readonly alg: typeof MANIFEST_SIGNATURE_ALG;
  /** publicKeyId() of the key that signed. */
  readonly key: string;
  /** base64 */
  readonly value: string;
}

const CHANNEL_CONTENT = ['command', 'subsystem', 'destination', 'origin'] as const;
const TRANSFER_CONTENT = ['path', 'note', 'sha256'] as const;
/** Fields outside what is signed at sealing time. */
const UNSIGNED = new Set(['signature', 'filesExpired', 'filesExpiredSignature']);

interface SealedContent {
  readonly channels: ReadonlyArray<Record<string, unknown>>;
  readonly transfers: ReadonlyArray<Record<string, unknown>>;
}

const binding = (m: Manifest) => ({ session: m.sessionId, file: 'manifest.json' });


/** The bytes a manifest's signature covers (and the ledger hashes): the stored manifest but for what is added later. */
export function signedBytes(m: Manifest): Buffer {
  const o = Object.fromEntries(Object.entries(m).filter(([k]) => !UNSIGNED.has(k)));
  return Buffer.from(`srec-manifest-v1\n${canonicalJson(o)}`, 'utf8');
}

/** sha256 (hex) of signedBytes(): what the replica's ledger chains. */
export function manifestHash(m: Manifest): string {
  return createHash('sha256').update(signedBytes(m)).digest('hex');
}

function pick(o: object, keys: readonly string[]): Record<string, unknown> {
  const r = o as Record<string, unknown>;
  return Object.fromEntries(keys.filter((k) => r[k] !== undefined).map((k) => [k, r[k]]));
}

function omit<T extends object>(o: T, keys: readonly string[]): T {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k))) as T;
}

/**
 * The manifest as the writer stores it with a key set: content sealed when the keys can encrypt, signed
 * when they hold the signing key. Without either it is returned as it is.
 */
export function finishManifest(m: Manifest, keys: TrailKeys | undefined): Manifest {
  if (keys === undefined) return m;
  let out = m;
  if (keys.keks.length > 0) {
    const content: SealedContent = {
      channels: m.channels.map((c) => pick(c, CHANNEL_CONTENT)),
      transfers: m.transfers.map((t) => pick(t, TRANSFER_CONTENT)),
    };
    out = {
      ...m,
      channels: m.channels.map((c) => omit(c, CHANNEL_CONTENT)),
      transfers: m.transfers.map((t) => omit(t, TRANSFER_CONTENT) as ManifestTransfer),
      sealed: sealBuffer(keys, binding(m), Buffer.from(JSON.stringify(content), 'utf8')).toString('base64'),
    };
  }
  if (keys.signingKey !== undefined && keys.keyId !== undefined) {
    const signature: ManifestSignature = { alg: MANIFEST_SIGNATURE_ALG, key: keys.keyId, value: sign(null, signedBytes(out), keys.signingKey).toString('base64') };
    out = { ...out, signature };
  }
  return out;
}

/** The stored manifest with its sealed content put back; throws a SealError (named) when the keys cannot open it. */
export function openManifest(stored: Manifest, keys: TrailKeys | undefined): Manifest {
  if (stored.sealed === undefined || keys === undefined || keys.keks.length === 0) return stored;
  const plain = openBufferSync(keys, binding(stored), Buffer.from(stored.sealed, 'base64'), 'manifest.json sealed');
  const content = JSON.parse(plain.toString('utf8')) as SealedContent;
  return {
    ...stored,
    channels: stored.channels.map((c, i) => ({ ...c, ...content.channels[i] }) as ManifestChannel),
    transfers: stored.transfers.map((t, i) => ({ ...t, ...content.transfers[i] }) as ManifestTransfer),
  };
}

/** Why a stored manifest's signature does not hold with `keys`' public key, or undefined when it does. */
export function manifestSignatureProblem(stored: Manifest, keys: TrailKeys): string | undefined {
  const sig = stored.signature;
  if (sig === undefined) return 'unsigned: the manifest has no signature (written without a signing key, or the signature was removed)';
  if (sig.alg !== MANIFEST_SIGNATURE_ALG) return `signature algorithm ${String(sig.alg)} is not ${MANIFEST_SIGNATURE_ALG}`;
  if (keys.publicKey === undefined) return undefined;
  if (sig.key !== keys.keyId) return `signed by key ${sig.key}, not by ${keys.keyId} (${keys.dir}/signing.pub): written by another installation, or re-signed`;
  const ok = verify(null, signedBytes(stored), keys.publicKey, Buffer.from(sig.value, 'base64'));
  return ok ? undefined : 'signature does not verify: a field of the manifest was changed after it was signed';
}

/** What retention signs when it removes `files/`: the session and the time. */
export function expiryBytes(m: Manifest, when: string): Buffer {
  return Buffer.from(`srec-files-expired-v1\n${m.sessionId}\n${manifestHash(m)}\n${when}`, 'utf8');
}

export function signExpiry(m: Manifest, when: string, keys: TrailKeys | undefined): string | undefined {
  return keys?.signingKey !== undefined ? sign(null, expiryBytes(m, when), keys.signingKey).toString('base64') : undefined;
}

export function expiryProblem(m: Manifest, keys: TrailKeys): string | undefined {
  if (m.filesExpired === undefined || keys.publicKey === undefined) return undefined;
  if (m.filesExpiredSignature === undefined) return 'filesExpired is not signed: retention did not write it (or ran without the signing key)';
  return verify(null, expiryBytes(m, m.filesExpired), keys.publicKey, Buffer.from(m.filesExpiredSignature, 'base64'))
    ? undefined
    : 'filesExpired signature does not verify: the expiry was changed or added by hand';
}
