import { InputEditor, OutputTerminal, timeOfSpan, type TextLine } from '../src/search/terminal.js';

function output(chunks: Array<[number, string]>): TextLine[] {
  const lines: TextLine[] = [];
  const term = new OutputTerminal((l) => lines.push(l));
  for (const [t, d] of chunks) term.write(d, t);
  term.end(chunks.length > 0 ? chunks[chunks.length - 1]![0] : 0);
  return lines;
}

function input(chunks: Array<[number, string]>): TextLine[] {
  const lines: TextLine[] = [];
  const ed = new InputEditor((l) => lines.push(l));
  for (const [t, d] of chunks) ed.write(d, t);
  ed.end(chunks.length > 0 ? chunks[chunks.length - 1]![0] : 0);
  return lines;
}

const texts = (ls: TextLine[]) => ls.map((l) => l.text);

describe('OutputTerminal', () => {
  it('resolves colours, a window title split over packets and a bracketed-paste mode switch', () => {
    // GIVEN a prompt as bash prints it: OSC title (cut in two packets), SGR colours, a private mode
    const chunks: Array<[number, string]> = [
      [0.1, '\x1b]0;root@db-1: ~\x07\x1b[?2004h\x1b[01;31mroot@db'],
      [0.2, '-1\x1b[00m:\x1b[01;34m~\x1b[00m# \x1b]0;ti'],
      [0.3, 'tle\x1b\\ls\r\n'],
    ];
    // WHEN it is fed to the terminal
    const lines = output(chunks);
    // THEN one clean line remains, begun at the first visible character
    expect(texts(lines)).toEqual(['root@db-1:~# ls']);
    expect(lines[0]!.start).toBe(0.1);
    expect(lines[0]!.end).toBe(0.3);
  });

  it('applies carriage return overwrites, backspaces and erase-in-line like a terminal', () => {
    // GIVEN a progress line redrawn with CR, and an echoed typo fixed with BS + EL
    const lines = output([
      [1, ' 10%\r 55%\r100% done\r\n'],
      [2, 'sudi'],
      [3, '\b\x1b[K'],
      [4, 'o su\r\n'],
      [5, 'abcdef\x1b[3D\x1b[1PX\r\n'], // cursor back 3, delete one char, write X
      [6, 'left\x1b[2Kright\r\n'], // erase whole line, cursor stays at column 4
    ]);
    // THEN each line shows what was left on screen
    expect(texts(lines)).toEqual(['100% done', 'sudo su', 'abcXf', '    right']);
    // AND the time of a part of a line is when that part was written
    const sudo = lines[1]!;
    expect(timeOfSpan(sudo, 0, 3)).toBe(2); // "sud"
    expect(timeOfSpan(sudo, 0, 7)).toBe(4); // "sudo su" complete at t=4
  });

  it('closes a line when the cursor moves to another row, and keeps the column of a CUP', () => {
    const lines = output([[0, 'top\x1b[5;3Hxy\x1b[Abelow\x1b[2Jafter']]);
    expect(texts(lines)).toEqual(['top', '  xy', '    below', '         after']);
  });

  it('cuts a runaway line without newlines instead of growing it without bound', () => {
    const lines = output([[0, 'x'.repeat(40_000)]]);
    expect(lines.length).toBe(3);
    expect(lines.every((l) => l.text.length <= 16384)).toBe(true);
  });
});

describe('InputEditor', () => {
  it('applies backspace (DEL and ^H) so that a corrected typo reads as typed', () => {
    // GIVEN "sudi", Backspace, "o su", Enter, one key per packet
    const keys = ['s', 'u', 'd', 'i', '\x7f', 'o', ' ', 's', 'u', '\r'];
    const lines = input(keys.map((k, i) => [1 + i * 0.5, k]));
    // THEN the typed line is the corrected one, complete when its last letter was typed
    expect(texts(lines)).toEqual(['sudo su']);
    expect(lines[0]!.start).toBe(1);
    expect(lines[0]!.end).toBe(5.5);
    expect(timeOfSpan(lines[0]!, 0, 7)).toBe(5);
  });

  it('applies ^U, ^W, M-Backspace, arrows and Delete as readline does', () => {
    const lines = input([
      [0, 'rm -rf /tmp/x\x15echo hi\r'], // ^U discards everything before the cursor
      [1, 'cat /etc/passwd\x17shadow\r'], // ^W rubs out the last whitespace-delimited word
      [2, 'grep foo-bar\x1b\x7fbaz\r'], // M-DEL kills back to a non-word char
      [3, 'sudo sx\x1b[Du\x1b[3~\x1b[F\r'], // left, insert u, Delete the x, End
      [4, 'ls\x08\x08\x08\x08pwd\x03'], // more BS than text, then ^C
      [5, '\x1b[200~pasted text\x1b[201~\r'],
    ]);
    expect(texts(lines)).toEqual(['echo hi', 'cat shadow', 'grep foo-baz', 'sudo su', 'pwd', 'pasted text']);
  });

  it('keeps its state across packets: an escape sequence cut in two is still one key', () => {
    const lines = input([
      [0, 'ab\x1b'],
      [1, '[D'],
      [2, 'X\r'],
    ]);
    expect(texts(lines)).toEqual(['aXb']);
  });
});
