// Runs real OpenSSH clients against real server sides through transfer-tee.mjs and feeds what the tee saw into a
// tracker, the way the bastion will: in relay order, pausing the stream while the capture is behind.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChannelClassifier, ChannelTap } from '../../src/channel-tap.js';
import { ScpTracker, parseScpCommand } from '../../src/transfer/scp.js';
import { SftpTracker } from '../../src/transfer/sftp.js';
import { MetadataCaptureSink, type CaptureSink } from '../../src/transfer/sink.js';
import { trackerTap } from '../../src/transfer/tap.js';
import type { TransferTracker } from '../../src/transfer/tracker.js';
import type { TransferOp, TransferRecord } from '../../src/transfer/types.js';

export const TEE = fileURLToPath(new URL('./transfer-tee.mjs', import.meta.url));

export interface TeeHeader {
  readonly kind: 'subsystem' | 'exec';
  readonly command: string;
}

export interface TeeSession {
  readonly header: TeeHeader;
  readonly ops: TransferOp[];
  readonly transfers: TransferRecord[];
  /** The tracker's `stopped` after end(). */
  stopped?: string;
  /** Highest queuedBytes seen right after a feed. */
  maxQueued: number;
  /** feed() calls that returned false. */
  pauses: number;
  exitCode?: number;
}

export interface TeeServerOptions {
  /** A tracker per session with this sink (ops and transfers collected in the TeeSession) ... */
  readonly sink?: () => CaptureSink;
  readonly highWaterMark?: number;
  /** ... or the bastion's own seam: a classifier per session, whose tap (once the bytes show a transfer) reports
   *  where the tap sends it. */
  readonly tapFor?: (header: TeeHeader) => ChannelClassifier | undefined;
}

/** One unix socket; every client run through the tee becomes one TeeSession. */
export class TeeServer {
  private readonly done: Array<Promise<TeeSession>> = [];
  private connected: Array<() => void> = [];

  private constructor(
    private readonly server: net.Server,
    readonly socketPath: string,
    private readonly opts: TeeServerOptions,
  ) {
    server.on('connection', (sock) => {
      this.done.push(this.follow(sock));
      const waiting = this.connected;
      this.connected = [];
      waiting.forEach((w) => w());
    });
  }

  static async start(dir: string, opts: TeeServerOptions): Promise<TeeServer> {
    const socketPath = join(dir, 'tee.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    return new TeeServer(server, socketPath, opts);
  }

  env(): NodeJS.ProcessEnv {
    return { ...process.env, SREC_TEE_SOCKET: this.socketPath };
  }

  /**
   * The next `count` sessions, once each has ended and reported its transfers. Waits for them to connect: the
   * client's exit can be seen before the tee's connection is accepted.
   */
  async sessions(count = 1): Promise<TeeSession[]> {
    while (this.done.length < count) await new Promise<void>((resolve) => this.connected.push(resolve));
    return Promise.all(this.done.splice(0, count));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private follow(sock: net.Socket): Promise<TeeSession> {
    return new Promise((resolve, reject) => {
      let session: TeeSession | undefined;
      let tap: ChannelTap | undefined;
      let tracker: TransferTracker | undefined;
      // As the relay: the classifier sees the first bytes, and a transfer's tap then gets them all, in order.
      let classifier: ChannelClassifier | undefined;
      const seen: Array<['C' | 'S', Buffer]> = [];
      const classify = (type: 'C' | 'S', payload: Buffer): void => {
        seen.push([type, Buffer.from(payload)]);
        const v = classifier!.feed(type === 'C' ? 'client' : 'server', payload);
        if (v === 'hold' || v === 'handshake') return;
        classifier = undefined;
        if (v === 'terminal') return;
        tap = v.transfer;
        for (const [t, b] of seen.splice(0)) void (t === 'C' ? tap.fromClient?.(b) : tap.fromServer?.(b));
      };
      let buf = Buffer.alloc(0);
      sock.on('data', (chunk) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        let behind = false;
        while (buf.length >= 5) {
          const len = buf.readUInt32BE(1);
          if (buf.length < 5 + len) break;
          const type = String.fromCharCode(buf[0] as number);
          const payload = buf.subarray(5, 5 + len);
          buf = buf.subarray(5 + len);
          if (type === 'H') {
            const header = JSON.parse(payload.toString()) as TeeHeader;
            const s: TeeSession = { header, ops: [], transfers: [], maxQueued: 0, pauses: 0 };
            session = s;
            if (this.opts.tapFor) {
              classifier = this.opts.tapFor(header);
            } else {
              tracker = this.trackerFor(header, s);
              tap = tracker ? trackerTap(tracker) : undefined;
            }
          } else if (type === 'X') {
            if (session) session.exitCode = (JSON.parse(payload.toString()) as { code: number }).code;
          } else if (classifier && (type === 'C' || type === 'S')) {
            classify(type, payload);
          } else if (tap && session && (type === 'C' || type === 'S')) {
            if ((type === 'C' ? tap.fromClient?.(payload) : tap.fromServer?.(payload)) === false) {
              behind = true;
              session.pauses += 1;
            }
            if (tracker) session.maxQueued = Math.max(session.maxQueued, tracker.queuedBytes);
          }
        }
        if (behind && tap?.onceDrain) {
          sock.pause();
          tap.onceDrain(() => sock.resume());
        }
      });
      sock.on('error', reject);
      sock.on('close', () => {
        if (!session) return reject(new Error('the tee sent no header'));
        const s = session;
        void (tap?.close?.() ?? Promise.resolve()).then(() => {
          if (tracker?.stopped !== undefined) s.stopped = tracker.stopped;
          resolve(s);
        });
      });
    });
  }

  private trackerFor(header: TeeHeader, s: TeeSession): TransferTracker | undefined {
    const common = {
      sink: this.opts.sink?.() ?? new MetadataCaptureSink(),
      onOp: (op: TransferOp) => s.ops.push(op),
      onTransfer: (t: TransferRecord) => s.transfers.push(t),
      ...(this.opts.highWaterMark !== undefined ? { highWaterMark: this.opts.highWaterMark } : {}),
    };
    if (header.kind === 'subsystem') return new SftpTracker(common);
    const command = parseScpCommand(header.command);
    return command ? new ScpTracker({ ...common, command }) : undefined;
  }
}

export function run(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'srec-transfer-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
