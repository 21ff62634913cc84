// The SSH listener. Sockets are accepted by the Front and injected into ssh2, so that what has not logged in
// yet is bounded before ssh2 spends anything on it: per source and in all (startups.ts), sources that keep
// failing are refused for a while (penalties.ts), and a client that never finishes logging in is cut off
// after the login grace time. The sessions themselves (createSessions) run in the same process or, with
// several workers, in worker processes the front hands the sockets to (workers.ts).
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import ssh2 from 'ssh2';
import type { ClientInfo, Connection } from 'ssh2';
import { formatPeer, listenAddress } from '../../../common/host-port.js';
import { serverAlgorithms } from './algorithms.js';
import type { Logger } from '../../../common/log.js';
import { parseMaxStartups, type MaxStartups } from '../../../common/recorder-config/limits.js';
import { settlesWithin } from '../../../common/timeout.js';
import type { Audit } from '../audit/connection.js';
import type { ChannelTapFactory } from '../channel-tap.js';
import type { ResolvedRecorderConfig } from '../config.js';
import { spoolUsage } from '../trail/spool.js';
import { KeyDirectory } from './auth.js';
import { BastionConnection } from './connection.js';
import type { RecorderMetrics } from './metrics.js';
import { PenaltyBox } from './penalties.js';
import { refusals } from './refusal.js';
import { StartupGate } from './startups.js';
import type { TargetOptions } from './target.js';

export interface BastionOptions {
  readonly config: ResolvedRecorderConfig;
  readonly log: Logger;
  readonly metrics: RecorderMetrics;
  /** This replica's name, written into manifests and `.incoming` names. */
  readonly recorderId: string;
  /** A recording closed in the spool (e.g. TrailMover#enqueue). */
  readonly recordingClosed: (sessionId: string) => void;
  /** A recording was created in the spool (a worker's primary recovers it if the worker dies). */
  readonly recordingOpened?: (sessionId: string) => void;
  /** Where each connection's audit events go: createAudit(sink, { sensitiveEvents: selectSensitiveEvents(config.audit) }). */
  readonly audit: Audit;
  /**
   * Parsers on the side of session channels. `srec recorder` gives transferTaps(): SFTP and SCP capture into the
   * recording (per host `fileTransfers`), a `file_transfer` audit event per file, no data events of file content.
   */
  readonly taps: ChannelTapFactory;
  readonly target?: TargetOptions;
  /** Gzip sync-flush interval of recordings. @default 1000 */
  readonly flushIntervalMs?: number;
  /** Time to finish logging in. @default config.limits.loginGraceMs */
  readonly loginGraceMs?: number;
  /** Connections not yet logged in: N at most (N:100:N), or start:rate:full. @default config.limits.maxStartups */
  readonly maxStartups?: number | MaxStartups;
  /** Uniform in [0, 1): MaxStartups' early drop. @default Math.random */
  readonly random?: () => number;
  /** Refuse new recorded sessions once the spool holds this share of tempSizeLimit. @default 0.9 */
  readonly spoolHighWater?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default crypto.randomUUID */
  readonly newId?: () => string;
}

export interface Bastion {
  readonly port: number;
  /** Connections being served (logged in or not). */
  readonly connections: number;
  /**
   * Stop accepting; give sessions `graceMs` to end on their own; then tell the rest the recorder is
   * shutting down and end them. Resolves when every recording is closed in the spool.
   */
  close(graceMs: number): Promise<void>;
}

/** The listener and the sessions in one process: `srec recorder` with one worker, and the tests' recorder. */
export async function startBastion(opts: BastionOptions): Promise<Bastion> {
  const front = new Front(opts);
  const sessions = createSessions(opts, front.events);
  const port = await front.listen(sessions);
  return {
    port,
    get connections() {
      return sessions.connections;
    },
    async close(graceMs: number): Promise<void> {
      front.stop();
      await sessions.close(graceMs);
    },
  };
}

/** What the sessions side reports to the front of a connection the front admitted (by the front's id). */
export interface AdmittedEvents {
  /** It logged in: its startup slot is free. */
  loggedIn(id: number): void;
  /** Its socket closed, logged in or not. */
  gone(id: number): void;
  /** A connection from `ip` ended without logging in, after at least one failed attempt. */
  failedLogin(ip: string): void;
}

/** Where admitted sockets are served: in this process (createSessions) or in worker processes (workers.ts). */
export interface SessionHost {
  serve(socket: net.Socket, id: number): void;
  /** End a connection that has not logged in (login grace, shutdown). */
  drop(id: number): void;
  readonly connections: number;
  close(graceMs: number): Promise<void>;
}

