// A sealed file: the bytes of one session file under AES-256-GCM with a data key of its own, in records, so
// that a writer killed mid-file leaves every record it finished readable and a reader can stream.
//
//   "SRECSEAL" | u32 header length | header JSON {v, kek, wrapped, nonce, session, file}
//   record*:   u32 (plaintext length | FINAL bit) | ciphertext | 16-byte GCM tag
//
// The data key is wrapped by the current KEK (AES-256-GCM, the session and file name as its AAD). Record i
// is sealed with IV = nonce(8) | i(4) and AAD = sha256(header) | i | final: records cannot be reordered,
// dropped, moved to another file, or the file cut at a record boundary without the reader noticing (the
// last record carries FINAL, as in the STREAM construction). A header names the session and file it was
// written for, so a file copied from another session, or swapped with a sibling, is refused by name.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { TrailKeyError, type TrailKeys } from './keys.js';

export const SEAL_MAGIC = Buffer.from('SRECSEAL', 'latin1');
/** Plaintext bytes of a full record. */
export const RECORD_BYTES = 64 * 1024;
const FINAL = 0x8000_0000;
const TAG = 16;
const MAX_HEADER = 4096;

/** What a sealed file is for: its header must say the same, or it is refused. */
export interface SealBinding {
  readonly session: string;
  /** The file's name relative to the session directory. */
  readonly file: string;
}

interface Header {
  readonly v: 1;
  readonly kek: string;
  readonly wrapped: string;
  readonly nonce: string;
  readonly session: string;
  readonly file: string;
}

/** The bytes are sealed but cannot be opened: no key, the wrong key, or a file that is not what it claims. */
export class SealError extends Error {
  override readonly name = 'SealError';
}

export function isSealed(head: Buffer): boolean {
  return head.length >= SEAL_MAGIC.length && head.subarray(0, SEAL_MAGIC.length).equals(SEAL_MAGIC);
}

const wrapAad = (b: SealBinding) => Buffer.from(`srec-data-key\n${b.session}\n${b.file}`, 'utf8');

function recordAad(headerHash: Buffer, i: number, final: boolean): Buffer {
  const aad = Buffer.allocUnsafe(headerHash.length + 5);
  headerHash.copy(aad, 0);
  aad.writeUInt32BE(i, headerHash.length);
  aad[headerHash.length + 4] = final ? 1 : 0;
  return aad;
}

function iv(nonce: Buffer, i: number): Buffer {
  const out = Buffer.allocUnsafe(12);
  nonce.copy(out, 0, 0, 8);
  out.writeUInt32BE(i, 8);
  return out;
}

/** How a writer frames the bytes of a file: sealed records, or (no keys) the bytes as they are. */
export interface Framing {
  /** Bytes to put before anything else (the sealed header), once. */
  start(): Buffer | undefined;
  /** Whole records ready to be written (sealed), or the bytes themselves (plain). */
  push(data: Buffer): Buffer[];
  /** What is held back, as a record: after this every byte pushed so far is in the file once written. */
  flush(): Buffer | undefined;
  /** The last record (FINAL); nothing may be pushed after it. */
  end(): Buffer | undefined;
}

export const plainFraming = (): Framing => ({ start: () => undefined, push: (d) => [d], flush: () => undefined, end: () => undefined });

/** Seals one file as it is written (see the top of this file). Needs the key set's current KEK. */
export class Sealer implements Framing {
  private readonly dataKey = randomBytes(32);
  private readonly nonce = randomBytes(8);
  private readonly header: Buffer;
  private readonly headerHash: Buffer;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private index = 0;
  private started = false;

  constructor(keys: TrailKeys, binding: SealBinding) {
    const kek = keys.keks[0];
    if (kek === undefined) throw new TrailKeyError(`${keys.dir}: no encryption key to seal ${binding.file} with (encryption.json is missing)`);
    const wiv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', kek.key, wiv);
    c.setAAD(wrapAad(binding));
    const wrapped = Buffer.concat([wiv, c.update(this.dataKey), c.final(), c.getAuthTag()]);
    const h: Header = { v: 1, kek: kek.id, wrapped: wrapped.toString('base64'), nonce: this.nonce.toString('base64'), session: binding.session, file: binding.file };
    const json = Buffer.from(JSON.stringify(h), 'utf8');
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(json.length);
    this.header = Buffer.concat([SEAL_MAGIC, len, json]);
    this.headerHash = createHash('sha256').update(this.header).digest();
  }

