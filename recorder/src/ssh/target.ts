// The recorder's own SSH connection to a target: only the pinned host keys are accepted (constant-time
// comparison of the key blobs), then the recorder logs in with the host's credentials.
import ssh2 from 'ssh2';
import type { Client, ConnectConfig } from 'ssh2';
import type { ResolvedHost } from '../config.js';
import { constantTimeEqual } from './auth.js';
import { refusals, type Refusal } from './refusal.js';

export type TargetResult = { readonly ok: true; readonly client: Client } | { readonly ok: false; readonly refusal: Refusal };

export interface TargetOptions {
  /** Handshake + login deadline. @default 15000 */
  readonly readyTimeoutMs?: number;
  /** SSH keepalive towards the target. @default 15000 */
  readonly keepaliveIntervalMs?: number;
}

const RSA_ALGOS = ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/**
 * The agent a target connection is given where the host allows ssh -A: ssh2 asks the target for agent
 * forwarding only with one configured. It lists nothing and signs nothing, and has no stream: the agent
 * channels the target opens are relayed to the person's ssh by the connection (the declared ssh2 patch's
 * 'auth-agent' event), and the recorder's own login (authHandler below) never uses an agent.
 */
export class RelayOnlyAgent extends ssh2.BaseAgent {
  getIdentities(cb: (err: Error | undefined, keys?: never[]) => void): void {
    cb(new Error("srec relays the person's agent to the target and never uses it itself"));
  }
  sign(_key: unknown, _data: Buffer, options: unknown, cb?: (err: Error | undefined) => void): void {
    (typeof options === 'function' ? (options as (err: Error) => void) : cb!)(new Error("srec relays the person's agent to the target and never uses it itself"));
  }
}

/** Host key algorithms to offer: only the pinned keys' types, so the target presents a key we can check. */
export function hostKeyAlgorithms(host: ResolvedHost): string[] {
  const types = new Set<string>();
  for (const k of host.hostKeys) {
    if (k.type === 'ssh-rsa') RSA_ALGOS.forEach((a) => types.add(a));
    else types.add(k.type);
  }
  return [...types];
}

export function isPinned(host: ResolvedHost, presented: Buffer): boolean {
  let ok = false;
  for (const k of host.hostKeys) if (constantTimeEqual(presented, k.getPublicSSH())) ok = true;
  return ok;
}

export function connectTarget(host: ResolvedHost, opts: TargetOptions = {}): Promise<TargetResult> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    let mismatch = false;
    let settled = false;
    const settle = (r: TargetResult) => {
      if (settled) return;
      settled = true;
      if (!r.ok) client.end();
      resolve(r);
    };
    const creds = host.credentials;
    const config: ConnectConfig = {
      host: host.address,
      port: host.port,
      username: creds.username,
      readyTimeout: opts.readyTimeoutMs ?? 15000,
      keepaliveInterval: opts.keepaliveIntervalMs ?? 15000,
      keepaliveCountMax: 3,
      algorithms: { serverHostKey: hostKeyAlgorithms(host) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
      hostVerifier: (key: Buffer) => {
        mismatch = !isPinned(host, key);
        return !mismatch;
      },
      ...(creds.privateKey ? { privateKey: creds.privateKey, authHandler: ['publickey'] } : { password: creds.password ?? '', authHandler: ['password'] }),
      ...(host.forwarding.agent ? { agent: new RelayOnlyAgent() } : {}),
      // Unix-socket forwards are asked of any target; one that does not know them answers failure itself.
      strictVendor: false,
    };
    client.once('ready', () => settle({ ok: true, client }));
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (mismatch) return settle({ ok: false, refusal: refusals.hostKeyMismatch(host) });
      if (err.level === 'client-authentication') return settle({ ok: false, refusal: refusals.targetAuthFailed(host) });
      settle({ ok: false, refusal: refusals.targetDown(host, describe(err), firstLine(err)) });
    });
    client.once('close', () => {
      if (mismatch) settle({ ok: false, refusal: refusals.hostKeyMismatch(host) });
      else settle({ ok: false, refusal: refusals.targetDown(host, 'the connection closed during the handshake') });
    });
    try {
      client.connect(config);
    } catch (err) {
      settle({ ok: false, refusal: refusals.targetDown(host, describe(err as Error), firstLine(err as Error)) });
    }
  });
}

/** What the person is told: a fixed phrase, since an error's own message may name the address. */
function describe(err: Error & { code?: string; level?: string }): string {
  if (err.code === 'ECONNREFUSED') return 'connection refused';
  if (err.code === 'ETIMEDOUT' || /Timed out/i.test(err.message)) return 'timed out';
  if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return 'no route to host';
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return 'the address does not resolve';
  if (err.code === 'ECONNRESET') return 'the connection was reset';
  return 'the connection failed';
}

/** What the operator is told. */
function firstLine(err: Error): string {
  return err.message.split('\n')[0] || 'unknown error';
}
