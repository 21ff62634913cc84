// Test support for the audit pipeline: a real rsyslogd (foreground, generated config, loopback, private
// directory, stdout kept in memory) and listeners playing the SIEM. Also a byte-wise search of file trees,
// to show that no sensitive event ever reached a disk.
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
  /** Everything rsyslogd printed on stdout since the first start (kept in memory, never on disk). */
  stdout(): string;
  stderr(): string;
  readonly running: boolean;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** Start again with the same config and port. */
  start(): Promise<void>;
}

/**
 * Writes `conf` to `<dir>/rsyslog.conf` and runs `rsyslogd -n -f <conf> -i <dir>/rsyslogd.pid` with cwd
 * `dir`; resolves once the TCP listener on `port` accepts connections.
 */
export async function startRsyslogd(opts: { conf: string; dir: string; port: number }): Promise<Rsyslogd> {
  const bin = rsyslogdPath();
  fs.mkdirSync(opts.dir, { recursive: true });
  const confFile = path.join(opts.dir, 'rsyslog.conf');
  fs.writeFileSync(confFile, opts.conf);
  let out = '';
  let err = '';
  let child: ChildProcess | undefined;
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
    c.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
    c.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
    const until = Date.now() + 10_000;
    for (;;) {
      if (gone) throw new Error(`rsyslogd exited during start-up:\n${err}${out}`);
      if ((await canConnect(opts.port)) && fs.existsSync(pidFile)) return;
      if (Date.now() > until) throw new Error(`rsyslogd did not listen on ${opts.port} within 10 s:\n${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /** SIGTERM to rsyslogd alone (cat then ends on EOF, keeping rsyslogd's last lines); the group if it hangs. */
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGTERM');
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
    stdout: () => out,
    stderr: () => err,
    get running() {
      return child !== undefined;
    },
    stop,
    start,
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
  return {
    get port() {
      return boundPort;
    },
    messages,
    stop,
    start,
  };
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
  return {
    get port() {
      return boundPort;
    },
    messages,
    stop,
    start,
  };
}

/** Every regular file under `roots` whose bytes contain `needle` (missing roots are skipped). */
export function filesContaining(roots: readonly string[], needle: string): string[] {
  const want = Buffer.from(needle, 'utf8');
  const hits: string[] = [];
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
      try {
        if (fs.readFileSync(p).includes(want)) hits.push(p);
      } catch {
        // unreadable (e.g. removed meanwhile): not a hit
      }
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
