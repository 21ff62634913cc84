// ssh -R through the recorder with real OpenSSH on both sides, on a host whose policy allows remote forwarding:
// the target listens, a connection to it reaches the person's side, its bytes are kept per channel and audited.
import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readChannelLog } from '../src/trail/reader.js';
import { scanSessions } from '../src/trail/sessions.js';
import { collect, freePort, spawnSsh, startEchoServer, startLab, waitFor, type EchoServer, type Lab } from './support/index.js';

jest.setTimeout(60000);

let lab: Lab;
let echo: EchoServer;

beforeAll(async () => {
  echo = await startEchoServer();
  lab = await startLab({ hosts: (host) => [host('db-rev', { forwarding: { remote: true } })] });
});

afterAll(async () => {
  await lab?.stop();
  await echo?.close();
});

/** Connect, send, half-close, collect until the far end closes. */
async function exchange(port: number, data: Buffer): Promise<Buffer> {
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const got: Buffer[] = [];
  s.on('data', (c: Buffer) => got.push(c));
  s.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    s.once('connect', () => s.end(data));
    s.once('close', () => resolve());
  });
  return Buffer.concat(got);
}

describe('ssh -R where forwarding.remote is true', () => {
  it('relays a connection to the port the target listens on back to the person, kept byte for byte and audited', async () => {
    // GIVEN alice forwarding a port on the target (through the recorder) to an echo server on her side
    const port = await freePort();
    const ssh = spawnSsh(lab.args({ host: 'db-rev', extra: ['-v', '-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${port}:127.0.0.1:${echo.port}`] }));
    let err = '';
    ssh.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const done = collect(ssh, Date.now(), 40000);
    await waitFor(() => err.includes('remote forward success'), 'the remote forward to be set up', 20000);
    // WHEN someone on the target's side connects to that port and sends bytes
    const sent = randomBytes(64 * 1024);
    const received = await exchange(port, sent);
    // THEN they come back through alice's side (the echo server)
    expect(received.equals(sent)).toBe(true);
    ssh.kill('SIGTERM');
    await done;
    // AND the recording has the forwarded-tcpip channel with both streams, byte for byte
    const s = await waitFor(() => scanSessions(lab.recorder.dataFolder).sessions.find((x) => x.manifest.host.name === 'db-rev' && x.manifest.channels.some((c) => c.type === 'forwarded-tcpip')), 'the recording');
    const ch = s.manifest.channels.find((c) => c.type === 'forwarded-tcpip')!;
    expect(ch).toMatchObject({ destination: `127.0.0.1:${port}`, bytesIn: received.length, bytesOut: sent.length, closed: true });
    // (in: from the person's side, the echo; out: to the person, what was sent on the target)
    expect(gunzipSync(await fsp.readFile(path.join(s.dir, ch.streams!.out))).equals(sent)).toBe(true);
    expect(gunzipSync(await fsp.readFile(path.join(s.dir, ch.streams!.in))).equals(received)).toBe(true);
    // AND the -R given at connect (sent before the session opened) is in the channel log, accepted
    expect((await readChannelLog(s.dir)).entries).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'global_request', request: 'tcpip-forward', accepted: true, bindAddr: '127.0.0.1', bindPort: port })]),
    );
    // AND the audit has the forward's open and close, as remote forwarding
    const events = lab.recorder.audit.filter((e) => e.sessionId === s.id && e.channel === ch.id);
    expect(events.map((e) => e.event)).toEqual(['forward_open', 'forward_close']);
    expect(events[0]).toMatchObject({ kind: 'remote', type: 'forwarded-tcpip', destination: `127.0.0.1:${port}` });
    expect(events[1]).toMatchObject({ bytesIn: received.length, bytesOut: sent.length });
  });

  it('tells the person when the target cannot listen there', async () => {
    // GIVEN a port already taken on the target's side
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      // WHEN alice asks for it with ExitOnForwardFailure
      const r = await lab.ssh(undefined, { host: 'db-rev', extra: ['-o', 'ExitOnForwardFailure=yes', '-N', '-R', `127.0.0.1:${port}:127.0.0.1:${echo.port}`] });
      // THEN ssh fails the forward, and the refusal is audited as the target's
      expect(r.code).toBe(255);
      expect(r.stderr).toContain('remote port forwarding failed');
      await waitFor(() => lab.recorder.audit.find((e) => e.event === 'forward_refused' && e.hostId === 'db-rev' && e.reason === 'target_refused'), 'the refusal event');
    } finally {
      busy.close();
    }
  });
});
