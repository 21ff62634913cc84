// The audit pipeline's real parts for the tests and the benchmarks: a real rsyslogd (foreground, generated
// config, loopback, private directory, stdout kept in memory only) and listeners playing the SIEM. Also a
// byte-wise search of file trees, to show that no sensitive event ever reached a disk.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** rsyslogd on this machine, or an error that says how to get it (the tests never skip without it). */
export function rsyslogdPath(): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    const p = path.join(d, 'rsyslogd');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  throw new Error('rsyslogd not found: install it with `apt-get install -y rsyslog` (scripts/ensure-deps.sh does so for npm test)');
}

/** A port free for both TCP and UDP on 127.0.0.1 (rsyslog listens on both). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port for TCP and UDP on 127.0.0.1');
}

export async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000, everyMs = 25): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface Rsyslogd {
  readonly port: number;
  /** rsyslogd's working directory (cwd): config and pid file, nothing else. */
  readonly dir: string;
  /** rsyslogd's own pid (not the shell's), for CPU accounting. */
  readonly pid: number;
  /** Everything rsyslogd printed on stdout since the first start ('' with keepStdout false). */
  stdout(): string;
  /** How many bytes rsyslogd printed on stdout since the first start. */
  stdoutBytes(): number;
  /** The latest impstats counters (format="json") per queue or action name, e.g. "sensitive-forward queue". */
  stats(): Record<string, Record<string, number>>;
  stderr(): string;
  readonly running: boolean;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** Start again with the same config and port. */
  start(): Promise<void>;
}

export interface RsyslogdOptions {
  readonly conf: string;
  readonly dir: string;
  readonly port: number;
  /** Keep stdout in memory for stdout(); a benchmark printing gigabytes counts it instead. @default true */
  readonly keepStdout?: boolean;
}

/**
 * Writes `conf` to `<dir>/rsyslog.conf` and runs `rsyslogd -n -f <conf> -i <dir>/rsyslogd.pid` with cwd
 * `dir`; resolves once the TCP listener on `port` accepts connections.
 */
