// One person's connection to the bastion, from authentication to the last byte of its recording:
// authenticate -> pick the target from the login -> connect with the pinned host key -> open the recording
// -> relay channels -> close the recording and hand it to the mover.
import { createHash } from 'node:crypto';
import type { AuthContext, Client, ClientChannel, Connection, ServerChannel, Session, TcpipRequestInfo, UNIXConnectionDetails, X11Details } from 'ssh2';
import type { Logger } from '../../../common/log.js';
import { formatPeer } from '../../../common/host-port.js';
import { errorMessage } from '../../../common/log.js';
import { settlesWithin } from '../../../common/timeout.js';
import type { Audit, ChannelExit, ConnectionAudit, FileTransfer, ForwardRefusal as AuditedRefusal } from '../audit/connection.js';
import type { ChannelClassifier, ChannelTapContext, ChannelTapFactory } from '../channel-tap.js';
import type { ForwardingKind, ResolvedHost, ResolvedRecorderConfig, ResolvedUser } from '../config.js';
import type { ExitEntry } from '../trail/channel-log.js';
import type { LogInput } from '../trail/recording.js';
import { SessionRecording } from '../trail/recording.js';
import { checkPublicKey, parseLogin, type KeyDirectory, type Login } from './auth.js';
import type { ChannelHandle, ChannelHost } from './channel-host.js';
import { forwardingRefusal } from './forwarding.js';
import type { RecorderMetrics } from './metrics.js';
import { channelLimitMessage, refusals, type ChannelLimit, type Refusal } from './refusal.js';
import { SessionChannel, refuseSession } from './session-channel.js';
import { connectTarget, type TargetOptions } from './target.js';
import { DirectChannel, ForwardRelay, OPEN_ADMINISTRATIVELY_PROHIBITED, rejectWithDescription, tcpipChannel } from './tcpip-channel.js';

export interface ConnectionDeps {
  readonly config: ResolvedRecorderConfig;
  readonly keys: KeyDirectory;
  readonly hosts: ReadonlyMap<string, ResolvedHost>;
  readonly log: Logger;
  readonly metrics: RecorderMetrics;
  readonly audit: Audit;
  readonly recorderId: string;
  readonly newId: () => string;
  /** ms since the epoch. */
  readonly now: () => number;
  readonly target?: TargetOptions;
  readonly flushIntervalMs?: number;
  readonly taps: ChannelTapFactory;
  /** true: refuse new recorded sessions (the spool is full). */
  readonly spoolFull: () => Promise<boolean>;
  readonly shuttingDown: () => boolean;
  /** A recording was created in the spool. */
  readonly recordingOpened: (sessionId: string) => void;
  /** A recording was closed in the spool and can move to the share. */
  readonly recordingClosed: (sessionId: string) => void;
  readonly authenticated: (conn: BastionConnection) => void;
}

/** Global requests for ssh -R: a TCP port, or a Unix socket path (OpenSSH's streamlocal). */
const REMOTE_FORWARD_REQUESTS: ReadonlySet<string> = new Set(['tcpip-forward', 'cancel-tcpip-forward']);
const STREAMLOCAL_FORWARD_REQUESTS: ReadonlySet<string> = new Set(['streamlocal-forward@openssh.com', 'cancel-streamlocal-forward@openssh.com']);

/** How long a refused connection that has opened no channel gets before it is told why and disconnected. */
const REFUSED_QUIET_MS = 2000;

type SessionEndReason = 'client_closed' | 'target_closed' | 'recorder_shutdown' | 'recording_failed';

type Opened = { readonly ok: true; readonly client: Client } | { readonly ok: false; readonly refusal: Refusal };

/** A channel accept() hands out: a Session or a ServerChannel, both of which say when they close. */
type Closing = { once(event: 'close', listener: () => void): unknown };

