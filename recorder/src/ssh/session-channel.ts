// Relay of one `session` channel: pty-req and env are kept until the shell/exec/subsystem request, which
// opens the same on the target and answers the person with the target's answer; then bytes flow both ways
// under flow control, window-change and signals follow, and the target's exit status or signal is passed
// back after every byte of output (ssh2 cannot send exit-status after EOF, so the order is data, exit, EOF, close).
import type { Writable } from 'node:stream';
import type { ClientChannel, ExecOptions, PseudoTtyInfo, ServerChannel, Session, X11Info, X11Options } from 'ssh2';
import type { DataStream } from '../audit/event.js';
import type { ChannelClassifier, ChannelTap, ChannelVerdict } from '../channel-tap.js';
import type { CastWriter } from '../trail/asciicast.js';
import { CastMarks, deriveCast } from '../trail/derived-cast.js';
import type { RawStreams } from '../trail/raw-stream.js';
import { streamTransferOf, type StreamTransfer } from '../transfer/stream-command.js';
import type { ChannelData } from '../audit/connection.js';
import type { ChannelHandle, ChannelHost } from './channel-host.js';
import { CommitGate, pump, streamSink, whenWritten, type Sink } from './pump.js';

type Kind = 'shell' | 'exec' | 'subsystem';
/** in: person -> target; out: the target's stdout; err: its stderr. */
type Lane = 'in' | 'out' | 'err';
/**
 * How long bytes are held while the classifier cannot tell yet (a greeting split across packets, a record line
 * still coming): the greetings are a few bytes sent in one message, so only something else waits this long.
 */
const CLASSIFY_HOLD_MS = 1000;
/** Held bytes beyond this are a terminal's: no greeting or record line is this long. */
const CLASSIFY_MAX_HELD = 64 * 1024;

interface Held {
  readonly lane: Lane;
  readonly chunk: Buffer;
  /** Forwarded already as a handshake: replayed to the recording only. */
  passed: boolean;
}

interface Classifying {
  readonly classifier: ChannelClassifier;
  readonly streams: Record<Lane, Writable>;
  readonly held: Held[];
  heldBytes: number;
  /** Handshakes being logged and forwarded, in order. */
  passing: Promise<void>;
  /** A verdict was given; chunks are held until the lanes open. */
  deciding: boolean;
  timer?: NodeJS.Timeout;
}

type ForwardSink = Sink & { settled(): Promise<void> };

/**
 * One lane's sinks: the recording's (`record`, every chunk) then the other side (`forward`, last, so that the
 * recording has a chunk before it goes on). Backpressure from any of them pauses the lane's source.
 */
class Pipe implements Sink {
  private behind = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly record: readonly Sink[],
    private readonly forward: ForwardSink,
  ) {}

  write(chunk: Buffer): boolean {
    return this.replay(chunk, true);
  }

  /** A held chunk; `forward` false for one that went on already as a handshake. */
  replay(chunk: Buffer, forward: boolean): boolean {
    for (const s of this.record) this.send(s, chunk);
    if (forward) this.send(this.forward, chunk);
    return this.behind === 0;
  }

  onceDrain(cb: () => void): void {
    if (this.behind === 0) setImmediate(cb);
    else this.waiters.push(cb);
  }

  settled(): Promise<void> {
    return this.forward.settled();
  }

  private send(s: Sink, chunk: Buffer): void {
    if (s.write(chunk) === false && s.onceDrain) {
      this.behind += 1;
      s.onceDrain(() => {
        this.behind -= 1;
        if (this.behind === 0) for (const w of this.waiters.splice(0)) w();
      });
    }
  }
}
/** What the `name` detail of a request is called in its audit event. */
const AUDIT_NAME_DETAIL: Readonly<Record<string, string>> = { subsystem: 'subsystem', env: 'variable', signal: 'signal' };
type Reply = (() => void) | undefined;

