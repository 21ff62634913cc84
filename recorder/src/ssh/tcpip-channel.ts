// Relay of a forwarded channel the host's forwarding policy allows: opened by the person, `direct-tcpip`
// (ssh -L / -D / -W / -J; the target opens the connection) and `direct-streamlocal@openssh.com` (a socket on the
// target); opened by the target, `forwarded-tcpip` and `forwarded-streamlocal@openssh.com` (ssh -R: a connection
// to what the target listens on), `x11` (ssh -X/-Y) and `auth-agent@openssh.com` (ssh -A: the target's programs
// asking the person's agent). Bytes flow both ways under flow control, with half-close passed through in
// each direction. On a recorded host each direction's bytes go to a raw stream in the session directory
// (trail/raw-stream.ts); the channel's open and close are audited (forward_open / forward_close), its
// content never is: it is another protocol (often a nested SSH session), kept in the trail only.
import type { ClientChannel, Connection, ServerChannel, TcpipRequestInfo } from 'ssh2';
import { errorMessage } from '../../../common/log.js';
import type { ForwardChannel } from '../audit/connection.js';
import { GzipFile } from '../trail/gzip-file.js';
import { RawStreams } from '../trail/raw-stream.js';
import type { ChannelHandle, ChannelHost } from './channel-host.js';
import { pump, streamSink, whenWritten, type Sink } from './pump.js';

/** SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (RFC 4254 5.1): OpenSSH prints it as "administratively prohibited". */
export const OPEN_ADMINISTRATIVELY_PROHIBITED = 1;

/**
 * A forwarded channel whose two ends are open: the person's (`user`) and the target's. Records, audits and
 * relays it. The ends come from a direct-tcpip open (TcpipChannel) or, for ssh -R, from a connection the
 * target accepted on the forwarded port and a forwarded-tcpip channel opened to the person.
 */
export class ForwardRelay implements ChannelHandle {
  private user?: ServerChannel;
  private target?: ClientChannel;
  private bytesIn = 0;
  private bytesOut = 0;
  private raw?: RawStreams;
  protected finished = false;
  private resolveClosed!: () => void;
  readonly closed = new Promise<void>((r) => (this.resolveClosed = r));

  constructor(
    protected readonly host: ChannelHost,
    protected readonly ch: number,
    protected readonly forward: ForwardChannel,
  ) {}

  /** Both ends are open: log the open (with its raw streams), audit it, relay. */
  start(user: ServerChannel, target: ClientChannel): void {
    const raw = this.openRaw(target);
    const f = this.forward;
    this.host.record({ ch: this.ch, type: 'open', channel: f.type, ...(f.destination !== undefined ? { destination: f.destination } : {}), ...(f.origin !== undefined ? { origin: f.origin } : {}), ...(raw ? { streams: raw.names } : {}) });
    this.host.audit.forwardOpen(f);
    this.wire(user, target);
  }

  /** It never opened: nothing to wait for. */
  protected gone(): void {
    this.finished = true;
    this.resolveClosed();
  }

  terminate(): Promise<void> {
    this.target?.close();
    return Promise.resolve();
  }

  abort(): Promise<void> {
    this.target?.close();
    return this.finalize();
  }

  /** The raw streams on a recorded host; a write error closes the tunnel, whose bytes can no longer be kept. */
  private openRaw(target: ClientChannel): RawStreams | undefined {
    const rec = this.host.recording;
    if (!rec) return undefined;
    let failed = false;
    const onError = (err: Error) => {
      if (failed) return;
      failed = true;
      this.host.log.error('forwarded channel not recordable; closing it', { channel: this.ch, error: errorMessage(err) });
      target.close();
      this.user?.close();
    };
    this.raw = new RawStreams(this.ch, {
      open: (name) => {
        const seal = rec.gzipSeal(name);
        return new GzipFile(rec.filePath(name), { onError, ...(seal !== undefined ? { seal } : {}) });
      },
    });
    return this.raw;
  }

