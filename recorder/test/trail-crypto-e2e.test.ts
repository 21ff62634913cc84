// Issue 18 end to end: real OpenSSH sessions (an interactive shell, an exec, an scp upload) through the
// recorder with a key set, then the share read as whoever can mount it would (no plaintext, raw or gunzipped),
// the auditor tools with the keys, and `srec verify` against each kind of tampering, each on its own copy of
// the share. Rotation: the recorder restarted on a rotated key set writes with the new key, old sessions open.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, promises as fsp, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { sftpArgs } from '../../testing/openssh.js';
import { loadTrailKeys } from '../src/trail/crypto/keys.js';
import { openBuffer } from '../src/trail/crypto/sealed.js';
import { ledgerFile } from '../src/trail/ledger.js';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { collect, spawnSsh, startLab, waitFor, type Lab } from './support/index.js';
import { srec } from './support/run-cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the sessions typed, printed, ran and sent; none of it may be on the share in the clear. */
const SECRETS = ['zebra42quokka', 'zebra$((40+2))', 'walrus', 'narwhal', 'platypuscontent', 'okapiname'];

function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...allFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Each secret found in any file of `dir`, as stored or after gunzip: `file: secret`. */
function plaintextOn(dir: string): string[] {
  const found: string[] = [];
  for (const f of allFiles(dir)) {
    const raw = readFileSync(f);
    let unzipped = Buffer.alloc(0);
    try {
      unzipped = zlib.gunzipSync(raw);
    } catch {
      /* not gzip: sealed, or JSON */
    }
    for (const s of SECRETS) if (raw.includes(s) || unzipped.includes(s)) found.push(`${path.relative(dir, f)}: ${s}`);
  }
  return found;
}

function copyShare(from: string): string {
  const to = mkdtempSync(path.join(os.tmpdir(), 'srec-share-copy-'));
  cpSync(from, to, { recursive: true });
  return to;
}

