// Relay of one `direct-tcpip` channel (ssh -L / -W): the target opens the connection; bytes flow both ways
// under flow control, with half-close passed through in each direction.
import type { ClientChannel, Connection, ServerChannel, TcpipRequestInfo } from 'ssh2';
import type { ChannelHandle, ChannelHost } from './channel-host.js';
import { pump, streamSink, whenWritten } from './pump.js';

export class TcpipChannel implements ChannelHandle {
  private user?: ServerChannel;
  private target?: ClientChannel;
  private bytesIn = 0;
  private bytesOut = 0;
  private finished = false;
  private resolveClosed!: () => void;
  readonly closed = new Promise<void>((r) => (this.resolveClosed = r));

  constructor(
    private readonly host: ChannelHost,
    private readonly ch: number,
    private readonly client: Connection,
    accept: () => ServerChannel | undefined,
    reject: () => void,
    info: TcpipRequestInfo,
  ) {
    const destination = `${info.destIP}:${info.destPort}`;
    const origin = `${info.srcIP}:${info.srcPort}`;
    const refuse = (reason: string) => {
      host.record({ ch, type: 'open', channel: 'direct-tcpip', destination, origin, accepted: false, reason });
      rejectWithDescription(client, reject, reason);
      this.finished = true;
      this.resolveClosed();
    };
    try {
      host.targetClient().forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, target) => {
        if (err) return refuse(`srec: the target could not connect to ${destination}: ${err.message.replace(/^\(SSH\) Channel open failure: /, '')}`);
        const user = accept();
        if (!user) {
          target.close();
          this.finished = true;
          this.resolveClosed();
          return;
        }
        host.record({ ch, type: 'open', channel: 'direct-tcpip', destination, origin });
        this.wire(user, target);
      });
    } catch (err) {
      refuse(`srec: ${(err as Error).message}`);
    }
  }

  terminate(): void {
    this.target?.close();
  }

  abort(): Promise<void> {
    this.target?.close();
    return this.finalize();
  }

  private wire(user: ServerChannel, target: ClientChannel): void {
    this.user = user;
    this.target = target;
    let targetClosed = false;
    const userGone = new Promise<void>((r) => user.once('close', r));
    pump(user, [streamSink(target), { write: (b) => ((this.bytesIn += b.length), this.host.countBytes('in', b.length)) }]);
    pump(target, [streamSink(user), { write: (b) => ((this.bytesOut += b.length), this.host.countBytes('out', b.length)) }]);
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
    if (this.user) this.host.record({ ch: this.ch, type: 'close', bytesIn: this.bytesIn, bytesOut: this.bytesOut });
    this.resolveClosed();
  }
}

/**
 * ssh2's reject() sends an empty description; OpenSSH prints the description after "open failed:", so
 * pass the reason through for the one call. (ssh2 1.17 internals: Protocol#channelOpenFail(remote, reason, desc).)
 */
export function rejectWithDescription(client: Connection, reject: () => void, description: string): void {
  type Proto = { channelOpenFail?: (remote: number, reason: number, desc?: string) => void };
  const proto = (client as unknown as { _protocol?: Proto })._protocol;
  const original = proto?.channelOpenFail;
  if (proto && original) {
    proto.channelOpenFail = (remote, reason, desc) => original.call(proto, remote, reason, desc || description);
  }
  try {
    reject();
  } finally {
    if (proto && original) proto.channelOpenFail = original;
  }
}
