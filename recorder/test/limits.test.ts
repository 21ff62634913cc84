// The recorder's limits against real OpenSSH clients on loopback, where the whole of 127/8 is ours: one
// source address floods or keeps failing, and a person from another address still logs in.
import { jest } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import { collect, makeKey, spawnSsh, startLab, waitFor, type Lab } from './support/index.js';

jest.setTimeout(60000);

/** A TCP connection to the recorder from `from` that sends nothing; `closed` says when the recorder closed it. */
interface IdleSocket {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

async function idleSocket(lab: Lab, from: string): Promise<IdleSocket> {
  const socket = net.connect({ host: '127.0.0.1', port: lab.recorder.port, localAddress: from });
  socket.on('error', () => undefined);
  socket.resume(); // read the recorder's banner, so its close is seen
  let closed = false;
  const whenClosed = new Promise<void>((r) => socket.once('close', () => ((closed = true), r())));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', () => reject(new Error(`the connection from ${from} closed before it was established`)));
  });
  return { socket, closed: whenClosed, isClosed: () => closed };
}

/** `n` idle sockets from `from`, opened one after the other (so the recorder decides them in order). */
async function idleSockets(lab: Lab, from: string, n: number): Promise<IdleSocket[]> {
  const out: IdleSocket[] = [];
  for (let i = 0; i < n; i++) out.push(await idleSocket(lab, from));
  return out;
}

const stillOpen = (sockets: readonly IdleSocket[]) => sockets.filter((s) => !s.isClosed()).length;

describe('connections that do not log in', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ recorder: { extra: { limits: { perSourceMaxStartups: 5 } }, bastion: { loginGraceMs: 4000 } } });
  });
  afterAll(() => lab?.stop());

  it('one address holds at most perSourceMaxStartups; a person from another address logs in meanwhile; the idle ones go at the login grace', async () => {
    // GIVEN 127.0.0.2 holding 5 idle connections (its limit), then trying 5 more
    const held = await idleSockets(lab, '127.0.0.2', 5);
    const beyond = await idleSockets(lab, '127.0.0.2', 5);
    // THEN the 5 beyond the limit are closed at once, the first 5 are kept (waiting to log in)
    await Promise.all(beyond.map((s) => s.closed));
    expect(stillOpen(held)).toBe(5);
    expect(await lab.recorder.metric('srec_connections_dropped_total{reason="per_source"}')).toBe(5);
    expect(await lab.recorder.metric('srec_logins_pending')).toBe(5);

    // WHEN alice connects from 127.0.0.1 while they are held
    const r = await lab.ssh('echo alice-got-in', { extra: ['-b', '127.0.0.1'] });
    // THEN she logs in and her command runs
    expect(r.stdout).toBe('alice-got-in\n');
    expect(r.code).toBe(0);
    expect(stillOpen(held)).toBe(5);

    // WHEN the login grace time passes THEN the idle ones are closed, counted, and their source penalised
    await Promise.all(held.map((s) => s.closed));
    expect(await lab.recorder.metric('srec_connections_dropped_total{reason="login_grace"}')).toBe(5);
    expect(await lab.recorder.metric('srec_source_penalties_total{reason="login_grace"}')).toBe(5);
    expect(await lab.recorder.metric('srec_logins_pending')).toBe(0);
    expect(lab.recorder.logs()).toContain('not logged in within the grace time');
    // ... so that address is refused at once for a while (5 x 10 s of penalty), and alice is not
    const again = await idleSocket(lab, '127.0.0.2');
    await again.closed;
    expect(await lab.recorder.metric('srec_connections_dropped_total{reason="penalised"}')).toBe(1);
    expect((await lab.ssh('echo still-in', { extra: ['-b', '127.0.0.1'] })).stdout).toBe('still-in\n');
  });
});

