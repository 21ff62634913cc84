// Each recorder replica's ledger on the share, `<dataFolder>/.ledger/<recorderId>.jsonl`: one signed line
// per session it put on the share (`sealed`), and per session its retention removed (`expired`), each
// line holding the sha256 of the line before it. A session deleted or replaced on the share, a session
// copied in from elsewhere, a line removed or changed: each breaks a hash or lacks an entry, and
// `srec verify` names it. One writer per file (the replica); the entry is appended, fsynced, before the
// session's rename into the share, so a session is never on the share without its line. Cutting the
// ledger's tail together with the sessions it lists is what a chain alone cannot show: the recorder logs
// each append (`ledger appended`, with seq and hash), so a copy of the head lives outside the share.
import { createHash, sign, verify } from 'node:crypto';
import { promises as fsp, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { canonicalJson } from '../../../common/canonical-json.js';
import type { TrailKeys } from './crypto/keys.js';
import { FILE_MODE, fsyncDir, mkdirOwner } from './fsutil.js';

export const LEDGER_DIR = '.ledger';
const GENESIS = '0'.repeat(64);

export interface LedgerEntry {
  readonly v: 1;
  /** From 1, one more each line. */
  readonly seq: number;
  /** sha256 (hex) of the previous line as written; 64 zeros for the first. */
  readonly prev: string;
  readonly recorder: string;
  readonly kind: 'sealed' | 'expired';
  readonly session: string;
  /** The session directory relative to the data folder (`YYYY/MM/DD/<id>`). */
  readonly dir: string;
  /** manifestHash() of the session's manifest as stored. */
  readonly manifest: string;
  readonly t: string;
  /** publicKeyId() of the signing key. */
  readonly key: string;
  /** Ed25519 over signedLine(); base64. */
  readonly sig: string;
}

export const ledgerFile = (dataFolder: string, recorderId: string) => path.join(dataFolder, LEDGER_DIR, `${recorderId}.jsonl`);
const lineHash = (line: string) => createHash('sha256').update(line, 'utf8').digest('hex');
const signedLine = (e: Omit<LedgerEntry, 'sig'>) => Buffer.from(`srec-ledger-v1\n${canonicalJson(e)}`, 'utf8');

/** The appending side, one per replica process. */
export class Ledger {
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly file: string,
    private readonly recorderId: string,
    private readonly keys: TrailKeys,
    private seq: number,
    private head: string,
    private readonly recorded: Set<string>,
    private readonly now: () => Date,
  ) {}

  /**
   * Opens (or starts) this replica's ledger. A torn last line (a crash while appending) is cut off: its
   * session was not renamed into the share yet, and is appended again when it is.
   */
  static async open(dataFolder: string, recorderId: string, keys: TrailKeys, now: () => Date = () => new Date()): Promise<Ledger> {
    if (keys.signingKey === undefined || keys.keyId === undefined) throw new Error(`the ledger needs the signing key (${keys.dir}/signing.key)`);
    const file = ledgerFile(dataFolder, recorderId);
    await mkdirOwner(path.dirname(file));
    let text = '';
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) {
      await fsp.truncate(file, Buffer.byteLength(text.slice(0, end)));
      text = text.slice(0, end);
    }
    let seq = 0;
    let head = GENESIS;
    const recorded = new Set<string>();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const e = JSON.parse(line) as LedgerEntry;
      seq = e.seq;
      head = lineHash(line);
      recorded.add(`${e.kind} ${e.session} ${e.manifest}`);
    }
    return new Ledger(file, recorderId, keys, seq, head, recorded, now);
  }

  /** This ledger already has the entry (a move retried after the append). */
  has(kind: LedgerEntry['kind'], session: string, manifest: string): boolean {
    return this.recorded.has(`${kind} ${session} ${manifest}`);
  }

  /** Appends and fsyncs one entry (serialized with the others); resolves to it. */
  append(kind: LedgerEntry['kind'], session: string, dir: string, manifest: string): Promise<LedgerEntry> {
    const next = this.chain.then(async () => {
      const body: Omit<LedgerEntry, 'sig'> = {
        v: 1,
        seq: this.seq + 1,
        prev: this.head,
        recorder: this.recorderId,
        kind,
        session,
        dir,
        manifest,
        t: this.now().toISOString(),
        key: this.keys.keyId!,
      };
      const entry: LedgerEntry = { ...body, sig: sign(null, signedLine(body), this.keys.signingKey!).toString('base64') };
      const line = JSON.stringify(entry);
      const fh = await fsp.open(this.file, 'a', FILE_MODE);
      try {
        await fh.write(line + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (this.seq === 0) await fsyncDir(path.dirname(this.file));
      this.seq = entry.seq;
      this.head = lineHash(line);
      this.recorded.add(`${kind} ${session} ${manifest}`);
      return entry;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** seq and sha256 of the last line: what the recorder logs after each append. */
  get position(): { seq: number; head: string } {
    return { seq: this.seq, head: this.head };
  }
}

/** A ledger as read back for `srec verify`. */
export interface LedgerRead {
  readonly recorder: string;
  readonly file: string;
  readonly entries: readonly LedgerEntry[];
  /** Lines that break the chain or do not verify, each named by line number. */
  readonly problems: readonly string[];
}

/** Every replica's ledger on the share, each line checked: JSON, seq, prev hash, recorder, signature (with `keys`' public key). */
export function readLedgers(dataFolder: string, keys: TrailKeys | undefined): LedgerRead[] {
  const dir = path.join(dataFolder, LEDGER_DIR);
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.name.endsWith('.jsonl') && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const recorder = name.slice(0, -'.jsonl'.length);
    const file = path.join(dir, name);
    const problems: string[] = [];
    const entries: LedgerEntry[] = [];
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      return { recorder, file, entries, problems: [`cannot read: ${(err as Error).message}`] };
    }
    const lines = text.split('\n');
    if (lines[lines.length - 1] !== '') problems.push(`line ${lines.length}: torn (no newline): the ledger was cut or appended to by hand`);
    let prev = GENESIS;
    let seq = 0;
    lines.forEach((line, i) => {
      if (line === '' && i === lines.length - 1) return;
      const at = `line ${i + 1}`;
      let e: LedgerEntry;
      try {
        e = JSON.parse(line) as LedgerEntry;
      } catch {
        problems.push(`${at}: not JSON`);
        prev = lineHash(line);
        return;
      }
      if (e.seq !== seq + 1) problems.push(`${at}: seq ${e.seq} follows ${seq}: entries removed, repeated or reordered`);
      if (e.prev !== prev) problems.push(`${at}: prev does not match the line before (${seq === 0 ? 'the ledger does not start at its first entry: cut at the front' : 'a line before it was changed or removed'})`);
      if (e.recorder !== recorder) problems.push(`${at}: written for recorder ${e.recorder}, found in ${name}`);
      if (keys?.publicKey !== undefined) {
        const { sig, ...body } = e;
        if (e.key !== keys.keyId) problems.push(`${at}: signed by key ${e.key}, not ${keys.keyId}`);
        else if (typeof sig !== 'string' || !verify(null, signedLine(body), keys.publicKey, Buffer.from(sig, 'base64'))) problems.push(`${at}: signature does not verify (the line was changed)`);
      }
      entries.push(e);
      prev = lineHash(line);
      seq = e.seq;
    });
    return { recorder, file, entries, problems };
  });
}
