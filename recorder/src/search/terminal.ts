// A terminal-ish line model: turns the raw bytes of an asciicast stream into the lines a person saw
// (output: escapes resolved, overwrites applied) or typed (input: readline-style editing applied),
// each line remembering when every part of it was written. Fed packet by packet; state carries over.

/** One finished line of a transcript. */
export interface TextLine {
  /** The visible text, trailing blanks removed. */
  readonly text: string;
  /** Time offset (s) of the oldest character still visible on the line. */
  readonly start: number;
  /** Time offset (s) of the event that completed the line (newline, Enter, end of stream). */
  readonly end: number;
  /**
   * When the line's parts were written, as flat pairs `[col0, t0, col1, t1, ...]` (cells from colK to the
   * next col were written at tK). Absent when the whole line was written at `start`.
   */
  readonly runs?: readonly number[];
}

export type LineSink = (line: TextLine) => void;

/** Longer lines are cut: a runaway line without newlines must not grow without bound. */
export const MAX_LINE = 16384;

/** When the characters in [from, to) of a line became what they are: the latest write among them. */
export function timeOfSpan(line: TextLine, from: number, to: number): number {
  const runs = line.runs;
  if (runs === undefined) return line.start;
  let t = -Infinity;
  for (let i = 0; i < runs.length; i += 2) {
    const col = runs[i]!;
    const next = i + 2 < runs.length ? runs[i + 2]! : Infinity;
    if (next > from && col < to && runs[i + 1]! > t) t = runs[i + 1]!;
  }
  return t === -Infinity ? line.start : t;
}

/** A line being edited: its text and, run by run, when each cell was written. */
class LineBuffer {
  text = '';
  /** Flat [col, t] pairs, cols strictly increasing, first col 0 when text is not empty. */
  runs: number[] = [];

  get length(): number {
    return this.text.length;
  }

  /** Replaces cells [a, b) with `r`, written at time t. Everything the terminal and the editor do is a splice. */
  splice(a: number, b: number, r: string, t: number): void {
    const len = this.text.length;
    if (a > len) {
      r = ' '.repeat(a - len) + r;
      a = len;
    }
    if (b > len) b = len;
    if (b < a) b = a;
    const runs = this.runs;
    // Fast path: appending at the end, as most output does.
    if (a === len) {
      if (r.length === 0) return;
      this.text += r;
      if (runs.length === 0 || runs[runs.length - 1] !== t) runs.push(len, t);
      return;
    }
    this.text = this.text.slice(0, a) + r + this.text.slice(b);
    const delta = r.length - (b - a);
    const out: number[] = [];
    let tAtB = NaN; // the time of the cell at b, which keeps its time after the splice
    for (let i = 0; i < runs.length; i += 2) {
      const col = runs[i]!;
      const rt = runs[i + 1]!;
      if (col <= b) tAtB = rt;
      if (col < a) out.push(col, rt);
    }
    if (r.length > 0) out.push(a, t);
    if (b < len) out.push(a + r.length, tAtB);
    for (let i = 0; i < runs.length; i += 2) {
      const col = runs[i]!;
      if (col > b) out.push(col + delta, runs[i + 1]!);
    }
    // Drop empty runs and merge neighbours written at the same time.
    const merged: number[] = [];
    for (let i = 0; i < out.length; i += 2) {
      const col = out[i]!;
      const rt = out[i + 1]!;
      const nextCol = i + 2 < out.length ? out[i + 2]! : this.text.length;
      if (nextCol <= col) continue;
      if (merged.length > 0 && merged[merged.length - 1] === rt) continue;
      merged.push(col, rt);
    }
    this.runs = merged;
  }

  clear(): void {
    this.text = '';
    this.runs = [];
  }

  /** The finished line, or undefined when nothing but blanks is left. */
  finish(end: number): TextLine | undefined {
    const text = this.text.trimEnd();
    if (text.length === 0 || text.trimStart().length === 0) return undefined;
    const runs: number[] = [];
    let start = Infinity;
    for (let i = 0; i < this.runs.length; i += 2) {
      if (this.runs[i]! >= text.length) break;
      runs.push(this.runs[i]!, this.runs[i + 1]!);
      if (this.runs[i + 1]! < start) start = this.runs[i + 1]!;
    }
    if (start === Infinity) start = end;
    return runs.length > 2 ? { text, start, end, runs } : { text, start, end };
  }
}