  start(): Buffer {
    this.started = true;
    return this.header;
  }

  push(data: Buffer): Buffer[] {
    if (data.length === 0) return [];
    this.held.push(data);
    this.heldBytes += data.length;
    const out: Buffer[] = [];
    if (this.heldBytes < RECORD_BYTES) return out;
    let all = Buffer.concat(this.held);
    while (all.length >= RECORD_BYTES) {
      out.push(this.record(all.subarray(0, RECORD_BYTES), false));
      all = all.subarray(RECORD_BYTES);
    }
    this.held = all.length > 0 ? [Buffer.from(all)] : [];
    this.heldBytes = all.length;
    return out;
  }

  flush(): Buffer | undefined {
    if (this.heldBytes === 0) return undefined;
    const r = this.record(Buffer.concat(this.held), false);
    this.held = [];
    this.heldBytes = 0;
    return r;
  }

  end(): Buffer {
    const r = this.record(Buffer.concat(this.held), true);
    this.held = [];
    this.heldBytes = 0;
    return r;
  }

  private record(plain: Buffer, final: boolean): Buffer {
    if (!this.started) throw new Error('Sealer: start() first');
    const i = this.index++;
    const c = createCipheriv('aes-256-gcm', this.dataKey, iv(this.nonce, i));
    c.setAAD(recordAad(this.headerHash, i, final));
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE((plain.length | (final ? FINAL : 0)) >>> 0);
    return Buffer.concat([len, c.update(plain), c.final(), c.getAuthTag()]);
  }
}

/** The framing for a file of a session: sealed when the keys can encrypt, plain otherwise. */
export function framingFor(keys: TrailKeys | undefined, binding: SealBinding): Framing {
  return keys !== undefined && keys.keks.length > 0 ? new Sealer(keys, binding) : plainFraming();
}

/** Where a sealed file's records start and the key to open them. */
interface Opened {
  readonly header: Header;
  readonly headerLength: number;
  readonly headerHash: Buffer;
  readonly dataKey: Buffer;
  readonly nonce: Buffer;
}

/** Parses and checks a sealed header at the start of `head` (which must hold all of it); undefined: need more bytes. */
function openHeader(head: Buffer, keys: TrailKeys | undefined, expect: SealBinding | undefined, name: string): Opened | undefined {
  if (head.length < SEAL_MAGIC.length + 4) return undefined;
  const len = head.readUInt32BE(SEAL_MAGIC.length);
  if (len > MAX_HEADER) throw new SealError(`${name}: sealed header of ${len} bytes is not one srec writes (damaged or altered)`);
  const total = SEAL_MAGIC.length + 4 + len;
  if (head.length < total) return undefined;
  let h: Header;
  try {
    h = JSON.parse(head.subarray(SEAL_MAGIC.length + 4, total).toString('utf8')) as Header;
  } catch {
    throw new SealError(`${name}: sealed header is not JSON (damaged or altered)`);
  }
  if (h?.v !== 1 || typeof h.kek !== 'string' || typeof h.wrapped !== 'string' || typeof h.nonce !== 'string') throw new SealError(`${name}: sealed header is not one srec writes (damaged or altered)`);
  if (expect !== undefined && (h.session !== expect.session || h.file !== expect.file)) {
    throw new SealError(`${name}: sealed for session ${h.session} file ${h.file}, not for this one (${expect.session} ${expect.file}): copied or swapped in`);
  }
  if (keys === undefined || keys.keks.length === 0) throw new SealError(`${name}: encrypted (key ${h.kek}); give --keys DIR holding the trail's encryption.json`);
  const kek = keys.keks.find((k) => k.id === h.kek);
  if (kek === undefined) throw new SealError(`${name}: encrypted with key ${h.kek}, which ${keys.dir}/encryption.json does not hold (keys: ${keys.keks.map((k) => k.id).join(', ')}); use the key set it was written with`);
  const w = Buffer.from(h.wrapped, 'base64');
  let dataKey: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', kek.key, w.subarray(0, 12));
    d.setAAD(wrapAad({ session: h.session, file: h.file }));
    d.setAuthTag(w.subarray(w.length - TAG));
    dataKey = Buffer.concat([d.update(w.subarray(12, w.length - TAG)), d.final()]);
  } catch {
    throw new SealError(`${name}: key ${h.kek} in ${keys.dir} does not open its data key (another key set with the same id, or an altered header)`);
  }
  const header = head.subarray(0, total);
  return { header: h, headerLength: total, headerHash: createHash('sha256').update(header).digest(), dataKey, nonce: Buffer.from(h.nonce, 'base64') };
}