export class SessionChannel implements ChannelHandle {
  private pty?: PseudoTtyInfo;
  private readonly env: Record<string, string> = {};
  /** x11-req as the person's ssh sent it, for the target's channel. */
  private x11?: X11Options;
  private agentForward = false;
  private started = false;
  private user?: ServerChannel;
  private target?: ClientChannel;
  private targetClosed = false;
  /** A window-change that came while the target's channel was opening. */
  private pendingWindow?: { cols: number; rows: number; width: number; height: number };
  private cast?: CastWriter;
  /** Without a pty: the exact bytes each way, beside the cast (which holds text only). */
  private raw?: RawStreams;
  /** Without a pty: when how many bytes passed which way; the cast is made from them and the raw streams at close. */
  private marks?: CastMarks;
  /** The channel's data events, under audit.bulkData. */
  private data?: ChannelData;
  /** rsync, git or tar over ssh: recorded as one transfer of its stream. */
  private stream?: StreamTransfer;
  private tap?: ChannelTap;
  private kind?: Kind;
  private command?: string;
  /** When the program started, on the recording's clock: a cast opened later starts its timeline there. */
  private startedMs?: number;
  /** Window changes before the cast opened (while the channel was classified): the cast starts with them. */
  private readonly resizes: { cols: number; rows: number }[] = [];
  /** While the channel's first bytes are classified. */
  private classifying?: Classifying;
  /** Resolves once the lanes are open. */
  private classified: Promise<void> = Promise.resolve();
  private pipes?: Record<Lane, Pipe>;
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
    // A variable is passed on with the program's request; the channel log and audit get the target's answer then.
    session.on('env', (acc: Reply, rej: Reply, info: { key: string; val: string }) => {
      if (this.started || !info) return this.request('env', false, {}, rej);
      this.env[info.key] = info.val;
      acc?.();
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
    // X11 and agent forwarding are asked of the target with the program's request, where the host allows them;
    // the channels the target then opens are relayed by the connection. The X11 cookie is OpenSSH's stand-in
    // (the person's ssh swaps in the real one) and stays out of the log.
    session.on('x11', (acc: Reply, rej: Reply, info: X11Info) => {
      const refused = this.started ? 'the channel already runs a program' : this.host.refusedForwarding('x11', { channel: ch, type: 'x11-req' });
      if (refused || !info) return this.request('x11-req', false, { reason: refused ?? 'malformed request' }, rej);
      // ssh2's server hands the cookie over as the bytes sent (hex text); its client would hex-encode a Buffer again.
      const cookie: string = Buffer.isBuffer(info.cookie) ? (info.cookie as Buffer).toString('latin1') : info.cookie;
      this.x11 = { single: info.single, screen: info.screen, protocol: info.protocol, cookie };
      this.request('x11-req', true, { single: info.single, screen: info.screen, protocol: info.protocol }, acc);
    });
    session.on('auth-agent', (acc: Reply, rej: Reply) => {
      const refused = this.started ? 'the channel already runs a program' : this.host.refusedForwarding('agent', { channel: ch, type: 'auth-agent-req@openssh.com' });
      if (refused) return this.request('auth-agent-req@openssh.com', false, { reason: refused }, rej);
      this.agentForward = true;
      this.request('auth-agent-req@openssh.com', true, {}, acc);
    });
    session.on('shell', (acc: () => ServerChannel | undefined, rej: Reply) => this.start('shell', acc, rej));
    session.on('exec', (acc: () => ServerChannel | undefined, rej: Reply, info: { command: string }) => this.start('exec', acc, rej, info.command));
    session.on('subsystem', (acc: () => ServerChannel | undefined, rej: Reply, info: { name: string }) => this.start('subsystem', acc, rej, info.name));
    session.on('close', () => {
      if (!this.user) void this.finalize();
    });
  }

  terminate(message: string): Promise<void> {
    const user = this.user;
    if (!user || this.finished) return Promise.resolve();
    // ssh2 holds a write until the person's window has room (bulk output can have it full), and a channel
    // closed before then drops it: the target side, and so the channel, closes once the message has gone
    // out, or after 2 s.
    return new Promise<void>((resolve) => {
      let done = false;
      const close = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.target?.close();
        resolve();
      };
      const timer = setTimeout(close, 2000);
      timer.unref();
      user.stderr.write(`\r\n${message}\r\n`, close);
    });
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
    // Each variable goes with want-reply (the declared ssh2 patch's envReply), so the log has the target's answer.
    const envReply = (name: string, accepted: boolean) =>
      this.request('env', accepted, { name, value: this.env[name], ...(accepted ? {} : { reason: 'the target refused it' }) });
    const opts = { env: this.env, envReply, ...(this.x11 ? { x11: this.x11 } : {}), ...(this.agentForward ? { agentForward: true } : {}) } as ExecOptions;
    try {
      if (kind === 'shell') client.shell(pty ?? false, opts, cb);
      else if (kind === 'exec') client.exec(arg ?? '', { ...opts, ...(pty ? { pty } : {}) }, cb);
      else {
        // ssh2 sends a subsystem no variables (nor does OpenSSH's sftp need them).
        for (const name of Object.keys(this.env)) this.request('env', false, { name, value: this.env[name], reason: 'not passed to a subsystem' });
        client.subsys(arg ?? '', cb);
      }
    } catch (err) {
      cb(err as Error);
    }
  }

