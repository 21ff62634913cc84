// Bad input and faults: they cost the offender its own connection, never the recorder or other sessions.
import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import { CHANNEL_WINDOW } from '../src/ssh/window.js';
import { scanSessions } from '../src/trail/sessions.js';
import { collect, openShell, spawnSsh, startLab, waitFor, type Lab } from './support/index.js';
import { loadCast } from './support/trail-read.js';

jest.setTimeout(30000);

/** alice through the recorder with ssh2's client, for what OpenSSH will not send (a 2^32-1 window). */
function ssh2Shell(lab: Lab, pty: { cols: number; rows: number }): Promise<{ client: ssh2.Client; stream: ClientChannel }> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.on('ready', () => {
      client.shell({ term: 'xterm', cols: pty.cols, rows: pty.rows }, (err, stream) => (err ? reject(err) : resolve({ client, stream })));
    });
    client.connect({ host: '127.0.0.1', port: lab.recorder.port, username: 'root@db-1', privateKey: readFileSync(lab.alice.privatePath) });
  });
}

async function untilOutput(stream: ClientChannel, text: string): Promise<string> {
  let seen = '';
  stream.on('data', (c: Buffer) => (seen += c.toString()));
  await waitFor(() => seen.includes(text), `"${text}" in the output`);
  return seen;
}

describe('bad input', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ recorder: { bastion: { loginGraceMs: 1000 } } });
  });
  afterAll(() => lab?.stop());

  it('garbage on the port and a client that never speaks are dropped; a session at the same time is unaffected', async () => {
    // GIVEN an open interactive session
    const { child: ssh, done } = await openShell(lab.args(), 'echo alive-$((1+1))', 'alive-2');
    // WHEN one socket sends garbage and another connects and stalls
    const garbage = net.connect(lab.recorder.port, '127.0.0.1');
    garbage.on('error', () => undefined);
    garbage.resume(); // read what the recorder says, so its close is seen
    garbage.write(randomBytes(64 * 1024));
    const garbageClosed = new Promise((r) => garbage.once('close', r));
    const staller = net.connect(lab.recorder.port, '127.0.0.1');
    staller.on('error', () => undefined);
    staller.resume();
    const stallerClosed = new Promise((r) => staller.once('close', r));
    // THEN both are cut off (the staller after the login grace time) ...
    await garbageClosed;
    await stallerClosed;
    // ... and the session goes on, and new ones work
    ssh.stdin.write('echo still-$((2+2))\nexit\n');
    const r = await done;
    expect(r.stdout).toContain('still-4');
    expect(r.code).toBe(0);
    expect((await lab.ssh('echo new-session-ok')).stdout).toBe('new-session-ok\n');
    expect(lab.recorder.logs()).toContain('not logged in within the grace time');
  });

  it('a huge window-change reaches the target and the recording, and other sessions are unaffected', async () => {
    // GIVEN a shell with a pty (ssh2 client, since OpenSSH will not send 2^32-1 columns)
    const before = new Set(scanSessions(lab.recorder.dataFolder).sessions.map((x) => x.id));
    const { client, stream } = await ssh2Shell(lab, { cols: 100, rows: 30 });
    const out = untilOutput(stream, 'size-40x132');
    // WHEN the window changes to a sane size and then to an absurd one
    stream.setWindow(40, 132, 0, 0);
    await new Promise((r) => setTimeout(r, 200));
    stream.write('echo size-$(stty size | tr " " x)\n');
    await out;
    stream.setWindow(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff);
    // THEN another session still works
    expect((await lab.ssh('echo during-huge-window')).stdout).toBe('during-huge-window\n');
    stream.end('exit\n');
    await new Promise((r) => stream.once('close', r));
    client.end();
    // AND the recording has the header size, the resize, and the size the target saw
    const s = await waitFor(
      async () => scanSessions(lab.recorder.dataFolder).sessions.find((x) => !before.has(x.id) && x.manifest.channels.some((c) => c.kind === 'shell' && c.closed)),
      'the recording',
    );
    const cast = await loadCast(path.join(s.dir, 'ch-0.cast.gz'));
    expect(cast.header).toMatchObject({ width: 100, height: 30, env: { TERM: 'xterm' } });
    expect(cast.events).toEqual(expect.arrayContaining([[expect.any(Number), 'r', '132x40'], [expect.any(Number), 'r', '4294967295x4294967295']]));
    expect(cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toContain('size-40x132');
  });
});

