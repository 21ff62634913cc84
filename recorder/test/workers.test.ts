// `srec recorder` with two worker processes (recorder/src/ssh/workers.ts), run for real: sessions spread over
// both, one /metrics for the whole recorder, the pre-login limits recorder-wide, a worker killed mid-session
// (its recording recovered while the recorder runs on, the worker replaced), and a clean stop.
import { jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { autoWorkers } from '../src/ssh/workers.js';
import { scanSessions } from '../src/trail/sessions.js';
import { collect, spawnSsh, startLab, waitFor, type Lab } from './support/index.js';

jest.setTimeout(90000);

describe('autoWorkers (the CPU and memory the container may use)', () => {
  it('is the cgroup quota rounded up, at most the cores, at least one', () => {
    expect(autoWorkers('max 100000', 8)).toBe(8);
    expect(autoWorkers('200000 100000', 8)).toBe(2);
    expect(autoWorkers('150000 100000', 8)).toBe(2);
    expect(autoWorkers('50000 100000', 8)).toBe(1);
    expect(autoWorkers('1600000 100000', 4)).toBe(4);
    expect(autoWorkers(undefined, 3)).toBe(3);
    expect(autoWorkers('', 1)).toBe(1);
  });

  it('is at most one worker per 256 MiB of the memory limit', () => {
    expect(autoWorkers('max 100000', 64, String(1024 ** 3))).toBe(4);
    expect(autoWorkers('200000 100000', 64, String(1024 ** 3))).toBe(2);
    expect(autoWorkers('max 100000', 64, String(100 * 1024 ** 2))).toBe(1);
    expect(autoWorkers('max 100000', 8, 'max')).toBe(8);
  });
});

describe('srec recorder with two workers', () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await startLab({
      recorder: { mode: 'process', graceSeconds: 2, extra: { workers: 2, limits: { perSourceMaxStartups: 3, loginGraceSeconds: 20 } } },
    });
  });

  afterAll(async () => {
    await lab?.stop();
  });

  interface LogLine {
    readonly message?: string;
    readonly worker?: number;
    readonly pid?: number;
    readonly sessionId?: string;
    readonly [k: string]: unknown;
  }
  const logLines = (): LogLine[] =>
    lab.recorder
      .logs()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
  const workerPids = (): number[] => {
    const pid = lab.recorder.pid!;
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  };

  it('serves concurrent sessions in both workers, records each, and /metrics counts them all', async () => {
    // GIVEN the recorder and its two workers
    expect(logLines().find((l) => l.message === 'recorder ready')).toMatchObject({ workers: 2 });
    expect(workerPids()).toHaveLength(2);
    expect(await lab.recorder.metric('srec_recorder_workers')).toBe(2);
    const relayedBefore = await lab.recorder.metric('srec_bytes_relayed_total{direction="out"}');
    // WHEN three commands run at once (the per-source limit of logins at once is 3 here)
    const runs = await Promise.all([0, 1, 2].map((i) => lab.ssh(`printf 'worker-run-${i}-%s\\n' $((6*7)); sleep 1`)));
    // THEN each got its output, and both workers served some of them
    runs.forEach((r, i) => {
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`worker-run-${i}-42\n`);
    });
    const started = logLines().filter((l) => l.message === 'session started');
    expect(new Set(started.map((l) => l.worker))).toEqual(new Set([0, 1]));
    // AND every recording reaches the share, complete, through the primary's one mover
    const ids = started.map((l) => l.sessionId!);
    await waitFor(() => ids.every((id) => scanSessions(lab.recorder.dataFolder).sessions.some((s) => s.id === id && s.manifest.complete)), 'three complete recordings on the share');
    // AND one scrape of /metrics has both workers' bytes and sessions
    const relayed = (await lab.recorder.metric('srec_bytes_relayed_total{direction="out"}')) - relayedBefore;
    expect(relayed).toBeGreaterThanOrEqual(runs.reduce((n, r) => n + r.stdout.length, 0));
    expect(await lab.recorder.metric('srec_sessions_open')).toBe(0);
    expect(await lab.recorder.metric('srec_recordings_pending')).toBe(0);
  });

  it('bounds connections not logged in for the whole recorder, not per worker', async () => {
    // GIVEN at most 3 connections not logged in per source
    const droppedBefore = await lab.recorder.metric('srec_connections_dropped_total{reason="per_source"}');
    // WHEN one address opens 5 connections and says nothing
    const sockets = await Promise.all(
      [0, 1, 2, 3, 4].map(
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect(lab.recorder.port, '127.0.0.1', () => resolve(s));
            s.on('error', reject);
          }),
      ),
    );
    const closed = sockets.map((s) => new Promise<void>((r) => s.once('close', () => r())));
    try {
      // THEN two are closed at once, though two workers each hold fewer than 3
      await waitFor(async () => (await lab.recorder.metric('srec_connections_dropped_total{reason="per_source"}')) - droppedBefore === 2, 'two per-source drops');
      expect(await lab.recorder.metric('srec_logins_pending')).toBe(3);
      await new Promise((r) => setTimeout(r, 300));
      expect(sockets.filter((s) => s.destroyed || s.readyState !== 'open')).toHaveLength(2);
    } finally {
      sockets.forEach((s) => s.destroy());
      await Promise.all(closed);
    }
    // AND once they are gone the slots are free again
    await waitFor(async () => (await lab.recorder.metric('srec_logins_pending')) === 0, 'no logins pending');
    expect((await lab.ssh('echo after-flood')).stdout).toBe('after-flood\n');
  });

  it('a worker killed mid-session: the person is cut off, the recording is recovered onto the share while the recorder runs on, and a new worker takes its place', async () => {
    // GIVEN a session whose output the person has seen
    const ssh = spawnSsh([...lab.args(), 'echo before-worker-kill-$((40+2)); sleep 60']);
    let seen = '';
    ssh.stdout.on('data', (c: Buffer) => (seen += c.toString()));
    const done = collect(ssh);
    await waitFor(() => seen.includes('before-worker-kill-42'), 'the command output');
    await new Promise((r) => setTimeout(r, 1500)); // past one sync flush of the recording
    const line = logLines().filter((l) => l.message === 'session started').at(-1)!;
    const sessionId = line.sessionId!;
    const before = workerPids();
    expect(before).toContain(line.pid);
    // WHEN the worker serving it is killed outright
    process.kill(line.pid!, 'SIGKILL');
    // THEN the person's connection ends
    expect((await done).code).toBe(255);
    // AND the primary finalizes and moves what the worker wrote, marked recovered, without a restart
    const s = await waitFor(() => scanSessions(lab.recorder.dataFolder).sessions.find((x) => x.id === sessionId), 'the recovered recording');
    expect(s.manifest).toMatchObject({ complete: false, recovered: true, user: 'alice', host: { name: 'db-1' } });
    expect(logLines().find((l) => l.message === 'recorder worker exited')).toMatchObject({ signal: 'SIGKILL', recordingsLeftOpen: 1 });
    // AND a new worker replaces it, and sessions are served again by two workers
    const replacement = await waitFor(() => logLines().find((l) => l.message === 'recorder worker serving' && l.worker === line.worker && l.pid !== line.pid), 'a replacement worker serving', 60000);
    expect(workerPids().sort()).toEqual(before.map((p) => (p === line.pid ? replacement.pid! : p)).sort());
    await waitFor(async () => (await lab.recorder.readyz()).status === 200, 'ready');
    const again = await Promise.all([0, 1].map((i) => lab.ssh(`echo again-${i}; sleep 0.5`)));
    expect(again.map((r) => r.stdout)).toEqual(['again-0\n', 'again-1\n']);
    const servedBy = logLines().filter((l) => l.message === 'session started').slice(-2).map((l) => l.pid);
    expect(servedBy.sort()).toEqual(workerPids().sort());
  });

  it('SIGTERM: sessions on both workers are told, ended and their recordings moved complete; exit 0', async () => {
    // GIVEN two long-running commands, one in each worker
    const runs = [0, 1].map((i) => {
      const ssh = spawnSsh([...lab.args(), `echo long-${i}; sleep 30`]);
      let seen = '';
      ssh.stdout.on('data', (c: Buffer) => (seen += c.toString()));
      return { done: collect(ssh), seen: () => seen, i };
    });
    await waitFor(() => runs.every((r) => r.seen().includes(`long-${r.i}`)), 'both commands to start');
    const pids = new Set(logLines().filter((l) => l.message === 'session started').slice(-2).map((l) => l.pid));
    expect(pids.size).toBe(2);
    // WHEN the recorder is asked to stop
    const code = await lab.recorder.stop();
    // THEN it exits cleanly, each person was told why, and both recordings are complete on the share
    expect(code).toBe(0);
    for (const r of runs) expect((await r.done).stderr).toContain('srec: the recorder is shutting down');
    const { sessions } = scanSessions(lab.recorder.dataFolder);
    for (const i of [0, 1]) {
      expect(sessions.find((x) => x.manifest.channels.some((c) => c.command === `echo long-${i}; sleep 30`))?.manifest).toMatchObject({ complete: true, recovered: false });
    }
    expect(logLines().filter((l) => l.message === 'recorder worker exited' && l.signal !== 'SIGKILL')).toEqual([]);
  });
});