  private wire(kind: Kind, user: ServerChannel, target: ClientChannel, arg?: string): void {
    this.target = target;
    this.kind = kind;
    this.command = kind === 'exec' ? arg : undefined;
    this.startedMs = this.host.recording?.nowMs();
    const classifier = this.host.tapFor({
      channel: this.ch,
      kind,
      ...(kind === 'exec' ? { command: arg } : {}),
      ...(kind === 'subsystem' ? { subsystem: arg } : {}),
    });
    if (this.pendingWindow) this.windowChange(this.pendingWindow);
    const userGone = new Promise<void>((r) => user.once('close', r));
    const stderrDone = new Promise<void>((r) => {
      target.stderr.once('end', r);
      target.stderr.once('close', r);
    });
    const streams: Record<Lane, Writable> = { in: target, out: user, err: user.stderr };
    if (classifier) this.classifying = { classifier, streams, held: [], heldBytes: 0, passing: Promise.resolve(), deciding: false };
    else this.open('terminal', streams);

    pump(user, [this.front('in')]);
    pump(target, [this.front('out')]);
    pump(target.stderr, [this.front('err')]);

    user.on('end', () => {
      this.host.record({ ch: this.ch, type: 'eof', from: 'client' });
      // What is still undecided is a terminal's: nothing more comes from this side to tell otherwise.
      this.decide('terminal');
      // The EOF goes after the person's last bytes, which may still wait for the cast.
      void this.laneSettled('in').then(() => target.end());
    });
    target.on('end', () => {
      this.host.record({ ch: this.ch, type: 'eof', from: 'server' });
      this.decide('terminal');
    });
    target.on('exit', (code: number | null, signal?: string, coreDumped?: boolean, message?: string) => {
      this.exit =
        typeof code === 'number'
          ? { status: code }
          : { ...(signal ? { signal } : {}), ...(coreDumped ? { coreDumped } : {}), ...(message ? { message } : {}) };
      this.host.record({ ch: this.ch, type: 'exit', ...this.exit });
    });
    target.on('close', () => {
      this.targetClosed = true;
      this.decide('terminal');
      void (async () => {
        await Promise.race([stderrDone, userGone]);
        this.decide('terminal');
        await Promise.race([Promise.all([this.laneSettled('out'), this.laneSettled('err')]), userGone]);
        await whenWritten(user, userGone);
        await whenWritten(user.stderr, userGone);
        this.sendExit(user);
        user.end();
      })();
    });
    user.on('close', () => {
      if (!this.targetClosed) target.close();
      this.decide('terminal');
      void this.finalize();
    });
    target.on('error', () => undefined);
  }

