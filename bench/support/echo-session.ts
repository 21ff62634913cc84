// An interactive pty session whose far end echoes each keystroke the moment it reads it (`stty raw
// -echo; exec cat`: what a shell's line editor does, without its prompt logic). key() types one byte and
// resolves with the round trip in milliseconds.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { atEnd } from './common.js';
import { sshArgs, type SshTarget } from '../../testing/openssh.js';

export interface EchoSession {
  key(): Promise<number>;
  readonly alive: boolean;
  close(): Promise<void>;
}

export async function openEchoSession(t: SshTarget, timeoutMs = 60_000): Promise<EchoSession> {
  const c: ChildProcessWithoutNullStreams = spawn('ssh', [...sshArgs(t, ['-tt']), 'stty raw -echo; printf READY; exec cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  atEnd(() => void c.kill('SIGKILL'));
  let alive = true;
  let seen = '';
  let stderr = '';
  let ready = false;
  let waiting: { byte: number; t0: bigint; resolve: (ms: number) => void; reject: (e: Error) => void } | undefined;
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const readyP = new Promise<void>((res, rej) => ((readyResolve = res), (readyReject = rej)));
  c.stdin.on('error', () => undefined);
  c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  c.stdout.on('data', (b: Buffer) => {
    if (!ready) {
      seen += b.toString('latin1');
      if (seen.includes('READY')) {
        ready = true;
        readyResolve();
      }
      return;
    }
    const w = waiting;
    if (w && b.includes(w.byte)) {
      waiting = undefined;
      w.resolve(Number(process.hrtime.bigint() - w.t0) / 1e6);
    }
  });
  c.once('exit', (code) => {
    alive = false;
    const err = new Error(`ssh exited with ${code}: ${stderr.trim().slice(-300)}`);
    readyReject(err);
    waiting?.reject(err);
    waiting = undefined;
  });
  const timer = setTimeout(() => readyReject(new Error(`the session was not ready within ${timeoutMs} ms: ${stderr.trim().slice(-300)}`)), timeoutMs);
  try {
    await readyP;
  } finally {
    clearTimeout(timer);
  }
  let n = 0;
  return {
    get alive() {
      return alive;
    },
    key: () =>
      new Promise<number>((resolve, reject) => {
        if (!alive) return reject(new Error('the session is gone'));
        const byte = 0x61 + (n++ % 26);
        waiting = { byte, t0: process.hrtime.bigint(), resolve, reject };
        c.stdin.write(Buffer.from([byte]));
      }),
    close: async () => {
      if (!alive) return;
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.stdin.end();
      c.kill('SIGTERM');
      await gone;
    },
  };
}