describe('MaxStartups random early drop', () => {
  let lab: Lab;
  beforeAll(async () => {
    // 3:50:6 with a "random" of 0.6: at 3 pending the odds are 50% (0.6 passes), at 4 they are 66% (0.6 drops).
    lab = await startLab({ recorder: { extra: { limits: { maxStartups: '3:50:6', perSourceMaxStartups: 100 } }, bastion: { random: () => 0.6 } } });
  });
  afterAll(() => lab?.stop());

  it('drops new connections by the start:rate:full odds once `start` are waiting, and takes them again once those have gone', async () => {
    // GIVEN 10 idle connections from 127.0.0.3, one after the other
    const flood = await idleSockets(lab, '127.0.0.3', 10);
    // THEN 4 are held and 6 dropped, as earlyDrop() decides for these odds
    await waitFor(() => stillOpen(flood) === 4, '6 of them to be closed');
    expect(flood.slice(0, 4).every((s) => !s.isClosed())).toBe(true);
    expect(await lab.recorder.metric('srec_connections_dropped_total{reason="max_startups"}')).toBe(6);
    expect(await lab.recorder.metric('srec_logins_pending')).toBe(4);
    // ... and while they are held, a login from anywhere is dropped too (it is one limit for all)
    const dropped = await lab.ssh('echo dropped', { extra: ['-b', '127.0.0.1'] });
    expect(dropped.code).toBe(255);
    expect(dropped.stdout).toBe('');
    expect(await lab.recorder.metric('srec_connections_dropped_total{reason="max_startups"}')).toBe(7);

    // WHEN the flood goes away THEN logins are taken again
    for (const s of flood) s.socket.destroy();
    await waitFor(async () => (await lab.recorder.metric('srec_logins_pending')) === 0, 'the slots to be free');
    expect((await lab.ssh('echo back', { extra: ['-b', '127.0.0.1'] })).stdout).toBe('back\n');
  });
});

describe('failed authentication', () => {
  let lab: Lab;
  let wrongKeys: string[];
  beforeAll(async () => {
    // Penalties larger than the defaults' (5 s a failure, refused at 15 s) so that the seconds the logins take do not matter.
    lab = await startLab({ recorder: { extra: { limits: { maxAuthTries: 3, perSourcePenalties: { authFailureSeconds: 30, minSeconds: 60 } } } } });
    wrongKeys = await Promise.all([1, 2, 3, 4, 5].map(async (i) => (await makeKey(lab.dir, `mallory-${i}`)).privatePath));
  });
  afterAll(() => lab?.stop());

  it('a connection gets maxAuthTries attempts, then is closed and counted', async () => {
    // GIVEN a client offering five keys the recorder does not know, from 127.0.0.5
    const before = await lab.recorder.metric('srec_auth_failures_total{reason="unknown_key"}');
    const keys = wrongKeys.flatMap((k) => ['-i', k]);
    // WHEN it tries them all on one connection
    const r = await lab.ssh('true', { identity: wrongKeys[0]!, extra: ['-b', '127.0.0.5', ...keys] });
    // THEN it was cut off after the third
    expect(r.code).toBe(255);
    expect(await lab.recorder.metric('srec_auth_failures_total{reason="unknown_key"}')).toBe(before + 3);
    expect(await lab.recorder.metric('srec_connections_dropped_total{reason="max_auth_tries"}')).toBe(1);
    expect(lab.recorder.logs()).toContain('too many authentication failures');
  });

  it('repeated wrong-key logins from one address get it refused for a while, counted; another address logs in', async () => {
    // GIVEN 127.0.0.4 failing to log in with an unknown key, three times (30 s of penalty each; refused at 60 s)
    const mallory = (i: number) => lab.ssh('echo should-not-run', { identity: wrongKeys[i]!, extra: ['-b', '127.0.0.4'] });
    for (let i = 0; i < 3; i++) {
      const r = await mallory(i);
      expect(r.stderr).toContain('Permission denied (publickey)');
    }
    await waitFor(async () => (await lab.recorder.metric('srec_source_penalties_total{reason="auth_failure"}')) >= 3, 'the third penalty');
    // WHEN it tries again, even with alice's key
    const refused = await lab.ssh('echo should-not-run', { extra: ['-b', '127.0.0.4'] });
    // THEN the connection is closed before any authentication, and counted
    expect(refused.code).toBe(255);
    expect(refused.stderr).not.toContain('Permission denied');
    expect(refused.stdout).toBe('');
    expect(await lab.recorder.metric('srec_connections_dropped_total{reason="penalised"}')).toBe(1);
    expect(lab.recorder.logs()).toContain('source refused for a while: repeated failed logins');
    // ... while alice from 127.0.0.1 logs in as ever
    expect((await lab.ssh('echo alice-ok', { extra: ['-b', '127.0.0.1'] })).stdout).toBe('alice-ok\n');
  });
});

