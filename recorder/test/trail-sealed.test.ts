// The sealed file format (trail/crypto/sealed.ts) through the writer and reader every session file uses:
// GzipFile with a key set, readGzipLines. Real files, real AES-GCM; the faults are real bytes changed on disk.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { initKeySet, loadTrailKeys, rotateKeySet, type TrailKeys } from '../src/trail/crypto/keys.js';
import { openBuffer, sealBuffer, SEAL_MAGIC } from '../src/trail/crypto/sealed.js';
import { GzipFile } from '../src/trail/gzip-file.js';
import { readGzipLines } from '../src/trail/gzip-lines.js';

async function tmp(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'srec-sealed-'));
}

async function keySet(): Promise<TrailKeys> {
  const dir = path.join(await tmp(), 'keys');
  initKeySet(dir);
  return loadTrailKeys(dir);
}

const binding = { session: '11111111-2222-4333-8444-555555555555', file: 'ch-0.cast.gz' };

async function lines(file: string, keys: TrailKeys | undefined, b = binding) {
  const got: string[] = [];
  const r = await readGzipLines(file, (l) => void got.push(l), { keys, binding: b });
  return { got, problem: r.problem };
}

describe('sealed session files', () => {
  it('holds no plaintext, raw or gunzipped, and reads back line by line with the key set', async () => {
    // GIVEN a key set and a sealed gzip file with a secret in it, committed twice and closed
    const keys = await keySet();
    const p = path.join(await tmp(), 'ch-0.cast.gz');
    const f = new GzipFile(p, { flushIntervalMs: 60_000, seal: { keys, binding } });
    f.write('hunter2-the-password\n');
    await f.commit();
    f.write('second line\n');
    await f.commit();
    await f.close();
    // THEN the bytes on disk are sealed: no plaintext, and not a gzip stream either
    const raw = await fsp.readFile(p);
    expect(raw.subarray(0, 8).equals(SEAL_MAGIC)).toBe(true);
    expect(raw.includes(Buffer.from('hunter2'))).toBe(false);
    expect(() => zlib.gunzipSync(raw)).toThrow();
    // AND the reader with the keys gets every line and no problem
    expect(await lines(p, keys)).toEqual({ got: ['hunter2-the-password', 'second line'], problem: undefined });
  });

  it('bulk output stored during the session is repacked at close under a new data key, sealed still', async () => {
    // GIVEN about 1 MiB fed faster than the bulk rate into a sealed file
    const keys = await keySet();
    const p = path.join(await tmp(), 'ch-0.cast.gz');
    const f = new GzipFile(p, { flushIntervalMs: 60_000, bulkBytesPerInterval: 64 * 1024, seal: { keys, binding } });
    const text = Array.from({ length: 30_000 }, (_, i) => `bulk line ${i} secret-${i % 97}`);
    for (const l of text) if (!f.write(l + '\n')) await new Promise<void>((r) => f.onceDrain(r));
    // WHEN it is closed (and repacked)
    const size = await f.close();
    // THEN it is sealed, smaller than the input, and reads back whole
    const raw = await fsp.readFile(p);
    expect(size).toBe(raw.length);
    expect(raw.subarray(0, 8).equals(SEAL_MAGIC)).toBe(true);
    expect(raw.includes(Buffer.from('secret-'))).toBe(false);
    expect(raw.length).toBeLessThan(text.join('\n').length / 2);
    expect(await lines(p, keys)).toEqual({ got: text, problem: undefined });
    expect(await fsp.readdir(path.dirname(p))).toEqual(['ch-0.cast.gz']);
  });

  it('a writer stopped after a commit leaves a file that reads up to that commit, said to be cut short', async () => {
    // GIVEN a sealed file committed once and never closed (the recorder killed)
    const keys = await keySet();
    const p = path.join(await tmp(), 'ch-0.cast.gz');
    const f = new GzipFile(p, { flushIntervalMs: 60_000, seal: { keys, binding } });
    f.write('before the crash\n');
    await f.commit();
    // THEN the file opens up to the commit and says it has no final record
    const r = await lines(p, keys);
    expect(r.got).toEqual(['before the crash']);
    expect(r.problem).toMatch(/no final sealed record/);
    await f.close();
  });

  it('names a changed byte, a missing key, the wrong key set and a file sealed for another session; never prints garbage', async () => {
    const keys = await keySet();
    const p = path.join(await tmp(), 'ch-0.cast.gz');
    const f = new GzipFile(p, { flushIntervalMs: 60_000, seal: { keys, binding } });
    for (let i = 0; i < 2000; i++) f.write(`line ${i} ${'x'.repeat(50)}\n`);
    await f.close();
    // WHEN one byte near the end is flipped
    const raw = await fsp.readFile(p);
    const bad = Buffer.from(raw);
    bad[bad.length - 30] ^= 1;
    await fsp.writeFile(p + '.bad', bad);
    const changed = await lines(p + '.bad', keys);
    // THEN the lines before the damaged record are read, none after, and the problem names the record
    expect(changed.problem).toMatch(/record \d+ does not authenticate/);
    expect(changed.got.every((l) => /^line \d+ x+$/.test(l))).toBe(true);
    // AND without keys, nothing is read and the message says what to give
    expect(await lines(p, undefined)).toEqual({ got: [], problem: expect.stringMatching(/encrypted \(key kek-.*\); give --keys DIR/) });
    // AND another key set with the same key id is refused at the data key, not decoded into garbage
    const other = await keySet();
    const impostor: TrailKeys = { ...other, keks: [{ ...other.keks[0]!, id: keys.keks[0]!.id }] };
    expect(await lines(p, impostor)).toEqual({ got: [], problem: expect.stringMatching(/does not open its data key/) });
    // AND another key set is told which key id it lacks
    expect((await lines(p, other)).problem).toMatch(/encrypted with key kek-.* which .* does not hold/);
    // AND the file read as another session's (or another file's) is refused by name
    expect((await lines(p, keys, { session: 'another', file: 'ch-0.cast.gz' })).problem).toMatch(/sealed for session 11111111.* not for this one/);
    expect((await lines(p, keys, { ...binding, file: 'ch-1.cast.gz' })).problem).toMatch(/copied or swapped in/);
  });

  it('detects a file cut at a record boundary and bytes appended after the final record', async () => {
    const keys = await keySet();
    const data = Buffer.alloc(200_000, 'a');
    const sealed = sealBuffer(keys, binding, data);
    // GIVEN the file without its last record (cut where a record starts)
    const recordLen = 4 + 64 * 1024 + 16;
    const headerLen = sealed.length - (3 * recordLen + 4 + (200_000 - 3 * 65536) + 16);
    await expect(openBuffer(keys, binding, sealed.subarray(0, headerLen + 3 * recordLen), 'f')).rejects.toThrow(/cut short \(no final record\)/);
    await expect(openBuffer(keys, binding, Buffer.concat([sealed, Buffer.from('more')]), 'f')).rejects.toThrow(/bytes after the final record/);
    expect((await openBuffer(keys, binding, sealed, 'f')).equals(data)).toBe(true);
  });

  it('rotation: a new current key seals new files, the old key still opens old ones', async () => {
    // GIVEN a file sealed before rotation
    const dir = path.join(await tmp(), 'keys');
    initKeySet(dir);
    const before = loadTrailKeys(dir);
    const old = sealBuffer(before, binding, Buffer.from('old secret'));
    // WHEN the key set is rotated
    const r = rotateKeySet(dir);
    const after = loadTrailKeys(dir);
    // THEN the new key is current, the old one stays, and both files open with the rotated set
    expect(after.keks.map((k) => k.id)).toEqual([r.kekId, before.keks[0]!.id]);
    const fresh = sealBuffer(after, binding, Buffer.from('new secret'));
    expect(fresh.includes(Buffer.from(r.kekId))).toBe(true);
    expect((await openBuffer(after, binding, old, 'f')).toString()).toBe('old secret');
    expect((await openBuffer(after, binding, fresh, 'f')).toString()).toBe('new secret');
    // AND the old set alone cannot open the new file, and says so
    await expect(openBuffer(before, binding, fresh, 'f')).rejects.toThrow(new RegExp(`encrypted with key ${r.kekId}`));
  });

  it('keys init refuses to overwrite a key set', async () => {
    const dir = path.join(await tmp(), 'keys');
    initKeySet(dir);
    expect(() => initKeySet(dir)).toThrow(/exists; a new key set would make the trails it protects unreadable/);
    expect((await fsp.stat(path.join(dir, 'signing.key'))).mode & 0o777).toBe(0o600);
  });
});
