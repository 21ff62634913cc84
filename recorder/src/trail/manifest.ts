// manifest.json: who, from where, to which target, when, which channels, and every file with its sha256
// (docs/internals.md). The one model of it: built by the writer, checked here when read back (pure;
// manifest-file.ts does the I/O). Written last, atomically; its presence in a spool directory means "closed".
import type { ManifestChannel } from './channel-log.js';

export interface SessionIdentity {
  readonly sessionId: string;
  readonly connectionId: string;
  /** The recorder replica that wrote the session (pod name or hostname). */
  readonly recorder: string;
  readonly user: string;
  readonly remoteAddress: string;
  readonly targetUser: string;
  readonly host: { readonly name: string; readonly address: string; readonly port: number };
  /** ISO-8601. */
  readonly start: string;
}

export interface ManifestTransfer {
  readonly channel: number;
  /** sftp, scp; rsync, git, tar: a stream transfer, whose `file` is the channel's raw stream and `path` its command. */
  readonly protocol: 'sftp' | 'scp' | 'rsync' | 'git' | 'tar';
  readonly direction: 'upload' | 'download';
  readonly path: string;
  /** Length of the content (the highest offset written). */
  readonly size: number;
  /** Absent when it cannot be known exactly (`note` says why). */
  readonly sha256?: string;
  /** Present when not every byte was seen (a resumed or partial transfer): the `[start, end)` byte ranges that were. */
  readonly seen?: readonly (readonly [number, number])[];
  /** The copy, relative to the session directory (`files/<n>`, numbered; the remote name is `path`); absent with fileTransfers: false. */
  readonly file?: string;
  /** The transfer ended the normal way (SFTP close ok, SCP final ack ok). Absent in manifests before it existed. */
  readonly complete?: boolean;
  /** Payload bytes seen: less than `size` when ranges were skipped (resumed), more when rewritten. */
  readonly bytes?: number;
  /** What went wrong or is missing, for a human. */
  readonly note?: string;
}

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface Manifest extends SessionIdentity {
  readonly version: 1;
  readonly end: string;
  /** false when the recorder stopped before the session ended (see `recovered`). */
  readonly complete: boolean;
  /** true when finalized at start-up from a spool a crashed recorder left. */
  readonly recovered: boolean;
  readonly channels: readonly ManifestChannel[];
  readonly transfers: readonly ManifestTransfer[];
  readonly files: readonly ManifestFile[];
  /** Set by retention (ISO-8601) when it deleted `files/`: verify then expects those files gone. */
  readonly filesExpired?: string;
  /** Retention's signature of `filesExpired` (crypto/manifest-seal.ts), when it ran with the signing key. */
  readonly filesExpiredSignature?: string;
  /** With a key set: the content fields, sealed (base64 of a sealed file; crypto/manifest-seal.ts says which fields). */
  readonly sealed?: string;
  /** With a signing key: the recorder's Ed25519 signature of the manifest as stored. */
  readonly signature?: { readonly alg: 'Ed25519'; readonly key: string; readonly value: string };
}

export function buildManifest(args: {
  readonly identity: SessionIdentity;
  readonly end: Date;
  readonly complete: boolean;
  readonly recovered: boolean;
  readonly channels: readonly ManifestChannel[];
  readonly transfers?: readonly ManifestTransfer[];
  readonly files: readonly ManifestFile[];
}): Manifest {
  const { identity } = args;
  return {
    version: 1,
    sessionId: identity.sessionId,
    connectionId: identity.connectionId,
    recorder: identity.recorder,
    user: identity.user,
    remoteAddress: identity.remoteAddress,
    targetUser: identity.targetUser,
    host: identity.host,
    start: identity.start,
    end: args.end.toISOString(),
    complete: args.complete,
    recovered: args.recovered,
    channels: args.channels,
    transfers: args.transfers ?? [],
    files: args.files,
  };
}

