// The probe and metrics endpoint of every srec process: /healthz, /readyz, /metrics.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenAddress } from './host-port.js';
import { errorMessage } from './log.js';
import { render, type Registry } from './metrics.js';

export interface ProbeServerOptions {
  /** `host:port`; port 0 picks a free one. */
  readonly listen: string;
  readonly registry: Registry;
  /** What /metrics shows, if not `registry` as it is (e.g. summed with other processes'). */
  readonly collect?: () => Promise<Registry>;
  /** Liveness: the process can make progress. @default always ok */
  readonly healthy?: () => { ok: boolean; reason?: string };
  /** Readiness: the process can do its job now (e.g. the share is writable). @default always ok */
  readonly ready?: () => { ok: boolean; reason?: string };
}

export interface ProbeServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startProbeServer(opts: ProbeServerOptions): Promise<ProbeServer> {
  const { host, port } = listenAddress(opts.listen, 'probes.listen');
  const ok = () => ({ ok: true });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (check: () => { ok: boolean; reason?: string }) => {
      const r = check();
      res.writeHead(r.ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(r.ok ? 'ok\n' : `not ok: ${r.reason ?? 'unknown'}\n`);
    };
    if (path === '/healthz') return answer(opts.healthy ?? ok);
    if (path === '/readyz') return answer(opts.ready ?? ok);
    if (path === '/metrics') {
      (opts.collect ? opts.collect() : Promise.resolve(opts.registry)).then(render).then(
        (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${errorMessage(err)}\n`),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