export class BastionConnection implements ChannelHost {
  readonly connectionId: string;
  readonly remoteAddress: string;
  readonly log: Logger;
  readonly audit: ConnectionAudit;
  recording?: SessionRecording;
  private user?: ResolvedUser;
  private username?: string;
  private login?: Login;
  private host?: ResolvedHost;
  private sessionId?: string;
  private target?: Client;
  private opened?: Promise<Opened>;
  private sessionOpen = false;
  private startMs = 0;
  private bytes = { in: 0, out: 0 };
  private nextChannel = 0;
  private authFailures = 0;
  /** Channels opened or being opened, until each closes or is rejected (limits.max*PerConnection). */
  private readonly openChannels = { sessions: 0, all: 0 };
  /** Why the session ended, when the recorder or the target ended it; otherwise the person closed it. */
  private endReason: SessionEndReason | undefined;
  /** The last session channel's exit, for session_end. */
  private lastExit: ChannelExit | undefined;
  /** Channel opens the client has sent, admitted or not. */
  private channelsAsked = 0;
  private channelLimitLogged = false;
  private readonly channels = new Set<ChannelHandle>();
  private closing = false;
  private resolveDone!: () => void;
  /** Resolves when the connection is gone and its recording closed. */
  readonly done = new Promise<void>((r) => (this.resolveDone = r));

  constructor(
    private readonly client: Connection,
    remote: { ip?: string; port?: number },
    private readonly deps: ConnectionDeps,
  ) {
    this.connectionId = deps.newId();
    this.remoteAddress = formatPeer(remote.ip, remote.port);
    this.log = deps.log.child({ connectionId: this.connectionId, remoteAddress: this.remoteAddress });
    this.audit = deps.audit.open({ connectionID: this.connectionId, remoteAddress: this.remoteAddress });
    client.on('authentication', (ctx: AuthContext) => this.authenticate(ctx));
    client.on('ready', () => this.onReady());
    // A bug in one connection's async handling must end that connection, never the process.
    const guard = (what: string) => (err: unknown) => {
      this.log.error('connection failed', { step: what, error: errorMessage(err) });
      this.client.end();
    };
    client.on('session', (accept: () => Session, reject: () => void) => {
      const ch = this.admitChannel('session', accept, reject);
      if (ch) this.onSession(ch.accept as () => Session, ch.reject).catch(guard('session'));
    });
    client.on('tcpip', (accept: () => ServerChannel, reject: () => void, info: TcpipRequestInfo) => {
      const ch = this.admitChannel('other', accept, reject);
      if (ch) this.onTcpip(ch.accept as () => ServerChannel, ch.reject, info).catch(guard('tcpip'));
    });
    client.on('openssh.streamlocal', (accept: () => ServerChannel, reject: () => void, info: { socketPath?: string }) => {
      const ch = this.admitChannel('other', accept, reject);
      if (ch) this.onStreamlocal(ch.accept as () => ServerChannel, ch.reject, info).catch(guard('streamlocal'));
    });
    client.on('request', (accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, name: string, info: unknown) =>
      this.onGlobalRequest(accept, reject, name, info).catch(guard('global request')),
    );
    client.on('error', (err: Error) => this.log.debug('client connection error', { error: err.message }));
    client.on('close', () =>
      this.onClose().catch((err: unknown) => {
        this.log.error('cleanup failed', { error: errorMessage(err) });
        this.resolveDone();
      }),
    );
  }

  get isAuthenticated(): boolean {
    return this.user !== undefined && this.opened !== undefined;
  }

  /** Rejected authentication attempts (a connection that ends with some and no login costs its source a penalty). */
  get failedAuthentications(): number {
    return this.authFailures;
  }

  /** End the connection with SSH_MSG_DISCONNECT carrying `message` (OpenSSH prints it: "Received disconnect ...: 11: message"). */
  private disconnect(message: string): void {
    // ssh2's Connection#end takes the description through the project's declared patch (patches/).
    (this.client.end as (description?: string) => void).call(this.client, message);
  }

  /** Tell the person why and end the connection (shutdown, recording failure). */
  terminate(message: string, reason: SessionEndReason = 'recorder_shutdown'): void {
    this.endReason ??= reason;
    // The connection ends a second after every channel's message has gone out (the channels close first).
    void Promise.all([...this.channels].map((c) => c.terminate(message))).then(() => {
      const t = setTimeout(() => this.client.end(), 1000);
      t.unref();
    });
  }

  // ---- ChannelHost ----

  targetClient(): Client {
    if (!this.target) throw new Error('the target is not connected');
    return this.target;
  }

  record(entry: LogInput): boolean {
    if (entry.type === 'exit') {
      const x = entry as Omit<ExitEntry, 't'>;
      const exit: ChannelExit = { ...(x.status !== undefined ? { status: x.status } : {}), ...(x.signal !== undefined ? { signal: x.signal } : {}), ...(x.coreDumped ? { coreDumped: true } : {}) };
      this.lastExit = exit;
      this.audit.channelExit(x.ch, exit);
    }
    return this.recording ? this.recording.record(entry) : true;
  }

