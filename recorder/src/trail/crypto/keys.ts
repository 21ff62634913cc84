// A trail key set in a directory (`srec keys init|rotate DIR`; in a cluster two Secrets mounted together):
//   encryption.json  the key-encryption keys (KEKs), newest first: the first one wraps new data keys, every
//                    one of them still unwraps what it wrapped, so rotating never re-encrypts old trails
//   signing.key      the recorder's Ed25519 private key (PKCS#8 PEM): signs manifests and ledger entries
//   signing.pub      its public key (SPKI PEM): all an auditor needs to verify
// Every file is optional on load; each user says which it needs (see need()).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const ENCRYPTION_KEYS_FILE = 'encryption.json';
export const SIGNING_KEY_FILE = 'signing.key';
export const SIGNING_PUBLIC_FILE = 'signing.pub';

/** A key-encryption key: 32 bytes for AES-256-GCM, named by an id written next to every key it wraps. */
export interface Kek {
  readonly id: string;
  readonly key: Buffer;
  readonly created: string;
}

export interface TrailKeys {
  /** Where the keys were read from, for messages. */
  readonly dir: string;
  /** Newest first; empty when the directory has no encryption.json. */
  readonly keks: readonly Kek[];
  /** Absent without signing.key. */
  readonly signingKey?: KeyObject;
  /** From signing.pub, or derived from signing.key. */
  readonly publicKey?: KeyObject;
  /** Short fingerprint of the public key (sha256 of its SPKI DER, 16 hex digits), written beside each signature. */
  readonly keyId?: string;
}

/** A key set that cannot be used as asked; the message names the file and what to do. */
export class TrailKeyError extends Error {
  override readonly name = 'TrailKeyError';
}

interface EncryptionFile {
  readonly version: 1;
  readonly keys: ReadonlyArray<{ readonly id: string; readonly created: string; readonly key: string }>;
}