describe('a client that stops reading', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab();
  });
  afterAll(() => lab?.stop());

  it('holds the target back instead of buffering its output, and other sessions are unaffected', async () => {
    // GIVEN a person (ssh2 client) whose command floods output, and who reads nothing
    const client = new ssh2.Client();
    const ready = new Promise<void>((r) => client.once('ready', () => r()));
    client.connect({ host: '127.0.0.1', port: lab.recorder.port, username: 'root@db-1', privateKey: readFileSync(lab.alice.privatePath) });
    await ready;
    const stream = await new Promise<ClientChannel>((resolve, reject) => client.exec('head -c 1073741824 /dev/zero', (err, s) => (err ? reject(err) : resolve(s))));
    stream.pause();
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    // WHEN time passes in which the target could have sent much of its 1 GiB
    await new Promise((r) => setTimeout(r, 2000));
    // THEN this process (the recorder, and the stalled client's own window and buffer) holds a few channel
    // windows' worth (8 MiB each; ~3 per direction on the recorder, 2 on the client, plus garbage not yet
    // collected), not the output
    const grown = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - heapBefore;
    expect(grown).toBeLessThan(16 * CHANNEL_WINDOW);
    expect(await lab.recorder.metric('srec_bytes_relayed_total{direction="out"}')).toBeLessThan(4 * CHANNEL_WINDOW);
    // AND another session works meanwhile
    expect((await lab.ssh('echo while-stalled')).stdout).toBe('while-stalled\n');
    client.end();
  });
});

describe('spool full', () => {
  let lab: Lab;
  beforeAll(async () => {
    // A limit so small that one open session (its 64 KiB reserve) fills it; its quota (7 KiB) fits an echo.
    lab = await startLab({ recorder: { extra: { tempSizeLimit: '70Ki' } } });
  });
  afterAll(() => lab?.stop());

  it('refuses new recorded sessions with a message while the spool is full, and takes them again once it has room', async () => {
    // GIVEN one session holding the spool
    const { child: ssh, done } = await openShell(lab.args(), 'echo first-$((3*3))', 'first-9');
    // WHEN another recorded session is asked for
    const refused = await lab.ssh('echo should-not-run');
    // THEN it is refused with a reason, and counted
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("srec: the recorder's spool is full");
    expect(await lab.recorder.metric('srec_connections_refused_total{reason="spool_full"}')).toBe(1);
    // WHEN the first session ends and its recording moves to the share
    ssh.stdin.write('exit\n');
    await done;
    await waitFor(async () => (await lab.recorder.metric('srec_recordings_pending')) === 0 && scanSessions(lab.recorder.dataFolder).sessions.length === 1, 'the move');
    // THEN sessions are taken again
    expect((await lab.ssh('echo room-again')).stdout).toBe('room-again\n');
  });
});

describe('share unwritable', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab();
  });
  afterAll(() => lab?.stop());

  it('sessions go on, recordings wait in the spool, /readyz fails; once the share is back they move and /readyz passes', async () => {
    // GIVEN a share on which nothing can be created (root ignores permissions, so a file blocks .incoming)
    const incoming = path.join(lab.recorder.dataFolder, '.incoming');
    await fsp.rm(incoming, { recursive: true, force: true });
    await fsp.writeFile(incoming, 'blocked');
    await waitFor(async () => (await lab.recorder.readyz()).status === 503, '/readyz to fail');
    // WHEN a session runs
    const r = await lab.ssh('echo while-share-down');
    // THEN it works, its recording waits in the spool, and readiness says why
    expect(r).toMatchObject({ code: 0, stdout: 'while-share-down\n' });
    await waitFor(async () => (await lab.recorder.metric('srec_recording_move_failures_total')) >= 1, 'a failed move');
    expect(await lab.recorder.metric('srec_recordings_pending')).toBe(1);
    expect((await lab.recorder.readyz()).body).toContain('is not writable');
    // WHEN the share is back
    await fsp.rm(incoming);
    // THEN the recording moves and the recorder is ready again
    const s = await waitFor(async () => scanSessions(lab.recorder.dataFolder).sessions[0], 'the recording on the share');
    expect(s.manifest.channels[0]).toMatchObject({ command: 'echo while-share-down', exitStatus: 0 });
    await waitFor(async () => (await lab.recorder.readyz()).status === 200, '/readyz to pass');
    // The manifest lands before the mover updates its count: wait for the count, do not race it.
    await waitFor(async () => (await lab.recorder.metric('srec_recordings_pending')) === 0, 'no recording pending');
  });
});
