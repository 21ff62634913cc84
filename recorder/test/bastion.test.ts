// The bastion with real OpenSSH on both sides: `ssh` -> recorder -> `sshd`.
import { jest } from '@jest/globals';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readChannelLog } from '../src/trail/reader.js';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { makeKey, startEchoServer, startLab, freePort, waitFor, type EchoServer, type Lab } from './support/index.js';
import { loadCast } from './support/trail-read.js';

jest.setTimeout(30000);

let lab: Lab;
let echo: EchoServer;
let mallory: string;
let bob: string;

beforeAll(async () => {
  echo = await startEchoServer();
  const keys = await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-keys-'));
  const bobKey = await makeKey(keys, 'bob');
  bob = bobKey.privatePath;
  lab = await startLab({
    users: [{ name: 'bob', authorizedKeys: [bobKey.publicLine], hosts: ['db-plain'] }],
    hosts: (host) => [
      // pinned to some other key: the real sshd will not match
      host('db-bad', { hostKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'] }),
      host('db-down', { port: 1 }),
      host('db-plain', { recording: false }),
      // db-1 keeps the default policy (no forwarding); this one allows ssh -L/-D/-W/-J
      host('db-fwd', { forwarding: { local: true } }),
    ],
  });
  mallory = (await makeKey(lab.dir, 'mallory')).privatePath;
});

afterAll(async () => {
  await lab?.stop();
  await echo?.close();
});

/** The one session on the share whose manifest matches. */
async function sessionWhere(pred: (s: StoredSession) => boolean): Promise<StoredSession> {
  return waitFor(async () => scanSessions(lab.recorder.dataFolder).sessions.find(pred), 'the recording on the share');
}

/** Every session id in the spool or on the share, once: an earlier session being moved is in both for a moment. */
async function sessionDirs(): Promise<string[]> {
  const spool = await fsp.readdir(path.join(lab.recorder.tempFolder, 'spool')).catch(() => []);
  const { sessions } = scanSessions(lab.recorder.dataFolder);
  return [...new Set([...sessions.map((s) => s.id), ...spool])].sort();
}

describe('exec', () => {
  it('prints the output, passes the exit code, and records the output with its timing on the share', async () => {
    // WHEN alice runs a command on db-1 through the recorder
    const r = await lab.ssh('echo marker-123; exit 3');
    // THEN she sees its output and its exit status
    expect(r.stdout).toBe('marker-123\n');
    expect(r.code).toBe(3);
    // AND the recording on the share has the output, timed, and the exit status
    const s = await sessionWhere((x) => x.manifest.channels.some((c) => c.command === 'echo marker-123; exit 3'));
    expect(s.manifest).toMatchObject({ user: 'alice', targetUser: 'root', host: { name: 'db-1' }, complete: true, recovered: false });
    expect(s.manifest.channels[0]).toMatchObject({ type: 'session', kind: 'exec', exitStatus: 3, cast: 'ch-0.cast.gz', closed: true });
    const cast = await loadCast(path.join(s.dir, 'ch-0.cast.gz'));
    const out = cast.events.filter((e) => e[1] === 'o');
    expect(out.map((e) => e[2]).join('')).toBe('marker-123\n');
    expect(out[0]![0]).toBeGreaterThanOrEqual(0);
    expect(out[0]![0]).toBeLessThan(5);
    // AND nothing from inside the session reached the logs
    expect(lab.recorder.logs()).not.toContain('marker-123');
  });

  it('relays stdin to the command and stderr back, recording input, and marking stderr in the channel log', async () => {
    // WHEN a command reads stdin and writes to stderr
    const r = await lab.ssh('cat; echo to-stderr-456 >&2', { input: 'hello-stdin-789\n' });
    // THEN both come back on the right streams
    expect(r).toMatchObject({ code: 0, stdout: 'hello-stdin-789\n', stderr: 'to-stderr-456\n' });
    // AND the recording has the input as "i", output and stderr as "o"
    const s = await sessionWhere((x) => x.manifest.channels.some((c) => c.command?.startsWith('cat;') === true));
    const cast = await loadCast(path.join(s.dir, 'ch-0.cast.gz'));
    expect(cast.events.filter((e) => e[1] === 'i').map((e) => e[2]).join('')).toBe('hello-stdin-789\n');
    expect(cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toBe('hello-stdin-789\nto-stderr-456\n');
    const log = (await readChannelLog(s.dir)).entries;
    expect(log).toEqual(expect.arrayContaining([expect.objectContaining({ ch: 0, type: 'stderr', bytes: 14 }), expect.objectContaining({ ch: 0, type: 'eof', from: 'client' })]));
    expect(s.manifest.channels[0]).toMatchObject({ bytesIn: 16, bytesOut: 30, exitStatus: 0 });
    expect(lab.recorder.logs()).not.toContain('hello-stdin');
  });

  it('passes environment variables the client sends (SendEnv) and a death by signal', async () => {
    // WHEN the client sends a variable the target accepts, and the command kills itself
    const r = await lab.ssh('echo $SREC_TEST_VAR; kill -TERM $$', { extra: ['-o', 'SendEnv=SREC_TEST_VAR'], env: { SREC_TEST_VAR: 'env-value-1' } });
    // THEN the command saw it, and the person's ssh reports the signal death (OpenSSH exits 255)
    expect(r.stdout).toBe('env-value-1\n');
    expect(r.code).toBe(255);
    // AND the recording has the env request and the exit signal
    const s = await sessionWhere((x) => x.manifest.channels.some((c) => c.command?.startsWith('echo $SREC_TEST_VAR') === true));
    expect(s.manifest.channels[0]).toMatchObject({ exitSignal: 'SIGTERM' });
    expect((await readChannelLog(s.dir)).entries).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'request', request: 'env', name: 'SREC_TEST_VAR', value: 'env-value-1', accepted: true })]),
    );
  });

  it("records the target's answer to each variable: one its sshd refuses (AcceptEnv) is logged as refused", async () => {
    // WHEN the client sends a variable the target accepts and one it does not
    const r = await lab.ssh('echo "${SREC_OK:-unset} ${NOT_ACCEPTED_VAR:-unset}"', { extra: ['-o', 'SendEnv=SREC_OK NOT_ACCEPTED_VAR'], env: { SREC_OK: 'yes', NOT_ACCEPTED_VAR: 'no' } });
    // THEN the command saw the one the target took, as direct
    expect(r).toMatchObject({ code: 0, stdout: 'yes unset\n' });
    // AND the channel log says which the target took and which it refused (the channel_request event carries the same)
    const s = await sessionWhere((x) => x.manifest.channels.some((c) => c.command?.includes('NOT_ACCEPTED_VAR') === true));
    const env = (await readChannelLog(s.dir)).entries.filter((e) => (e as { request?: string }).request === 'env');
    expect(env).toEqual([
      expect.objectContaining({ name: 'SREC_OK', accepted: true }),
      expect.objectContaining({ name: 'NOT_ACCEPTED_VAR', accepted: false, reason: 'the target refused it' }),
    ]);
  });

  it('passes a large output through intact under flow control', async () => {
    // WHEN the target prints 8 MiB
    const r = await lab.ssh('head -c 8388608 /dev/zero | tr "\\0" "x"', { timeoutMs: 30000 });
    // THEN every byte arrives
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(8388608);
  });

  it('relays a host with recording off without writing a recording', async () => {
    const before = await sessionDirs();
    const r = await lab.ssh('echo plain-ok', { host: 'db-plain' });
    expect(r).toMatchObject({ code: 0, stdout: 'plain-ok\n' });
    expect(await sessionDirs()).toEqual(before);
  });
});

