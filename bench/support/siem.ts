// A TCP listener playing the SIEM, in a worker thread so that counting tens of thousands of messages a
// second does not slow the sessions this process drives. It counts syslog messages (RFC 6587 octet
// counting or one per line) that carry the sensitive marker, and can stop listening (the SIEM is down).
import net from 'node:net';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';

export const MARKER = 'SSH-PRIVX-SENSITIVE-AUDIT';

export interface SiemCounts {
  readonly messages: number;
  readonly sensitive: number;
  /** ms since the epoch of the last message, 0 before the first. */
  readonly lastAt: number;
}

export interface Siem {
  readonly port: number;
  counts(): Promise<SiemCounts>;
  /** Stop listening and drop every connection. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

type Req = { id: number; op: 'start' | 'counts' | 'down' | 'up' };

export async function startSiem(): Promise<Siem> {
  const w = new Worker(new URL(import.meta.url));
  let next = 0;
  const pending = new Map<number, (v: unknown) => void>();
  w.on('message', (m: { id: number; value: unknown }) => {
    pending.get(m.id)?.(m.value);
    pending.delete(m.id);
  });
  const call = <T>(op: Req['op']) =>
    new Promise<T>((resolve) => {
      const id = next++;
      pending.set(id, resolve as (v: unknown) => void);
      w.postMessage({ id, op } satisfies Req);
    });
  const port = await call<number>('start');
  return {
    port,
    counts: () => call<SiemCounts>('counts'),
    down: () => call<void>('down'),
    up: () => call<void>('up'),
    close: async () => {
      await call<void>('down');
      await w.terminate();
    },
  };
}

function workerMain(): void {
  const port0 = parentPort!;
  const marker = Buffer.from(MARKER);
  const counts = { messages: 0, sensitive: 0, lastAt: 0 };
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const onMessage = (m: Buffer) => {
    counts.messages++;
    if (m.includes(marker)) counts.sensitive++;
    counts.lastAt = Date.now();
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer((sock) => {
        sockets.add(sock);
        let buf: Buffer = Buffer.alloc(0);
        sock.on('data', (chunk: Buffer) => {
          buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
          let off = 0;
          for (;;) {
            // octet counting: "LEN SP MSG"; otherwise newline framing
            let i = off;
            while (i < buf.length && i - off < 7 && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
            if (i > off && i < buf.length && buf[i] === 0x20) {
              const len = Number(buf.subarray(off, i).toString('latin1'));
              if (buf.length < i + 1 + len) break;
              onMessage(buf.subarray(i + 1, i + 1 + len));
              off = i + 1 + len;
              continue;
            }
            if (i === buf.length && i > off) break; // digits so far: wait for more
            const nl = buf.indexOf(0x0a, off);
            if (nl < 0) break;
            if (nl > off) onMessage(buf.subarray(off, nl));
            off = nl + 1;
          }
          buf = off === 0 ? buf : buf.subarray(off);
        });
        sock.on('error', () => undefined);
        sock.on('close', () => sockets.delete(sock));
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as net.AddressInfo).port;
        server = s;
        resolve();
      });
    });
  const down = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  port0.on('message', (r: Req) => {
    const reply = (value: unknown) => port0.postMessage({ id: r.id, value });
    if (r.op === 'start' || r.op === 'up') void listen().then(() => reply(port));
    else if (r.op === 'counts') reply({ ...counts });
    else if (r.op === 'down') void down().then(() => reply(undefined));
  });
}

if (!isMainThread && parentPort) workerMain();
