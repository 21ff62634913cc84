// What the recorder offers in the handshake, seen by the real OpenSSH client: only what ssh2's server can
// complete (no group exchange), no SHA-1 signatures, and a client that insists on something else is told why.
import { jest } from '@jest/globals';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { makeKey, type KeyPair } from '../../testing/openssh.js';
import type { ResolvedUser } from '../src/config.js';
import { checkPublicKey, KeyDirectory } from '../src/ssh/auth.js';
import { startLab, type Lab } from './support/index.js';

jest.setTimeout(60000);

let lab: Lab;
let keysDir: string;
let rsa: KeyPair;

beforeAll(async () => {
  keysDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-algos-'));
  rsa = await makeKey(keysDir, 'bob-rsa', 'rsa');
  lab = await startLab({ users: [{ name: 'bob', authorizedKeys: [rsa.publicLine] }] });
});

afterAll(async () => {
  await lab?.stop();
  await fsp.rm(keysDir, { recursive: true, force: true });
});

/** One list from `ssh -vv`'s "peer server KEXINIT proposal" block, e.g. `KEX algorithms`. */
function peerProposal(stderr: string, name: string): string[] {
  const block = stderr.split('peer server KEXINIT proposal')[1] ?? '';
  const line = block.split('\n').find((l) => l.includes(`${name}: `));
  if (line === undefined) throw new Error(`no "${name}" in the peer proposal:\n${block.slice(0, 2000)}`);
  return line.slice(line.indexOf(`${name}: `) + name.length + 2).trim().split(',');
}

describe('the handshake the recorder offers', () => {
  it('offers no key exchange it cannot complete and no SHA-1 host key signature', async () => {
    // GIVEN the recorder WHEN the OpenSSH client connects verbosely
    const r = await lab.ssh('true', { extra: ['-vv'] });
    // THEN the session works, and the server's proposal has no group exchange and no ssh-rsa / ssh-dss
    expect(r.code).toBe(0);
    const kex = peerProposal(r.stderr, 'KEX algorithms');
    expect(kex).toContain('curve25519-sha256');
    expect(kex.filter((k) => k.includes('group-exchange'))).toEqual([]);
    const hostKeys = peerProposal(r.stderr, 'host key algorithms');
    expect(hostKeys).not.toContain('ssh-rsa');
    expect(hostKeys).not.toContain('ssh-dss');
  });

  it('tells a client that wants only group exchange that there is no matching method, instead of an empty disconnect', async () => {
    // GIVEN a client allowing only diffie-hellman-group-exchange-sha256 WHEN it connects
    const r = await lab.ssh('true', { extra: ['-o', 'KexAlgorithms=diffie-hellman-group-exchange-sha256', '-o', 'LogLevel=INFO'] });
    // THEN it fails at once with OpenSSH's own reason
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/no matching key exchange method found/);
  });

  it('logs in an RSA user whose client allows only rsa-sha2-512 (server-sig-algs is a well-formed list)', async () => {
    // GIVEN bob with an RSA key and a client restricted to rsa-sha2-512 WHEN he runs a command
    const r = await lab.ssh('echo rsa-ok', { identity: rsa.privatePath, extra: ['-o', 'PubkeyAcceptedAlgorithms=rsa-sha2-512', '-vv'] });
    // THEN he is in, and the server listed rsa-sha2-512 as a separate algorithm
    expect(r.stderr).toMatch(/server-sig-algs=<[^>]*\brsa-sha2-512\b/);
    expect(r.stdout).toBe('rsa-ok\n');
    expect(r.code).toBe(0);
  });

  it('does not offer ssh-rsa (SHA-1) to a client that allows only that', async () => {
    // GIVEN a client restricted to ssh-rsa WHEN it tries bob's RSA key
    const r = await lab.ssh('true', { identity: rsa.privatePath, extra: ['-o', 'PubkeyAcceptedAlgorithms=ssh-rsa', '-vv'] });
    // THEN the server's list has no ssh-rsa, so no signature algorithm is shared and the login fails
    const sigAlgs = /server-sig-algs=<([^>]*)>/.exec(r.stderr)?.[1]?.split(',');
    expect(sigAlgs).toBeDefined();
    expect(sigAlgs).not.toContain('ssh-rsa');
    expect(sigAlgs).not.toContain('ssh-dss');
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
  });
});

describe('checkPublicKey with SHA-1', () => {
  it('refuses an ssh-rsa signature even when it is valid, and accepts the same key signing with rsa-sha2-256', async () => {
    // GIVEN bob's real RSA key in the directory
    const key = ssh2.utils.parseKey(await fsp.readFile(rsa.privatePath));
    if (key instanceof Error) throw key;
    const bob: ResolvedUser = { name: 'bob', keys: [key] } as unknown as ResolvedUser;
    const dir = new KeyDirectory([bob]);
    const blob = Buffer.from('session data to sign');
    // (ssh2 reports an rsa-sha2-* request as key type ssh-rsa with a hashAlgo; plain ssh-rsa has none)
    const pub = { algo: 'ssh-rsa', data: key.getPublicSSH() };
    // WHEN a client signs with SHA-1 (algorithm ssh-rsa) THEN the verdict is sha1_signature, also for the query
    expect(checkPublicKey(dir, { key: pub, blob, signature: key.sign(blob, 'sha1'), hashAlgo: undefined } as never).kind).toBe('sha1_signature');
    expect(checkPublicKey(dir, { key: pub } as never).kind).toBe('sha1_signature');
    // WHEN it signs with rsa-sha2-256 THEN it is in
    expect(checkPublicKey(dir, { key: pub, blob, signature: key.sign(blob, 'sha256'), hashAlgo: 'sha256' } as never).kind).toBe('ok');
  });
});
