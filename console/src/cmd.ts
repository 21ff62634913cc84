// `srec console --data DIR --listen HOST:PORT [--token-file F] [--keys DIR] [--audit HOST:PORT]`: the
// auditor's console over the share, read-only. Runs until signalled.
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { parseCommand, usageError } from '../../common/args.js';
import { listenAddress } from '../../common/host-port.js';
import { createLogger, type Logger } from '../../common/log.js';
import { Registry } from '../../common/metrics.js';
import { createAuditSink, type AuditSink } from '../../recorder/src/audit/emitter.js';
import { keysOption } from '../../recorder/src/cmd/keys-option.js';
import type { TrailKeys } from '../../recorder/src/trail/crypto/keys.js';
import { TokenFileAuth, type Authorizer, type TokenAuthenticator } from './auth.js';
import { OidcLogin, type OidcOptions } from './oidc.js';
import { createConsoleServer, type ConsoleServerOptions } from './server.js';
import { ViewLog } from './views.js';

const USAGE =
  'usage: srec console --data DIR --listen HOST:PORT [--token-file F] [--keys DIR]\n' +
  '                    [--audit HOST:PORT] [--audit-protocol tcp|udp] [--audit-format syslog|cef]\n' +
  '                    [--kubeconfig F | --in-cluster] [--namespace NS] [--recording NAME]\n' +
  '                    [--oidc-issuer URL --oidc-client-id ID --oidc-client-secret-file F --oidc-redirect-url URL\n' +
  '                     [--oidc-username-claim C] [--oidc-groups-claim C] [--oidc-username-prefix P] [--oidc-groups-prefix P]\n' +
  '                     [--oidc-scopes S]]\n' +
  '  --token-file   accepted tokens, one a line, optionally followed by a name (local use)\n' +
  '  --keys         the trail\'s key set (srec keys init): encrypted sessions are read, searched and verified with it\n' +
  '  --audit        where recording_viewed / file_downloaded events go (rsyslog); default: JSON lines on stdout\n' +
  '  --kubeconfig / --in-cluster   check bearer tokens with TokenReview and every request with a SubjectAccessReview\n' +
  '                 (get sessionrecordings/recordings, sessionrecordings/files) in --namespace for --recording\n' +
  '  --oidc-*       single sign-on with an OpenID Connect provider (needs --kubeconfig/--in-cluster: RBAC decides what\n' +
  '                 the person may see); claims default to email and groups, prefixes to oidc:, as the API server names them\n';

export interface StartedConsole {
  readonly server: http.Server;
  /** Every session on the share at start has its search filter (searches before that are just slower). */
  readonly warmed: Promise<void>;
  readonly url: string;
  readonly views: ViewLog;
  close(): Promise<void>;
}

export interface StartConsoleOptions extends Omit<ConsoleServerOptions, 'views' | 'log'> {
  /** `host:port`; port 0 picks a free one. */
  readonly listen: string;
  readonly audit: AuditSink;
  readonly log?: Logger;
}