export async function startRsyslogd(opts: RsyslogdOptions): Promise<Rsyslogd> {
  const bin = rsyslogdPath();
  fs.mkdirSync(opts.dir, { recursive: true });
  const confFile = path.join(opts.dir, 'rsyslog.conf');
  fs.writeFileSync(confFile, opts.conf);
  let out = '';
  let outBytes = 0;
  let err = '';
  const stats: Record<string, Record<string, number>> = {};
  const onStdout = stdoutReader(opts.keepStdout ?? true, stats);
  let child: ChildProcess | undefined;
  let pid = 0;
  let exited: Promise<void> = Promise.resolve();

  const pidFile = path.join(opts.dir, 'rsyslogd.pid');
  const start = async (): Promise<void> => {
    // rsyslogd's stdout must be a pipe (as a container runtime gives it): omfile reopens /dev/stdout, which
    // fails for the socket Node's spawn would give. `| cat` makes the pipe; cat passes the bytes through.
    const c = spawn('/bin/sh', ['-c', '"$@" | cat', 'sh', bin, '-n', '-f', confFile, '-i', pidFile], {
      cwd: opts.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child = c;
    let gone = false;
    exited = new Promise((resolve) =>
      c.once('exit', () => {
        gone = true;
        if (child === c) child = undefined;
        resolve();
      }),
    );
    c.stdout?.on('data', (b: Buffer) => {
      outBytes += b.length;
      out += onStdout(b);
    });
    c.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
    const until = Date.now() + 10_000;
    for (;;) {
      if (gone) throw new Error(`rsyslogd exited during start-up:\n${err}${out}`);
      if ((await canConnect(opts.port)) && fs.existsSync(pidFile)) {
        pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
        return;
      }
      if (Date.now() > until) throw new Error(`rsyslogd did not listen on ${opts.port} within 10 s:\n${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /** SIGTERM to rsyslogd alone (cat then ends on EOF, keeping rsyslogd's last lines); the group if it hangs. */
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    const current = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(current) && current > 0) process.kill(current, 'SIGTERM');
    const t = setTimeout(() => {
      if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(t);
  };

  await start();
  return {
    port: opts.port,
    dir: opts.dir,
    get pid() {
      return pid;
    },
    stdout: () => out,
    stdoutBytes: () => outBytes,
    stats: () => structuredClone(stats),
    stderr: () => err,
    get running() {
      return child !== undefined;
    },
    stop,
    start,
  };
}

/**
 * Reads rsyslogd's stdout: keeps impstats counters (lines tagged `rsyslogd-pstats:`) in `stats` and
 * returns the text to keep ('' when not kept: every other line is dropped here, in memory).
 */
function stdoutReader(keep: boolean, stats: Record<string, Record<string, number>>): (b: Buffer) => string {
  let partial = '';
  return (b) => {
    const text = b.toString('utf8');
    const lines = (partial + text).split('\n');
    partial = (lines.pop() ?? '').slice(-100_000);
    for (const line of lines) {
      const tag = line.indexOf('rsyslogd-pstats:');
      const i = tag < 0 ? -1 : line.indexOf('{', tag);
      if (i < 0) continue;
      try {
        const o = JSON.parse(line.slice(i)) as Record<string, unknown>;
        stats[String(o.name)] = Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
      } catch {
        // not a stats line after all
      }
    }
    return keep ? text : '';
  };
}

export interface Siem {
  readonly port: number;
  /** Every message received, without framing, in arrival order. */
  readonly messages: string[];
  /** Stops listening and drops every connection: the SIEM is down. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

/** Splits a TCP stream into syslog messages: RFC 6587 octet counting (`LEN SP MSG`) or one per line. */
export function createFrameParser(onMessage: (m: string) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const head = /^(\d{1,6}) /.exec(buf.subarray(0, 8).toString('latin1'));
      if (head) {
        const len = Number(head[1]);
        const start = (head[0] ?? '').length;
        if (buf.length < start + len) return;
        onMessage(buf.subarray(start, start + len).toString('utf8').replace(/\n$/, ''));
        buf = buf.subarray(start + len);
        continue;
      }
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      const line = buf.subarray(0, nl).toString('utf8').replace(/\r$/, '');
      if (line !== '') onMessage(line);
      buf = buf.subarray(nl + 1);
    }
  };
}

function siemHandle(port: () => number, messages: string[], start: () => Promise<void>, stop: () => Promise<void>): Siem {
  return {
    get port() {
      return port();
    },
    messages,
    stop,
    start,
  };
}

/** A TCP listener on 127.0.0.1 playing the SIEM. */
export async function startTcpSiem(port = 0): Promise<Siem> {
  const messages: string[] = [];
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let boundPort = port;
  const start = async (): Promise<void> => {
    const s = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('data', createFrameParser((m) => messages.push(m)));
      sock.on('error', () => undefined);
      sock.on('close', () => sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(boundPort, '127.0.0.1', () => resolve());
    });
    boundPort = (s.address() as net.AddressInfo).port;
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await start();
  return siemHandle(() => boundPort, messages, start, stop);
}

/** A UDP listener on 127.0.0.1 playing the SIEM: one message per datagram. */
export async function startUdpSiem(port = 0): Promise<Siem> {
  const messages: string[] = [];
  let sock: dgram.Socket | undefined;
  let boundPort = port;
  const start = async (): Promise<void> => {
    const u = dgram.createSocket('udp4');
    u.on('message', (b) => messages.push(b.toString('utf8').replace(/\n$/, '')));
    await new Promise<void>((resolve) => u.bind(boundPort, '127.0.0.1', () => resolve()));
    boundPort = u.address().port;
    sock = u;
  };
  const stop = async (): Promise<void> => {
    const u = sock;
    sock = undefined;
    if (u) await new Promise<void>((resolve) => u.close(() => resolve()));
  };
  await start();
  return siemHandle(() => boundPort, messages, start, stop);
}

/** Every regular file under `roots` whose bytes contain `needle` (missing roots are skipped). */
export function filesContaining(roots: readonly string[], needle: string): string[] {
  return occurrencesIn(roots, needle).map((h) => h.file);
}

/** Every regular file under `roots` holding `needle`: its size and how often it holds it. */
export function occurrencesIn(roots: readonly string[], needle: string): Array<{ file: string; bytes: number; occurrences: number }> {
  const want = Buffer.from(needle, 'utf8');
  const hits: Array<{ file: string; bytes: number; occurrences: number }> = [];
  const walk = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(p)) walk(path.join(p, name));
    } else if (st.isFile()) {
      let data: Buffer;
      try {
        data = fs.readFileSync(p);
      } catch {
        return; // unreadable (e.g. removed meanwhile): not a hit
      }
      let n = 0;
      for (let i = data.indexOf(want); i >= 0; i = data.indexOf(want, i + want.length)) n++;
      if (n > 0) hits.push({ file: p, bytes: st.size, occurrences: n });
    }
  };
  for (const r of roots) walk(r);
  return hits;
}

/** The JSON object in the MSG of an RFC 5424 message as rsyslog forwards it (or as the recorder sends it). */
export function jsonOf(message: string): Record<string, unknown> {
  const i = message.indexOf('{');
  if (i < 0) throw new Error(`no JSON in message: ${message.slice(0, 200)}`);
  return JSON.parse(message.slice(i)) as Record<string, unknown>;
}
