// The per-host forwarding policy with real OpenSSH on both sides (CONTRACT §6): every kind off by default,
// refused with the setting's name; local forwarding, where a host allows it, relayed and kept byte for byte.
import { jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readChannelLog } from '../src/trail/reader.js';
import { scanSessions, type StoredSession } from '../src/trail/sessions.js';
import { collect, freePort, runSsh, spawnSsh, startEchoServer, startLab, waitFor, type EchoServer, type Lab, type SshResult } from './support/index.js';
import { srec } from './support/run-cli.js';

jest.setTimeout(60000);

let lab: Lab;
let echo: EchoServer;
/** Says `hello-from-server\n` on connect, then echoes: the two directions differ. */
let greeter: { port: number; close: () => Promise<void> };
/** An ssh_config for -J: ssh passes -F on to the jump ssh it starts, so both read the same options. */
let jumpConfig: string;

const LOCAL_OFF = 'srec: local forwarding (ssh -L/-D/-W/-J) to db-1 is off (spec.recorder.hosts[db-1].forwarding.local)';
const GREETING = 'hello-from-server\n';

beforeAll(async () => {
  echo = await startEchoServer();
  greeter = await startEchoServer(GREETING);
  lab = await startLab({ hosts: (host) => [host('db-fwd', { forwarding: { local: true } })] });
  // The nested session of -J logs in to the lab's sshd directly, as alice.
  await lab.sshd.authorize(lab.alice.publicLine);
  jumpConfig = path.join(lab.dir, 'jump_config');
  await fsp.writeFile(
    jumpConfig,
    [
      ...['db-1', 'db-fwd'].flatMap((h) => [`Host jump-${h}`, '  HostName 127.0.0.1', `  Port ${lab.recorder.port}`, `  User root@${h}`]),
      'Host *',
      `  IdentityFile ${lab.alice.privatePath}`,
      '  IdentitiesOnly yes',
      '  UserKnownHostsFile /dev/null',
      '  StrictHostKeyChecking no',
      '  BatchMode yes',
      '  LogLevel INFO',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await lab?.stop();
  await echo?.close();
  await greeter?.close();
});

async function sessionWhere(pred: (s: StoredSession) => boolean): Promise<StoredSession> {
  return waitFor(async () => scanSessions(lab.recorder.dataFolder).sessions.find(pred), 'the recording on the share');
}

/** `ssh -N -L <port>:<dest>` through the recorder, waiting until it listens (its own log line, so no probe connection opens a channel). */
async function startLocalForward(host: string, dest: string): Promise<{ port: number; ssh: ChildProcess; done: Promise<SshResult> }> {
  const port = await freePort();
  const ssh = spawnSsh(lab.args({ host, extra: ['-v', '-N', '-L', `127.0.0.1:${port}:${dest}`] }));
  let err = '';
  ssh.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const done = collect(ssh, Date.now(), 30000);
  await waitFor(() => err.includes(`Local connections to 127.0.0.1:${port} forwarded`), 'ssh -L to listen');
  return { port, ssh, done };
}

/** Connect to `port`, send `data`, half-close, and collect what comes back until the far end closes (or resets: `error`). */
async function exchange(port: number, data: Buffer): Promise<{ received: Buffer; error?: string }> {
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const got: Buffer[] = [];
  let error: string | undefined;
  s.on('data', (c: Buffer) => got.push(c));
  s.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  await new Promise<void>((resolve) => {
    s.once('connect', () => s.end(data));
    s.once('close', () => resolve());
  });
  return { received: Buffer.concat(got), ...(error !== undefined ? { error } : {}) };
}

async function stop(fwd: { ssh: ChildProcess; done: Promise<SshResult> }): Promise<SshResult> {
  fwd.ssh.kill('SIGTERM');
  return fwd.done;
}

describe('the default policy: no forwarding', () => {
  it('refuses ssh -W with the setting that refused it, in the audit and in the channel log', async () => {
    // GIVEN db-1 has no forwarding block WHEN alice opens a -W tunnel to it
    const r = await lab.ssh(undefined, { extra: ['-o', 'LogLevel=INFO', '-W', `127.0.0.1:${echo.port}`], input: 'must-not-pass\n' });
    // THEN ssh says why, nothing passes
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`open failed: administratively prohibited: ${LOCAL_OFF}`);
    // AND a non-sensitive forward_refused event names the kind, the destination and the message
    const refused = await waitFor(() => lab.recorder.audit.find((e) => e.event === 'forward_refused' && e.destination === `127.0.0.1:${echo.port}` && e.type === 'direct-tcpip'), 'forward_refused');
    expect(refused).toMatchObject({ exposure: 'SSH-PRIVX-AUDIT', kind: 'local', reason: 'forwarding_off', message: LOCAL_OFF, username: 'alice', hostId: 'db-1' });
    expect(refused.data).toBeUndefined();
    // AND the recording's channel log has the refused open; the manifest no channel and no stream file
    const s = await sessionWhere((x) => x.id === refused.sessionId);
    const open = (await readChannelLog(s.dir)).entries.find((e) => e.type === 'open');
    expect(open).toMatchObject({ channel: 'direct-tcpip', destination: `127.0.0.1:${echo.port}`, accepted: false, reason: LOCAL_OFF });
    expect(s.manifest.channels).toEqual([]);
    expect(s.manifest.files.map((f) => f.path)).toEqual(['channels.jsonl.gz']);
  });

  it('refuses ssh -L: the local connection is closed unanswered and ssh prints the reason', async () => {
    // GIVEN alice runs ssh -L to db-1
    const fwd = await startLocalForward('db-1', `127.0.0.1:${echo.port}`);
    // WHEN something connects to the forwarded port THEN nothing comes back
    expect((await exchange(fwd.port, Buffer.from('must-not-pass-L\n'))).received.length).toBe(0);
    await waitFor(() => lab.recorder.audit.some((e) => e.event === 'forward_refused' && e.sessionId !== undefined && e.destination === `127.0.0.1:${echo.port}` && e.hostId === 'db-1' && e.origin?.startsWith('127.0.0.1:')), 'forward_refused for -L');
    const r = await stop(fwd);
    expect(r.stderr).toContain(`open failed: administratively prohibited: ${LOCAL_OFF}`);
  });

  it('refuses ssh -J: the nested login never reaches the target', async () => {
    // GIVEN db-1 as the jump host WHEN alice logs in to the target's sshd through it
    const r = await runSsh(['-F', jumpConfig, '-J', 'jump-db-1', '-p', String(lab.sshd.port), 'root@127.0.0.1', 'echo nested-must-not-run']);
    // THEN the jump's -W is refused with the reason, and the nested command never ran
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`open failed: administratively prohibited: ${LOCAL_OFF}`);
    expect(lab.recorder.audit.some((e) => e.event === 'forward_refused' && e.destination === `127.0.0.1:${lab.sshd.port}` && e.kind === 'local')).toBe(true);
  });

  it('refuses agent forwarding (ssh -A) and audits it; the command still runs', async () => {
    // GIVEN alice has an agent running
    const sock = path.join(lab.dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      await waitFor(() => fsp.access(sock).then(() => true, () => false), 'ssh-agent');
      // WHEN she asks for agent forwarding to db-1
      const r = await lab.ssh('echo agent-run', { extra: ['-A'], env: { SSH_AUTH_SOCK: sock } });
      // THEN the session runs without it, and the refusal is audited with the setting's name
      expect(r).toMatchObject({ code: 0, stdout: 'agent-run\n' });
      expect(lab.recorder.audit.find((e) => e.event === 'forward_refused' && e.kind === 'agent')).toMatchObject({
        exposure: 'SSH-PRIVX-AUDIT',
        type: 'auth-agent-req@openssh.com',
        reason: 'forwarding_off',
        message: 'srec: agent forwarding (ssh -A) on db-1 is off (spec.recorder.hosts[db-1].forwarding.agent)',
      });
    } finally {
      agent.kill('SIGTERM');
    }
  });

  it('answers ssh -R failure and audits it as remote forwarding', async () => {
    // WHEN alice asks the recorder to listen on db-1's side
    const r = await lab.ssh(undefined, { extra: ['-o', 'ExitOnForwardFailure=yes', '-N', '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`] });
    // THEN ssh is told no (SSH has no room for a reason in a global request's failure)
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('remote port forwarding failed');
    // AND the refusal is audited with the setting's name, and the global request is in the channel log
    const refused = await waitFor(() => lab.recorder.audit.find((e) => e.event === 'forward_refused' && e.type === 'tcpip-forward'), 'forward_refused for -R');
    const message = 'srec: remote forwarding (ssh -R) on db-1 is off (spec.recorder.hosts[db-1].forwarding.remote)';
    expect(refused).toMatchObject({ kind: 'remote', reason: 'forwarding_off', destination: '127.0.0.1:0', message });
    const s = await sessionWhere((x) => x.id === refused.sessionId);
    expect((await readChannelLog(s.dir)).entries).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'global_request', request: 'tcpip-forward', accepted: false, bindPort: 0, reason: message })]),
    );
  });
});