  tapFor(ctx: Omit<ChannelTapContext, 'host' | 'recording' | 'auditTransfer'>): ChannelClassifier | undefined {
    if (!this.host) return undefined;
    const auditTransfer = (t: FileTransfer) => this.audit.fileTransfer(ctx.channel, t);
    try {
      return this.deps.taps({ ...ctx, host: this.host, auditTransfer, ...(this.recording ? { recording: this.recording } : {}) });
    } catch (err) {
      this.log.warn('channel tap failed to start', { channel: ctx.channel, error: errorMessage(err) });
      return undefined;
    }
  }

  countBytes(direction: 'in' | 'out', n: number): void {
    this.bytes[direction] += n;
    this.deps.metrics.bytesRelayed.inc({ direction }, n);
  }

  refusedForwarding(kind: 'agent' | 'x11', what: { readonly channel: number; readonly type: string }): string | undefined {
    if (!forwardingRefusal(this.host!, kind)) return undefined;
    return this.auditForwardRefusal(kind, what).message;
  }

  // ---- authentication ----

  private authenticate(ctx: AuthContext): void {
    if (ctx.method !== 'publickey') {
      if (ctx.method !== 'none') this.authFailed('method', ctx.username, { method: ctx.method });
      return ctx.reject(['publickey']);
    }
    const verdict = checkPublicKey(this.deps.keys, ctx);
    const meta = { keyType: ctx.key.algo, fingerprint: fingerprint(ctx.key.data) };
    switch (verdict.kind) {
      case 'query':
        return ctx.accept();
      case 'ok':
        this.user = verdict.user;
        this.username = ctx.username;
        this.audit.identify({ username: verdict.user.name });
        this.log.info('authenticated', { user: verdict.user.name, login: ctx.username, ...meta });
        return ctx.accept();
      default:
        this.authFailed(verdict.kind, ctx.username, meta);
        ctx.reject(['publickey']);
    }
  }

  private authFailed(reason: string, login: string, meta: Record<string, unknown>): void {
    this.deps.metrics.authFailures.inc({ reason });
    this.log.warn('authentication refused', { reason, login, ...meta });
    this.audit.refused(reason);
    const max = this.deps.config.limits.maxAuthTries;
    if (++this.authFailures === max) {
      this.deps.metrics.connectionsDropped.inc({ reason: 'max_auth_tries' });
      this.log.warn('connection dropped: too many authentication failures', { failures: this.authFailures, maxAuthTries: max });
      this.client.end();
    }
  }

  private onReady(): void {
    this.deps.authenticated(this);
    this.startMs = this.deps.now();
    this.opened = this.open().catch((err: unknown) => {
      this.log.error('cannot open the session', { error: errorMessage(err) });
      this.target?.end();
      return this.refuse(refusals.internal());
    });
  }

