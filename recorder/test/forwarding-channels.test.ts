// Agent (ssh -A), X11 (ssh -X under Xvfb) and Unix-socket forwarding (ssh -L/-R with a socket path) through
// the recorder with real OpenSSH on both sides, on hosts whose policy allows each kind: it works as it does
// direct, every channel is in the recording (open, close, peer, bytes, the bytes themselves per direction) and
// audited; where a host leaves a kind off, the refusal names the setting. The recorder never uses the agent.
import { jest } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readChannelLog } from '../src/trail/reader.js';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { collect, makeKey, spawnSsh, startLab, waitFor, type KeyPair, type Lab, type SshResult } from './support/index.js';
import { srec } from './support/run-cli.js';

jest.setTimeout(90000);

const XVFB = '/usr/bin/Xvfb';
const XDPYINFO = '/usr/bin/xdpyinfo';

let lab: Lab;
/** An agent key: authorized on the target's sshd, never on the recorder, never a file ssh finds by itself. */
let agentKey: KeyPair;
let keys: string;
let agentSock: string;
let agent: ChildProcess;

beforeAll(async () => {
  // The key the recorder has for db-stranger: not authorized on the target.
  keys = await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-fwd-keys-'));
  const stranger = await makeKey(keys, 'stranger-credentials');
  agentKey = await makeKey(keys, 'person');
  // sshd's xauth keeps the forwarded display's cookie here rather than in root's home (an empty file, so that
  // xauth does not say it made one)
  const targetXauthority = path.join(keys, 'target-Xauthority');
  await fsp.writeFile(targetXauthority, '', { mode: 0o600 });
  lab = await startLab({
    // sshd as a host's administrator would set it up for X11 (Debian's default sshd_config has X11Forwarding yes)
    sshdConfig: [`SetEnv XAUTHORITY=${targetXauthority}`, 'X11Forwarding yes', 'X11UseLocalhost yes', 'XAuthLocation /usr/bin/xauth', 'AllowAgentForwarding yes', 'AllowStreamLocalForwarding yes', 'StreamLocalBindUnlink yes'],
    hosts: (host) => [
      host('db-agent', { forwarding: { agent: true } }),
      host('db-x11', { forwarding: { x11: true } }),
      host('db-unix', { forwarding: { unixSockets: true } }),
      host('db-stranger', { forwarding: { agent: true }, credentials: { username: 'root', privateKeyFile: stranger.privatePath } }),
    ],
  });
  await lab.sshd.authorize(agentKey.publicLine);
  agentSock = path.join(lab.dir, 'agent.sock');
  agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
  await waitFor(() => existsSync(agentSock), 'ssh-agent to listen');
  const added = spawnSync('ssh-add', [agentKey.privatePath], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, encoding: 'utf8' });
  if (added.status !== 0) throw new Error(`ssh-add failed: ${added.stderr}`);
});

afterAll(async () => {
  agent?.kill('SIGTERM');
  await lab?.stop();
  await fsp.rm(keys, { recursive: true, force: true });
});

async function sessionWhere(pred: (s: StoredSession) => boolean): Promise<StoredSession> {
  return waitFor(async () => scanSessions(lab.recorder.dataFolder).sessions.find(pred), 'the recording on the share');
}

/** The recording's channel of `type`, with its two raw streams decompressed; checks they hold what the counts say. */
async function forwardedChannel(s: StoredSession, type: string): Promise<{ id: number; destination?: string; origin?: string; bytesIn: number; bytesOut: number; rawIn: Buffer; rawOut: Buffer }> {
  const ch = s.manifest.channels.find((c) => c.type === type);
  if (!ch) throw new Error(`no ${type} channel in ${s.id}: ${JSON.stringify(s.manifest.channels)}`);
  const rawIn = gunzipSync(await fsp.readFile(path.join(s.dir, ch.streams!.in)));
  const rawOut = gunzipSync(await fsp.readFile(path.join(s.dir, ch.streams!.out)));
  expect([rawIn.length, rawOut.length]).toEqual([ch.bytesIn, ch.bytesOut]);
  expect(ch.closed).toBe(true);
  return { id: ch.id, ...(ch.destination !== undefined ? { destination: ch.destination } : {}), ...(ch.origin !== undefined ? { origin: ch.origin } : {}), bytesIn: ch.bytesIn ?? 0, bytesOut: ch.bytesOut ?? 0, rawIn, rawOut };
}

