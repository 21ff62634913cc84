// Who is connecting: the person from the key they signed with (compared in constant time against every
// authorized key), the target from the login name `<targetUser>@<hostName>`.
import { timingSafeEqual } from 'node:crypto';
import type { ParsedKey, PublicKeyAuthContext } from 'ssh2';
import type { ResolvedUser } from '../config.js';
import { isSha1Signature } from './algorithms.js';

export interface Login {
  readonly targetUser: string;
  readonly hostName: string;
}

/** `root@db-1` -> {root, db-1}; the last `@` separates, as OpenSSH splits `user@host`. */
export function parseLogin(username: string): Login | undefined {
  const at = username.lastIndexOf('@');
  if (at <= 0 || at === username.length - 1) return undefined;
  return { targetUser: username.slice(0, at), hostName: username.slice(at + 1) };
}

/** Equal-length buffers compared in constant time; different lengths still cost one comparison. */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  const sameLength = a.length === b.length;
  return timingSafeEqual(a, sameLength ? b : a) && sameLength;
}

interface Entry {
  readonly user: ResolvedUser;
  readonly key: ParsedKey;
  readonly blob: Buffer;
}

export class KeyDirectory {
  private readonly entries: readonly Entry[];

  constructor(users: readonly ResolvedUser[]) {
    this.entries = users.flatMap((user) => user.keys.map((key) => ({ user, key, blob: key.getPublicSSH() })));
  }

  /** The owner of this public key blob. Every key is compared, so timing does not tell which matched. */
  match(blob: Buffer): { user: ResolvedUser; key: ParsedKey } | undefined {
    let found: Entry | undefined;
    for (const e of this.entries) {
      if (constantTimeEqual(blob, e.blob) && found === undefined) found = e;
    }
    return found && { user: found.user, key: found.key };
  }
}

export type PublicKeyVerdict =
  | { readonly kind: 'unknown_key' }
  /** The client only asked whether the key would do; it has not proven it holds the private key. */
  | { readonly kind: 'query'; readonly user: ResolvedUser }
  | { readonly kind: 'bad_signature'; readonly user: ResolvedUser }
  /** Signed (or asked to sign) with SHA-1 (`ssh-rsa`, `ssh-dss`), refused as OpenSSH 8.8+ refuses it. */
  | { readonly kind: 'sha1_signature'; readonly user: ResolvedUser }
  | { readonly kind: 'ok'; readonly user: ResolvedUser };

/** Decide a publickey request as ssh2's server example does: known key, then the signature over the session. */
export function checkPublicKey(dir: KeyDirectory, ctx: Pick<PublicKeyAuthContext, 'key' | 'signature' | 'blob' | 'hashAlgo'>): PublicKeyVerdict {
  const m = dir.match(ctx.key.data);
  if (m === undefined) return { kind: 'unknown_key' };
  // Refused at the query too, so the client moves on to rsa-sha2-* instead of signing with SHA-1.
  if (isSha1Signature(ctx.key.algo, ctx.hashAlgo)) return { kind: 'sha1_signature', user: m.user };
  if (ctx.signature === undefined || ctx.blob === undefined) return { kind: 'query', user: m.user };
  const ok = m.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true;
  return ok ? { kind: 'ok', user: m.user } : { kind: 'bad_signature', user: m.user };
}