/**
 * A manifest as read from disk, checked field by field so that every reader can rely on the type; the
 * message names the first field that is wrong. Fields a later writer adds are kept as they are.
 * Manifests written before `transfers` existed get an empty list.
 */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`manifest.json is not JSON (${(err as Error).message})`);
  }
  const m = new Fields(raw, '');
  m.num('version');
  if (m.o.version !== 1) throw new Error(`manifest.json: version ${String(m.o.version)} is not 1, the only version this srec reads`);
  for (const k of ['sessionId', 'connectionId', 'recorder', 'user', 'remoteAddress', 'targetUser'] as const) m.str(k);
  const host = m.obj('host');
  host.str('name');
  host.str('address');
  host.num('port');
  m.time('start');
  m.time('end');
  m.bool('complete');
  m.bool('recovered');
  m.list('channels').forEach((c) => {
    c.num('id');
    c.str('type');
    c.oneOf('kind', ['shell', 'exec', 'subsystem'], true);
    for (const k of ['command', 'subsystem', 'destination', 'origin', 'cast', 'exitSignal'] as const) c.str(k, true);
    if (c.o.streams !== undefined) {
      const s = c.obj('streams');
      s.str('in');
      s.str('out');
      s.str('err', true);
    }
    c.num('bytesIn');
    c.num('bytesOut');
    c.num('exitStatus', true);
    c.bool('closed', true);
  });
  const transfers = m.o.transfers === undefined ? [] : m.list('transfers').map((t) => {
    t.num('channel');
    t.oneOf('protocol', ['sftp', 'scp', 'rsync', 'git', 'tar']);
    t.oneOf('direction', ['upload', 'download']);
    // Sealed away with a key set (crypto/manifest-seal.ts): readers without the keys see no path.
    t.str('path', m.o.sealed !== undefined);
    t.num('size');
    for (const k of ['sha256', 'file', 'note'] as const) t.str(k, true);
    t.bool('complete', true);
    t.num('bytes', true);
    t.check('seen', true, 'a list of [start, end] byte ranges', (v) => Array.isArray(v) && v.every((r) => Array.isArray(r) && r.length === 2 && r.every((n) => Number.isInteger(n) && n >= 0)));
    return t.o as unknown as ManifestTransfer;
  });
  m.list('files').forEach((f) => {
    f.str('path');
    f.num('size');
    f.str('sha256');
  });
  m.time('filesExpired', true);
  m.str('filesExpiredSignature', true);
  m.str('sealed', true);
  if (m.o.signature !== undefined) {
    const sig = m.obj('signature');
    sig.str('alg');
    sig.str('key');
    sig.str('value');
  }
  return { ...(m.o as unknown as Manifest), transfers };
}

/** The fields of one JSON object of a manifest, checked by type; `at` is its place (`channels[0].`) for the message. */
class Fields {
  readonly o: Record<string, unknown>;

  constructor(
    value: unknown,
    private readonly at: string,
  ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`manifest.json: ${at === '' ? 'not a JSON object' : `${at.slice(0, -1)} is not an object`}`);
    this.o = value as Record<string, unknown>;
  }

  str(k: string, optional = false): void {
    this.check(k, optional, 'a string', (v) => typeof v === 'string');
  }

  num(k: string, optional = false): void {
    this.check(k, optional, 'a number', (v) => typeof v === 'number' && Number.isFinite(v));
  }

  bool(k: string, optional = false): void {
    this.check(k, optional, 'true or false', (v) => typeof v === 'boolean');
  }

  oneOf(k: string, values: readonly string[], optional = false): void {
    this.check(k, optional, values.join(' or '), (v) => typeof v === 'string' && values.includes(v));
  }

  /** An ISO-8601 time. */
  time(k: string, optional = false): void {
    this.str(k, optional);
    const v = this.o[k];
    if (typeof v === 'string' && Number.isNaN(Date.parse(v))) throw new Error(`manifest.json: ${this.at}${k} "${v}" is not an ISO-8601 time`);
  }

  obj(k: string): Fields {
    if (this.o[k] === undefined) throw this.missing(k, 'an object');
    return new Fields(this.o[k], `${this.at}${k}.`);
  }

  list(k: string): Fields[] {
    const v = this.o[k];
    if (!Array.isArray(v)) throw this.missing(k, 'a list');
    return v.map((item, i) => new Fields(item, `${this.at}${k}[${i}].`));
  }

  check(k: string, optional: boolean, what: string, ok: (v: unknown) => boolean): void {
    const v = this.o[k];
    if (v === undefined ? !optional : !ok(v)) throw this.missing(k, what);
  }

  private missing(k: string, what: string): Error {
    return new Error(`manifest.json: ${this.at}${k} ${this.o[k] === undefined ? 'is missing' : `is not ${what}`}`);
  }
}