describe('channels per connection', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ recorder: { extra: { limits: { maxSessionsPerConnection: 2, maxChannelsPerConnection: 3 } } } });
  });
  afterAll(() => lab?.stop());

  it('OpenSSH multiplexing (ControlMaster) gets maxSessionsPerConnection sessions; the next is refused with the reason, and ssh opens a connection of its own', async () => {
    // GIVEN a master connection and two multiplexed sessions running on it
    const control = path.join(lab.dir, 'mux.sock');
    const master = spawnSsh(lab.args({ extra: ['-o', 'LogLevel=INFO', '-M', '-S', control, '-N'] }));
    let masterErr = '';
    master.stderr.on('data', (c: Buffer) => (masterErr += c.toString()));
    const masterDone = collect(master, Date.now(), 60000);
    await waitFor(() => existsSync(control), 'the control socket');
    const mux = (command: string) => spawnSsh(lab.args({ extra: ['-S', control] }).concat(command));
    // `cat` ends with its session (the mux client's stdin is its own).
    const running = [mux('echo running; cat'), mux('echo running; cat')];
    const outputs = running.map((p) => {
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      return () => out;
    });
    await waitFor(() => outputs.every((o) => o() === 'running\n'), 'two sessions to run');

    // WHEN a third session is asked for on the same connection
    const third = await collect(mux('echo third'), Date.now(), 20000);
    // THEN the master's connection refuses it with the recorder's reason, counted ...
    expect(third.stderr).toContain('mux_client_request_session: session request failed: Session open refused by peer');
    await waitFor(() => masterErr.includes('open failed'), "the master's message");
    expect(masterErr).toMatch(/channel \d+: open failed: administratively prohibited: srec: this connection already has 2 sessions open, the recorder's limit; close one, or connect again for another/);
    expect(await lab.recorder.metric('srec_channels_refused_total{reason="max_sessions"}')).toBe(1);
    // ... and ssh, as it does when a master refuses, ran the command over a connection of its own
    expect(third.stdout).toBe('third\n');
    const started = lab.recorder
      .logs()
      .split('\n')
      .filter((l) => l.includes('"session started"'))
      .map((l) => (JSON.parse(l) as { connectionId: string }).connectionId);
    expect(new Set(started).size).toBe(2);

    // WHEN one of the two ends THEN a new session is taken again
    const firstDone = collect(running[0]!, Date.now(), 20000);
    running[0]!.stdin.end();
    expect((await firstDone).code).toBe(0);
    const fourth = await collect(mux('echo fourth'), Date.now(), 20000);
    expect(fourth.stdout).toBe('fourth\n');
    expect(fourth.stderr).not.toContain('refused');
    expect(await lab.recorder.metric('srec_channels_refused_total{reason="max_sessions"}')).toBe(1);
    running[1]!.stdin.end();
    master.kill('SIGTERM');
    await masterDone;
  });
});

describe('channels of any type per connection', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ recorder: { extra: { limits: { maxSessionsPerConnection: 10, maxChannelsPerConnection: 3 } } } });
  });
  afterAll(() => lab?.stop());

  it('an ssh2 client gets maxChannelsPerConnection channels, the next is refused with the reason, and one closing makes room', async () => {
    // GIVEN alice's connection with ssh2's client, three channels open on it
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject);
      client.connect({ host: '127.0.0.1', port: lab.recorder.port, username: 'root@db-1', privateKey: readFileSync(lab.alice.privatePath) });
    });
    const exec = (command: string) => new Promise<ClientChannel>((resolve, reject) => client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch))));
    try {
      // `cat` ends when its channel gets EOF (read, so that its end and close are seen).
      const open = [await exec('cat'), await exec('cat'), await exec('cat')];
      for (const ch of open) ch.resume();
      // WHEN a fourth is opened THEN it is refused with the reason, and counted
      await expect(exec('cat')).rejects.toThrow("(SSH) Channel open failure: srec: this connection already has 3 channels open, the recorder's limit; close some first");
      expect(await lab.recorder.metric('srec_channels_refused_total{reason="max_channels"}')).toBe(1);
      expect(await lab.recorder.metric('srec_channels_refused_total{reason="max_sessions"}')).toBe(0);
      // WHEN one closes THEN a new one is taken
      const closed = new Promise((r) => open[0]!.once('close', r));
      open[0]!.end();
      await closed;
      const output = await exec('echo room-again').then(
        (ch) =>
          new Promise<string>((resolve) => {
            let out = '';
            ch.on('data', (c: Buffer) => (out += c.toString()));
            ch.once('close', () => resolve(out));
          }),
      );
      expect(output).toBe('room-again\n');
      for (const ch of open.slice(1)) ch.end();
    } finally {
      client.end();
    }
  });
});