describe('interactive shell', () => {
  it('records what was typed and what the shell printed, with the terminal size', async () => {
    // WHEN alice drives a shell through a pty (ssh -tt) and exits with a status
    const r = await lab.ssh(undefined, { extra: ['-tt'], input: 'echo shell-$((6*7))\nexit 5\n' });
    // THEN she saw the shell's output and the exit status came back
    expect(r.stdout).toContain('shell-42');
    expect(r.code).toBe(5);
    // AND the recording has her input and the output, with a header from the pty request
    const s = await sessionWhere((x) => x.manifest.channels.some((c) => c.kind === 'shell' && c.exitStatus === 5));
    const cast = await loadCast(path.join(s.dir, `ch-${s.manifest.channels[0]!.id}.cast.gz`));
    expect(cast.header.width).toBeGreaterThan(0);
    expect(cast.header.height).toBeGreaterThan(0);
    expect(cast.events.filter((e) => e[1] === 'i').map((e) => e[2]).join('')).toContain('echo shell-$((6*7))');
    expect(cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toContain('shell-42');
    const log = (await readChannelLog(s.dir)).entries;
    expect(log).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'request', request: 'pty-req', accepted: true }), expect.objectContaining({ type: 'request', request: 'shell', accepted: true })]));
  });
});

describe('port forward', () => {
  it('relays a direct-tcpip channel (ssh -W) to a TCP service next to the target, on a host whose policy allows it', async () => {
    // GIVEN db-fwd allows local forwarding WHEN alice tunnels to the echo server via it
    const r = await lab.ssh(undefined, { host: 'db-fwd', extra: ['-W', `127.0.0.1:${echo.port}`], input: 'ping-through-tunnel\n' });
    // THEN the bytes come back through the tunnel
    expect(r).toMatchObject({ code: 0, stdout: 'ping-through-tunnel\n' });
    // AND the channel log has the forward with its destination and byte counts
    const s = await sessionWhere((x) => x.manifest.channels.some((c) => c.type === 'direct-tcpip' && c.destination === `127.0.0.1:${echo.port}`));
    expect(s.manifest.channels.find((c) => c.type === 'direct-tcpip')).toMatchObject({ bytesIn: 20, bytesOut: 20, closed: true });
  });

  it('tells the person when the target cannot reach the forward destination', async () => {
    const closed = await freePort();
    // (OpenSSH prints a channel's open-failure reason at its default LogLevel, INFO)
    const r = await lab.ssh(undefined, { host: 'db-fwd', extra: ['-o', 'LogLevel=INFO', '-W', `127.0.0.1:${closed}`] });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`srec: the target could not connect to 127.0.0.1:${closed}`);
  });

  it('refuses ssh -W on a host with the default policy, saying which setting refused it', async () => {
    // GIVEN db-1 has no forwarding block WHEN alice asks for a -W tunnel THEN ssh prints the policy's reason
    const r = await lab.ssh(undefined, { extra: ['-o', 'LogLevel=INFO', '-W', `127.0.0.1:${echo.port}`], input: 'should-not-pass\n' });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('open failed: administratively prohibited: srec: local forwarding (ssh -L/-D/-W/-J) to db-1 is off (spec.recorder.hosts[db-1].forwarding.local)');
  });
});