describe('encrypted, signed and chained trail of real OpenSSH sessions', () => {
  let lab: Lab;
  let keysDir: string;
  let pubDir: string;
  let share: string;
  let sessions: StoredSession[];
  const copies: string[] = [];
  const copy = () => {
    const c = copyShare(share);
    copies.push(c);
    return c;
  };
  const at = (dataFolder: string, s: StoredSession) => path.join(dataFolder, path.relative(share, s.dir));

  beforeAll(async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'srec-keys-'));
    keysDir = path.join(tmp, 'keys');
    expect((await srec('keys', 'init', keysDir)).code).toBe(0);
    // The auditor's half: only the public key.
    pubDir = path.join(tmp, 'pub');
    await fsp.mkdir(pubDir);
    await fsp.copyFile(path.join(keysDir, 'signing.pub'), path.join(pubDir, 'signing.pub'));

    lab = await startLab({ db1: { fileTransfers: true }, recorder: { extra: { trail: { keysDir } } } });
    share = lab.recorder.dataFolder;
    // GIVEN alice types a command in an interactive shell ...
    const child = spawnSsh(lab.args({ extra: ['-tt'] }));
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const done = collect(child, Date.now(), 60_000);
    await waitFor(() => out.length > 0, 'the shell prompt', 30_000);
    child.stdin.write('echo zebra$((40+2))quokka\r');
    await waitFor(() => out.includes('zebra42quokka'), 'the shell to answer', 30_000);
    await sleep(300);
    child.stdin.write('exit\r');
    expect((await done).code).toBe(0);
    // ... runs a command ...
    const exec = await lab.ssh('echo walrus$((3*5))narwhal');
    expect(exec.stdout).toContain('walrus15narwhal');
    // ... and uploads a file with scp
    const local = path.join(lab.dir, 'okapiname.txt');
    writeFileSync(local, 'platypuscontent '.repeat(1000));
    const up = spawn('scp', [...sftpArgs({ port: lab.recorder.port, identity: lab.alice.privatePath, destination: 'root@db-1@127.0.0.1' }), local, `127.0.0.1:${path.join(lab.dir, 'uploaded.txt')}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    expect((await collect(up, Date.now(), 60_000, () => up.stdin.end())).code).toBe(0);
    const keys = loadTrailKeys(keysDir);
    sessions = await waitFor(async () => {
      const s = scanSessions(share, { keys }).sessions;
      return s.length === 3 && s.some((x) => x.manifest.transfers.length > 0) ? s : undefined;
    }, 'three sessions on the share', 30_000).catch((err) => {
      throw new Error(`${(err as Error).message}; the recorder logged:\n${lab.recorder.logs().split('\n').filter((l) => /"level":"(warn|error)"/.test(l)).join('\n')}\nscan: ${JSON.stringify(scanSessions(share, { keys }).problems)}`);
    });
    // Search once so that the share holds the (sealed) index too.
    expect((await srec('search', '--data', share, '--keys', keysDir, 'zebra42quokka')).code).toBe(0);
  });
  afterAll(async () => {
    await lab?.stop();
    for (const c of copies) rmSync(c, { recursive: true, force: true });
  });

  it('the share holds no plaintext of what was typed, shown, run or transferred, raw or gunzipped', () => {
    // THEN not one file of the share (casts, channel logs, copies, manifests, index, ledger) shows a secret
    expect(allFiles(share).some((f) => f.includes(`${path.sep}index${path.sep}`))).toBe(true);
    expect(allFiles(share).some((f) => f.includes(`${path.sep}files${path.sep}`))).toBe(true);
    expect(plaintextOn(share)).toEqual([]);
    // AND the listing fields stay readable without keys
    const stored = scanSessions(share).sessions;
    expect(stored.map((s) => [s.manifest.user, s.manifest.host.name, s.manifest.targetUser])).toEqual(Array(3).fill(['alice', 'db-1', 'root']));
    expect(stored.every((s) => s.manifest.remoteAddress.startsWith('127.0.0.1:') && s.manifest.signature !== undefined && s.manifest.sealed !== undefined)).toBe(true);
  });

  it('with the keys: search finds what was typed, play shows it, the manifest and the copy open', async () => {
    const typed = await srec('search', '--data', share, '--keys', keysDir, '--stream', 'input', 'zebra');
    expect(typed.code).toBe(0);
    expect(JSON.parse(typed.stdout.trim().split('\n')[0]!)).toEqual(expect.objectContaining({ stream: 'input', line: 'echo zebra$((40+2))quokka' }));
    const found = await srec('search', '--data', share, '--keys', keysDir, 'walrus15narwhal');
    expect(found.code).toBe(0);
    expect(JSON.parse(found.stdout.trim().split('\n')[0]!)).toEqual(expect.objectContaining({ user: 'alice', host: 'db-1', line: expect.stringContaining('walrus15narwhal') }));
    const shell = sessions.find((s) => s.manifest.channels.some((c) => c.kind === 'shell'))!;
    const played = await srec('play', '--data', share, '--keys', keysDir, '--text', shell.id);
    expect(played.code).toBe(0);
    expect(played.stdout).toContain('zebra42quokka');
    const exec = sessions.find((s) => s.manifest.channels.some((c) => c.command?.includes('walrus')))!;
    expect(exec.manifest.channels[0]!.command).toBe('echo walrus$((3*5))narwhal');
    expect(exec.stored.channels[0]!.command).toBeUndefined();
    // (the exec's exact stdout, from its sealed raw stream)
    const raw = await srec('play', '--data', share, '--keys', keysDir, exec.id, '--raw', 'out');
    expect(raw).toMatchObject({ code: 0, stdout: 'walrus15narwhal\n' });
    const upload = sessions.find((s) => s.manifest.transfers.length > 0)!;
    const t = upload.manifest.transfers[0]!;
    expect(t).toEqual(expect.objectContaining({ path: expect.stringContaining('uploaded.txt'), file: 'files/1', complete: true }));
    const content = await openBuffer(loadTrailKeys(keysDir), { session: upload.id, file: 'files/1' }, readFileSync(path.join(upload.dir, 'files/1')), 'files/1');
    expect(content.toString()).toBe('platypuscontent '.repeat(1000));
  });

  it('without the keys: the listing works, search and play say what is missing instead of printing garbage', async () => {
    const listed = await srec('sessions', '--data', share);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('alice');
    const s = await srec('search', '--data', share, 'zebra42quokka');
    expect(s.code).toBe(1);
    expect(s.stderr).toContain("encrypted; give --keys DIR holding the trail's encryption.json");
    const p = await srec('play', '--data', share, '--text', sessions[0]!.id);
    expect(p.code).toBe(1);
    expect(p.stderr).toContain('is encrypted; give --keys DIR');
    expect(p.stdout).toBe('');
  });

  it('verify passes with the whole key set, and with the public key alone', async () => {
    const full = await srec('verify', '--data', share, '--keys', keysDir);
    expect(full.stdout).toContain('3 session(s) intact (files, signatures, ledgers, sealed records checked)');
    expect(full.stdout).toContain('ok    ledger test-recorder  3 entries');
    expect(full.code).toBe(0);
    const pub = await srec('verify', '--data', share, '--keys', pubDir);
    expect(pub.stdout).toContain('3 session(s) intact (files, signatures, ledgers checked)');
    expect(pub.code).toBe(0);
  });

  /** verify on a tampered copy: exit 1, and each expected text in its output. */
  async function failsNaming(dataFolder: string, ...expected: RegExp[]): Promise<void> {
    for (const keys of [keysDir, pubDir]) {
      const r = await srec('verify', '--data', dataFolder, '--keys', keys);
      for (const e of expected) expect(r.stdout).toMatch(e);
      expect(r.code).toBe(1);
    }
  }

  it('a changed byte in a cast is named: its sha256, and (with the KEKs) the record that no longer authenticates', async () => {
    const d = copy();
    const s = sessions[0]!;
    const cast = path.join(at(d, s), s.manifest.channels[0]!.cast!);
    const b = readFileSync(cast);
    b[b.length - 20] ^= 0x01;
    writeFileSync(cast, b);
    await failsNaming(d, new RegExp(`changed: .*${s.manifest.channels[0]!.cast!.replace('.', '\\.')}: sha256`));
    const r = await srec('verify', '--data', d, '--keys', keysDir);
    expect(r.stdout).toMatch(/undecryptable: .*ch-0\.cast\.gz: .*record \d+ does not authenticate/);
  });

  it('a file rewritten together with its manifest entry breaks the manifest signature', async () => {
    const d = copy();
    const s = sessions[0]!;
    const dir = at(d, s);
    const rel = 'channels.jsonl.gz';
    const forged = zlib.gzipSync('{"t":0,"type":"session_end","complete":true}\n');
    writeFileSync(path.join(dir, rel), forged);
    const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    const f = m.files.find((x: { path: string }) => x.path === rel);
    f.size = forged.length;
    f.sha256 = (await import('node:crypto')).createHash('sha256').update(forged).digest('hex');
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
    await failsNaming(d, new RegExp(`signature: .*${s.id}/manifest.json: signature does not verify: a field of the manifest was changed`));
    const r = await srec('verify', '--data', d, '--keys', keysDir);
    expect(r.stdout).toMatch(/undecryptable: .*channels\.jsonl\.gz: not sealed, though the session is encrypted/);
  });

  it.each([
    ['user', (m: Record<string, unknown>) => (m.user = 'mallory')],
    ['remoteAddress', (m: Record<string, unknown>) => (m.remoteAddress = '10.9.9.9:1')],
    ['start', (m: Record<string, unknown>) => (m.start = '2020-01-01T00:00:00.000Z')],
  ])('a manifest whose %s was rewritten fails its signature and its ledger entry', async (_field, change) => {
    const d = copy();
    const s = sessions[1]!;
    const file = path.join(at(d, s), 'manifest.json');
    const m = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    change(m);
    writeFileSync(file, JSON.stringify(m, null, 2));
    await failsNaming(d, /signature: .*manifest\.json: signature does not verify/, /replaced: .*the session was replaced/);
  });

  it('a deleted session is named from the ledger', async () => {
    const d = copy();
    const s = sessions[2]!;
    rmSync(at(d, s), { recursive: true });
    await failsNaming(d, new RegExp(`FAIL  ${s.id}  deleted: ledger test-recorder seq \\d+ put it on the share`));
  });

  it('a swapped index is named (with the KEKs), and search rebuilds instead of trusting it', async () => {
    const d = copy();
    const [a, b] = [sessions[0]!, sessions[1]!];
    const ia = path.join(at(d, a), 'index');
    const ib = path.join(at(d, b), 'index');
    expect(statSync(ia).isDirectory() && statSync(ib).isDirectory()).toBe(true);
    await fsp.rename(ia, ia + '.x');
    await fsp.rename(ib, ia);
    await fsp.rename(ia + '.x', ib);
    const r = await srec('verify', '--data', d, '--keys', keysDir);
    expect(r.stdout).toMatch(new RegExp(`index: .*${a.id}/index/meta\\.json: index/meta\\.json: sealed for session ${b.id}`));
    expect(r.code).toBe(1);
    const shell = [a, b].find((s) => s.manifest.channels.some((c) => c.kind === 'shell')) ?? sessions.find((s) => s.manifest.channels.some((c) => c.kind === 'shell'))!;
    const found = await srec('search', '--data', d, '--keys', keysDir, 'zebra42quokka');
    expect(found.stdout).toContain(shell.id);
  });

  it('a truncated ledger leaves the sessions it lost out of the chain', async () => {
    const d = copy();
    const file = ledgerFile(d, 'test-recorder');
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const lost = JSON.parse(lines[lines.length - 1]!) as { session: string };
    writeFileSync(file, lines.slice(0, -1).join('\n') + '\n');
    await failsNaming(d, new RegExp(`FAIL  ${lost.session} `), /out-of-chain: .*manifest\.json: not in the chain: ledger test-recorder\.jsonl \(2 entries\) does not have it/);
  });

  it('rotation: the recorder restarted on a rotated key set seals with the new key; old sessions still open; a session from another share is refused', async () => {
    // GIVEN the key set rotated and the recorder restarted on it
    const rotated = await srec('keys', 'rotate', keysDir);
    expect(rotated.code).toBe(0);
    const newId = /new current encryption key (\S+)/.exec(rotated.stdout)![1]!;
    await lab.recorder.stop();
    await lab.restartRecorder();
    // WHEN another session is recorded
    expect((await lab.ssh('echo walrus-after-rotation')).code).toBe(0);
    const keys = loadTrailKeys(keysDir);
    const all = await waitFor(async () => {
      const s = scanSessions(share, { keys }).sessions;
      return s.length === 4 ? s : undefined;
    }, 'the fourth session', 30_000);
    // THEN its files name the new key, the old ones the old key, and everything verifies and plays
    const fresh = all.find((s) => !sessions.some((o) => o.id === s.id))!;
    expect(readFileSync(path.join(fresh.dir, 'channels.jsonl.gz')).includes(newId)).toBe(true);
    expect(readFileSync(path.join(sessions[0]!.dir, 'channels.jsonl.gz')).includes(newId)).toBe(false);
    const v = await srec('verify', '--data', share, '--keys', keysDir);
    expect(v.stdout).toContain('4 session(s) intact');
    expect(v.code).toBe(0);
    const shell = sessions.find((s) => s.manifest.channels.some((c) => c.kind === 'shell'))!;
    expect((await srec('play', '--data', share, '--keys', keysDir, '--text', shell.id)).stdout).toContain('zebra42quokka');

    // AND a session recorded on another installation (its own key set, its own share) copied in is refused
    const otherKeys = path.join(mkdtempSync(path.join(os.tmpdir(), 'srec-keys-')), 'other');
    expect((await srec('keys', 'init', otherKeys)).code).toBe(0);
    const otherShare = mkdtempSync(path.join(os.tmpdir(), 'srec-other-share-'));
    copies.push(otherShare);
    await lab.recorder.stop();
    await lab.restartRecorder({ extra: { trail: { keysDir: otherKeys }, dataFolder: otherShare } });
    expect((await lab.ssh('echo from-elsewhere')).code).toBe(0);
    const foreign = await waitFor(async () => scanSessions(otherShare).sessions[0], 'the other share session', 30_000);
    const d = copy();
    cpSync(foreign.dir, path.join(d, path.relative(otherShare, foreign.dir)), { recursive: true });
    await failsNaming(d, new RegExp(`signature: .*${foreign.id}/manifest\\.json: signed by key \\S+, not by`), new RegExp(`out-of-chain: .*${foreign.id}/manifest\\.json: not in the chain`));
  });
});
