// Follows an SFTP v3 session (as OpenSSH speaks it, extensions included) from the raw subsystem bytes of both
// sides: logs every operation, and captures each file handle's uploaded (WRITE) and downloaded (READ -> DATA)
// content at its offsets. Packets are reassembled across chunks; at most one partial packet per side is held.
import { ParseError, TransferTracker, type Capture, type TrackerOptions } from './tracker.js';
import type { FileAttrs, Side, TransferOp } from './types.js';

export interface SftpTrackerOptions extends TrackerOptions {
  /** Largest packet (its uint32 length) accepted; OpenSSH itself refuses more than 256 KiB. @default 256 KiB + 1 KiB */
  readonly maxPacket?: number;
  /** Requests awaiting a reply that are remembered. @default 16384 */
  readonly maxOutstanding?: number;
  /** Open handles remembered. @default 4096 */
  readonly maxHandles?: number;
}

const FXP = {
  INIT: 1, VERSION: 2, OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, LSTAT: 7, FSTAT: 8, SETSTAT: 9, FSETSTAT: 10,
  OPENDIR: 11, READDIR: 12, REMOVE: 13, MKDIR: 14, RMDIR: 15, REALPATH: 16, STAT: 17, RENAME: 18, READLINK: 19,
  SYMLINK: 20, STATUS: 101, HANDLE: 102, DATA: 103, NAME: 104, ATTRS: 105, EXTENDED: 200, EXTENDED_REPLY: 201,
} as const;

const PFLAGS: ReadonlyArray<[number, string]> = [[0x1, 'read'], [0x2, 'write'], [0x4, 'append'], [0x8, 'creat'], [0x10, 'trunc'], [0x20, 'excl']];
const PF_WRITE = 0x2;
const PF_CREAT = 0x8;
const PF_TRUNC = 0x10;

const STATUS = ['ok', 'eof', 'no_such_file', 'permission_denied', 'failure', 'bad_message', 'no_connection', 'connection_lost', 'op_unsupported'];
const statusName = (code: number): string => STATUS[code] ?? `status_${code}`;

const MAX_HANDLE_LENGTH = 256;

/** Bounds-checked reader of one packet; a short packet is a ParseError. */
class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  get left(): number {
    return this.buf.length - this.pos;
  }
  private need(n: number): void {
    if (this.left < n) throw new ParseError('a packet is shorter than its fields');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ParseError('an offset or size is beyond 2^53');
    return Number(v);
  }
  bytes(): Buffer {
    const n = this.u32();
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  str(): string {
    return this.bytes().toString('utf8');
  }
  handle(): string {
    const h = this.bytes();
    if (h.length > MAX_HANDLE_LENGTH) throw new ParseError(`a handle is longer than ${MAX_HANDLE_LENGTH} bytes`);
    return h.toString('latin1');
  }
  attrs(): FileAttrs {
    const flags = this.u32();
    const a: { -readonly [K in keyof FileAttrs]: FileAttrs[K] } = {};
    if (flags & 0x1) a.size = this.u64();
    if (flags & 0x2) {
      a.uid = this.u32();
      a.gid = this.u32();
    }
    if (flags & 0x4) a.mode = '0' + (this.u32() & 0o7777).toString(8).padStart(3, '0');
    if (flags & 0x8) {
      a.atime = this.u32();
      a.mtime = this.u32();
    }
    if (flags & 0x80000000) {
      for (let n = this.u32(); n > 0; n--) {
        this.bytes();
        this.bytes();
      }
    }
    return a;
  }
}

/** Splits one side's stream into packets (the bytes after the uint32 length). */
class Framer {
  private readonly head = Buffer.alloc(4);
  private headLen = 0;
  private body: Buffer | undefined;
  private bodyLen = 0;

  constructor(
    private readonly maxPacket: number,
    private readonly onPacket: (packet: Buffer) => void,
  ) {}

