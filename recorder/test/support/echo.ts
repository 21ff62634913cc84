// A TCP echo server, the far end of port-forward tests; it passes half-close on. `greeting`, when given, is
// written first to every connection (as a server that speaks first, e.g. sshd's banner, would).
import net from 'node:net';

export interface EchoServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startEchoServer(greeting?: string | Buffer): Promise<EchoServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    if (greeting !== undefined) s.write(greeting);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
