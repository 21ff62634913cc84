// The SSH listener. Sockets are accepted here and injected into ssh2, so that a client that never finishes
// logging in (garbage, a stalled handshake) is cut off after a grace period and cannot pile up.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import ssh2 from 'ssh2';
import type { ClientInfo, Connection } from 'ssh2';
import { splitHostPort } from '../../../common/http.js';
import type { Logger } from '../../../common/log.js';
import type { Audit } from '../audit/connection.js';
import type { ChannelTapFactory } from '../channel-tap.js';
import type { ResolvedRecorderConfig } from '../config.js';
import { spoolUsage } from '../trail/spool.js';
import { KeyDirectory } from './auth.js';
import { BastionConnection } from './connection.js';
import type { RecorderMetrics } from './metrics.js';
import { refusals } from './refusal.js';
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
  /** Time to finish logging in. @default 30000 */
  readonly loginGraceMs?: number;
  /** Connections not yet logged in, at most. @default 64 */
  readonly maxStartups?: number;
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
  const sshServer = new ssh2.Server({ hostKeys: [config.hostKey], ident: 'srec' });
  const live = new Set<BastionConnection>();
  const preAuth = new Map<string, { socket: net.Socket; timer: NodeJS.Timeout }>();
  let shuttingDown = false;
  const highWater = opts.spoolHighWater ?? 0.9;

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
    now: opts.now ?? Date.now,
    ...(opts.target ? { target: opts.target } : {}),
    ...(opts.flushIntervalMs !== undefined ? { flushIntervalMs: opts.flushIntervalMs } : {}),
    taps: opts.taps,
    spoolFull: async () => config.tempSizeLimit !== undefined && (await spoolUsage(config.tempFolder)) >= config.tempSizeLimit * highWater,
    shuttingDown: () => shuttingDown,
    recordingClosed: opts.recordingClosed,
    authenticated: (c: BastionConnection) => {
      const p = preAuth.get(c.remoteAddress);
      if (p) {
        clearTimeout(p.timer);
        preAuth.delete(c.remoteAddress);
      }
    },
  };

  sshServer.on('connection', (client: Connection, info: ClientInfo) => {
    const conn = new BastionConnection(client, info, deps);
    live.add(conn);
    void conn.done.then(() => live.delete(conn));
  });

  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    if (shuttingDown || preAuth.size >= (opts.maxStartups ?? 64)) {
      opts.metrics.connectionsRefused.inc({ reason: shuttingDown ? 'shutting_down' : 'too_many_logins' });
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => {
      preAuth.delete(key);
      log.warn('connection dropped: not logged in within the grace time', { remoteAddress: key });
      socket.destroy();
    }, opts.loginGraceMs ?? 30000);
    timer.unref();
    preAuth.set(key, { socket, timer });
    socket.once('close', () => {
      const p = preAuth.get(key);
      if (p?.socket === socket) {
        clearTimeout(p.timer);
        preAuth.delete(key);
      }
    });
    sshServer.injectSocket(socket);
  });
  const { host, port } = splitHostPort(config.listen, 'listen');
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
      for (const { socket, timer } of preAuth.values()) {
        clearTimeout(timer);
        socket.destroy();
      }
      preAuth.clear();
      const allDone = () => Promise.all([...live].map((c) => c.done));
      if (!(await settlesWithin(allDone(), graceMs))) {
        log.info('ending sessions still open at shutdown', { sessions: live.size });
        for (const c of live) c.terminate(refusals.shuttingDown().message);
        await settlesWithin(allDone(), 15000);
      }
    },
  };
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const r = await Promise.race([p.then(() => true), new Promise<boolean>((res) => (t = setTimeout(() => res(false), ms)))]);
  if (t) clearTimeout(t);
  return r;
}