  private wire(user: ServerChannel, target: ClientChannel): void {
    this.user = user;
    this.target = target;
    let targetClosed = false;
    const userGone = new Promise<void>((r) => user.once('close', r));
    const keep = (d: 'in' | 'out'): Sink[] => (this.raw ? [this.raw.sink(d)] : []);
    pump(user, [streamSink(target), ...keep('in'), { write: (b) => ((this.bytesIn += b.length), this.host.countBytes('in', b.length)) }]);
    pump(target, [streamSink(user), ...keep('out'), { write: (b) => ((this.bytesOut += b.length), this.host.countBytes('out', b.length)) }]);
    user.on('end', () => {
      this.host.record({ ch: this.ch, type: 'eof', from: 'client' });
      target.end();
    });
    target.on('end', () => {
      this.host.record({ ch: this.ch, type: 'eof', from: 'server' });
      void whenWritten(user, userGone).then(() => user.eof());
    });
    target.on('close', () => {
      targetClosed = true;
      void whenWritten(user, userGone).then(() => user.end());
    });
    user.on('close', () => {
      if (!targetClosed) target.close();
      void this.finalize();
    });
    user.on('error', () => undefined);
    target.on('error', () => undefined);
  }

  private async finalize(): Promise<void> {
    if (this.finished) return this.closed;
    this.finished = true;
    // The files are complete before the close is logged, and before the manifest (written after every channel's close) lists them.
    await this.raw?.close();
    if (this.user) {
      this.host.record({ ch: this.ch, type: 'close', bytesIn: this.bytesIn, bytesOut: this.bytesOut });
      this.host.audit.forwardClose({ ...this.forward, bytesIn: this.bytesIn, bytesOut: this.bytesOut });
    }
    this.resolveClosed();
  }
}

/** Opens the target's end of a channel the person opened: forwardOut for direct-tcpip, openssh_forwardOutStreamLocal for a socket. */
export type TargetOpener = (cb: (err: Error | undefined, target: ClientChannel) => void) => void;

/**
 * Relay of a channel the person opened towards something next to the target: direct-tcpip (a host and port
 * the target connects to) or direct-streamlocal@openssh.com (a Unix socket on the target).
 */
export class DirectChannel extends ForwardRelay {
  constructor(host: ChannelHost, ch: number, client: Connection, accept: () => ServerChannel | undefined, reject: () => void, forward: ForwardChannel, open: TargetOpener) {
    super(host, ch, forward);
    const refuse = (reason: string) => {
      host.record({ ch, type: 'open', channel: forward.type, destination: forward.destination, ...(forward.origin !== undefined ? { origin: forward.origin } : {}), accepted: false, reason });
      host.audit.forwardRefused({ ...forward, reason: 'target_refused', message: reason });
      rejectWithDescription(client, reject, reason);
      this.gone();
    };
    try {
      open((err, target) => {
        if (err) return refuse(`srec: the target could not connect to ${forward.destination}: ${err.message.replace(/^\(SSH\) Channel open failure: /, '')}`);
        const user = accept();
        if (!user) {
          target.close();
          return this.gone();
        }
        this.start(user, target);
      });
    } catch (err) {
      refuse(`srec: ${(err as Error).message}`);
    }
  }
}

/** Relay of a direct-tcpip channel: the target opens the connection the person asked for. */
export function tcpipChannel(host: ChannelHost, ch: number, client: Connection, accept: () => ServerChannel | undefined, reject: () => void, info: TcpipRequestInfo): DirectChannel {
  const forward = { channel: ch, kind: 'local', type: 'direct-tcpip', destination: `${info.destIP}:${info.destPort}`, origin: `${info.srcIP}:${info.srcPort}` };
  return new DirectChannel(host, ch, client, accept, reject, forward, (cb) => host.targetClient().forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, t) => cb(err ?? undefined, t)));
}

/**
 * ssh2's reject() sends an empty description (and CONNECT_FAILED); OpenSSH prints the description after
 * "open failed:", so pass the reason, and the reason code when given, through for the one call. (ssh2 1.17 internals: Protocol#channelOpenFail(remote, reason, desc).)
 */
export function rejectWithDescription(client: Connection, reject: () => void, description: string, reasonCode?: number): void {
  type Proto = { channelOpenFail?: (remote: number, reason: number, desc?: string) => void };
  const proto = (client as unknown as { _protocol?: Proto })._protocol;
  const original = proto?.channelOpenFail;
  if (proto && original) {
    proto.channelOpenFail = (remote, reason, desc) => original.call(proto, remote, reasonCode ?? reason, desc || description);
  }
  try {
    reject();
  } finally {
    if (proto && original) proto.channelOpenFail = original;
  }
}