  /** Decide, connect and start recording; never rejects. */
  private async open(): Promise<Opened> {
    const user = this.user!;
    const username = this.username ?? '';
    const login = parseLogin(username);
    if (!login) return this.refuse(refusals.badLogin(username));
    this.login = login;
    this.audit.identify({ targetUsername: login.targetUser });
    const host = this.deps.hosts.get(login.hostName);
    if (!host) return this.refuse(refusals.unknownHost(login.hostName));
    this.host = host;
    this.audit.identify({ hostID: host.name, hostAddress: host.port === 22 ? host.address : `${host.address}:${host.port}` });
    if (user.hosts && !user.hosts.has(host.name)) return this.refuse(refusals.noAccess(user.name, host.name));
    if (login.targetUser !== host.credentials.username) return this.refuse(refusals.wrongTargetUser(host, login.targetUser));
    if (this.deps.shuttingDown()) return this.refuse(refusals.shuttingDown());
    if (host.recording && (await this.deps.spoolFull())) return this.refuse(refusals.spoolFull());

    const result = await connectTarget(host, this.deps.target);
    if (!result.ok) return this.refuse(result.refusal);
    const target = result.client;
    if (this.closing) {
      target.end();
      return { ok: false, refusal: refusals.shuttingDown() };
    }
    this.target = target;
    this.sessionId = this.deps.newId();
    this.audit.identify({ sessionID: this.sessionId });
    if (host.recording) {
      try {
        this.recording = await SessionRecording.create({
          tempFolder: this.deps.config.tempFolder,
          identity: {
            sessionId: this.sessionId,
            connectionId: this.connectionId,
            recorder: this.deps.recorderId,
            user: user.name,
            remoteAddress: this.remoteAddress,
            targetUser: login.targetUser,
            host: { name: host.name, address: host.address, port: host.port },
            start: new Date(this.startMs).toISOString(),
          },
          now: this.deps.now,
          ...(this.deps.flushIntervalMs !== undefined ? { flushIntervalMs: this.deps.flushIntervalMs } : {}),
          onError: (err) => this.recordingFailed(err),
          ...(this.deps.config.tempSizeLimit !== undefined ? { spoolLimit: this.deps.config.tempSizeLimit } : {}),
          ...(this.deps.config.trail !== undefined ? { keys: this.deps.config.trail.keys } : {}),
        });
        this.deps.recordingOpened(this.sessionId);
      } catch (err) {
        target.end();
        this.target = undefined;
        return this.refuse(refusals.recordingUnavailable((err as NodeJS.ErrnoException).code ?? errorMessage(err)));
      }
    }
    target.on('error', (err: Error) => this.log.debug('target connection error', { error: err.message }));
    target.on('close', () => void this.onTargetClose().catch(() => this.client.end()));
    target.on('tcp connection', (info: TcpipRequestInfo, accept: () => ClientChannel, reject: () => void) => this.onRemoteConnection(info, accept, reject));
    target.on('unix connection', (info: UNIXConnectionDetails, accept: () => unknown, reject: () => void) => this.onRemoteSocketConnection(info, accept as () => ClientChannel, reject));
    target.on('x11', (info: X11Details, accept: () => ClientChannel, reject: () => void) => this.onX11Connection(info, accept, reject));
    // Emitted by the declared ssh2 patch; ssh2 accepts agent channels only after an auth-agent-req it sent succeeded.
    (target as unknown as NodeJS.EventEmitter).on('auth-agent', (accept: () => ClientChannel, reject: () => void) => this.onAgentConnection(accept, reject));
    this.sessionOpen = true;
    this.deps.metrics.sessionsOpen.inc();
    this.log.info('session started', { sessionId: this.sessionId, user: user.name, targetUser: login.targetUser, host: host.name, recording: host.recording });
    this.audit.sessionStart({ recording: host.recording, recorder: this.deps.recorderId });
    return { ok: true, client: target };
  }

  private refuse(refusal: Refusal): Opened {
    this.deps.metrics.connectionsRefused.inc({ reason: refusal.reason });
    this.log.warn('connection refused', {
      reason: refusal.reason,
      user: this.user?.name,
      login: this.username,
      ...(this.host ? { host: this.host.name } : {}),
      ...(refusal.detail !== undefined ? { detail: refusal.detail } : {}),
    });
    this.audit.refused(refusal.reason, refusal.message, refusal.detail);
    // A client that opened a channel gets the reason there (stderr, or the open's description). One that opens
    // none (ssh -N) would never hear it: after a moment it is disconnected with the reason as the description.
    const quiet = setTimeout(() => {
      if (this.channelsAsked === 0) this.disconnect(refusal.message);
    }, REFUSED_QUIET_MS);
    const t = setTimeout(() => this.client.end(), 30000);
    quiet.unref();
    t.unref();
    return { ok: false, refusal };
  }

  private recordingFailed(err: Error): void {
    this.log.error('recording failed; ending the session', { sessionId: this.sessionId, error: errorMessage(err) });
    this.terminate(`srec: the session's recording failed (${(err as NodeJS.ErrnoException).code ?? 'write error'}); the session is ended`, 'recording_failed');
  }

  // ---- channels ----

