// Issues 18 and 19 together: the console over an encrypted, signed trail. Real OpenSSH sessions (an
// interactive shell in which `sudo su` is typed and corrected, an sftp upload) through a recorder with a key
// set; then `srec console --keys DIR`, run as its own process the way the operator runs it, lists, plays,
// searches, verifies and hands out the transferred file in the clear; without the keys it says what it needs.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StoredSession } from '../../recorder/src/trail/sessions.js';
import { recordShellAndUpload, startLab, waitFor, type Lab } from '../../recorder/test/support/index.js';
import { srec } from '../../recorder/test/support/run-cli.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface RunningConsole {
  readonly url: string;
  readonly child: ChildProcess;
  stderr(): string;
}

/** `srec console` as a process of its own; resolves when it says where it listens. */
async function runConsole(args: readonly string[]): Promise<RunningConsole> {
  const child = spawn(process.execPath, ['--import', path.join(here, '../../testing/ts-register.mjs'), path.join(here, '../../recorder/test/support/srec-main.ts'), 'console', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout!.resume();
  const url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(err)?.[1] ?? (child.exitCode !== null ? 'exited' : undefined), 'srec console to listen', 60_000);
  if (url === 'exited') throw new Error(`srec console exited: ${err}`);
  return { url, child, stderr: () => err };
}

async function stop(c: RunningConsole | undefined): Promise<void> {
  if (c === undefined || c.child.exitCode !== null) return;
  const gone = new Promise((r) => c.child.once('exit', r));
  c.child.kill('SIGTERM');
  await gone;
}

describe('the console over an encrypted trail', () => {
  let lab: Lab;
  let keysDir: string;
  let tokenFile: string;
  let shell: StoredSession;
  let upload: StoredSession;
  let withKeys: RunningConsole;
  let withoutKeys: RunningConsole | undefined;
  const original = randomBytes(300_000);
  const api = (c: RunningConsole, p: string) => fetch(`${c.url}${p}`, { headers: { authorization: `Bearer ${TOKEN}` } });

  beforeAll(async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'srec-console-keys-'));
    keysDir = path.join(tmp, 'keys');
    expect((await srec('keys', 'init', keysDir)).code).toBe(0);
    lab = await startLab({ db1: { fileTransfers: true }, recorder: { extra: { trail: { keysDir } } } });
    // GIVEN a typed shell session and an sftp upload, recorded encrypted
    ({ shell, upload } = await recordShellAndUpload(lab, original, '/tmp/console-encrypted.bin'));
    expect(shell.stored.sealed).toBeDefined();
    tokenFile = path.join(lab.dir, 'console-tokens');
    await fsp.writeFile(tokenFile, `${TOKEN} auditor\n`);
    // WHEN the console runs with the trail's keys
    withKeys = await runConsole(['--data', lab.recorder.dataFolder, '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--keys', keysDir]);
  }, 240_000);

  afterAll(async () => {
    await stop(withKeys);
    await stop(withoutKeys);
    await lab?.stop();
  });

  it('lists both sessions, and their integrity is whole (signatures and records checked)', async () => {
    const list = (await (await api(withKeys, '/api/sessions')).json()) as { items: Array<{ id: string }> };
    expect(list.items.map((r) => r.id).sort()).toEqual([shell.id, upload.id].sort());
    const detail = (await (await api(withKeys, `/api/sessions/${shell.id}`)).json()) as { integrity: { ok: boolean; findings: unknown[] }; manifest: { channels: Array<{ command?: string }> } };
    expect(detail.integrity).toMatchObject({ ok: true, findings: [] });
  });

  it('plays the cast in the clear and finds the corrected `sudo su`', async () => {
    const cast = await (await api(withKeys, `/api/sessions/${shell.id}/cast/0`)).text();
    expect(JSON.parse(cast.split('\n')[0]!)).toMatchObject({ version: 2 });
    expect(cast).toContain('after-42');
    const found = (await (await api(withKeys, `/api/search?q=${encodeURIComponent('sudo su')}`)).json()) as { hits: Array<{ session: string; stream: string; line: string }> };
    expect(found.hits).toEqual(expect.arrayContaining([expect.objectContaining({ session: shell.id, stream: 'input', line: 'sudo su' })]));
    // the session page opened from the hit marks it on the player's timeline
    const page = await (await api(withKeys, `/sessions/${shell.id}?q=${encodeURIComponent('sudo su')}`)).text();
    expect(page).toContain('typed: sudo su');
  });

  it('hands out the uploaded file decrypted, its sha256 the original\'s', async () => {
    const r = await api(withKeys, `/api/sessions/${upload.id}/files/0`);
    expect(r.status).toBe(200);
    const body = Buffer.from(await r.arrayBuffer());
    expect(sha256(body)).toBe(sha256(original));
    expect(r.headers.get('x-srec-sha256')).toBe(sha256(original));
  });

  it('without the keys: lists who and when, but says the files need the keys and finds nothing in sealed content', async () => {
    withoutKeys = await runConsole(['--data', lab.recorder.dataFolder, '--listen', '127.0.0.1:0', '--token-file', tokenFile]);
    const list = (await (await api(withoutKeys, '/api/sessions')).json()) as { items: Array<{ id: string; user: string }> };
    expect(list.items).toHaveLength(2);
    expect(list.items.every((r) => r.user === 'alice')).toBe(true);
    const r = await api(withoutKeys, `/api/sessions/${upload.id}/files/0`);
    expect({ status: r.status, body: await r.json() }).toEqual({ status: 409, body: { error: `session ${upload.id} is encrypted: the console needs the trail's keys (--keys DIR) to hand out its files` } });
    const found = (await (await api(withoutKeys, `/api/search?q=${encodeURIComponent('sudo su')}`)).json()) as { hits: unknown[] };
    expect(found.hits).toEqual([]);
  });

  it('a bad --keys directory: exit 2 naming it', async () => {
    const r = await srec('console', '--data', lab.recorder.dataFolder, '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--keys', path.join(lab.dir, 'no-keys'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--keys ${path.join(lab.dir, 'no-keys')}`);
  });
});
