// Relay of one `session` channel: pty-req and env are kept until the shell/exec/subsystem request, which
// opens the same on the target and answers the person with the target's answer; then bytes flow both ways
// under flow control, window-change and signals follow, and the target's exit status or signal is passed
// back after every byte of output (ssh2 cannot send exit-status after EOF, so the order is data, exit, EOF, close).
import type { Writable } from 'node:stream';
import type { ClientChannel, PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import type { DataStream } from '../audit/event.js';
import type { ChannelTap } from '../channel-tap.js';
import type { CastWriter } from '../trail/asciicast.js';
import type { ChannelHandle, ChannelHost } from './channel-host.js';
import { CommitGate, pump, streamSink, whenWritten, type Sink } from './pump.js';

type Kind = 'shell' | 'exec' | 'subsystem';
/** What the `name` detail of a request is called in its audit event. */
const AUDIT_NAME_DETAIL: Readonly<Record<string, string>> = { subsystem: 'subsystem', env: 'variable', signal: 'signal' };
type Reply = (() => void) | undefined;

export class SessionChannel implements ChannelHandle {
  private pty?: PseudoTtyInfo;
  private readonly env: Record<string, string> = {};
  private started = false;
  private user?: ServerChannel;
  private target?: ClientChannel;
  private targetClosed = false;
  /** A window-change that came while the target's channel was opening. */
  private pendingWindow?: { cols: number; rows: number; width: number; height: number };
  private cast?: CastWriter;
  private tap?: ChannelTap;
  private bytesIn = 0;
  private bytesOut = 0;
  private exit?: { status?: number; signal?: string; coreDumped?: boolean; message?: string };
  private finished = false;
  private resolveClosed!: () => void;
  readonly closed = new Promise<void>((r) => (this.resolveClosed = r));

  constructor(
    private readonly host: ChannelHost,
    private readonly ch: number,
    private readonly session: Session,
  ) {
    host.record({ ch, type: 'open', channel: 'session' });
    session.on('pty', (acc: Reply, rej: Reply, info: PseudoTtyInfo) => {
      if (this.started || !info) return this.request('pty-req', false, {}, rej);
      this.pty = info;
      this.request('pty-req', true, { term: info.term, cols: info.cols, rows: info.rows, width: info.width, height: info.height }, acc);
    });
    session.on('env', (acc: Reply, rej: Reply, info: { key: string; val: string }) => {
      if (this.started || !info) return this.request('env', false, {}, rej);
      this.env[info.key] = info.val;
      this.request('env', true, { name: info.key, value: info.val }, acc);
    });
    session.on('window-change', (acc: Reply, rej: Reply, info?: { cols: number; rows: number; width: number; height: number }) => {
      if (!info) return this.request('window-change', false, {}, rej);
      this.windowChange(info);
      this.request('window-change', true, { cols: info.cols, rows: info.rows, width: info.width, height: info.height }, acc);
    });
    session.on('signal', (acc: Reply, rej: Reply, info: { name: string }) => {
      const ok = this.signal(info?.name);
      this.request('signal', ok, { name: info?.name }, ok ? acc : rej);
    });
    session.on('x11', (_acc: Reply, rej: Reply) => this.request('x11-req', false, { reason: 'X11 forwarding is not relayed' }, rej));
    session.on('auth-agent', (_acc: Reply, rej: Reply) => this.request('auth-agent-req@openssh.com', false, { reason: 'agent forwarding is not relayed' }, rej));
    session.on('shell', (acc: () => ServerChannel | undefined, rej: Reply) => this.start('shell', acc, rej));
    session.on('exec', (acc: () => ServerChannel | undefined, rej: Reply, info: { command: string }) => this.start('exec', acc, rej, info.command));
    session.on('subsystem', (acc: () => ServerChannel | undefined, rej: Reply, info: { name: string }) => this.start('subsystem', acc, rej, info.name));
    session.on('close', () => {
      if (!this.user) void this.finalize();
    });
  }

  terminate(message: string): void {
    if (this.user && !this.finished) {
      this.user.stderr.write(`\r\n${message}\r\n`);
      this.target?.close();
    }
  }

  /** The connection is gone: record what we have. */
  abort(): Promise<void> {
    this.target?.close();
    return this.finalize();
  }

  /**
   * Accept at once, then open the same on the target. ssh2's server drops channel data and EOF that arrive
   * before the request is accepted, and OpenSSH sends stdin right behind `exec`; so the person's request
   * is answered first, their bytes wait in the channel (window-limited) until the target is ready, and a
   * target that refuses is reported on stderr with exit status 1.
   */
  private start(kind: Kind, acc: () => ServerChannel | undefined, rej: Reply, arg?: string): void {
    const details = kind === 'exec' ? { command: arg } : kind === 'subsystem' ? { name: arg } : {};
    if (this.started) return this.request(kind, false, { ...details, reason: 'the channel already runs a program' }, rej);
    const user = acc();
    if (!user) return;
    this.started = true;
    this.user = user;
    user.on('error', () => undefined);
    let userClosed = false;
    user.once('close', () => {
      userClosed = true;
      if (!this.target) void this.finalize();
    });
    const cb = (err: Error | undefined, target?: ClientChannel) => {
      if (userClosed) return target?.close();
      if (err || !target) {
        const reason = err?.message ?? 'no channel';
        this.request(kind, false, { ...details, reason });
        user.stderr.write(`srec: the target refused the ${kind} request: ${reason}\r\n`);
        void whenWritten(user.stderr).then(() => {
          user.exit(1);
          user.end();
        });
        return;
      }
      this.request(kind, true, details);
      this.wire(kind, user, target, arg);
    };
    const client = this.host.targetClient();
    const pty = this.pty && { rows: this.pty.rows, cols: this.pty.cols, height: this.pty.height, width: this.pty.width, term: this.pty.term, modes: this.pty.modes };
    try {
      if (kind === 'shell') client.shell(pty ?? false, { env: this.env }, cb);
      else if (kind === 'exec') client.exec(arg ?? '', { env: this.env, ...(pty ? { pty } : {}) }, cb);
      else client.subsys(arg ?? '', cb);
    } catch (err) {
      cb(err as Error);
    }
  }

  private wire(kind: Kind, user: ServerChannel, target: ClientChannel, arg?: string): void {
    this.target = target;
    const rec = this.host.recording;
    this.tap = this.host.tapFor({
      channel: this.ch,
      kind,
      ...(kind === 'exec' ? { command: arg } : {}),
      ...(kind === 'subsystem' ? { subsystem: arg } : {}),
    });
    if (rec && kind !== 'subsystem' && !this.tap?.suppressCast) {
      this.cast = rec.openCast(this.ch, {
        cols: this.pty?.cols || 80,
        rows: this.pty?.rows || 24,
        ...(this.pty?.term || this.env.TERM ? { term: this.pty?.term || this.env.TERM } : {}),
        ...(kind === 'exec' ? { command: arg } : {}),
      });
    }
    if (this.pendingWindow) this.windowChange(this.pendingWindow);
    const cast = this.cast;
    const tap = this.tap;
    // A tap that knows the channel's stdin/stdout are file content (sftp, scp) says so: no data events for them.
    const fileContent = tap?.suppressDataEvents === true;
    const userGone = new Promise<void>((r) => user.once('close', r));
    const stderrDone = new Promise<void>((r) => {
      target.stderr.once('end', r);
      target.stderr.once('close', r);
    });

    // Fail closed: with a cast, a chunk is forwarded only once the cast holds it (CommitGate, last in line).
    const forward = (w: Writable): { sink: Sink; settled: () => Promise<void> } => {
      if (!cast) return { sink: streamSink(w), settled: () => Promise.resolve() };
      // The channel log too: a recording recovered after a crash then knows the channel of every byte relayed.
      const commit = async () => void (await Promise.all([cast.commit(), rec?.commitLog()]));
      const gate = new CommitGate(streamSink(w), commit);
      return { sink: gate, settled: () => gate.settled() };
    };
    const toTarget = forward(target);
    const toUser = forward(user);
    const toUserStderr = forward(user.stderr);

    // person -> target
    pump(user, [
      this.counter('in'),
      ...(cast ? [castSink(cast, (b) => cast.input(b))] : []),
      ...(tap?.fromClient ? [tapSink(tap, tap.fromClient.bind(tap))] : []),
      ...this.auditSinks('stdin', fileContent),
      toTarget.sink,
    ]);
    // target -> person
    pump(target, [
      this.counter('out'),
      ...(cast ? [castSink(cast, (b) => cast.output(b))] : []),
      ...(tap?.fromServer ? [tapSink(tap, tap.fromServer.bind(tap))] : []),
      ...this.auditSinks('stdout', fileContent),
      toUser.sink,
    ]);
    pump(target.stderr, [
      this.counter('out'),
      { write: (b) => this.host.record({ ch: this.ch, type: 'stderr', bytes: b.length }) },
      ...(cast ? [castSink(cast, (b) => cast.stderr(b))] : []),
      ...(tap?.fromServerStderr ? [tapSink(tap, tap.fromServerStderr.bind(tap))] : []),
      ...this.auditSinks('stderr', false),
      toUserStderr.sink,
    ]);

    user.on('end', () => {
      this.host.record({ ch: this.ch, type: 'eof', from: 'client' });
      // The EOF goes after the person's last bytes, which may still wait for the cast.
      void toTarget.settled().then(() => target.end());
    });
    target.on('end', () => this.host.record({ ch: this.ch, type: 'eof', from: 'server' }));
    target.on('exit', (code: number | null, signal?: string, coreDumped?: boolean, message?: string) => {
      this.exit =
        typeof code === 'number'
          ? { status: code }
          : { ...(signal ? { signal } : {}), ...(coreDumped ? { coreDumped } : {}), ...(message ? { message } : {}) };
      this.host.record({ ch: this.ch, type: 'exit', ...this.exit });
    });
    target.on('close', () => {
      this.targetClosed = true;
      void (async () => {
        await Promise.race([stderrDone, userGone]);
        await Promise.race([Promise.all([toUser.settled(), toUserStderr.settled()]), userGone]);
        await whenWritten(user, userGone);
        await whenWritten(user.stderr, userGone);
        this.sendExit(user);
        user.end();
      })();
    });
    user.on('close', () => {
      if (!this.targetClosed) target.close();
      void this.finalize();
    });
    target.on('error', () => undefined);
  }

  private sendExit(user: ServerChannel): void {
    const x = this.exit;
    if (!x) return;
    try {
      if (typeof x.status === 'number') user.exit(x.status);
      else if (x.signal) user.exit(x.signal.replace(/^SIG/, ''), x.coreDumped ?? false, x.message ?? '');
    } catch {
      // A signal name ssh2 does not know: the person still sees the channel close.
    }
  }

  private windowChange(info: { cols: number; rows: number; width: number; height: number }): void {
    if (this.target) {
      this.pendingWindow = undefined;
      this.target.setWindow(info.rows, info.cols, info.height, info.width);
      this.cast?.resize(info.cols, info.rows);
    } else if (this.started) {
      this.pendingWindow = info;
    } else if (this.pty) {
      this.pty = { ...this.pty, cols: info.cols, rows: info.rows, width: info.width, height: info.height };
    }
  }

  private signal(name: string | undefined): boolean {
    if (!this.target || typeof name !== 'string') return false;
    try {
      this.target.signal(name);
      return true;
    } catch {
      return false;
    }
  }

  private request(name: string, accepted: boolean, details: Record<string, unknown>, reply?: Reply): void {
    this.host.record({ ch: this.ch, type: 'request', request: name, accepted, ...details });
    // In the audit event `name` is the request's; a detail called `name` (subsystem, env variable, signal) is renamed.
    const { name: detailName, ...rest } = details;
    const named = detailName === undefined ? {} : { [AUDIT_NAME_DETAIL[name] ?? 'value']: detailName };
    this.host.audit.channelRequest(this.ch, name, { ...rest, ...named, accepted });
    reply?.();
  }

  private counter(direction: 'in' | 'out'): Sink {
    return {
      write: (b) => {
        if (direction === 'in') this.bytesIn += b.length;
        else this.bytesOut += b.length;
        this.host.countBytes(direction, b.length);
      },
    };
  }

  /** The stream's audit events, or none when they are not sent (not selected, or file content). */
  private auditSinks(stream: DataStream, fileContent: boolean): Sink[] {
    const audit = this.host.audit;
    if (fileContent || !audit.wants(stream)) return [];
    return [{ write: (b) => audit.data(this.ch, stream, b) }];
  }

  private async finalize(): Promise<void> {
    if (this.finished) return this.closed;
    this.finished = true;
    try {
      if (this.cast) await this.host.recording?.closeCast(this.ch);
      await this.tap?.close?.().catch((err: Error) => this.host.log.warn('channel tap failed', { channel: this.ch, error: err.message }));
      this.host.record({ ch: this.ch, type: 'close', bytesIn: this.bytesIn, bytesOut: this.bytesOut });
    } finally {
      this.resolveClosed();
    }
  }
}

function castSink(cast: CastWriter, write: (b: Buffer) => boolean): Sink {
  return { write, onceDrain: (cb) => cast.onceDrain(cb) };
}

function tapSink(tap: ChannelTap, write: (b: Buffer) => boolean | void): Sink {
  return { write, ...(tap.onceDrain ? { onceDrain: tap.onceDrain.bind(tap) } : {}) };
}

/** An authenticated person whose session cannot go ahead: the reason on stderr, exit status 1. */
export function refuseSession(session: Session, message: string): void {
  const ok = (acc: Reply) => acc?.();
  session.on('pty', ok);
  session.on('env', ok);
  session.on('window-change', ok);
  session.on('x11', (_a: Reply, rej: Reply) => rej?.());
  session.on('auth-agent', (_a: Reply, rej: Reply) => rej?.());
  const start = (acc: () => ServerChannel | undefined) => {
    const ch = acc();
    if (!ch) return;
    ch.on('error', () => undefined);
    ch.resume();
    ch.stderr.write(`${message}\r\n`);
    void whenWritten(ch.stderr).then(() => {
      ch.exit(1);
      ch.end();
    });
  };
  session.on('shell', start);
  session.on('exec', start);
  session.on('subsystem', start);
}