export function publicKeyId(pub: KeyObject): string {
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** Reads whatever of a key set DIR holds; throws TrailKeyError for a damaged file or a DIR with none of them. */
export function loadTrailKeys(dir: string): TrailKeys {
  const at = (f: string) => path.join(dir, f);
  let keks: Kek[] = [];
  let signingKey: KeyObject | undefined;
  let publicKey: KeyObject | undefined;
  if (existsSync(at(ENCRYPTION_KEYS_FILE))) keks = parseEncryptionFile(readFileSync(at(ENCRYPTION_KEYS_FILE), 'utf8'), at(ENCRYPTION_KEYS_FILE));
  if (existsSync(at(SIGNING_KEY_FILE))) {
    try {
      signingKey = createPrivateKey(readFileSync(at(SIGNING_KEY_FILE)));
    } catch (err) {
      throw new TrailKeyError(`${at(SIGNING_KEY_FILE)}: not a private key (${(err as Error).message}); write it with srec keys init`);
    }
    if (signingKey.asymmetricKeyType !== 'ed25519') throw new TrailKeyError(`${at(SIGNING_KEY_FILE)}: a ${signingKey.asymmetricKeyType} key; the trail is signed with Ed25519 (srec keys init)`);
    publicKey = createPublicKey(signingKey);
  }
  if (existsSync(at(SIGNING_PUBLIC_FILE))) {
    let pub: KeyObject;
    try {
      pub = createPublicKey(readFileSync(at(SIGNING_PUBLIC_FILE)));
    } catch (err) {
      throw new TrailKeyError(`${at(SIGNING_PUBLIC_FILE)}: not a public key (${(err as Error).message})`);
    }
    if (pub.asymmetricKeyType !== 'ed25519') throw new TrailKeyError(`${at(SIGNING_PUBLIC_FILE)}: a ${pub.asymmetricKeyType} key, not Ed25519`);
    if (publicKey !== undefined && publicKeyId(pub) !== publicKeyId(publicKey)) {
      throw new TrailKeyError(`${at(SIGNING_PUBLIC_FILE)} is not the public key of ${SIGNING_KEY_FILE}; put the pair of one srec keys init together`);
    }
    publicKey = pub;
  }
  if (keks.length === 0 && publicKey === undefined) {
    throw new TrailKeyError(`${dir}: no ${ENCRYPTION_KEYS_FILE}, ${SIGNING_KEY_FILE} or ${SIGNING_PUBLIC_FILE}; make a key set with srec keys init ${dir}`);
  }
  return { dir, keks, ...(signingKey ? { signingKey } : {}), ...(publicKey ? { publicKey, keyId: publicKeyId(publicKey) } : {}) };
}

function parseEncryptionFile(text: string, file: string): Kek[] {
  let doc: EncryptionFile;
  try {
    doc = JSON.parse(text) as EncryptionFile;
  } catch (err) {
    throw new TrailKeyError(`${file}: not JSON (${(err as Error).message})`);
  }
  if (doc?.version !== 1 || !Array.isArray(doc.keys) || doc.keys.length === 0) throw new TrailKeyError(`${file}: expected {"version": 1, "keys": [...]} with at least one key`);
  const seen = new Set<string>();
  return doc.keys.map((k, i) => {
    const key = typeof k?.key === 'string' ? Buffer.from(k.key, 'base64') : Buffer.alloc(0);
    if (typeof k?.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(k.id)) throw new TrailKeyError(`${file}: keys[${i}].id must be 1-64 letters, digits, '.', '_' or '-'`);
    if (key.length !== 32) throw new TrailKeyError(`${file}: keys[${i}].key must be 32 bytes in base64 (AES-256)`);
    if (seen.has(k.id)) throw new TrailKeyError(`${file}: keys[${i}].id "${k.id}" is used twice`);
    seen.add(k.id);
    return { id: k.id, key, created: typeof k.created === 'string' ? k.created : '' };
  });
}

/** Throws unless the key set has what `use` needs. */
export function need(keys: TrailKeys, what: 'encryption' | 'signing' | 'public', use: string): void {
  if (what === 'encryption' && keys.keks.length === 0) throw new TrailKeyError(`${use} needs the encryption keys: ${path.join(keys.dir, ENCRYPTION_KEYS_FILE)} is missing`);
  if (what === 'signing' && keys.signingKey === undefined) throw new TrailKeyError(`${use} needs the signing key: ${path.join(keys.dir, SIGNING_KEY_FILE)} is missing`);
  if (what === 'public' && keys.publicKey === undefined) throw new TrailKeyError(`${use} needs the public signing key: ${path.join(keys.dir, SIGNING_PUBLIC_FILE)} is missing`);
}

function newKek(now: Date): { id: string; created: string; key: string } {
  const stamp = now.toISOString().slice(0, 10).replace(/-/g, '');
  return { id: `kek-${stamp}-${randomBytes(3).toString('hex')}`, created: now.toISOString(), key: randomBytes(32).toString('base64') };
}

function writeSecret(file: string, data: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  writeFileSync(tmp, data, { mode: 0o600, flag: 'w' });
  renameSync(tmp, file);
}

/** `srec keys init DIR`: a new key set; refuses to overwrite any key already there (it would orphan trails). */
export function initKeySet(dir: string, now = new Date()): { kekId: string; keyId: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const f of [ENCRYPTION_KEYS_FILE, SIGNING_KEY_FILE, SIGNING_PUBLIC_FILE]) {
    if (existsSync(path.join(dir, f))) throw new TrailKeyError(`${path.join(dir, f)} exists; a new key set would make the trails it protects unreadable (use srec keys rotate ${dir}, or another directory)`);
  }
  const kek = newKek(now);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeSecret(path.join(dir, ENCRYPTION_KEYS_FILE), JSON.stringify({ version: 1, keys: [kek] }, null, 2) + '\n');
  writeSecret(path.join(dir, SIGNING_KEY_FILE), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  writeSecret(path.join(dir, SIGNING_PUBLIC_FILE), publicKey.export({ type: 'spki', format: 'pem' }) as string);
  return { kekId: kek.id, keyId: publicKeyId(publicKey) };
}

/** `srec keys rotate DIR`: a new current KEK before the others, which stay to unwrap older trails. */
export function rotateKeySet(dir: string, now = new Date()): { kekId: string; keks: number } {
  const file = path.join(dir, ENCRYPTION_KEYS_FILE);
  if (!existsSync(file)) throw new TrailKeyError(`${file} is missing; make a key set with srec keys init ${dir}`);
  const old = parseEncryptionFile(readFileSync(file, 'utf8'), file);
  const kek = newKek(now);
  const keys = [kek, ...old.map((k) => ({ id: k.id, created: k.created, key: k.key.toString('base64') }))];
  writeSecret(file, JSON.stringify({ version: 1, keys }, null, 2) + '\n');
  return { kekId: kek.id, keks: keys.length };
}