const enum State {
  Ground,
  Escape,
  EscapeIntermediate,
  Csi,
  Osc,
  OscEscape,
  Str,
  StrEscape,
  Ss3,
}

const ESC = 0x1b;

/** A printable character: not C0, not DEL, not C1. */
function printable(c: number): boolean {
  return (c >= 0x20 && c < 0x7f) || c >= 0xa0;
}

/** Parses VT escape sequences; subclasses decide what the pieces mean. */
abstract class VtParser {
  private state = State.Ground;
  private params = '';
  protected t = 0;

  write(data: string, t: number): void {
    this.t = t;
    const n = data.length;
    let i = 0;
    while (i < n) {
      const c = data.charCodeAt(i);
      if (this.state === State.Ground) {
        if (printable(c)) {
          let j = i + 1;
          while (j < n && printable(data.charCodeAt(j))) j++;
          this.print(data.slice(i, j));
          i = j;
          continue;
        }
        if (c === ESC) this.state = State.Escape;
        else this.control(c);
        i++;
        continue;
      }
      this.step(c);
      i++;
    }
  }

  private step(c: number): void {
    switch (this.state) {
      case State.Escape:
        if (c === 0x5b /* [ */) {
          this.state = State.Csi;
          this.params = '';
        } else if (c === 0x5d /* ] */) this.state = State.Osc;
        else if (c === 0x50 || c === 0x58 || c === 0x5e || c === 0x5f) this.state = State.Str; // DCS SOS PM APC
        else if (c === 0x4f /* O */) this.state = State.Ss3;
        else if (c >= 0x20 && c <= 0x2f) this.state = State.EscapeIntermediate;
        else if (c === ESC) this.state = State.Escape;
        else if (c < 0x20 && c !== 0x08) this.control(c);
        else {
          // ESC + a character: a meta key when typed (ESC DEL is M-Backspace), NEL/IND/RI/RIS... when printed.
          this.state = State.Ground;
          this.escape(c);
        }
        return;
      case State.EscapeIntermediate:
        if (c >= 0x30 && c <= 0x7e) this.state = State.Ground;
        else if (c === ESC) this.state = State.Escape;
        return;
      case State.Ss3:
        this.state = c === ESC ? State.Escape : State.Ground;
        if (c >= 0x40 && c <= 0x7e) this.ss3(c);
        return;
      case State.Csi:
        if (c >= 0x40 && c <= 0x7e) {
          this.state = State.Ground;
          this.csi(this.params, c);
        } else if (c >= 0x20 && c <= 0x3f) {
          if (this.params.length < 64) this.params += String.fromCharCode(c);
        } else if (c === ESC) this.state = State.Escape;
        else if (c < 0x20) this.control(c);
        else this.state = State.Ground; // not a CSI after all: drop it
        return;
      case State.Osc:
        if (c === 0x07) this.state = State.Ground;
        else if (c === ESC) this.state = State.OscEscape;
        return;
      case State.OscEscape:
        this.state = c === 0x5c /* \ */ ? State.Ground : c === ESC ? State.OscEscape : State.Osc;
        return;
      case State.Str:
        if (c === ESC) this.state = State.StrEscape;
        return;
      case State.StrEscape:
        this.state = c === 0x5c ? State.Ground : c === ESC ? State.StrEscape : State.Str;
        return;
      default:
        this.state = State.Ground;
    }
  }

  protected abstract print(s: string): void;
  protected abstract control(c: number): void;
  protected abstract csi(params: string, final: number): void;
  protected escape(_c: number): void {}
  protected ss3(_c: number): void {}
}

/** The numeric parameters of a CSI, with `dflt` for missing or zero ones when asked. */
function numbers(params: string): number[] {
  if (params === '') return [];
  return params.split(';').map((p) => {
    const v = parseInt(p, 10);
    return Number.isFinite(v) ? v : 0;
  });
}

function arg(ps: number[], i: number, dflt: number): number {
  const v = ps[i];
  return v === undefined || v === 0 ? dflt : Math.min(v, MAX_LINE);
}

/** A VT stream read into lines: the line being built, the cursor's column in it, where finished lines go. */
abstract class LineParser extends VtParser {
  protected readonly line = new LineBuffer();
  protected col = 0;

  constructor(protected readonly emit: LineSink) {
    super();
  }

  /** Closes the open line at the end of the stream. */
  abstract end(t: number): void;
}

