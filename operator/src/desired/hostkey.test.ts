import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { example } from '../../test/cr.js';
import { buildHostKeySecret, generateEd25519HostKey, openSshPrivateKey } from './hostkey.js';

// RFC 8032, 7.1, TEST 1.
const SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
const PUBLIC = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
/** `ssh-ed25519 <base64 of string "ssh-ed25519", string PUBLIC>`. */
const PUBLIC_LINE = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea';

/** The public key line real OpenSSH derives from a private key file (`ssh-keygen -y`). */
function sshKeygenPublic(privateKey: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'srec-hostkey-'));
  try {
    const file = path.join(dir, 'host_key');
    writeFileSync(file, privateKey, { mode: 0o600 });
    return execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parsed(text: string): ssh2.ParsedKey {
  const k = ssh2.utils.parseKey(text);
  const key = Array.isArray(k) ? k[0] : k;
  if (key === undefined || key instanceof Error) throw new Error(`ssh2 cannot parse the key: ${String(key)}`);
  return key;
}

describe('openSshPrivateKey', () => {
  it('writes a key OpenSSH and ssh2 read back as the same ed25519 key pair', () => {
    // GIVEN the RFC 8032 test key WHEN it is written in OpenSSH's format
    const text = openSshPrivateKey(SEED, PUBLIC, 0x01020304, 'srec');
    // THEN it is armoured as OpenSSH writes it, in lines of 70
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('-----BEGIN OPENSSH PRIVATE KEY-----');
    expect(lines.at(-1)).toBe('-----END OPENSSH PRIVATE KEY-----');
    expect(lines.slice(1, -2).every((l) => l.length === 70)).toBe(true);
    expect(Buffer.from(lines.slice(1, -1).join(''), 'base64').subarray(0, 15).toString('latin1')).toBe('openssh-key-v1\0');
    // AND real OpenSSH derives the test vector's public key from it
    expect(sshKeygenPublic(text)).toBe(PUBLIC_LINE);
    // AND ssh2 (the recorder's parser) reads an unencrypted private ed25519 key with that public key and the comment
    const key = parsed(text);
    expect(key.type).toBe('ssh-ed25519');
    expect(key.isPrivateKey()).toBe(true);
    expect(key.comment).toBe('srec');
    expect(`ssh-ed25519 ${key.getPublicSSH().toString('base64')}`).toBe(PUBLIC_LINE);
    // AND it signs as the RFC's key does (TEST 1: the empty message)
    expect(Buffer.from(key.sign(Buffer.alloc(0)) as Buffer).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
  });

  it('refuses what is not an ed25519 seed and public key', () => {
    expect(() => openSshPrivateKey(SEED.subarray(0, 31), PUBLIC, 1)).toThrow('an ed25519 seed and public key are 32 bytes each');
  });
});

describe('generateEd25519HostKey', () => {
  it('makes a new key each time, each one OpenSSH and ssh2 load', () => {
    // GIVEN two generated host keys
    const a = generateEd25519HostKey();
    const b = generateEd25519HostKey();
    // THEN they differ, and each is a private ed25519 key whose public half OpenSSH and ssh2 agree on
    expect(a).not.toBe(b);
    for (const text of [a, b]) {
      const key = parsed(text);
      expect([key.type, key.isPrivateKey()]).toEqual(['ssh-ed25519', true]);
      expect(sshKeygenPublic(text)).toBe(`ssh-ed25519 ${key.getPublicSSH().toString('base64')}`);
    }
  });
});

describe('buildHostKeySecret', () => {
  it('puts the generated key in an immutable Secret named after the CR', () => {
    const s = buildHostKeySecret(example('nfs'), () => 'KEY') as unknown as { metadata: { name: string }; immutable: boolean; stringData: Record<string, string> };
    expect(s.metadata.name).toBe('prod-recorder-hostkey');
    expect(s.immutable).toBe(true);
    expect(s.stringData).toEqual({ host_key: 'KEY' });
  });
});