  get partial(): boolean {
    return this.headLen > 0 || this.body !== undefined;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.body === undefined) {
        let len: number;
        if (this.headLen === 0 && chunk.length - pos >= 4) {
          len = chunk.readUInt32BE(pos);
          pos += 4;
        } else {
          const n = Math.min(4 - this.headLen, chunk.length - pos);
          chunk.copy(this.head, this.headLen, pos, pos + n);
          this.headLen += n;
          pos += n;
          if (this.headLen < 4) return;
          this.headLen = 0;
          len = this.head.readUInt32BE(0);
        }
        if (len === 0) throw new ParseError('a packet has length 0');
        if (len > this.maxPacket) throw new ParseError(`a packet length of ${len} is over the limit of ${this.maxPacket}`);
        if (chunk.length - pos >= len) {
          this.onPacket(chunk.subarray(pos, pos + len));
          pos += len;
          continue;
        }
        this.body = Buffer.allocUnsafe(len);
        this.bodyLen = 0;
      }
      const n = Math.min(this.body.length - this.bodyLen, chunk.length - pos);
      chunk.copy(this.body, this.bodyLen, pos, pos + n);
      this.bodyLen += n;
      pos += n;
      if (this.bodyLen === this.body.length) {
        const packet = this.body;
        this.body = undefined;
        this.onPacket(packet);
      }
    }
  }
}

interface FileHandle {
  readonly kind: 'file';
  readonly path: string;
  readonly pflags: number;
  upload?: Capture;
  download?: Capture;
  bytesRead: number;
  bytesWritten: number;
  readRequested: boolean;
  writeError?: string;
  readError?: string;
}

interface DirHandle {
  readonly kind: 'dir';
  readonly path: string;
  entries: number;
}

/** What a request said, kept until its reply. */
type Pending =
  | { readonly kind: 'open'; readonly path: string; readonly pflags: number; readonly attrs: FileAttrs }
  | { readonly kind: 'opendir'; readonly path: string }
  | { readonly kind: 'close'; readonly handle: string }
  | { readonly kind: 'read'; readonly handle: string; readonly offset: number; readonly length: number }
  | { readonly kind: 'write'; readonly handle: string }
  | { readonly kind: 'readdir'; readonly handle: string }
  | { readonly kind: 'op'; readonly entry: TransferOp; readonly resolves?: boolean; readonly resize?: Resize };

/** A setstat/fsetstat that sets the size: once the server says ok, the uploads it names are cut to it. */
interface Resize {
  readonly size: number;
  readonly handle?: string;
  readonly path?: string;
}

const PATH_OPS: Record<number, string> = {
  [FXP.LSTAT]: 'lstat', [FXP.STAT]: 'stat', [FXP.REMOVE]: 'remove', [FXP.RMDIR]: 'rmdir', [FXP.REALPATH]: 'realpath',
  [FXP.READLINK]: 'readlink',
};

/** OpenSSH extension names -> channel-log op names. */
const EXTENSION_OPS: Record<string, string> = {
  'posix-rename@openssh.com': 'rename', 'hardlink@openssh.com': 'hardlink', 'statvfs@openssh.com': 'statvfs',
  'fstatvfs@openssh.com': 'fstatvfs', 'fsync@openssh.com': 'fsync', 'lsetstat@openssh.com': 'lsetstat',
  'limits@openssh.com': 'limits', 'expand-path@openssh.com': 'expand-path', 'copy-data': 'copy-data',
  'home-directory': 'home-directory', 'users-groups-by-id@openssh.com': 'users-groups-by-id',
};

/**
 * Feed it the `sftp` subsystem channel: `feed('client', ...)` for bytes from the person's client, `feed('server', ...)`
 * for bytes from the target. READ/WRITE/READDIR are summed on the handle's `close` entry rather than logged one by
 * one. `copy-data` is logged but captures nothing: the content never crosses the channel.
 */
export class SftpTracker extends TransferTracker {
  private readonly maxOutstanding: number;
  private readonly maxHandles: number;
  private readonly client: Framer;
  private readonly server: Framer;
  private readonly pending = new Map<number, Pending>();
  private readonly handles = new Map<string, FileHandle | DirHandle>();
  private initSeen = false;
  private versionSeen = false;

  constructor(opts: SftpTrackerOptions) {
    super(opts);
    const maxPacket = opts.maxPacket ?? 256 * 1024 + 1024;
    this.maxOutstanding = opts.maxOutstanding ?? 16384;
    this.maxHandles = opts.maxHandles ?? 4096;
    this.client = new Framer(maxPacket, (p) => this.onClientPacket(new Reader(p)));
    this.server = new Framer(maxPacket, (p) => this.onServerPacket(new Reader(p)));
  }

