// The protocol recogniser: the SFTP and SCP greetings make a transfer whatever the command line; everything else,
// and every greeting whose answer does not fit, is a terminal (the recording errs towards a cast).
import { ProtocolRecogniser, type Recognised } from '../src/transfer/classify.js';

const INIT = Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3]);
const VERSION = Buffer.from([0, 0, 0, 5, 2, 0, 0, 0, 3]);
const NUL = Buffer.from([0]);

/** The verdict after each chunk. */
function run(chunks: ReadonlyArray<readonly ['client' | 'server', Buffer | string]>): Recognised[] {
  const r = new ProtocolRecogniser();
  return chunks.map(([side, b]) => r.feed(side, typeof b === 'string' ? Buffer.from(b, 'latin1') : b));
}

describe('ProtocolRecogniser', () => {
  it('SFTP: INIT is a handshake, VERSION makes it sftp, also when they come in pieces', () => {
    expect(run([['client', INIT], ['server', VERSION]])).toEqual(['handshake', { protocol: 'sftp' }]);
    // A lone first NUL is SCP's ready byte (OpenSSH sends INIT in one message), so the pieces start at two bytes.
    const pieces = run([['client', INIT.subarray(0, 2)], ...[...INIT.subarray(2)].map((b) => ['client', Buffer.from([b])] as const), ...[...VERSION].map((b) => ['server', Buffer.from([b])] as const)]);
    expect(pieces.slice(0, 7)).toEqual(Array(7).fill('hold'));
    expect(pieces[7]).toBe('handshake');
    expect(pieces.slice(8, 16)).toEqual(Array(8).fill('hold'));
    expect(pieces[16]).toEqual({ protocol: 'sftp' });
  });

  it('SCP sink (scp -t): the server\'s ready byte, then a C, D or T record from the client', () => {
    expect(run([['server', NUL], ['client', 'C0644 12 report.pdf\n']])).toEqual(['handshake', { protocol: 'scp', direction: 'upload' }]);
    expect(run([['server', NUL], ['client', 'T1700000000 0 1700000000 0\n']])).toEqual(['handshake', { protocol: 'scp', direction: 'upload' }]);
    expect(run([['server', NUL], ['client', 'D0755 0 dir\n']])).toEqual(['handshake', { protocol: 'scp', direction: 'upload' }]);
    expect(run([['server', NUL], ['client', 'C0644 12 '], ['client', 'a.txt\n']])).toEqual(['handshake', 'hold', { protocol: 'scp', direction: 'upload' }]);
  });

  it('SCP source (scp -f): the client\'s ready byte, then a record or an scp error line from the server', () => {
    expect(run([['client', NUL], ['server', 'C0600 3 x\n']])).toEqual(['handshake', { protocol: 'scp', direction: 'download' }]);
    expect(run([['client', NUL], ['server', '\x01scp: /nope: No such file or directory\n']])).toEqual(['handshake', { protocol: 'scp', direction: 'download' }]);
  });

  it('everything else is a terminal, as soon as it can be told', () => {
    // a prompt, a keystroke, a NUL with more behind it
    expect(run([['server', '$ ']])).toEqual(['terminal']);
    expect(run([['client', 'l']])).toEqual(['terminal']);
    expect(run([['server', '\0hello']])).toEqual(['terminal']);
    // a ready byte answered by a line that is no record, or by the same side again
    expect(run([['server', NUL], ['client', 'Cat is not a record\n']])).toEqual(['handshake', 'terminal']);
    expect(run([['server', NUL], ['client', 'ls\n']])).toEqual(['handshake', 'terminal']);
    expect(run([['server', NUL], ['server', '$ ']])).toEqual(['handshake', 'terminal']);
    expect(run([['client', NUL], ['server', 'hello\n']])).toEqual(['handshake', 'terminal']);
    expect(run([['server', NUL], ['client', 'C/../x 1 y\n']])).toEqual(['handshake', 'terminal']);
    // an INIT answered by anything but VERSION, or with bytes behind it before the answer
    expect(run([['client', INIT], ['server', 'bash: no\n']])).toEqual(['handshake', 'terminal']);
    expect(run([['client', INIT], ['client', 'x']])).toEqual(['handshake', 'terminal']);
    expect(run([['client', Buffer.concat([INIT, Buffer.from('ls\n')])]])).toEqual(['terminal']);
    // a length no greeting has
    expect(run([['client', Buffer.from([0, 0, 0, 4, 1, 0, 0, 0])]])).toEqual(['terminal']);
    expect(run([['client', Buffer.from([0, 9, 0, 5, 1])]])).toEqual(['terminal']);
  });

  it('a record line that never ends is held only up to 8 KiB', () => {
    const r = new ProtocolRecogniser();
    expect(r.feed('server', NUL)).toBe('handshake');
    expect(r.feed('client', Buffer.from('C0644 1 ' + 'a'.repeat(8000)))).toBe('hold');
    expect(r.feed('client', Buffer.from('a'.repeat(500)))).toBe('terminal');
  });
});
