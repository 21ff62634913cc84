// The SSH listener. Sockets are accepted here and injected into ssh2, so that what has not logged in yet is
// bounded before ssh2 spends anything on it: per source and in all (startups.ts), sources that keep failing
// are refused for a while (penalties.ts), and a client that never finishes logging in is cut off after the
// login grace time.
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

export async function startBastion(opts: BastionOptions): Promise<Bastion> {
  const { config, log } = opts;
  const sshServer = new ssh2.Server({ hostKeys: [config.hostKey], ident: 'srec', algorithms: serverAlgorithms() });
  const live = new Set<BastionConnection>();
  let shuttingDown = false;
  const highWater = opts.spoolHighWater ?? 0.9;
  const now = opts.now ?? Date.now;
  const limits = config.limits;
  const loginGraceMs = opts.loginGraceMs ?? limits.loginGraceMs;
  const maxStartups = typeof opts.maxStartups === 'number' ? parseMaxStartups(opts.maxStartups)! : (opts.maxStartups ?? limits.maxStartups);
  const gate = new StartupGate({ ...limits, maxStartups }, opts.random);
  const penalties = new PenaltyBox(limits.perSourcePenalties, now);
  const preLogin = new PreLogin(gate, opts.metrics);
  const dropLog = new DropLog(log, now);
  const penalise = (source: string, reason: 'auth_failure' | 'login_grace', seconds: number) => {
    if (seconds <= 0) return;
    opts.metrics.sourcePenalties.inc({ reason });
    if (penalties.penalise(source, seconds)) dropLog.penalised(source, reason);
  };

  const hosts = new Map(config.hosts.map((h) => [h.name, h]));
  const deps = {
    config,
    keys: new KeyDirectory(config.users),
    hosts,
    log,
    metrics: opts.metrics,
    audit: opts.audit,
    recorderId: opts.recorderId,
    newId: opts.newId ?? randomUUID,
    now,
    ...(opts.target ? { target: opts.target } : {}),
    ...(opts.flushIntervalMs !== undefined ? { flushIntervalMs: opts.flushIntervalMs } : {}),
    taps: opts.taps,
    spoolFull: async () => config.tempSizeLimit !== undefined && (await spoolUsage(config.tempFolder)) >= config.tempSizeLimit * highWater,
    shuttingDown: () => shuttingDown,
    recordingClosed: opts.recordingClosed,
    authenticated: (c: BastionConnection) => preLogin.release(c.remoteAddress),
  };

  sshServer.on('connection', (client: Connection, info: ClientInfo) => {
    const conn = new BastionConnection(client, info, deps);
    // The source as it was admitted (the slot may be gone by the time the connection ends).
    const source = preLogin.sourceOf(conn.remoteAddress) ?? gate.source(info.ip);
    live.add(conn);
    void conn.done.then(() => {
      live.delete(conn);
      if (!conn.isAuthenticated && conn.failedAuthentications > 0) penalise(source, 'auth_failure', limits.perSourcePenalties.authFailureSeconds);
    });
  });

  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    const address = socket.remoteAddress ?? 'unknown';
    const key = formatPeer(socket.remoteAddress, socket.remotePort);
    const drop = (reason: DropReason, source: string) => {
      opts.metrics.connectionsDropped.inc({ reason });
      dropLog.dropped(reason, source, key);
      socket.destroy();
    };
    if (shuttingDown) return drop('shutting_down', address);
    const source = gate.source(address);
    if (penalties.refuses(source)) return drop('penalised', source);
    const admitted = gate.admit(address);
    if (!admitted.ok) return drop(admitted.reason, source);
    const timer = setTimeout(() => {
      preLogin.release(key);
      penalise(source, 'login_grace', limits.perSourcePenalties.loginGraceExceededSeconds);
      drop('login_grace', source);
    }, loginGraceMs);
    timer.unref();
    preLogin.hold(key, { socket, timer, source });
    socket.once('close', () => preLogin.release(key, socket));
    sshServer.injectSocket(socket);
  });
  const { host, port } = listenAddress(config.listen, 'listen');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as net.AddressInfo).port;
  log.info('listening', { address: `${host}:${bound}` });

  return {
    port: bound,
    get connections() {
      return live.size;
    },
    async close(graceMs: number): Promise<void> {
      shuttingDown = true;
      server.close();
      preLogin.dropAll();
      const allDone = () => Promise.all([...live].map((c) => c.done));
      if (!(await settlesWithin(allDone(), graceMs))) {
        log.info('ending sessions still open at shutdown', { sessions: live.size });
        for (const c of live) c.terminate(refusals.shuttingDown().message);
        await settlesWithin(allDone(), 15000);
      }
    },
  };
}

/** Why a connection was closed before logging in: the srec_connections_dropped_total reasons (max_auth_tries: connection.ts). */
type DropReason = 'per_source' | 'max_startups' | 'penalised' | 'login_grace' | 'shutting_down';

interface Slot {
  readonly socket: net.Socket;
  readonly timer: NodeJS.Timeout;
  readonly source: string;
}

/** The connections holding a StartupGate slot, by `ip:port` (what ssh2 reports of the same socket). */
class PreLogin {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly gate: StartupGate,
    private readonly metrics: RecorderMetrics,
  ) {}

  hold(key: string, slot: Slot): void {
    this.slots.set(key, slot);
    this.metrics.loginsPending.set(this.gate.pending);
  }

  sourceOf(key: string): string | undefined {
    return this.slots.get(key)?.source;
  }

  /** Logged in or gone: the slot is free. With `socket`, only if the slot is still that socket's. */
  release(key: string, socket?: net.Socket): void {
    const slot = this.slots.get(key);
    if (!slot || (socket && slot.socket !== socket)) return;
    clearTimeout(slot.timer);
    this.slots.delete(key);
    this.gate.release(slot.source);
    this.metrics.loginsPending.set(this.gate.pending);
  }

  dropAll(): void {
    for (const [key, slot] of [...this.slots]) {
      this.release(key);
      slot.socket.destroy();
    }
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