/** The channel's forward_open and forward_close, in that order, without content. */
function forwardEvents(s: StoredSession, channel: number): Array<Record<string, unknown>> {
  const events = lab.recorder.audit.filter((e) => e.sessionId === s.id && e.channel === channel);
  expect(events.map((e) => e.event)).toEqual(['forward_open', 'forward_close']);
  expect(events.every((e) => e.data === undefined && e.exposure === 'SSH-PRIVX-AUDIT')).toBe(true);
  return events as unknown as Array<Record<string, unknown>>;
}

/** A Unix-socket server that greets, then echoes. */
async function socketEcho(file: string, greeting: string): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.write(greeting);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(file, () => r()));
  return server;
}

/** Connect (TCP port or socket path), send, half-close, collect until the far end closes. */
async function exchange(to: number | string, data: Buffer): Promise<Buffer> {
  const s = typeof to === 'number' ? net.connect({ port: to, host: '127.0.0.1', allowHalfOpen: true }) : net.connect({ path: to, allowHalfOpen: true });
  const got: Buffer[] = [];
  s.on('data', (c: Buffer) => got.push(c));
  s.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    s.once('connect', () => s.end(data));
    s.once('close', () => resolve());
  });
  return Buffer.concat(got);
}

/** ssh -N with a forward, until ssh's own log says it is set up. */
async function forwarding(host: string, forward: string[], ready: string): Promise<{ stop: () => Promise<SshResult> }> {
  const ssh = spawnSsh(lab.args({ host, extra: ['-v', '-N', '-o', 'ExitOnForwardFailure=yes', ...forward] }));
  let err = '';
  ssh.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const done = collect(ssh, Date.now(), 60000);
  await waitFor(() => err.includes(ready), `ssh ${forward.join(' ')} to be set up`, 20000);
  return {
    stop: async () => {
      ssh.kill('SIGTERM');
      return done;
    },
  };
}

describe('agent forwarding (ssh -A) where forwarding.agent is true', () => {
  it("lets the target's programs use the person's agent: ssh-add lists the key and a nested login signs with it", async () => {
    // WHEN alice, with her agent, runs ssh-add -L and a nested login on db-agent through the recorder
    const nested = `ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentityFile=/dev/null -p ${lab.sshd.port} root@127.0.0.1 echo nested-by-agent`;
    const r = await lab.ssh(`ssh-add -L; ${nested}`, { host: 'db-agent', extra: ['-A'], env: { SSH_AUTH_SOCK: agentSock } });
    // THEN the target saw her key through the forwarded agent, and the nested login (signed by it) ran
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(agentKey.publicLine.split(' ').slice(0, 2).join(' '));
    expect(r.stdout).toContain('nested-by-agent\n');
    // AND the recording has the agent request and each agent channel, with both directions kept
    const s = await sessionWhere((x) => x.manifest.host.name === 'db-agent' && x.manifest.channels.some((c) => c.type === 'auth-agent@openssh.com'));
    const ch = await forwardedChannel(s, 'auth-agent@openssh.com');
    // (agent protocol: a 4-byte length, then the message type; 11 is REQUEST_IDENTITIES, the first ssh-add -L sends)
    expect(ch.rawOut.readUInt32BE(0)).toBe(1);
    expect(ch.rawOut[4]).toBe(11);
    expect(ch.bytesIn).toBeGreaterThan(0);
    const log = (await readChannelLog(s.dir)).entries;
    expect(log).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'request', request: 'auth-agent-req@openssh.com', accepted: true })]));
    // AND it is audited as agent forwarding, its bytes counted
    const [open, close] = forwardEvents(s, ch.id);
    expect(open).toMatchObject({ kind: 'agent', type: 'auth-agent@openssh.com' });
    expect(close).toMatchObject({ bytesIn: ch.bytesIn, bytesOut: ch.bytesOut });
    expect((await srec('verify', '--data', lab.recorder.dataFolder, s.id)).code).toBe(0);
  });

  it('never logs in to the target with the agent: a host whose credentials the target refuses stays refused', async () => {
    // GIVEN db-stranger: the recorder's key for it is not authorized on the target, while alice's agent holds one that is
    // WHEN she logs in there with her agent forwarded
    const r = await lab.ssh('echo must-not-run', { host: 'db-stranger', extra: ['-A'], env: { SSH_AUTH_SOCK: agentSock } });
    // THEN the recorder's own login fails and she is told so: it did not try her agent
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(lab.recorder.audit.find((e) => e.event === 'connection_refused' && e.hostId === 'db-stranger')).toMatchObject({ reason: 'target_auth_failed' });
  });

  it('refuses -A on a host that leaves it off, naming the setting; the command still runs', async () => {
    const r = await lab.ssh('echo ${SSH_AUTH_SOCK:-no-agent}', { host: 'db-x11', extra: ['-A'], env: { SSH_AUTH_SOCK: agentSock } });
    expect(r).toMatchObject({ code: 0, stdout: 'no-agent\n' });
    expect(lab.recorder.audit.find((e) => e.event === 'forward_refused' && e.kind === 'agent' && e.hostId === 'db-x11')).toMatchObject({
      reason: 'forwarding_off',
      message: 'srec: agent forwarding (ssh -A) on db-x11 is off (spec.recorder.hosts[db-x11].forwarding.agent)',
    });
  });
});

