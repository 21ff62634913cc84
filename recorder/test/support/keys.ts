// SSH keys made with the real ssh-keygen.
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KeyPair {
  readonly privatePath: string;
  readonly publicPath: string;
  /** `ssh-ed25519 AAAA... comment`, as in authorized_keys. */
  readonly publicLine: string;
}

/** `ssh-keygen -t <type> -N '' -f <dir>/<name>`. */
export async function makeKey(dir: string, name: string, type: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519'): Promise<KeyPair> {
  const privatePath = path.join(dir, name);
  await run('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', name, '-f', privatePath]);
  const publicLine = (await fsp.readFile(`${privatePath}.pub`, 'utf8')).trim();
  return { privatePath, publicPath: `${privatePath}.pub`, publicLine };
}
