// Follows the legacy SCP protocol (`scp -O`, and any exec channel that speaks it, see classify.ts) from both sides.
// The source (client for -t, server for -f) sends records `T<mtime> 0 <atime> 0`, `C<mode> <size> <name>`,
// `D<mode> 0 <name>`, `E`, each acknowledged by the sink with `\0`, `\1msg\n` (error) or `\2msg\n` (fatal);
// after a `C` ack come <size> bytes, one `\0` (or an error line) from the source, and the sink's final ack.
// The parser needs the sink's ack to know whether data follows a `C`, so both sides must be fed in relay order.
//
// Remote paths: for -f the sources named in the command; for -t the target, joined with the sent name when the
// target is known to be a directory (-d, -r, a trailing `/`, `.` or `~`). Otherwise the path is the target itself,
// which is what the server writes unless the target is an existing directory — the tracker cannot see the
// server's file system, so the record also carries the `name` the source sent.
import { ParseError, TransferTracker, type Capture, type TrackerOptions } from './tracker.js';
import type { Side, TransferDirection } from './types.js';

export interface ScpCommand {
  /** -t: the server is the sink (upload); -f: the server is the source (download). */
  readonly direction: TransferDirection;
  readonly recursive: boolean;
  readonly preserveTimes: boolean;
  /** -d: the target must be a directory. */
  readonly targetIsDirectory: boolean;
  /** -t: [target]; -f: the sources, as the remote shell would get them before glob expansion; [] when unknown. */
  readonly paths: readonly string[];
}

const ARG_OPTIONS = new Set(['c', 'D', 'F', 'i', 'J', 'l', 'M', 'o', 'P', 'S', 'X']);

/**
 * The exec command of a session channel -> the SCP transfer it runs on the server, or undefined when it is not a
 * plain `scp -t` / `scp -f` (then the channel is an ordinary exec). Commands with unquoted shell operators or
 * expansions are not treated as SCP: their bytes are still in the channel's recording.
 */
export function parseScpCommand(command: string): ScpCommand | undefined {
  const words = shellWords(command);
  if (words === undefined || words.length === 0) return undefined;
  const prog = words[0] as string;
  if (prog.split('/').pop() !== 'scp') return undefined;
  let to = false;
  let from = false;
  let recursive = false;
  let preserveTimes = false;
  let targetIsDirectory = false;
  let i = 1;
  for (; i < words.length; i++) {
    const w = words[i] as string;
    if (w === '--') {
      i++;
      break;
    }
    if (!w.startsWith('-') || w === '-') break;
    for (let j = 1; j < w.length; j++) {
      const f = w[j] as string;
      if (ARG_OPTIONS.has(f)) {
        if (j === w.length - 1) i++; // the argument is the next word
        break;
      }
      if (f === 't') to = true;
      else if (f === 'f') from = true;
      else if (f === 'r') recursive = true;
      else if (f === 'p') preserveTimes = true;
      else if (f === 'd') targetIsDirectory = true;
    }
  }
  if (to === from) return undefined;
  const paths = words.slice(i);
  if (paths.length === 0 || (to && paths.length !== 1)) return undefined;
  return { direction: to ? 'upload' : 'download', recursive, preserveTimes, targetIsDirectory, paths };
}

/**
 * The `scp -t` / `scp -f` a command line runs somewhere in it (`cd /tmp && exec scp -t x`, `sudo scp -f y`), for
 * the paths of its records only: what the channel is, the protocol on it decides. Undefined when nothing fits
 * `direction`; then records are named by what the source sent.
 */
export function scpCommandHint(command: string, direction: TransferDirection): ScpCommand | undefined {
  const plain = parseScpCommand(command);
  if (plain !== undefined) return plain.direction === direction ? plain : undefined;
  // Rough: split at shell operators and drop the usual prefixes; a wrong guess only names a path.
  const found = command
    .split(/&&|\|\||[;|&\n()]/)
    .map((part) => part.trim().replace(/^(?:(?:exec|command|sudo|nohup|env(?:\s+\w+=\S*)*)\s+)+/, ''))
    .map((part) => parseScpCommand(part))
    .filter((c): c is ScpCommand => c !== undefined && c.direction === direction);
  return found.length === 1 ? found[0] : undefined;
}