export type FrontOptions = Pick<BastionOptions, 'config' | 'log' | 'metrics' | 'loginGraceMs' | 'maxStartups' | 'random' | 'now'>;

/**
 * The listener: accepts sockets and bounds what has not logged in yet (startups, penalties, login grace)
 * before any SSH is spoken, then hands each admitted socket to a SessionHost. One per recorder, so the
 * limits hold for the whole recorder however many workers serve its sessions.
 */
export class Front {
  readonly events: AdmittedEvents;
  private readonly gate: StartupGate;
  private readonly penalties: PenaltyBox;
  private readonly preLogin: PreLogin;
  private readonly dropLog: DropLog;
  private server?: net.Server;
  private host?: SessionHost;
  private stopped = false;
  private nextId = 0;

  constructor(private readonly opts: FrontOptions) {
    const limits = opts.config.limits;
    const now = opts.now ?? Date.now;
    const maxStartups = typeof opts.maxStartups === 'number' ? parseMaxStartups(opts.maxStartups)! : (opts.maxStartups ?? limits.maxStartups);
    this.gate = new StartupGate({ ...limits, maxStartups }, opts.random);
    this.penalties = new PenaltyBox(limits.perSourcePenalties, now);
    this.preLogin = new PreLogin(this.gate, opts.metrics);
    this.dropLog = new DropLog(opts.log, now);
    this.events = {
      loggedIn: (id) => this.preLogin.release(id),
      gone: (id) => this.preLogin.release(id),
      failedLogin: (ip) => this.penalise(this.gate.source(ip), 'auth_failure', limits.perSourcePenalties.authFailureSeconds),
    };
  }

  /** Listen on `config.listen`; resolves with the port bound. */
  async listen(host: SessionHost): Promise<number> {
    this.host = host;
    // Paused: the bytes are read by whoever serves the socket (perhaps another process).
    const server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server = server;
    const { host: address, port } = listenAddress(this.opts.config.listen, 'listen');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
    const bound = (server.address() as net.AddressInfo).port;
    this.opts.log.info('listening', { address: `${address}:${bound}` });
    return bound;
  }

  /** Stop accepting and drop every connection not logged in yet. */
  stop(): void {
    this.stopped = true;
    this.server?.close();
    for (const id of this.preLogin.dropAll()) this.host?.drop(id);
  }

  private accept(socket: net.Socket): void {
    const { config, metrics } = this.opts;
    const limits = config.limits;
    socket.on('error', () => undefined);
    const address = socket.remoteAddress ?? 'unknown';
    const peer = formatPeer(socket.remoteAddress, socket.remotePort);
    const drop = (reason: DropReason, source: string) => {
      metrics.connectionsDropped.inc({ reason });
      this.dropLog.dropped(reason, source, peer);
      socket.destroy();
    };
    if (this.stopped || this.host === undefined) return drop('shutting_down', address);
    const source = this.gate.source(address);
    if (this.penalties.refuses(source)) return drop('penalised', source);
    const admitted = this.gate.admit(address);
    if (!admitted.ok) return drop(admitted.reason, source);
    const id = ++this.nextId;
    const host = this.host;
    const timer = setTimeout(() => {
      if (!this.preLogin.release(id)) return;
      this.penalise(source, 'login_grace', limits.perSourcePenalties.loginGraceExceededSeconds);
      metrics.connectionsDropped.inc({ reason: 'login_grace' });
      this.dropLog.dropped('login_grace', source, peer);
      host.drop(id);
    }, this.opts.loginGraceMs ?? limits.loginGraceMs);
    timer.unref();
    this.preLogin.hold(id, { timer, source });
    host.serve(socket, id);
  }

  private penalise(source: string, reason: 'auth_failure' | 'login_grace', seconds: number): void {
    if (seconds <= 0) return;
    this.opts.metrics.sourcePenalties.inc({ reason });
    if (this.penalties.penalise(source, seconds)) this.dropLog.penalised(source, reason);
  }
}

/**
 * The SSH side: ssh2 on the sockets the front admitted, a BastionConnection each. Reports logins, closed
 * sockets and failed logins to `events`.
 */