/**
 * What the server printed, as lines. Cursor movement within the line, erase-in-line, CR and BS are
 * applied; a move to another row (cursor up/down/position, clear screen) closes the line, which is the
 * best a line model can do with full-screen programs.
 */
export class OutputTerminal extends LineParser {
  end(t: number): void {
    this.newline(t);
  }

  protected print(s: string): void {
    const line = this.line;
    let col = this.col;
    while (s.length > 0) {
      const room = MAX_LINE - col;
      if (room <= 0) {
        this.newline(this.t);
        col = 0;
        continue;
      }
      const part = room >= s.length ? s : s.slice(0, room);
      line.splice(col, col + part.length, part, this.t);
      col += part.length;
      s = part === s ? '' : s.slice(part.length);
    }
    this.col = col;
  }

  private newline(t: number): void {
    const done = this.line.finish(t);
    if (done !== undefined) this.emit(done);
    this.line.clear();
    this.col = 0;
  }

  /** A move to another row: close this line, keep the column. */
  private otherRow(col = this.col): void {
    this.newline(this.t);
    this.col = Math.min(Math.max(col, 0), MAX_LINE);
  }

  protected control(c: number): void {
    switch (c) {
      case 0x0a: // LF, VT, FF: the tty's onlcr makes these a new line
      case 0x0b:
      case 0x0c:
        this.newline(this.t);
        return;
      case 0x0d:
        this.col = 0;
        return;
      case 0x08:
        if (this.col > 0) this.col--;
        return;
      case 0x09:
        this.col = Math.min((this.col + 8) & ~7, MAX_LINE);
        return;
      default:
        return; // BEL, SO/SI, NUL...: nothing visible
    }
  }

  protected override escape(c: number): void {
    // NEL, IND, RI and RIS move to another row; a BS right after ESC is still a BS.
    if (c === 0x08) this.control(c);
    else if (c === 0x45 /* E */) this.otherRow(0);
    else if (c === 0x44 /* D */ || c === 0x4d /* M */ || c === 0x63 /* c */) this.otherRow();
  }

  protected csi(params: string, final: number): void {
    if (final === 0x6d /* m */) return; // SGR, most of all escapes: colours change nothing on the line
    const priv = params.length > 0 && params.charCodeAt(0) >= 0x3c; // < = > ?
    if (priv && final !== 0x4b && final !== 0x4a) return; // private modes (?25l, ?2004h...) show nothing
    const ps = numbers(priv ? params.slice(1) : params);
    const line = this.line;
    const col = this.col;
    switch (String.fromCharCode(final)) {
      case 'C': // CUF
      case 'a': // HPR
        this.col = Math.min(col + arg(ps, 0, 1), MAX_LINE);
        return;
      case 'D': // CUB
        this.col = Math.max(col - arg(ps, 0, 1), 0);
        return;
      case 'G': // CHA
      case '`': // HPA
        this.col = arg(ps, 0, 1) - 1;
        return;
      case 'K': // EL
      case 'J': {
        const mode = ps[0] ?? 0;
        if (final === 0x4a && mode >= 2) return this.otherRow();
        if (mode === 0) line.splice(col, line.length, '', this.t);
        else if (mode === 1) line.splice(0, Math.min(col + 1, line.length), ' '.repeat(Math.min(col + 1, line.length)), this.t);
        else line.clear();
        return;
      }
      case 'P': // DCH
        line.splice(col, col + arg(ps, 0, 1), '', this.t);
        return;
      case '@': // ICH
        if (col < line.length) line.splice(col, col, ' '.repeat(arg(ps, 0, 1)), this.t);
        return;
      case 'X': {
        // ECH
        const n = Math.min(arg(ps, 0, 1), Math.max(line.length - col, 0));
        if (n > 0) line.splice(col, col + n, ' '.repeat(n), this.t);
        return;
      }
      case 'A': // CUU, CUD, VPA, SU, SD: another row, same column
      case 'B':
      case 'e':
      case 'd':
      case 'S':
      case 'T':
        return this.otherRow();
      case 'E': // CNL, CPL
      case 'F':
        return this.otherRow(0);
      case 'H': // CUP, HVP
      case 'f':
        return this.otherRow(arg(ps, 1, 1) - 1);
      default:
        return; // SGR, modes, margins, reports: nothing on the line
    }
  }
}

function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t';
}

/**
 * What the person typed, as lines: keystrokes applied the way bash's readline (emacs mode) applies them.
 * Enter completes a line; ^C completes it too (it was typed, even if not run). History and completion
 * happen on the server, so their result is only in the output stream.
 */