function openRecord(o: Opened, i: number, sealed: Buffer, final: boolean, name: string): Buffer {
  try {
    const d = createDecipheriv('aes-256-gcm', o.dataKey, iv(o.nonce, i));
    d.setAAD(recordAad(o.headerHash, i, final));
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]);
  } catch {
    throw new SealError(`${name}: record ${i} does not authenticate (changed, cut or reordered bytes)`);
  }
}

/** How a streamed open ended. */
export interface OpenState {
  /** The file was sealed (false: its bytes were passed on as they are). */
  sealed: boolean;
  /** The FINAL record was read: the file is whole. */
  final: boolean;
  /** Why the reading stopped early (a SealError's message); what came before was delivered. */
  error?: string;
  /** Bytes of the file read. */
  bytesIn: number;
}

/**
 * The plaintext of a file's chunks: a sealed file opened record by record (what authenticates is yielded,
 * the first failure ends it with `state.error`), any other file passed through as it is (`state.sealed`
 * false; the caller decides whether plain is acceptable). `state` is filled in as the reading goes.
 */
export async function* openChunks(
  chunks: AsyncIterable<Buffer>,
  keys: TrailKeys | undefined,
  expect: SealBinding | undefined,
  name: string,
  state: OpenState,
): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let opened: Opened | undefined;
  let decided = false;
  let i = 0;
  for await (const chunk of chunks) {
    state.bytesIn += chunk.length;
    if (decided && !state.sealed) {
      yield chunk;
      continue;
    }
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (!decided) {
      if (buf.length < SEAL_MAGIC.length && SEAL_MAGIC.subarray(0, buf.length).equals(buf)) continue;
      decided = true;
      state.sealed = isSealed(buf);
      if (!state.sealed) {
        yield buf;
        buf = Buffer.alloc(0);
        continue;
      }
    }
    try {
      if (opened === undefined) {
        opened = openHeader(buf, keys, expect, name);
        if (opened === undefined) continue;
        buf = buf.subarray(opened.headerLength);
      }
      for (;;) {
        if (state.final) {
          if (buf.length > 0) throw new SealError(`${name}: bytes after the final record (appended to)`);
          break;
        }
        if (buf.length < 4) break;
        const word = buf.readUInt32BE(0);
        const len = (word & ~FINAL) >>> 0;
        const final = (word & FINAL) !== 0;
        if (len > RECORD_BYTES) throw new SealError(`${name}: record ${i} claims ${len} bytes (damaged or altered)`);
        if (buf.length < 4 + len + TAG) break;
        const plain = openRecord(opened, i, buf.subarray(4, 4 + len + TAG), final, name);
        buf = buf.subarray(4 + len + TAG);
        i++;
        if (final) state.final = true;
        if (plain.length > 0) yield plain;
      }
    } catch (err) {
      state.error = (err as Error).message;
      return;
    }
  }
  if (!decided && buf.length > 0) {
    yield buf;
    return;
  }
  if (state.sealed && opened === undefined && state.error === undefined) state.error = `${name}: sealed header cut short`;
}

/** A whole small file sealed at once (manifest content, index files). */
export function sealBuffer(keys: TrailKeys, binding: SealBinding, data: Buffer): Buffer {
  const s = new Sealer(keys, binding);
  return Buffer.concat([s.start(), ...s.push(data), s.end()]);
}

/** The plaintext of a whole sealed buffer; throws SealError unless it is complete and authentic. */
export async function openBuffer(keys: TrailKeys | undefined, expect: SealBinding | undefined, data: Buffer, name: string): Promise<Buffer> {
  const state: OpenState = { sealed: false, final: false, bytesIn: 0 };
  const out: Buffer[] = [];
  for await (const p of openChunks((async function* () { yield data; })(), keys, expect, name, state)) out.push(p);
  if (!state.sealed) throw new SealError(`${name}: not sealed, though the session is encrypted (replaced with plain bytes)`);
  if (state.error !== undefined) throw new SealError(state.error);
  if (!state.final) throw new SealError(`${name}: cut short (no final record)`);
  return Buffer.concat(out);
}