  /**
   * Counts a channel open against the connection's limits (OpenSSH's MaxSessions for sessions, and a cap on
   * all): refused with the reason as its description, or passed on with accept/reject that keep the count
   * until the channel closes or is rejected.
   */
  private admitChannel<T extends Closing>(kind: 'session' | 'other', accept: () => T | undefined, reject: () => void): { accept: () => T | undefined; reject: () => void } | undefined {
    this.channelsAsked++;
    const { maxSessionsPerConnection, maxChannelsPerConnection } = this.deps.config.limits;
    const limit: [ChannelLimit, number] | undefined =
      kind === 'session' && this.openChannels.sessions >= maxSessionsPerConnection
        ? ['max_sessions', maxSessionsPerConnection]
        : this.openChannels.all >= maxChannelsPerConnection
          ? ['max_channels', maxChannelsPerConnection]
          : undefined;
    if (limit) {
      this.deps.metrics.channelsRefused.inc({ reason: limit[0] });
      // Once per connection: a flood of opens must not become a flood of log lines.
      if (!this.channelLimitLogged) this.log.warn('channel refused: per-connection limit reached', { reason: limit[0], limit: limit[1], user: this.user?.name });
      this.channelLimitLogged = true;
      rejectWithDescription(this.client, reject, channelLimitMessage(limit[0], limit[1]), OPEN_ADMINISTRATIVELY_PROHIBITED);
      return undefined;
    }
    const session = kind === 'session' ? 1 : 0;
    this.openChannels.sessions += session;
    this.openChannels.all++;
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      this.openChannels.sessions -= session;
      this.openChannels.all--;
    };
    return {
      accept: () => {
        const ch = accept();
        if (ch) ch.once('close', release);
        else release();
        return ch;
      },
      reject: () => {
        release();
        reject();
      },
    };
  }

  private async onSession(accept: () => Session, reject: () => void): Promise<void> {
    const opened = await this.opened;
    if (!opened || this.closing) return reject();
    const session = accept();
    if (!session) return;
    if (!opened.ok) return refuseSession(session, opened.refusal.message);
    const ch = this.nextChannel++;
    this.track(new SessionChannel(this, ch, session));
  }

  private async onTcpip(accept: () => ServerChannel, reject: () => void, info: TcpipRequestInfo): Promise<void> {
    const opened = await this.opened;
    if (!opened || this.closing) return reject();
    if (!opened.ok) return rejectWithDescription(this.client, reject, opened.refusal.message);
    const destination = `${info.destIP}:${info.destPort}`;
    const origin = `${info.srcIP}:${info.srcPort}`;
    if (this.refuseChannel(reject, 'local', { type: 'direct-tcpip', destination, origin })) return;
    this.track(tcpipChannel(this, this.nextChannel++, this.client, accept, reject, info));
  }

  /** direct-streamlocal@openssh.com (ssh -L port:/path/to/socket, ssh -W /path): the target connects to its socket. */
  private async onStreamlocal(accept: () => ServerChannel, reject: () => void, info: { socketPath?: string }): Promise<void> {
    const opened = await this.opened;
    if (!opened || this.closing) return reject();
    if (!opened.ok) return rejectWithDescription(this.client, reject, opened.refusal.message);
    const destination = typeof info?.socketPath === 'string' ? info.socketPath : '';
    const type = 'direct-streamlocal@openssh.com';
    if (this.refuseChannel(reject, 'unixSockets', { type, destination })) return;
    const ch = this.nextChannel++;
    const forward = { channel: ch, kind: 'unixSockets', type, destination };
    this.track(new DirectChannel(this, ch, this.client, accept, reject, forward, (cb) => this.targetClient().openssh_forwardOutStreamLocal(destination, (err, t) => cb(err ?? undefined, t))));
  }

  /**
   * A channel the host's forwarding policy refuses: open failure "administratively prohibited" with the
   * policy's one line, a refused open in the channel log, a forward_refused audit event. false: it may pass.
   */
  private refuseChannel(reject: () => void, kind: ForwardingKind, what: { type: string; destination: string; origin?: string }): boolean {
    const refusal = forwardingRefusal(this.host!, kind);
    if (!refusal) return false;
    const ch = this.nextChannel++;
    this.record({ ch, type: 'open', channel: what.type, destination: what.destination, ...(what.origin ? { origin: what.origin } : {}), accepted: false, reason: refusal.message });
    this.auditForwardRefusal(kind, { channel: ch, ...what });
    rejectWithDescription(this.client, reject, refusal.message, OPEN_ADMINISTRATIVELY_PROHIBITED);
    return true;
  }

  /** Audit (and log, without content) a forwarding the policy or the recorder refuses; returns the refusal. */
  private auditForwardRefusal(kind: ForwardingKind, what: Omit<AuditedRefusal, 'kind' | 'reason' | 'message'>): { reason: string; message: string } {
    const refusal = forwardingRefusal(this.host!, kind) ?? { reason: 'forwarding_off', message: `srec: ${kind} forwarding is off` };
    this.log.warn('forwarding refused', { kind, type: what.type, host: this.host?.name, reason: refusal.reason, ...(what.destination !== undefined ? { destination: what.destination } : {}) });
    this.audit.forwardRefused({ kind, ...what, reason: refusal.reason, message: refusal.message });
    return refusal;
  }

  /** Global requests ssh2 passes on: tcpip-forward (ssh -R) and streamlocal-forward, their cancels, no-more-sessions. */
  private async onGlobalRequest(accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, name: string, info: unknown): Promise<void> {
    const details = typeof info === 'object' && info !== null ? (info as Record<string, unknown>) : {};
    const kind: ForwardingKind | undefined = REMOTE_FORWARD_REQUESTS.has(name) ? 'remote' : STREAMLOCAL_FORWARD_REQUESTS.has(name) ? 'unixSockets' : undefined;
    // The host is known once the session is open; a request that comes before is answered when it is.
    const opened = kind ? await this.opened : undefined;
    if (kind && opened?.ok && !forwardingRefusal(this.host!, kind)) return this.remoteForward(accept, reject, name, details);
    let reason: string | undefined;
    if (kind && opened?.ok) {
      const listen = typeof details.socketPath === 'string' ? details.socketPath : `${String(details.bindAddr ?? '')}:${String(details.bindPort ?? '')}`;
      reason = this.auditForwardRefusal(kind, { type: name, destination: listen }).message;
    }
    // Anything else (or refused) is answered failure (SSH has no room for a reason in it).
    this.record({ type: 'global_request', request: name, accepted: false, ...details, ...(reason ? { reason } : {}) });
    this.audit.globalRequest(name, { accepted: false, ...details });
    reject?.();
  }

  /**
   * ssh -R where the host allows it: the target listens on what the person asked for (forwardIn for a port,
   * openssh_forwardInStreamLocal for a socket path); each connection it accepts there becomes a channel to
   * the person (onRemoteConnection, onRemoteSocketConnection).
   */
  private remoteForward(accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, name: string, details: Record<string, unknown>): void {
    const socketPath = STREAMLOCAL_FORWARD_REQUESTS.has(name) ? String(details.socketPath ?? '') : undefined;
    const bindAddr = String(details.bindAddr ?? '');
    const bindPort = Number(details.bindPort ?? 0);
    const listen = socketPath ?? `${bindAddr}:${bindPort}`;
    const answer = (err: Error | undefined, port?: number) => {
      const accepted = err === undefined;
      this.record({ type: 'global_request', request: name, accepted, ...details, ...(port !== undefined && port !== bindPort ? { boundPort: port } : {}), ...(err ? { reason: err.message } : {}) });
      this.audit.globalRequest(name, { accepted, ...details });
      if (!accepted) {
        this.audit.forwardRefused({ kind: socketPath === undefined ? 'remote' : 'unixSockets', type: name, destination: listen, reason: 'target_refused', message: `srec: the target refused to listen on ${listen}: ${err.message}` });
        return reject?.();
      }
      accept?.(name === 'tcpip-forward' && bindPort === 0 ? port : undefined);
    };
    try {
      const target = this.targetClient();
      if (name === 'cancel-tcpip-forward') return void target.unforwardIn(bindAddr, bindPort, (err) => answer(err ?? undefined));
      if (name === 'tcpip-forward') return void target.forwardIn(bindAddr, bindPort, (err, port) => answer(err ?? undefined, port));
      if (name === 'cancel-streamlocal-forward@openssh.com') return void target.openssh_unforwardInStreamLocal(listen, (err) => answer(err ?? undefined));
      target.openssh_forwardInStreamLocal(listen, (err) => answer(err ?? undefined));
    } catch (err) {
      answer(err as Error);
    }
  }

  /** A connection to a port the target forwards for ssh -R: a forwarded-tcpip channel to the person. */
  private onRemoteConnection(info: TcpipRequestInfo, accept: () => ClientChannel, reject: () => void): void {
    const forward = { kind: 'remote' as const, type: 'forwarded-tcpip', destination: `${info.destIP}:${info.destPort}`, origin: `${info.srcIP}:${info.srcPort}` };
    this.relayToPerson(forward, (cb) => this.client.forwardOut(info.destIP, info.destPort, info.srcIP, info.srcPort, cb), accept, reject);
  }

  /** A connection to a socket the target forwards for ssh -R /path: a forwarded-streamlocal channel to the person. */
  private onRemoteSocketConnection(info: UNIXConnectionDetails, accept: () => ClientChannel, reject: () => void): void {
    const forward = { kind: 'unixSockets' as const, type: 'forwarded-streamlocal@openssh.com', destination: info.socketPath };
    this.relayToPerson(forward, (cb) => this.client.openssh_forwardOutStreamLocal(info.socketPath, cb), accept, reject);
  }

  /** An X11 client on the target connecting to the display sshd made for ssh -X/-Y: an x11 channel to the person. */
  private onX11Connection(info: X11Details, accept: () => ClientChannel, reject: () => void): void {
    const forward = { kind: 'x11' as const, type: 'x11', origin: `${info.srcIP}:${info.srcPort}` };
    this.relayToPerson(forward, (cb) => this.client.x11(info.srcIP, info.srcPort, cb), accept, reject);
  }

  /**
   * A program on the target asking the agent sshd set up for ssh -A: an auth-agent channel to the person's
   * ssh, which answers from their agent. The recorder only relays it: its own login to the target never uses
   * an agent (target.ts), and it opens no agent channel of its own.
   */
  private onAgentConnection(accept: () => ClientChannel, reject: () => void): void {
    const forward = { kind: 'agent' as const, type: 'auth-agent@openssh.com' };
    const open = (this.client as unknown as { openssh_authAgent(cb: (err: Error | undefined, ch: ServerChannel) => void): void }).openssh_authAgent;
    this.relayToPerson(forward, (cb) => open.call(this.client, cb), accept, reject);
  }

  /** A channel the target opened (a forward the person asked for): open its twin to the person, then relay and record both. */
  private relayToPerson(
    what: { kind: ForwardingKind; type: string; destination?: string; origin?: string },
    openToPerson: (cb: (err: Error | undefined, user: ServerChannel) => void) => void,
    accept: () => ClientChannel,
    reject: () => void,
  ): void {
    if (this.closing) return reject();
    const ch = this.nextChannel++;
    const forward = { channel: ch, ...what };
    openToPerson((err, user) => {
      if (err) {
        this.record({ ch, type: 'open', channel: what.type, ...(what.destination !== undefined ? { destination: what.destination } : {}), ...(what.origin !== undefined ? { origin: what.origin } : {}), accepted: false, reason: err.message });
        this.audit.forwardRefused({ ...forward, reason: 'client_refused', message: err.message });
        return reject();
      }
      const relay = new ForwardRelay(this, ch, forward);
      this.track(relay);
      relay.start(user, accept());
    });
  }

  private track(handle: ChannelHandle): void {
    this.channels.add(handle);
    void handle.closed.then(() => this.channels.delete(handle));
  }

  // ---- the end ----

  /** The target went away: let the channels pass on what they have, then end the person's connection. */
  private async onTargetClose(): Promise<void> {
    // Not when the recorder itself ended the target because the person left.
    if (!this.closing) this.endReason ??= 'target_closed';
    await settlesWithin(Promise.all([...this.channels].map((c) => c.closed)), 10000);
    this.client.end();
  }

  private async onClose(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    // A session still being opened finishes opening first, so that it is closed (and recorded) properly.
    const o = await this.opened;
    if (!o?.ok || !this.sessionOpen) return this.resolveDone();
    this.target?.end();
    await Promise.all([...this.channels].map((c) => c.abort()));
    const durationMs = this.deps.now() - this.startMs;
    if (this.recording) {
      try {
        const manifest = await this.recording.close({ complete: true });
        this.deps.recordingClosed(manifest.sessionId);
      } catch (err) {
        // The spool directory stays; start-up recovery finalizes it.
        this.log.error('cannot close recording; left in the spool', { sessionId: this.sessionId, error: errorMessage(err) });
      }
    }
    this.sessionOpen = false;
    this.deps.metrics.sessionsOpen.dec();
    this.log.info('session ended', { sessionId: this.sessionId, user: this.user?.name, host: this.host?.name, durationMs, bytesIn: this.bytes.in, bytesOut: this.bytes.out, channels: this.nextChannel });
    this.audit.sessionEnd({ reason: this.endReason ?? 'client_closed', ...(this.lastExit ? { exit: this.lastExit } : {}), bytesIn: this.bytes.in, bytesOut: this.bytes.out });
    this.resolveDone();
  }
}

/** OpenSSH's `SHA256:...` fingerprint of a public key blob. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}