export function createSessions(opts: BastionOptions, events: AdmittedEvents): SessionHost {
  const { config } = opts;
  const sshServer = new ssh2.Server({ hostKeys: [config.hostKey], ident: 'srec', algorithms: serverAlgorithms() });
  const live = new Set<BastionConnection>();
  // Admitted sockets by id until they close, and the id of each by the `ip:port` ssh2 reports.
  const sockets = new Map<number, net.Socket>();
  const ids = new Map<string, number>();
  let shuttingDown = false;
  const highWater = opts.spoolHighWater ?? 0.9;
  const deps = {
    config,
    keys: new KeyDirectory(config.users),
    hosts: new Map(config.hosts.map((h) => [h.name, h])),
    log: opts.log,
    metrics: opts.metrics,
    audit: opts.audit,
    recorderId: opts.recorderId,
    newId: opts.newId ?? randomUUID,
    now: opts.now ?? Date.now,
    ...(opts.target ? { target: opts.target } : {}),
    ...(opts.flushIntervalMs !== undefined ? { flushIntervalMs: opts.flushIntervalMs } : {}),
    taps: opts.taps,
    spoolFull: async () => config.tempSizeLimit !== undefined && (await spoolUsage(config.tempFolder)) >= config.tempSizeLimit * highWater,
    shuttingDown: () => shuttingDown,
    recordingOpened: opts.recordingOpened ?? (() => undefined),
    recordingClosed: opts.recordingClosed,
    authenticated: (c: BastionConnection) => {
      const id = ids.get(c.remoteAddress);
      if (id !== undefined) events.loggedIn(id);
    },
  };

  sshServer.on('connection', (client: Connection, info: ClientInfo) => {
    const conn = new BastionConnection(client, info, deps);
    live.add(conn);
    void conn.done.then(() => {
      live.delete(conn);
      if (!conn.isAuthenticated && conn.failedAuthentications > 0) events.failedLogin(info.ip);
    });
  });

  return {
    serve(socket: net.Socket, id: number): void {
      socket.on('error', () => undefined);
      const peer = formatPeer(socket.remoteAddress, socket.remotePort);
      sockets.set(id, socket);
      ids.set(peer, id);
      socket.once('close', () => {
        sockets.delete(id);
        if (ids.get(peer) === id) ids.delete(peer);
        events.gone(id);
      });
      sshServer.injectSocket(socket);
      socket.resume();
    },
    drop(id: number): void {
      sockets.get(id)?.destroy();
    },
    get connections() {
      return live.size;
    },
    async close(graceMs: number): Promise<void> {
      shuttingDown = true;
      const allDone = () => Promise.all([...live].map((c) => c.done));
      if (!(await settlesWithin(allDone(), graceMs))) {
        opts.log.info('ending sessions still open at shutdown', { sessions: live.size });
        for (const c of live) c.terminate(refusals.shuttingDown().message);
        await settlesWithin(allDone(), 15000);
      }
    },
  };
}

/** Why a connection was closed before logging in: the srec_connections_dropped_total reasons (max_auth_tries: connection.ts). */
type DropReason = 'per_source' | 'max_startups' | 'penalised' | 'login_grace' | 'shutting_down';

interface Slot {
  readonly timer: NodeJS.Timeout;
  readonly source: string;
}

/** The connections holding a StartupGate slot, by the front's id. */
class PreLogin {
  private readonly slots = new Map<number, Slot>();

  constructor(
    private readonly gate: StartupGate,
    private readonly metrics: RecorderMetrics,
  ) {}

  hold(id: number, slot: Slot): void {
    this.slots.set(id, slot);
    this.metrics.loginsPending.set(this.gate.pending);
  }

  /** Logged in, gone or dropped: the slot is free. false: it was free already. */
  release(id: number): boolean {
    const slot = this.slots.get(id);
    if (!slot) return false;
    clearTimeout(slot.timer);
    this.slots.delete(id);
    this.gate.release(slot.source);
    this.metrics.loginsPending.set(this.gate.pending);
    return true;
  }

  /** Free every slot; the ids that held one. */
  dropAll(): number[] {
    const ids = [...this.slots.keys()];
    for (const id of ids) this.release(id);
    return ids;
  }
}

/**
 * Drops are logged once per reason and source in a minute (a flood would otherwise flood the log); the
 * metric counts every one.
 */
class DropLog {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  dropped(reason: DropReason, source: string, remoteAddress: string): void {
    if (!this.due(`${reason} ${source}`)) return;
    const message = reason === 'login_grace' ? 'connection dropped: not logged in within the grace time' : 'connection dropped before login';
    this.log.warn(message, { reason, source, remoteAddress });
  }

  penalised(source: string, reason: string): void {
    if (this.due(`penalty ${source}`)) this.log.warn('source refused for a while: repeated failed logins', { source, lastPenalty: reason });
  }

  private due(key: string): boolean {
    const t = this.now();
    const last = this.last.get(key);
    if (last !== undefined && t - last < 60000) return false;
    if (this.last.size >= 10000) this.last.clear();
    this.last.set(key, t);
    return true;
  }
}