export async function startConsole(opts: StartConsoleOptions): Promise<StartedConsole> {
  const log = opts.log ?? createLogger({ component: 'console', stderr: true });
  const views = new ViewLog(opts.audit);
  const server = createConsoleServer({ ...opts, views, log });
  const { host, port } = listenAddress(opts.listen, '--listen');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as { port: number };
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    server,
    warmed: server.warmed,
    url: `http://${shown}:${addr.port}`,
    views,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await opts.audit.close();
    },
  };
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(
    'console',
    USAGE,
    args,
    {
      data: { type: 'string' },
      listen: { type: 'string' },
      'token-file': { type: 'string' },
      keys: { type: 'string' },
      audit: { type: 'string' },
      'audit-protocol': { type: 'string' },
      'audit-format': { type: 'string' },
      kubeconfig: { type: 'string' },
      'in-cluster': { type: 'boolean' },
      namespace: { type: 'string' },
      recording: { type: 'string' },
      'oidc-issuer': { type: 'string' },
      'oidc-client-id': { type: 'string' },
      'oidc-client-secret-file': { type: 'string' },
      'oidc-redirect-url': { type: 'string' },
      'oidc-username-claim': { type: 'string' },
      'oidc-groups-claim': { type: 'string' },
      'oidc-username-prefix': { type: 'string' },
      'oidc-groups-prefix': { type: 'string' },
      'oidc-scopes': { type: 'string' },
    },
    false,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const fail = (m: string) => usageError('console', USAGE, m);
  if (v.data === undefined) return fail('--data DIR is required (the share the recorders write to)');
  if (v.listen === undefined) return fail('--listen HOST:PORT is required (e.g. 127.0.0.1:8080)');
  try {
    listenAddress(v.listen, '--listen');
  } catch (err) {
    return fail((err as Error).message);
  }
  const kube = v.kubeconfig !== undefined || v['in-cluster'] === true;
  if (!kube && v['token-file'] === undefined) return fail('give --token-file F (tokens accepted locally), or --kubeconfig F / --in-cluster to check Kubernetes tokens');
  if (v['audit-protocol'] !== undefined && v['audit-protocol'] !== 'tcp' && v['audit-protocol'] !== 'udp') return fail('--audit-protocol is tcp or udp');
  if (v['audit-format'] !== undefined && v['audit-format'] !== 'syslog' && v['audit-format'] !== 'cef') return fail('--audit-format is syslog or cef');
  const oidcFlags = Object.keys(v).filter((k) => k.startsWith('oidc-'));
  if (oidcFlags.length > 0) {
    if (!kube) return fail(`--${oidcFlags[0]}: single sign-on needs --kubeconfig F or --in-cluster, so that RBAC decides what each person may see`);
    for (const k of ['oidc-issuer', 'oidc-client-id', 'oidc-client-secret-file', 'oidc-redirect-url'] as const) if (v[k] === undefined) return fail(`--${k} is required with --${oidcFlags[0]}`);
  }
  const log = createLogger({ component: 'console', stderr: true });
  let oidc: OidcLogin | undefined;
  let tokens: TokenAuthenticator;
  let authorizer: Authorizer;
  let keys: TrailKeys | undefined;
  try {
    keys = keysOption(v.keys);
    if (oidcFlags.length > 0) oidc = new OidcLogin(oidcOptions(v), log);
    if (kube) {
      if (v.namespace === undefined || v.recording === undefined) return fail('--namespace NS and --recording NAME are required with --kubeconfig/--in-cluster (the SessionRecording whose recordings these are)');
      const { KubeAuth } = await import('./kube-auth.js');
      const k = await KubeAuth.create({ kubeconfig: v.kubeconfig, namespace: v.namespace, recording: v.recording, fallback: v['token-file'] !== undefined ? TokenFileAuth.fromFile(v['token-file']) : undefined });
      tokens = k;
      authorizer = k;
    } else {
      const t = TokenFileAuth.fromFile(v['token-file']!);
      tokens = t;
      authorizer = t;
    }
  } catch (err) {
    process.stderr.write(`srec console: ${(err as Error).message}\n`);
    return 2;
  }
  const audit = createAuditSink(
    v.audit !== undefined ? { syslog: { address: v.audit, protocol: (v['audit-protocol'] as 'tcp' | 'udp' | undefined) ?? 'tcp', format: (v['audit-format'] as 'syslog' | 'cef' | undefined) ?? 'syslog' } } : {},
    new Registry(),
    log,
  );
  const c = await startConsole({ dataFolder: v.data, listen: v.listen, tokens, authorizer, audit, log, ...(keys !== undefined ? { keys } : {}), ...(oidc !== undefined ? { oidc } : {}) });
  log.info('console listening', { url: c.url, data: v.data });
  process.stderr.write(`srec console: listening on ${c.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await c.close();
  return 0;
}

/** The --oidc-* flags as OidcOptions; the client secret read from its file (never from the command line). */
function oidcOptions(v: Record<string, string | boolean | undefined>): OidcOptions {
  const file = v['oidc-client-secret-file'] as string;
  let secret: string;
  try {
    secret = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(`--oidc-client-secret-file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const opt = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  return {
    issuer: v['oidc-issuer'] as string,
    clientId: v['oidc-client-id'] as string,
    clientSecret: secret,
    redirectUrl: v['oidc-redirect-url'] as string,
    ...(opt('oidc-username-claim') !== undefined ? { usernameClaim: opt('oidc-username-claim') } : {}),
    ...(opt('oidc-groups-claim') !== undefined ? { groupsClaim: opt('oidc-groups-claim') } : {}),
    ...(opt('oidc-username-prefix') !== undefined ? { usernamePrefix: opt('oidc-username-prefix') } : {}),
    ...(opt('oidc-groups-prefix') !== undefined ? { groupsPrefix: opt('oidc-groups-prefix') } : {}),
    ...(opt('oidc-scopes') !== undefined ? { scopes: opt('oidc-scopes') } : {}),
  };
}