describe('X11 forwarding (ssh -X) where forwarding.x11 is true', () => {
  let xvfb: ChildProcess;
  const display = `:${90 + (process.pid % 9)}`;
  let xauthority: string;

  beforeAll(async () => {
    // A real X server with MIT-MAGIC-COOKIE access control, as on an administrator's desktop
    xauthority = path.join(lab.dir, 'Xauthority');
    const cookie = randomBytes(16).toString('hex');
    const added = spawnSync('xauth', ['-f', xauthority, 'add', display, 'MIT-MAGIC-COOKIE-1', cookie], { encoding: 'utf8' });
    if (added.status !== 0) throw new Error(`xauth add failed: ${added.stderr}`);
    xvfb = spawn(XVFB, [display, '-auth', xauthority, '-nolisten', 'tcp', '-screen', '0', '640x480x24'], { stdio: 'ignore' });
    await waitFor(() => existsSync(`/tmp/.X11-unix/X${display.slice(1)}`), 'Xvfb to listen', 20000);
  });
  afterAll(() => {
    xvfb?.kill('SIGTERM');
  });

  it("shows the target's X client on the person's display, and keeps the X11 channel's bytes", async () => {
    // WHEN alice runs xdpyinfo on db-x11 through the recorder with ssh -X
    const r = await lab.ssh(`${XDPYINFO} -display "$DISPLAY" | grep -E '^(name of display|vendor string|  dimensions)'`, {
      host: 'db-x11',
      extra: ['-X'],
      env: { DISPLAY: display, XAUTHORITY: xauthority },
    });
    // THEN it reached her X server (Xvfb's screen size) through the forwarded display sshd made
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/name of display:\s+localhost:\d+\.0/);
    expect(r.stdout).toMatch(/vendor string:\s+The X\.Org Foundation/);
    expect(r.stdout).toMatch(/dimensions:\s+640x480 pixels/);
    // AND the recording has the x11 request (without its cookie) and the x11 channel with both directions kept
    const s = await sessionWhere((x) => x.manifest.host.name === 'db-x11' && x.manifest.channels.some((c) => c.type === 'x11'));
    const ch = await forwardedChannel(s, 'x11');
    // (an X11 connection starts with its byte order, 'l' or 'B', from the client on the target)
    expect(['l', 'B']).toContain(String.fromCharCode(ch.rawOut[0]!));
    expect(ch.origin).toMatch(/^127\.0\.0\.1:\d+$/);
    const x11req = (await readChannelLog(s.dir)).entries.find((e) => (e as { request?: string }).request === 'x11-req') as Record<string, unknown>;
    expect(x11req).toMatchObject({ accepted: true, protocol: 'MIT-MAGIC-COOKIE-1' });
    expect(JSON.stringify(x11req)).not.toContain('cookie');
    const [open] = forwardEvents(s, ch.id);
    expect(open).toMatchObject({ kind: 'x11', type: 'x11', origin: ch.origin });
  });

  it('refuses -X on a host that leaves it off, naming the setting; the command still runs', async () => {
    const r = await lab.ssh('echo ${DISPLAY:-no-display}', { host: 'db-agent', extra: ['-X'], env: { DISPLAY: display, XAUTHORITY: xauthority } });
    expect(r.stdout).toBe('no-display\n');
    expect(r.code).toBe(0);
    expect(lab.recorder.audit.find((e) => e.event === 'forward_refused' && e.kind === 'x11' && e.hostId === 'db-agent')).toMatchObject({
      reason: 'forwarding_off',
      message: 'srec: X11 forwarding (ssh -X/-Y) on db-agent is off (spec.recorder.hosts[db-agent].forwarding.x11)',
    });
  });
});