/** openBuffer() without the event loop: for the synchronous readers (manifest, index). */
export function openBufferSync(keys: TrailKeys | undefined, expect: SealBinding | undefined, data: Buffer, name: string): Buffer {
  if (!isSealed(data)) throw new SealError(`${name}: not sealed, though the session is encrypted (replaced with plain bytes)`);
  const o = openHeader(data, keys, expect, name);
  if (o === undefined) throw new SealError(`${name}: sealed header cut short`);
  const out: Buffer[] = [];
  let pos = o.headerLength;
  for (let i = 0; ; i++) {
    if (pos + 4 > data.length) throw new SealError(`${name}: cut short (no final record)`);
    const word = data.readUInt32BE(pos);
    const len = (word & ~FINAL) >>> 0;
    const final = (word & FINAL) !== 0;
    if (len > RECORD_BYTES || pos + 4 + len + TAG > data.length) throw new SealError(`${name}: cut short or damaged at record ${i}`);
    out.push(openRecord(o, i, data.subarray(pos + 4, pos + 4 + len + TAG), final, name));
    pos += 4 + len + TAG;
    if (final) {
      if (pos !== data.length) throw new SealError(`${name}: bytes after the final record (appended to)`);
      return Buffer.concat(out);
    }
  }
}

/**
 * Random access to a file sealed whole (sealBuffer: every record full but the last), as the search index
 * reads its files: `read(pos, len)` opens only the records it touches.
 */
export class SealedRandomReader {
  readonly size: number;
  private readonly o: Opened;
  private readonly records: number;
  private readonly cache = new Map<number, Buffer>();

  constructor(
    private readonly readAt: (pos: number, len: number) => Buffer,
    fileSize: number,
    keys: TrailKeys | undefined,
    expect: SealBinding,
    private readonly name: string,
  ) {
    const head = readAt(0, Math.min(fileSize, SEAL_MAGIC.length + 4 + MAX_HEADER));
    if (!isSealed(head)) throw new SealError(`${name}: not sealed, though the session is encrypted (replaced with plain bytes)`);
    const o = openHeader(head, keys, expect, name);
    if (o === undefined) throw new SealError(`${name}: sealed header cut short`);
    this.o = o;
    const body = fileSize - o.headerLength;
    this.records = Math.max(1, Math.ceil(body / (4 + RECORD_BYTES + TAG)));
    const lastPos = o.headerLength + (this.records - 1) * (4 + RECORD_BYTES + TAG);
    const lastLen = (this.readAt(lastPos, 4).readUInt32BE(0) & ~FINAL) >>> 0;
    if (lastPos + 4 + lastLen + TAG !== fileSize) throw new SealError(`${name}: size does not match its records (cut short or appended to)`);
    this.size = (this.records - 1) * RECORD_BYTES + lastLen;
  }

  read(pos: number, len: number): Buffer {
    if (pos + len > this.size) throw new SealError(`${this.name}: read past the end`);
    const parts: Buffer[] = [];
    for (let at = pos; at < pos + len; ) {
      const r = Math.floor(at / RECORD_BYTES);
      const rec = this.record(r);
      const from = at - r * RECORD_BYTES;
      const take = Math.min(rec.length - from, pos + len - at);
      parts.push(rec.subarray(from, from + take));
      at += take;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private record(r: number): Buffer {
    let rec = this.cache.get(r);
    if (rec !== undefined) return rec;
    const final = r === this.records - 1;
    const at = this.o.headerLength + r * (4 + RECORD_BYTES + TAG);
    const word = this.readAt(at, 4).readUInt32BE(0);
    const len = (word & ~FINAL) >>> 0;
    if (((word & FINAL) !== 0) !== final || (!final && len !== RECORD_BYTES)) throw new SealError(`${this.name}: record ${r} is not where a whole sealed file has it (damaged or altered)`);
    rec = openRecord(this.o, r, this.readAt(at + 4, len + TAG), final, this.name);
    if (this.cache.size >= 32) this.cache.clear();
    this.cache.set(r, rec);
    return rec;
  }
}