/** What is known of an SCP transfer whose command line says nothing: its direction; records name the paths. */
export function unknownScpCommand(direction: TransferDirection): ScpCommand {
  return { direction, recursive: false, preserveTimes: false, targetIsDirectory: false, paths: [] };
}

/**
 * POSIX-shell word splitting with quotes and backslashes. Undefined for anything a plain command line would not
 * have: operators, expansions, comments, bad quoting. Globs and `~` are kept literally (the remote shell expands
 * them; the tracker matches names against them only loosely, see pathFor).
 */
function shellWords(s: string): string[] | undefined {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    if (';&|<>()$`\n'.includes(c) || (c === '#' && !inWord)) return undefined;
    inWord = true;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return undefined;
      cur += s.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === '$' || s[j] === '`') return undefined;
        if (s[j] === '\\' && j + 1 < s.length && '"\\$`\n'.includes(s[j + 1] as string)) j++;
        cur += s[j];
      }
      if (j >= s.length) return undefined;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= s.length) return undefined;
      cur += s[++i];
    } else {
      cur += c;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

export interface ScpTrackerOptions extends TrackerOptions {
  readonly command: ScpCommand;
  /** Longest control line (record or error message) accepted; OpenSSH's own limit is smaller. @default 8 KiB */
  readonly maxLine?: number;
}

type Expect = 'T' | 'C' | 'D' | 'E' | 'end';

type State =
  | { readonly s: 'record' }
  | { readonly s: 'await'; readonly after: Expect }
  | { readonly s: 'data'; left: number }
  | { readonly s: 'dataEnd' }
  | { readonly s: 'done' };

interface FileRecord {
  readonly path: string;
  readonly name: string;
  readonly size: number;
  readonly mode: string;
}

/** Feed it a `scp -t` / `scp -f` exec channel (stdout and stdin; not stderr). */
export class ScpTracker extends TransferTracker {
  private readonly command: ScpCommand;
  private readonly maxLine: number;
  private readonly source: Side;
  private state: State = { s: 'record' };
  private ready = false;
  /** Source bytes of a control line, bounded by maxLine. */
  private line: Buffer[] = [];
  private lineLen = 0;
  /** Sink side: an error/fatal ack line being read. */
  private ack: { code: number; parts: Buffer[]; len: number } | undefined;
  private times: { mtime: number; atime: number } | undefined;
  private file: FileRecord | undefined;
  private capture: Capture | undefined;
  private sourceError: string | undefined;
  private readonly dirs: string[] = [];

  constructor(opts: ScpTrackerOptions) {
    super(opts);
    this.command = opts.command;
    this.maxLine = opts.maxLine ?? 8192;
    this.source = opts.command.direction === 'upload' ? 'client' : 'server';
  }

  protected parse(side: Side, chunk: Buffer): void {
    if (side === this.source) this.onSource(chunk);
    else this.onSink(chunk);
  }

  protected finishStream(): void {
    this.abort(this.state.s === 'data' ? 'the channel ended during the transfer' : 'the channel ended before the final acknowledgement');
  }

  protected abort(note: string): void {
    if (this.capture !== undefined) this.closeCapture(this.capture, false, note);
    this.capture = undefined;
    this.state = { s: 'done' };
    this.line = [];
  }

  // ---- the source: records and data

  private onSource(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const st = this.state;
      switch (st.s) {
        case 'done':
          // A transfer that ended (a fatal error) says nothing more; bytes here are something else on the channel.
          throw new ParseError('the source sent data after the transfer ended');
        case 'await':
          // The source waits for the ack before it sends more, and the relay feeds both sides in the order it
          // forwarded them: bytes here are not SCP (e.g. a shell behind a forged greeting).
          throw new ParseError('the source sent data before the acknowledgement');
        case 'data': {
          const n = Math.min(st.left, chunk.length - pos);
          if (this.capture !== undefined) this.writeCapture(this.capture, chunk.subarray(pos, pos + n));
          st.left -= n;
          pos += n;
          if (st.left === 0) this.state = { s: 'dataEnd' };
          break;
        }
        case 'dataEnd': {
          // After the data: `\0`, or an error line when the source could not read its file.
          if (this.lineLen === 0 && chunk[pos] === 0) {
            pos += 1;
            this.state = { s: 'await', after: 'end' };
            break;
          }
          pos = this.takeLine(chunk, pos);
          if (this.lineLen > 0 && this.lineEnded()) {
            const text = this.popLine();
            this.sourceError = text.slice(1);
            this.state = { s: 'await', after: 'end' };
          }
          break;
        }
        case 'record': {
          pos = this.takeLine(chunk, pos);
          if (this.lineEnded()) this.onRecord(this.popLine());
          break;
        }
      }
    }
  }

  /** Appends bytes up to and including `\n` to the line; returns the new position. */
  private takeLine(chunk: Buffer, pos: number): number {
    const nl = chunk.indexOf(0x0a, pos);
    const end = nl < 0 ? chunk.length : nl + 1;
    this.lineLen += end - pos;
    if (this.lineLen > this.maxLine) throw new ParseError(`a control line is longer than ${this.maxLine} bytes`);
    this.line.push(chunk.subarray(pos, end));
    return end;
  }

  private lineEnded(): boolean {
    const last = this.line[this.line.length - 1];
    return last !== undefined && last.length > 0 && last[last.length - 1] === 0x0a;
  }

  private popLine(): string {
    const text = Buffer.concat(this.line, this.lineLen).subarray(0, this.lineLen - 1).toString('utf8');
    this.line = [];
    this.lineLen = 0;
    return text;
  }

  private onRecord(line: string): void {
    const kind = line.charCodeAt(0);
    if (kind === 1 || kind === 2) {
      // A warning or fatal error from the source (e.g. a file it cannot read); no ack follows.
      this.emitOp({ op: 'scp_error', status: kind === 1 ? 'error' : 'fatal', message: line.slice(1) });
      if (kind === 2) this.state = { s: 'done' };
      return;
    }
    const t = /^T(\d+) (\d+) (\d+) (\d+)$/.exec(line);
    if (t) {
      this.times = { mtime: Number(t[1]), atime: Number(t[3]) };
      this.state = { s: 'await', after: 'T' };
      return;
    }
    const m = /^([CD])([0-7]{1,6}) (\d+) ([^]+)$/.exec(line);
    if (m) {
      const size = Number(m[3]);
      if (!Number.isSafeInteger(size)) throw new ParseError('a file size is beyond 2^53');
      const name = m[4] as string;
      this.file = { path: this.pathFor(name), name, size, mode: (m[2] as string).padStart(4, '0') };
      this.state = { s: 'await', after: m[1] as 'C' | 'D' };
      return;
    }
    if (line === 'E') {
      this.state = { s: 'await', after: 'E' };
      return;
    }
    throw new ParseError(`unexpected SCP record starting with byte 0x${kind.toString(16).padStart(2, '0')}`);
  }

  private pathFor(name: string): string {
    const parent = this.dirs[this.dirs.length - 1];
    if (parent !== undefined) return joinPath(parent, name);
    const cmd = this.command;
    // No command line to go by: the name the source sent is all there is.
    if (cmd.paths.length === 0) return name;
    if (cmd.direction === 'upload') {
      const target = cmd.paths[0] as string;
      const isDir = cmd.targetIsDirectory || cmd.recursive || target.endsWith('/') || target === '.' || target === '~';
      return isDir ? joinPath(target, name) : target;
    }
    const exact = cmd.paths.find((p) => p.replace(/\/+$/, '').split('/').pop() === name);
    if (exact !== undefined) return exact;
    const only = cmd.paths.length === 1 ? (cmd.paths[0] as string) : undefined;
    if (only !== undefined && only.includes('/')) return joinPath(only.slice(0, only.lastIndexOf('/') + 1), name);
    return name;
  }

  // ---- the sink: acknowledgements

  private onSink(chunk: Buffer): void {
    if (this.state.s === 'done' && chunk.length > 0) throw new ParseError('the sink sent data after the transfer ended');
    let pos = 0;
    while (pos < chunk.length && this.state.s !== 'done') {
      if (this.ack === undefined) {
        const code = chunk[pos++] as number;
        if (code === 0) {
          this.onAck(0, '');
          continue;
        }
        // OpenSSH's scp takes any other byte as fatal; here it means the other side is not speaking SCP.
        if (code !== 1 && code !== 2) throw new ParseError(`an acknowledgement starts with byte 0x${code.toString(16).padStart(2, '0')}`);
        this.ack = { code, parts: [], len: 0 };
      }
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl < 0 ? chunk.length : nl;
      this.ack.parts.push(chunk.subarray(pos, end));
      this.ack.len += end - pos;
      if (this.ack.len > this.maxLine) throw new ParseError(`an acknowledgement line is longer than ${this.maxLine} bytes`);
      if (nl < 0) return;
      pos = nl + 1;
      const { code, parts, len } = this.ack;
      this.ack = undefined;
      this.onAck(code === 1 ? 1 : 2, Buffer.concat(parts, len).toString('utf8'));
    }
  }

  /** 0 ok, 1 error, 2 fatal. */
  private onAck(code: 0 | 1 | 2, message: string): void {
    const failed = code === 0 ? { status: 'ok' } : { status: code === 1 ? 'error' : 'fatal', message };
    if (!this.ready) {
      this.ready = true;
      if (code !== 0) this.emitOp({ op: 'scp_error', ...failed });
      if (code === 2) this.state = { s: 'done' };
      return;
    }
    const st = this.state;
    if (st.s !== 'await') {
      if (code !== 0) this.emitOp({ op: 'scp_error', ...failed });
      if (code === 2) this.abort('the sink stopped the transfer');
      return;
    }
    const times = this.times && st.after !== 'T' ? { mtime: this.times.mtime, atime: this.times.atime } : undefined;
    if (st.after !== 'T') this.times = undefined;
    const file = this.file;
    this.state = { s: 'record' };
    switch (st.after) {
      case 'T':
        if (code !== 0) this.emitOp({ op: 'scp_error', ...failed });
        break;
      case 'E':
        this.dirs.pop();
        if (code !== 0) this.emitOp({ op: 'scp_error', ...failed });
        break;
      case 'D':
      case 'C': {
        if (file === undefined) break;
        const attrs = { mode: file.mode, ...(times ?? {}) };
        this.emitOp({
          op: st.after === 'D' ? 'scp_dir' : 'scp_file',
          path: file.path,
          name: file.name,
          ...(st.after === 'C' ? { size: file.size } : {}),
          attrs,
          ...failed,
        });
        if (code !== 0) break;
        if (st.after === 'D') {
          this.dirs.push(file.path);
          break;
        }
        this.capture = this.openCapture({ protocol: 'scp', direction: this.command.direction, path: file.path }, file.name);
        this.state = file.size > 0 ? { s: 'data', left: file.size } : { s: 'dataEnd' };
        break;
      }
      case 'end': {
        if (this.capture !== undefined) {
          const note = this.sourceError !== undefined
            ? `the source failed: ${this.sourceError}`
            : code !== 0 ? `the sink failed: ${message}` : undefined;
          this.closeCapture(this.capture, code === 0 && this.sourceError === undefined, note);
        }
        this.capture = undefined;
        this.sourceError = undefined;
        break;
      }
    }
    if (code === 2) {
      this.abort('the sink stopped the transfer');
      return;
    }
  }
}

function joinPath(dir: string, name: string): string {
  if (dir === '' || dir === '.') return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}