  protected parse(side: Side, chunk: Buffer): void {
    (side === 'client' ? this.client : this.server).push(chunk);
  }

  protected finishStream(): void {
    for (const req of this.pending.values()) {
      if (req.kind === 'op') this.emitOp({ ...req.entry, status: 'no_reply' });
      else if (req.kind === 'open' || req.kind === 'opendir') this.emitOp({ op: req.kind, path: req.path, status: 'no_reply' });
    }
    this.pending.clear();
    if (this.client.partial || this.server.partial) this.stop('the channel ended inside a packet');
    else this.abort('the channel ended before the file was closed');
  }

  protected abort(note: string): void {
    for (const h of this.handles.values()) {
      if (h.kind === 'file') this.finishHandle(h, false, note);
    }
    this.handles.clear();
    this.pending.clear();
  }

  // ---- client -> server: requests

  private onClientPacket(r: Reader): void {
    const type = r.u8();
    if (!this.initSeen) {
      if (type !== FXP.INIT) throw new ParseError(`the client did not start with SSH_FXP_INIT (got type ${type})`);
      this.initSeen = true;
      this.emitOp({ op: 'init', version: r.u32() });
      return;
    }
    if (type === FXP.INIT) throw new ParseError('the client sent SSH_FXP_INIT twice');
    const id = r.u32();
    switch (type) {
      case FXP.OPEN: {
        const path = r.str();
        const pflags = r.u32();
        return this.request(id, { kind: 'open', path, pflags, attrs: r.attrs() });
      }
      case FXP.OPENDIR:
        return this.request(id, { kind: 'opendir', path: r.str() });
      case FXP.CLOSE:
        return this.request(id, { kind: 'close', handle: r.handle() });
      case FXP.READ: {
        const handle = r.handle();
        const offset = r.u64();
        const length = r.u32();
        const h = this.handles.get(handle);
        if (h?.kind !== 'file') return;
        h.readRequested = true;
        return this.request(id, { kind: 'read', handle, offset, length });
      }
      case FXP.WRITE: {
        const handle = r.handle();
        const offset = r.u64();
        const data = r.bytes();
        const h = this.handles.get(handle);
        if (h?.kind !== 'file') return;
        h.upload ??= this.openCapture({ protocol: 'sftp', direction: 'upload', path: h.path });
        this.writeCapture(h.upload, data, offset);
        h.bytesWritten += data.length;
        return this.request(id, { kind: 'write', handle });
      }
      case FXP.READDIR: {
        const handle = r.handle();
        if (this.handles.get(handle)?.kind !== 'dir') return;
        return this.request(id, { kind: 'readdir', handle });
      }
      case FXP.FSTAT:
        return this.request(id, { kind: 'op', entry: this.onHandle('fstat', r.handle()) });
      case FXP.FSETSTAT: {
        const handle = r.handle();
        const attrs = r.attrs();
        const resize = attrs.size !== undefined ? { resize: { size: attrs.size, handle } } : {};
        return this.request(id, { kind: 'op', entry: withAttrs(this.onHandle('fsetstat', handle), attrs), ...resize });
      }
      case FXP.SETSTAT:
      case FXP.MKDIR: {
        const path = r.str();
        const attrs = r.attrs();
        const resize = type === FXP.SETSTAT && attrs.size !== undefined ? { resize: { size: attrs.size, path } } : {};
        return this.request(id, { kind: 'op', entry: withAttrs({ op: type === FXP.MKDIR ? 'mkdir' : 'setstat', path }, attrs), ...resize });
      }
      case FXP.RENAME: {
        const path = r.str();
        return this.request(id, { kind: 'op', entry: { op: 'rename', path, target: r.str() } });
      }
      case FXP.SYMLINK: {
        // OpenSSH sends (target, linkpath), the reverse of the draft; follow what the real server does.
        const target = r.str();
        return this.request(id, { kind: 'op', entry: { op: 'symlink', path: r.str(), target } });
      }
      case FXP.EXTENDED:
        return this.request(id, this.onExtended(r));
      default: {
        const op = PATH_OPS[type];
        if (op !== undefined) {
          return this.request(id, { kind: 'op', entry: { op, path: r.str() }, resolves: op === 'realpath' || op === 'readlink' });
        }
        this.emitOp({ op: 'unknown', packetType: type });
      }
    }
  }

