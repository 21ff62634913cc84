// The real OpenSSH client, run the way a person would, with nothing from ~/.ssh leaking in (the
// arguments: sshArgs in testing/openssh.ts).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { waitFor } from './ports.js';

export interface SshResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface RunOptions {
  /** Written to ssh's stdin, which is then closed. @default nothing (stdin closed at once) */
  readonly input?: string | Buffer;
  /** Kill ssh after this long. @default 20000 */
  readonly timeoutMs?: number;
  /** Extra environment for ssh (for SendEnv); jest's process.env is a sandboxed copy. */
  readonly env?: Readonly<Record<string, string>>;
}

export function spawnSsh(args: readonly string[], env: Readonly<Record<string, string>> = {}): ChildProcessWithoutNullStreams {
  return spawn('ssh', [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
}

export function runSsh(args: readonly string[], opts: RunOptions = {}): Promise<SshResult> {
  const started = Date.now();
  const child = spawnSsh(args, opts.env);
  return collect(child, started, opts.timeoutMs ?? 20000, () => {
    if (opts.input !== undefined) child.stdin.write(opts.input);
    child.stdin.end();
  });
}

/** Wait for a spawned ssh to finish; kill it after `timeoutMs`. */
export function collect(child: ChildProcessWithoutNullStreams, started = Date.now(), timeoutMs = 20000, afterSpawn?: () => void): Promise<SshResult> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.on('error', () => undefined);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  afterSpawn?.();
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

export interface OpenShell {
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves when ssh exits. */
  readonly done: Promise<SshResult>;
  /** What the person has seen so far. */
  output(): string;
}

/**
 * An interactive session (`ssh -tt` added to `args`) that has run `command` and shown `shows`: a session known
 * to be live and recorded, for tests that then do something to the recorder around it.
 */
export async function openShell(args: readonly string[], command: string, shows: string): Promise<OpenShell> {
  const child = spawnSsh(['-tt', ...args]);
  let seen = '';
  child.stdout.on('data', (c: Buffer) => (seen += c.toString()));
  const done = collect(child);
  child.stdin.write(`${command}\n`);
  await waitFor(() => seen.includes(shows), `the session to show ${JSON.stringify(shows)}`);
  return { child, done, output: () => seen };
}

export interface TypedSudoSu {
  /** Wall clock when the last keys of `sudo su` were sent. */
  readonly typedAt: number;
  readonly result: SshResult;
}

/**
 * A person in an interactive shell (`args` already asks for a tty) types `sudi`, rubs the `i` out and finishes
 * `o su`, each in its own packet, then leaves the shell (and the nested one, if sudo exists): the corrected line
 * that search and the console must find as `sudo su`, at the moment it was typed.
 */
export async function typeSudoSuCorrected(args: readonly string[]): Promise<TypedSudoSu> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const child = spawnSsh(args);
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const done = collect(child, Date.now(), 120_000);
  const type = (s: string) => child.stdin.write(s);
  await waitFor(() => out.length > 0, 'the shell prompt', 30_000);
  type('echo ready-$((40+2))\r');
  await waitFor(() => out.includes('ready-42'), 'the shell to answer', 30_000);
  await sleep(1500);
  type('sudi');
  await sleep(300);
  type('\x7f');
  await sleep(300);
  const typedAt = Date.now();
  type('o su');
  await sleep(300);
  type('\r');
  await sleep(1000);
  type('echo after-$((6*7))\r');
  await waitFor(() => out.includes('after-42'), 'the shell after sudo su', 30_000);
  type('exit\r');
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([done.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000)))]);
  clearTimeout(timer);
  if (!ended) type('exit\r'); // sudo existed and opened a nested shell
  return { typedAt, result: await done };
}