  /** The one sink each source is pumped into: held while the channel is classified, then its lane's pipe. */
  private front(lane: Lane): Sink {
    return {
      write: (b) => (this.pipes ? this.pipes[lane].write(b) : this.hold(lane, b)),
      onceDrain: (cb) => (this.pipes ? this.pipes[lane].onceDrain(cb) : setImmediate(cb)),
    };
  }

  /** A chunk that came while the channel's content is not known yet: kept back (not recorded, not forwarded). */
  private hold(lane: Lane, chunk: Buffer): boolean {
    const c = this.classifying;
    if (!c) return true;
    c.held.push({ lane, chunk, passed: false });
    c.heldBytes += chunk.length;
    if (c.deciding) return true;
    let verdict: ChannelVerdict = 'hold';
    if (lane !== 'err') {
      try {
        verdict = c.classifier.feed(lane === 'in' ? 'client' : 'server', chunk);
      } catch (err) {
        this.host.log.warn('channel classifier failed', { channel: this.ch, error: err instanceof Error ? err.message : String(err) });
        verdict = 'terminal';
      }
    }
    if (verdict === 'handshake') this.passHandshake(c);
    else if (verdict !== 'hold') this.decide(verdict);
    else if (c.heldBytes > CLASSIFY_MAX_HELD) this.decide('terminal');
    else c.timer ??= setTimeout(() => this.decide('terminal'), CLASSIFY_HOLD_MS);
    return true;
  }

  /**
   * The bytes held are a protocol greeting the other side waits for (SCP's `\0`, SFTP's INIT; no content): they go
   * on before the verdict, logged first, so that no byte reaches a side that the recording does not account for.
   */
  private passHandshake(c: Classifying): void {
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
    const pass = c.held.filter((h) => !h.passed && h.lane !== 'err');
    for (const h of pass) {
      h.passed = true;
      this.host.record({ ch: this.ch, type: 'handshake', from: h.lane === 'in' ? 'client' : 'server', bytes: h.chunk.length });
    }
    const rec = this.host.recording;
    c.passing = c.passing.then(async () => {
      if (rec) await rec.commitLog();
      for (const h of pass) streamSink(c.streams[h.lane]).write(h.chunk);
    });
    // A failed commit is the recording's failure, which ends the session; nothing of the greeting went on.
    c.passing = c.passing.catch(() => undefined);
  }

  /** The channel's content is known (or must be taken as a terminal's): open its lanes and replay what was held. */
  private decide(verdict: Exclude<ChannelVerdict, 'hold' | 'handshake'>): void {
    const c = this.classifying;
    if (!c || c.deciding) return;
    c.deciding = true;
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
    this.classified = c.passing.then(() => {
      this.open(verdict, c.streams);
      this.classifying = undefined;
      for (const h of c.held) this.pipes?.[h.lane].replay(h.chunk, !h.passed);
    });
  }