  private onHandle(op: string, handle: string): TransferOp {
    const path = this.handles.get(handle)?.path;
    return path !== undefined ? { op, path } : { op };
  }

  private onExtended(r: Reader): Pending {
    const extension = r.str();
    const op = EXTENSION_OPS[extension] ?? 'extended';
    const entry = (e: Omit<TransferOp, 'op' | 'extension'>): Pending => ({ kind: 'op', entry: { op, extension, ...e } });
    switch (extension) {
      case 'posix-rename@openssh.com':
      case 'hardlink@openssh.com': {
        const path = r.str();
        return entry({ path, target: r.str() });
      }
      case 'statvfs@openssh.com':
        return entry({ path: r.str() });
      case 'expand-path@openssh.com':
        return { kind: 'op', entry: { op, extension, path: r.str() }, resolves: true };
      case 'lsetstat@openssh.com': {
        const path = r.str();
        return entry(withAttrs({ op, path }, r.attrs()));
      }
      case 'fstatvfs@openssh.com':
      case 'fsync@openssh.com':
        return entry(this.onHandle(op, r.handle()));
      case 'copy-data': {
        const from = this.handles.get(r.handle())?.path;
        r.u64();
        r.u64();
        const to = this.handles.get(r.handle())?.path;
        return entry({ ...(from !== undefined ? { path: from } : {}), ...(to !== undefined ? { target: to } : {}) });
      }
      case 'home-directory':
        return { kind: 'op', entry: { op, extension, name: r.str() }, resolves: true };
      default:
        return entry({});
    }
  }

  private request(id: number, req: Pending): void {
    // A reused id would pair a reply with the wrong request (DATA written at the wrong offset): stop instead.
    if (this.pending.has(id)) throw new ParseError(`request id ${id} was reused while still outstanding`);
    if (this.pending.size >= this.maxOutstanding) throw new ParseError(`more than ${this.maxOutstanding} requests outstanding`);
    this.pending.set(id, req);
  }

  // ---- server -> client: replies

  private onServerPacket(r: Reader): void {
    const type = r.u8();
    if (!this.versionSeen) {
      if (type !== FXP.VERSION) throw new ParseError(`the server did not start with SSH_FXP_VERSION (got type ${type})`);
      this.versionSeen = true;
      const version = r.u32();
      const extensions: string[] = [];
      while (r.left > 0) {
        extensions.push(r.str());
        r.bytes();
      }
      this.emitOp({ op: 'version', version, extensions });
      if (version !== 3) throw new ParseError(`SFTP version ${version} is not followed (only version 3 is)`);
      return;
    }
    const id = r.u32();
    const req = this.pending.get(id);
    if (req === undefined) return;
    this.pending.delete(id);
    switch (type) {
      case FXP.STATUS: {
        const code = r.u32();
        // v3 adds message + language; some servers omit them.
        const message = r.left >= 4 ? r.str() : '';
        return this.onReply(req, { status: statusName(code), message });
      }
      case FXP.HANDLE:
        return this.onReply(req, { status: 'ok', handle: r.handle() });
      case FXP.DATA:
        return this.onReply(req, { status: 'ok', data: r.bytes() });
      case FXP.NAME: {
        const count = r.u32();
        return this.onReply(req, { status: 'ok', count, ...(count > 0 ? { name: r.str() } : {}) });
      }
      case FXP.ATTRS:
      case FXP.EXTENDED_REPLY:
        return this.onReply(req, { status: 'ok' });
      default:
        this.emitOp({ op: 'unknown', packetType: type });
    }
  }