export class InputEditor extends LineParser {
  end(t: number): void {
    this.enter(t);
  }

  private enter(t: number): void {
    const done = this.line.finish(t);
    if (done !== undefined) this.emit(done);
    this.line.clear();
    this.col = 0;
  }

  protected print(s: string): void {
    if (this.line.length + s.length > MAX_LINE) {
      // A paste without newlines: keep what fits, then start over rather than grow without bound.
      this.enter(this.t);
    }
    this.line.splice(this.col, this.col, s, this.t);
    this.col += s.length;
  }

  private deleteBack(n: number): void {
    const from = Math.max(this.col - n, 0);
    this.line.splice(from, this.col, '', this.t);
    this.col = from;
  }

  private wordStartBefore(col: number, isSep: (ch: string | undefined) => boolean): number {
    const text = this.line.text;
    let i = col;
    while (i > 0 && isSep(text[i - 1])) i--;
    while (i > 0 && !isSep(text[i - 1])) i--;
    return i;
  }

  private wordEndAfter(col: number): number {
    const text = this.line.text;
    let i = col;
    while (i < text.length && !/[\p{L}\p{N}]/u.test(text[i]!)) i++;
    while (i < text.length && /[\p{L}\p{N}]/u.test(text[i]!)) i++;
    return i;
  }

  protected control(c: number): void {
    const line = this.line;
    switch (c) {
      case 0x0d: // Enter
      case 0x0a:
      case 0x03: // ^C
        return this.enter(this.t);
      case 0x08: // ^H / BS
      case 0x7f: // DEL (what the Backspace key sends)
        return this.deleteBack(1);
      case 0x15: // ^U unix-line-discard
        return this.deleteBack(this.col);
      case 0x17: // ^W unix-word-rubout: back to whitespace
        return this.deleteBack(this.col - this.wordStartBefore(this.col, isSpace));
      case 0x0b: // ^K kill-line
        line.splice(this.col, line.length, '', this.t);
        return;
      case 0x01: // ^A
        this.col = 0;
        return;
      case 0x05: // ^E
        this.col = line.length;
        return;
      case 0x02: // ^B
        if (this.col > 0) this.col--;
        return;
      case 0x06: // ^F
        if (this.col < line.length) this.col++;
        return;
      case 0x04: // ^D: delete-char (EOF on an empty line)
        if (this.col < line.length) line.splice(this.col, this.col + 1, '', this.t);
        return;
      case 0x09: // TAB: completion is done by the server; keep a separator
        return this.print('\t');
      default:
        return;
    }
  }

  protected override escape(c: number): void {
    switch (c) {
      case 0x7f: // M-DEL, M-BS: backward-kill-word
      case 0x08:
        return this.killWordBack();
      case 0x62: // M-b
        this.col = this.wordStartBefore(this.col, (ch) => ch === undefined || !/[\p{L}\p{N}]/u.test(ch));
        return;
      case 0x66: // M-f
        this.col = this.wordEndAfter(this.col);
        return;
      case 0x64: // M-d kill-word
        this.line.splice(this.col, this.wordEndAfter(this.col), '', this.t);
        return;
      default:
        return;
    }
  }

  protected override ss3(c: number): void {
    this.csi('', c);
  }

  protected csi(params: string, final: number): void {
    const ps = numbers(params);
    const line = this.line;
    switch (String.fromCharCode(final)) {
      case 'D':
        this.col = Math.max(this.col - arg(ps, 0, 1), 0);
        return;
      case 'C':
        this.col = Math.min(this.col + arg(ps, 0, 1), line.length);
        return;
      case 'H':
        this.col = 0;
        return;
      case 'F':
        this.col = line.length;
        return;
      case '~': {
        const key = ps[0] ?? 0;
        if (key === 3 && this.col < line.length) line.splice(this.col, this.col + 1, '', this.t); // Delete
        else if (key === 1 || key === 7) this.col = 0; // Home
        else if (key === 4 || key === 8) this.col = line.length; // End
        return; // 200~/201~ bracketed paste markers and the rest: nothing typed
      }
      default:
        return; // arrows up/down (history) and the rest
    }
  }

  private killWordBack(): void {
    this.deleteBack(this.col - this.wordStartBefore(this.col, (ch) => ch === undefined || !/[\p{L}\p{N}]/u.test(ch)));
  }
}