  /** The lanes for a verdict: a terminal gets a cast and data events; a transfer its tap and neither (its bytes are file content). */
  private open(verdict: Exclude<ChannelVerdict, 'hold' | 'handshake'>, streams: Record<Lane, Writable>): void {
    const rec = this.host.recording;
    const tap = typeof verdict === 'object' ? verdict.transfer : undefined;
    this.tap = tap;
    // Subsystems never get a cast (their program is the server's, not a terminal's).
    const castable = rec !== undefined && this.kind !== 'subsystem';
    // Without a pty the bytes need not be text (rsync, tar, git, a binary's output): kept exactly as they passed,
    // with marks of when; the cast is made from them when the channel closes (derived-cast.ts). A terminal gets
    // its cast as it goes.
    if (castable && !tap && this.pty === undefined) {
      this.raw = rec.openStreams(this.ch);
      this.marks = new CastMarks();
    } else if (castable && !tap) this.openCast();
    this.stream = !tap && this.pty === undefined && this.command !== undefined ? streamTransferOf(this.command) : undefined;
    this.data = this.host.audit.channelData(this.ch, { pty: this.pty !== undefined, ...(this.stream ? { bulk: this.stream.protocol } : {}) });
    const raw = (lane: Lane): Sink[] => (this.raw ? [this.raw.sink(lane)] : []);
    // Fail closed: with a cast, a chunk is forwarded only once the cast holds it (CommitGate, last in line). A
    // transfer channel is gated too: its cast may open mid-way, when its bytes stop following the protocol.
    const forward = (w: Writable): ForwardSink => {
      if (!castable) return Object.assign(streamSink(w), { settled: () => Promise.resolve() });
      // The channel log too: a recording recovered after a crash then knows the channel of every byte relayed.
      const commit = async () => {
        if (this.cast || this.raw) await Promise.all([this.cast?.commit(), rec.commitLog(), this.raw?.commit()]);
      };
      return new CommitGate(streamSink(w), commit);
    };
    const castSink = (lane: Lane, write: (cast: CastWriter, b: Buffer) => boolean): Sink => ({
      write: (b) => {
        if (this.marks) {
          this.marks.add(rec!.nowMs(), lane, b.length);
          return true;
        }
        const cast = this.castFor(tap);
        return cast ? write(cast, b) : true;
      },
      onceDrain: (cb) => (this.cast ? this.cast.onceDrain(cb) : setImmediate(cb)),
    });
    this.pipes = {
      // person -> target
      in: new Pipe(
        [
          this.counter('in'),
          ...(tap?.fromClient ? [tapSink(tap, tap.fromClient.bind(tap))] : []),
          castSink('in', (cast, b) => cast.input(b)),
          ...raw('in'),
          ...this.auditSinks('stdin', tap),
        ],
        forward(streams.in),
      ),
      // target -> person
      out: new Pipe(
        [
          this.counter('out'),
          ...(tap?.fromServer ? [tapSink(tap, tap.fromServer.bind(tap))] : []),
          castSink('out', (cast, b) => cast.output(b)),
          ...raw('out'),
          ...this.auditSinks('stdout', tap),
        ],
        forward(streams.out),
      ),
      err: new Pipe(
        [
          this.counter('out'),
          { write: (b) => this.host.record({ ch: this.ch, type: 'stderr', bytes: b.length }) },
          ...(tap?.fromServerStderr ? [tapSink(tap, tap.fromServerStderr.bind(tap))] : []),
          castSink('err', (cast, b) => cast.stderr(b)),
          ...raw('err'),
          ...this.auditSinks('stderr', undefined),
        ],
        forward(streams.err),
      ),
    };
  }

  /** The cast to write to: the terminal's, or a transfer channel's once its tap stopped following the protocol. */
  private castFor(tap: ChannelTap | undefined): CastWriter | undefined {
    if (this.cast || !tap?.stopped?.() || !this.host.recording || this.kind === 'subsystem') return this.cast;
    this.host.log.warn('transfer channel left its protocol; recording the rest as a terminal', { channel: this.ch });
    return this.openCast();
  }