  private onReply(req: Pending, reply: Reply): void {
    const status = reply.status;
    const failed = status !== 'ok' ? { status, ...(reply.message ? { message: reply.message } : {}) } : { status };
    switch (req.kind) {
      case 'open':
      case 'opendir': {
        const flags = req.kind === 'open' ? { flags: PFLAGS.filter(([bit]) => req.pflags & bit).map(([, name]) => name) } : {};
        const attrs = req.kind === 'open' && Object.keys(req.attrs).length > 0 ? { attrs: req.attrs } : {};
        this.emitOp({ op: req.kind, path: req.path, ...flags, ...attrs, ...failed });
        if (reply.handle === undefined) return;
        if (this.handles.size >= this.maxHandles) throw new ParseError(`more than ${this.maxHandles} handles open`);
        this.handles.set(
          reply.handle,
          req.kind === 'open'
            ? { kind: 'file', path: req.path, pflags: req.pflags, bytesRead: 0, bytesWritten: 0, readRequested: false }
            : { kind: 'dir', path: req.path, entries: 0 },
        );
        return;
      }
      case 'close': {
        const h = this.handles.get(req.handle);
        if (h === undefined) return this.emitOp({ op: 'close', ...failed });
        this.handles.delete(req.handle);
        if (h.kind === 'dir') return this.emitOp({ op: 'close', path: h.path, entries: h.entries, ...failed });
        this.emitOp({ op: 'close', path: h.path, bytesRead: h.bytesRead, bytesWritten: h.bytesWritten, ...failed });
        this.finishHandle(h, status === 'ok', status === 'ok' ? undefined : `the server answered close with ${status}`);
        return;
      }
      case 'read': {
        const h = this.handles.get(req.handle);
        if (h?.kind !== 'file') return;
        if (reply.data !== undefined) {
          h.download ??= this.openCapture({ protocol: 'sftp', direction: 'download', path: h.path });
          this.writeCapture(h.download, reply.data, req.offset);
          h.bytesRead += reply.data.length;
        } else if (status !== 'ok' && status !== 'eof') {
          h.readError ??= status;
        }
        return;
      }
      case 'write': {
        const h = this.handles.get(req.handle);
        if (h?.kind === 'file' && status !== 'ok') h.writeError ??= status;
        return;
      }
      case 'readdir': {
        const h = this.handles.get(req.handle);
        if (h?.kind === 'dir' && reply.count !== undefined) h.entries += reply.count;
        return;
      }
      case 'op': {
        const target = req.resolves && reply.name !== undefined ? { target: reply.name } : {};
        this.emitOp({ ...req.entry, ...target, ...failed });
        if (req.resize !== undefined && status === 'ok') this.resize(req.resize);
      }
    }
  }

  /** The file's size was set on the server: uploads open on it are cut (or zero-extended) to match. */
  private resize(r: Resize): void {
    const matches = r.handle !== undefined ? [this.handles.get(r.handle)] : [...this.handles.values()].filter((h) => h.path === r.path);
    for (const h of matches) {
      if (h?.kind === 'file' && h.upload !== undefined) this.truncateCapture(h.upload, r.size);
    }
  }

  /** A file handle is done: report what went up and what came down. */
  private finishHandle(h: FileHandle, closedOk: boolean, note?: string): void {
    // An upload with no WRITE is still a transfer (an empty file) when the open truncated or created the file.
    if (h.upload === undefined && h.pflags & PF_WRITE && h.pflags & (PF_TRUNC | PF_CREAT) && closedOk) {
      h.upload = this.openCapture({ protocol: 'sftp', direction: 'upload', path: h.path });
    }
    if (h.download === undefined && h.readRequested) {
      h.download = this.openCapture({ protocol: 'sftp', direction: 'download', path: h.path });
    }
    if (h.upload !== undefined) {
      const err = h.writeError !== undefined ? `the server refused a write: ${h.writeError}` : undefined;
      this.closeCapture(h.upload, closedOk && err === undefined, err ?? note);
    }
    if (h.download !== undefined) {
      const err = h.readError !== undefined ? `the server failed a read: ${h.readError}` : undefined;
      this.closeCapture(h.download, closedOk && err === undefined, err ?? note);
    }
  }
}

interface Reply {
  readonly status: string;
  readonly message?: string;
  readonly handle?: string;
  readonly data?: Buffer;
  readonly count?: number;
  readonly name?: string;
}

function withAttrs(entry: TransferOp, attrs: FileAttrs): TransferOp {
  return Object.keys(attrs).length > 0 ? { ...entry, attrs } : entry;
}