describe('refusals', () => {
  it('refuses an unknown key: no session, logged without content, counted', async () => {
    const before = await sessionDirs();
    const r = await lab.ssh('echo should-not-run', { identity: mallory });
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('Permission denied (publickey)');
    expect(await sessionDirs()).toEqual(before);
    expect(await lab.recorder.metric('srec_auth_failures_total{reason="unknown_key"}')).toBeGreaterThanOrEqual(1);
    expect(lab.recorder.logs()).toContain('"reason":"unknown_key"');
    expect(lab.recorder.logs()).not.toContain('should-not-run');
  });

  it('refuses an unknown host with a one-line reason', async () => {
    const r = await lab.ssh('true', { host: 'db-9' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('srec: "db-9" is not a host you can connect to through this recorder\r\n');
    expect(await lab.recorder.metric('srec_connections_refused_total{reason="unknown_host"}')).toBeGreaterThanOrEqual(1);
  });

  it('says the same for a host that does not exist and one the person may not use, without any address; the detail is for operators', async () => {
    // GIVEN bob, who may use db-plain only
    // WHEN he asks for a host that does not exist, and for db-1, which exists
    const unknown = await lab.ssh('true', { identity: bob, host: 'unknown-host' });
    const notAllowed = await lab.ssh('true', { identity: bob, host: 'db-1' });
    // THEN both get one line that differs only by the name he typed, and neither names an address or port
    const shape = (stderr: string, name: string) => stderr.replace(`"${name}"`, '"<host>"');
    expect(shape(unknown.stderr, 'unknown-host')).toBe('srec: "<host>" is not a host you can connect to through this recorder\r\n');
    expect(shape(notAllowed.stderr, 'db-1')).toBe(shape(unknown.stderr, 'unknown-host'));
    expect([unknown.code, notAllowed.code]).toEqual([1, 1]);
    for (const r of [unknown, notAllowed]) {
      expect(r.stderr).not.toContain('127.0.0.1');
      expect(r.stderr).not.toContain(String(lab.sshd.port));
    }
    // ... and the log tells the operator which it was
    const logged = lab.recorder
      .logs()
      .split('\n')
      .filter((l) => l.includes('"connection refused"') && l.includes('"user":"bob"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reason: 'unknown_host', detail: 'no host named "unknown-host" is configured' }),
        expect.objectContaining({ reason: 'no_access', host: 'db-1', detail: 'bob has no access to db-1' }),
      ]),
    );
  });

  it('refuses a target whose host key does not match the pinned keys: no session directory, logged, counted', async () => {
    const before = await sessionDirs();
    const r = await lab.ssh('echo should-not-run', { host: 'db-bad' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('srec: the host key of db-bad does not match its pinned host keys; connection refused\r\n');
    expect(await sessionDirs()).toEqual(before);
    expect(await lab.recorder.metric('srec_connections_refused_total{reason="host_key_mismatch"}')).toBeGreaterThanOrEqual(1);
    const line = lab.recorder.logs().split('\n').find((l) => l.includes('"host_key_mismatch"'));
    expect(JSON.parse(line!)).toMatchObject({
      message: 'connection refused',
      reason: 'host_key_mismatch',
      user: 'alice',
      host: 'db-bad',
      detail: `db-bad (127.0.0.1:${lab.sshd.port}) presented a host key that is not pinned`,
    });
  });

  it('tells the person at once when the target is down', async () => {
    const r = await lab.ssh('true', { host: 'db-down' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('srec: cannot reach db-down: connection refused\r\n');
    expect(r.ms).toBeLessThan(5000);
  });

  it('refuses a person who has no access to the host', async () => {
    const r = await lab.ssh('true', { identity: bob });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('srec: "db-1" is not a host you can connect to through this recorder\r\n');
    expect((await lab.ssh('echo bob-ok', { identity: bob, host: 'db-plain' })).stdout).toBe('bob-ok\n');
  });

  it('gives the reason on a port forward too (ssh -W to a target that is down)', async () => {
    const r = await lab.ssh(undefined, { host: 'db-down', extra: ['-o', 'LogLevel=INFO', '-W', '127.0.0.1:22'] });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('srec: cannot reach db-down: connection refused');
    expect(r.stderr).not.toContain('127.0.0.1:1');
  });

  it('refuses a target user the host has no credentials for', async () => {
    const r = await lab.ssh('true', { targetUser: 'postgres' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('srec: db-1 is reached as "root" only, not "postgres"\r\n');
  });
});

describe('metrics', () => {
  it('counts bytes relayed and has no session open once all have ended', async () => {
    await waitFor(async () => (await lab.recorder.metric('srec_sessions_open')) === 0, 'sessions to close');
    expect(await lab.recorder.metric('srec_bytes_relayed_total{direction="out"}')).toBeGreaterThan(8388608);
    expect(await lab.recorder.metric('srec_bytes_relayed_total{direction="in"}')).toBeGreaterThan(0);
    expect((await lab.recorder.readyz()).status).toBe(200);
  });
});

describe('audit events', () => {
  let audited: Lab;
  beforeAll(async () => {
    audited = await startLab({
      recorder: { extra: { audit: { enabled: true, events: ['stdin', 'stdout', 'stderr', 'channel_request'], syslog: { address: '127.0.0.1:5514' } } } },
    });
  });
  afterAll(() => audited?.stop());

  it('emits session start and end, channel requests and the session bytes; a refusal without content', async () => {
    // WHEN a command runs with input, and someone asks for an unknown host
    await audited.ssh('cat; echo err-1 >&2', { input: 'typed-2\n' });
    await audited.ssh('true', { host: 'db-9' });
    // THEN the bastion emitted these events, with the session's identity
    const events = audited.recorder.audit;
    const names = events.map((e) => e.event);
    expect(names).toEqual(expect.arrayContaining(['session_start', 'channel_request', 'stdin', 'stdout', 'stderr', 'session_end', 'connection_refused']));
    const start = events.find((e) => e.event === 'session_start')!;
    expect(start).toMatchObject({ exposure: 'SSH-PRIVX-AUDIT', username: 'alice', targetUsername: 'root', hostId: 'db-1', recording: true, recorder: 'test-recorder' });
    expect(start.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(start.hostAddress).toBe(`127.0.0.1:${audited.sshd.port}`);
    const data = (kind: string) => Buffer.concat(events.filter((e) => e.event === kind).map((e) => e.data!)).toString();
    expect(data('stdin')).toBe('typed-2\n');
    expect(data('stdout')).toBe('typed-2\n');
    expect(data('stderr')).toBe('err-1\n');
    expect(events.filter((e) => e.event === 'stdin').every((e) => e.exposure === 'SSH-PRIVX-SENSITIVE-AUDIT')).toBe(true);
    expect(events.find((e) => e.event === 'channel_request' && e.request?.name === 'exec')?.request).toMatchObject({ command: 'cat; echo err-1 >&2', accepted: true });
    expect(events.find((e) => e.event === 'session_end')).toMatchObject({ bytesIn: 8, bytesOut: 14 });
    const refused = events.find((e) => e.event === 'connection_refused')!;
    expect(refused).toMatchObject({ exposure: 'SSH-PRIVX-AUDIT', reason: 'unknown_host', username: 'alice', detail: 'no host named "db-9" is configured' });
    expect(refused.data).toBeUndefined();
  });
});