  /** The cast of a pty-less channel, from its raw streams and marks, once they are closed. */
  private async deriveCast(): Promise<void> {
    const rec = this.host.recording;
    const raw = this.raw;
    if (!rec || !raw) return;
    const { cast, setNow, error } = rec.openDerivedCast(this.ch, {
      cols: 80,
      rows: 24,
      ...(this.env.TERM ? { term: this.env.TERM } : {}),
      ...(this.command !== undefined ? { command: this.command } : {}),
      startMs: this.startedMs ?? rec.nowMs(),
    });
    const streams = { in: rec.fileRef(raw.names.in), out: rec.fileRef(raw.names.out), ...(raw.names.err ? { err: rec.fileRef(raw.names.err) } : {}) };
    const problem = await deriveCast({ cast, setNow, streams, ...(this.marks ? { marks: this.marks } : {}), endMs: rec.nowMs() }).catch((err: Error) => err.message);
    this.marks = undefined;
    await rec.closeCast(this.ch);
    const cut = error()?.message ?? problem;
    if (cut !== undefined) this.host.log.error('cast of a channel without a pty cut short; its raw streams hold every byte', { channel: this.ch, problem: cut });
  }

  private openCast(): CastWriter | undefined {
    const rec = this.host.recording;
    if (!rec) return undefined;
    this.cast = rec.openCast(this.ch, {
      cols: this.pty?.cols || 80,
      rows: this.pty?.rows || 24,
      ...(this.pty?.term || this.env.TERM ? { term: this.pty?.term || this.env.TERM } : {}),
      ...(this.command !== undefined ? { command: this.command } : {}),
      ...(this.startedMs !== undefined ? { startMs: this.startedMs } : {}),
    });
    for (const r of this.resizes.splice(0)) this.cast.resize(r.cols, r.rows);
    return this.cast;
  }

  /** Resolves once the lane's bytes so far are forwarded (or dropped by a failed gate). */
  private async laneSettled(lane: Lane): Promise<void> {
    await this.classified;
    await this.pipes?.[lane].settled();
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
      if (this.cast) this.cast.resize(info.cols, info.rows);
      else this.resizes.push({ cols: info.cols, rows: info.rows });
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

  /**
   * The stream's audit events, or none when not selected. A transfer's stdin/stdout are file content: none while
   * its tap follows the protocol (`tap`), the SIEM would get a copy of every file.
   */
  private auditSinks(stream: DataStream, tap: ChannelTap | undefined): Sink[] {
    const data = this.data;
    if (!data?.wants(stream)) return [];
    return [{ write: (b) => (tap && !tap.stopped?.() ? undefined : data.data(stream, b)) }];
  }

  /** rsync, git or tar over ssh: one transfer, its content the raw stream of the direction that carried it. */
  private recordStreamTransfer(): void {
    const s = this.stream;
    const rec = this.host.recording;
    if (!s || !this.raw || !rec || this.command === undefined) return;
    const lane = s.direction === 'upload' ? 'in' : 'out';
    const { bytes, sha256 } = this.raw.digest(lane);
    const complete = this.exit?.status === 0;
    const transfer = {
      protocol: s.protocol,
      direction: s.direction,
      path: this.command,
      size: bytes,
      sha256,
      file: this.raw.names[lane],
      complete,
      bytes,
      note: `the ${s.protocol} stream as it passed (${lane === 'in' ? 'from the person' : 'to the person'}); the files in it are not listed one by one`,
    };
    rec.addTransfer({ channel: this.ch, ...transfer });
    this.host.record({ ch: this.ch, type: 'file_transfer', ...transfer });
    this.host.audit.fileTransfer(this.ch, { protocol: s.protocol, direction: s.direction, path: this.command, size: bytes, sha256, complete });
  }

  private async finalize(): Promise<void> {
    if (this.finished) return this.closed;
    this.finished = true;
    try {
      if (this.cast) await this.host.recording?.closeCast(this.ch);
      await this.raw?.close();
      if (this.marks) await this.deriveCast();
      this.data?.close();
      this.recordStreamTransfer();
      await this.tap?.close?.().catch((err: Error) => this.host.log.warn('channel tap failed', { channel: this.ch, error: err.message }));
      this.host.record({ ch: this.ch, type: 'close', bytesIn: this.bytesIn, bytesOut: this.bytesOut });
    } finally {
      this.resolveClosed();
    }
  }
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