describe('a host that allows local forwarding', () => {
  it('relays ssh -L and keeps both directions byte for byte, listed with their sha256, audited, and srec verify passes', async () => {
    // GIVEN db-fwd allows local forwarding, and a service that greets and then echoes
    const fwd = await startLocalForward('db-fwd', `127.0.0.1:${greeter.port}`);
    const sent = Buffer.concat([Buffer.from('binary follows\n'), randomBytes(300 * 1024)]);
    // WHEN alice sends 300 KiB through the forwarded port
    const { received, error } = await exchange(fwd.port, sent);
    await stop(fwd);
    expect(error).toBeUndefined();
    // THEN what came back is the greeting and her bytes, intact
    expect(received.equals(Buffer.concat([Buffer.from(GREETING), sent]))).toBe(true);
    // AND the manifest lists the channel with where it went, from where, its bytes and its stream files
    const s = await sessionWhere((x) => x.manifest.host.name === 'db-fwd' && x.manifest.channels.some((c) => c.destination === `127.0.0.1:${greeter.port}`));
    const ch = s.manifest.channels.find((c) => c.type === 'direct-tcpip')!;
    expect(ch).toMatchObject({ type: 'direct-tcpip', bytesIn: sent.length, bytesOut: GREETING.length + sent.length, closed: true, streams: { in: `ch-${ch.id}.in.raw.gz`, out: `ch-${ch.id}.out.raw.gz` } });
    expect(ch.origin).toMatch(/^127\.0\.0\.1:\d+$/);
    // AND the raw streams decompress to exactly what crossed, each way, and are in files[] with their sha256
    const rawIn = gunzipSync(await fsp.readFile(path.join(s.dir, ch.streams!.in)));
    const rawOut = gunzipSync(await fsp.readFile(path.join(s.dir, ch.streams!.out)));
    expect(rawIn.equals(sent)).toBe(true);
    expect(rawOut.equals(received)).toBe(true);
    const listed = s.manifest.files.filter((f) => f.path.endsWith('.raw.gz'));
    expect(listed.map((f) => f.path).sort()).toEqual([ch.streams!.in, ch.streams!.out].sort());
    expect(listed.every((f) => /^[0-9a-f]{64}$/.test(f.sha256))).toBe(true);
    // AND the channel log has its open (with the stream files) and close; the audit its open and close, without content
    const log = (await readChannelLog(s.dir)).entries.filter((e) => (e as { ch?: number }).ch === ch.id);
    expect(log[0]).toMatchObject({ type: 'open', channel: 'direct-tcpip', destination: `127.0.0.1:${greeter.port}`, streams: ch.streams });
    expect(log.at(-1)).toMatchObject({ type: 'close', bytesIn: sent.length, bytesOut: received.length });
    const events = lab.recorder.audit.filter((e) => e.sessionId === s.id && e.channel === ch.id);
    expect(events.map((e) => e.event)).toEqual(['forward_open', 'forward_close']);
    expect(events[0]).toMatchObject({ exposure: 'SSH-PRIVX-AUDIT', kind: 'local', type: 'direct-tcpip', destination: `127.0.0.1:${greeter.port}`, origin: ch.origin });
    expect(events[1]).toMatchObject({ bytesIn: sent.length, bytesOut: received.length });
    expect(events.every((e) => e.data === undefined)).toBe(true);
    // AND srec verify checks the streams with everything else
    const v = await srec('verify', '--data', lab.recorder.dataFolder, s.id);
    expect(v.code).toBe(0);
    // AND a changed stream file is named by verify
    await fsp.appendFile(path.join(s.dir, ch.streams!.in), Buffer.from([0]));
    const changed = await srec('verify', '--data', lab.recorder.dataFolder, s.id);
    expect(changed.code).toBe(1);
    expect(changed.stdout + changed.stderr).toContain(ch.streams!.in);
  });

  it('carries a nested ssh -J session, whose SSH protocol bytes are kept in the raw streams', async () => {
    // WHEN alice logs in to the target's sshd with db-fwd as the jump host
    const r = await runSsh(['-F', jumpConfig, '-J', 'jump-db-fwd', '-p', String(lab.sshd.port), 'root@127.0.0.1', 'echo nested-$((40+2))']);
    // THEN the nested command ran
    expect(r).toMatchObject({ code: 0, stdout: 'nested-42\n' });
    // AND the recording holds the tunnel to the sshd: both SSH banners open the streams, and the counts match the files
    const s = await sessionWhere((x) => x.manifest.host.name === 'db-fwd' && x.manifest.channels.some((c) => c.destination === `127.0.0.1:${lab.sshd.port}`));
    const ch = s.manifest.channels.find((c) => c.destination === `127.0.0.1:${lab.sshd.port}`)!;
    const rawIn = gunzipSync(await fsp.readFile(path.join(s.dir, ch.streams!.in)));
    const rawOut = gunzipSync(await fsp.readFile(path.join(s.dir, ch.streams!.out)));
    expect(rawIn.subarray(0, 8).toString()).toBe('SSH-2.0-');
    expect(rawOut.subarray(0, 8).toString()).toBe('SSH-2.0-');
    expect([rawIn.length, rawOut.length]).toEqual([ch.bytesIn, ch.bytesOut]);
    expect((await srec('verify', '--data', lab.recorder.dataFolder, s.id)).code).toBe(0);
  });

  it('still refuses the kinds it does not allow (ssh -R on db-fwd)', async () => {
    const r = await lab.ssh(undefined, { host: 'db-fwd', extra: ['-o', 'ExitOnForwardFailure=yes', '-N', '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`] });
    expect(r.code).toBe(255);
    expect(lab.recorder.audit.find((e) => e.event === 'forward_refused' && e.hostId === 'db-fwd' && e.kind === 'remote')).toMatchObject({
      message: 'srec: remote forwarding (ssh -R) on db-fwd is off (spec.recorder.hosts[db-fwd].forwarding.remote)',
    });
  });
});