describe('Unix-socket forwarding where forwarding.unixSockets is true', () => {
  it('relays ssh -L port:/socket to a socket on the target, kept byte for byte', async () => {
    // GIVEN a service on a Unix socket next to the target
    const file = path.join(lab.dir, 'service.sock');
    const server = await socketEcho(file, 'hello-from-socket\n');
    try {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const fwd = await forwarding('db-unix', ['-L', `127.0.0.1:${port}:${file}`], `Local connections to 127.0.0.1:${port} forwarded`);
      // WHEN alice sends bytes through the forwarded port
      const sent = randomBytes(100 * 1024);
      const received = await exchange(port, sent);
      await fwd.stop();
      // THEN the greeting and her bytes came back
      expect(received.equals(Buffer.concat([Buffer.from('hello-from-socket\n'), sent]))).toBe(true);
      // AND the recording has the direct-streamlocal channel to that socket, both directions kept
      const s = await sessionWhere((x) => x.manifest.channels.some((c) => c.type === 'direct-streamlocal@openssh.com' && c.destination === file));
      const ch = await forwardedChannel(s, 'direct-streamlocal@openssh.com');
      expect(ch.rawIn.equals(sent)).toBe(true);
      expect(ch.rawOut.equals(received)).toBe(true);
      expect(forwardEvents(s, ch.id)[0]).toMatchObject({ kind: 'unixSockets', type: 'direct-streamlocal@openssh.com', destination: file });
    } finally {
      server.close();
    }
  });

  it('relays ssh -R /socket:host:port: the target listens on the socket, connections reach the person', async () => {
    // GIVEN alice forwards a socket on the target to a service on her side
    const theirs = path.join(lab.dir, `remote-${process.pid}.sock`);
    const mine = path.join(lab.dir, 'mine.sock');
    const server = await socketEcho(mine, 'hello-from-alice\n');
    try {
      const fwd = await forwarding('db-unix', ['-R', `${theirs}:${mine}`], 'remote forward success');
      // WHEN something on the target's side connects to that socket
      const sent = randomBytes(64 * 1024);
      const received = await exchange(theirs, sent);
      const r = await fwd.stop();
      // THEN it reached alice's service
      expect(received.equals(Buffer.concat([Buffer.from('hello-from-alice\n'), sent]))).toBe(true);
      // AND the global request and the forwarded-streamlocal channel are recorded, bytes per direction
      const s = await sessionWhere((x) => x.manifest.channels.some((c) => c.type === 'forwarded-streamlocal@openssh.com' && c.destination === theirs));
      const ch = await forwardedChannel(s, 'forwarded-streamlocal@openssh.com');
      expect(ch.rawOut.equals(sent)).toBe(true);
      expect(ch.rawIn.equals(received)).toBe(true);
      expect((await readChannelLog(s.dir)).entries).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'global_request', request: 'streamlocal-forward@openssh.com', accepted: true, socketPath: theirs })]));
      expect(forwardEvents(s, ch.id)[0]).toMatchObject({ kind: 'unixSockets', type: 'forwarded-streamlocal@openssh.com', destination: theirs });
      expect(r.stderr).not.toContain('administratively prohibited');
    } finally {
      server.close();
    }
  });

  it('refuses a socket forward on a host that leaves it off, with the setting in the open failure', async () => {
    const file = path.join(lab.dir, 'off.sock');
    const server = await socketEcho(file, 'must-not-pass\n');
    try {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const fwd = await forwarding('db-agent', ['-L', `127.0.0.1:${port}:${file}`], `Local connections to 127.0.0.1:${port} forwarded`);
      expect((await exchange(port, Buffer.from('x'))).length).toBe(0);
      await waitFor(() => lab.recorder.audit.some((e) => e.event === 'forward_refused' && e.kind === 'unixSockets' && e.hostId === 'db-agent'), 'forward_refused');
      const r = await fwd.stop();
      expect(r.stderr).toContain('administratively prohibited: srec: Unix socket forwarding (streamlocal) on db-agent is off (spec.recorder.hosts[db-agent].forwarding.unixSockets)');
    } finally {
      server.close();
    }
  });
});
