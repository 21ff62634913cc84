// sessions: 500 idle interactive sessions (a login shell on a pty, nobody typing) plus 50 active ones
// (typing ~10 keys/s and reading the echo) on one recorder process, all recorded. RSS per session =
// (recorder RSS with every session open - RSS before the first) / sessions. Errors: sessions that failed
// to open or died, keystrokes without an echo within 10 s.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { withTimeout } from '../common/timeout.js';
import { MiB, atEnd, emit, progress, rssBytes, scaled, sleep, tempDir } from './support/common.js';
import { prng } from './support/data.js';
import { openEchoSession, type EchoSession } from './support/echo-session.js';
import { sshArgs, type SshTarget } from '../testing/openssh.js';
import { startLab } from './support/recorder.js';

const B = 'sessions';

interface Idle {
  readonly proc: ChildProcessWithoutNullStreams;
  alive: boolean;
}

/** `ssh -tt` to a login shell; resolves once the shell printed something (its prompt). */
function openIdle(t: SshTarget, timeoutMs = 60_000): Promise<Idle> {
  const proc = spawn('ssh', sshArgs(t, ['-tt']), { stdio: ['pipe', 'pipe', 'pipe'] });
  atEnd(() => void proc.kill('SIGKILL'));
  const s: Idle = { proc, alive: true };
  proc.stdin.on('error', () => undefined);
  let stderr = '';
  proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no prompt within ${timeoutMs} ms`)), timeoutMs);
    proc.stdout.once('data', () => {
      clearTimeout(timer);
      resolve(s);
    });
    proc.once('exit', (code) => {
      s.alive = false;
      clearTimeout(timer);
      reject(new Error(`ssh exited with ${code}: ${stderr.trim().slice(-200)}`));
    });
  });
}

export async function run(): Promise<void> {
  const idleN = scaled(500, 5);
  const activeN = scaled(50, 2);
  const seconds = scaled(20, 5);
  const dir = tempDir(B);
  const lab = await startLab(dir);
  const target = lab.via('rec');
  let errors = 0;
  const errorKinds = new Map<string, number>();
  const fail = (kind: string) => {
    errors++;
    errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
  };

  // Warm up (code loaded, first allocations made), then the baseline.
  const warm = await openEchoSession(target);
  for (let i = 0; i < 20; i++) await warm.key();
  await warm.close();
  await sleep(2000);
  const rss0 = rssBytes(lab.recorder.pid);
  progress(B, `recorder RSS before: ${(rss0 / MiB).toFixed(1)} MiB`);

  const t0 = Date.now();
  const idle: Idle[] = [];
  for (let i = 0; i < idleN; i += 25) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(25, idleN - i) }, () => openIdle(target)));
    for (const b of batch) {
      if (b.status === 'fulfilled') idle.push(b.value);
      else fail('idle_open');
    }
    if ((i / 25) % 4 === 3) progress(B, `${idle.length} idle sessions open, RSS ${(rssBytes(lab.recorder.pid) / MiB).toFixed(1)} MiB`);
  }
  for (const s of idle) s.proc.once('exit', () => ((s.alive = false), fail('idle_died')));
  const active: EchoSession[] = [];
  for (let i = 0; i < activeN; i += 10) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(10, activeN - i) }, () => openEchoSession(target)));
    for (const b of batch) {
      if (b.status === 'fulfilled') active.push(b.value);
      else fail('active_open');
    }
  }
  const openSeconds = (Date.now() - t0) / 1000;
  const open = await lab.recorder.metric('srec_sessions_open');
  progress(B, `${idle.length} idle + ${active.length} active open in ${openSeconds.toFixed(1)} s; the recorder counts ${open}`);

  // Active sessions type for `seconds` while RSS is sampled.
  let keys = 0;
  let maxRss = 0;
  const until = Date.now() + seconds * 1000;
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, rssBytes(lab.recorder.pid))), 500);
  const rand = prng(3);
  await Promise.all(
    active.map(async (s, i) => {
      await sleep((i * 100) / active.length);
      while (Date.now() < until && s.alive) {
        try {
          await withTimeout(s.key(), 10_000, 'timeout');
          keys++;
        } catch {
          fail(s.alive ? 'echo_timeout' : 'active_died');
          if (!s.alive) return;
        }
        await sleep(50 + (rand() % 100));
      }
    }),
  );
  clearInterval(sampler);
  const rss1 = rssBytes(lab.recorder.pid);
  maxRss = Math.max(maxRss, rss1);
  const total = idle.length + active.length;
  progress(B, `${keys} keystrokes echoed; RSS now ${(rss1 / MiB).toFixed(1)} MiB, max ${(maxRss / MiB).toFixed(1)} MiB`);

  const perSession = (rss1 - rss0) / MiB / (idleN + activeN);
  const kinds = [...errorKinds].map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
  emit({ bench: B, metric: 'rss_per_session', value: perSession, unit: 'MiB', baseline: rss0 / MiB, ratio: null, target: '<= 1 MiB per session', met: perSession <= 1 && total === idleN + activeN, note: `(RSS ${(rss1 / MiB).toFixed(1)} MiB with ${total} sessions - ${(rss0 / MiB).toFixed(1)} MiB before) / ${idleN + activeN}; baseline = RSS before, MiB; max RSS ${(maxRss / MiB).toFixed(1)} MiB` });
  emit({ bench: B, metric: 'errors', value: errors, unit: 'count', baseline: null, ratio: null, target: '0 errors', met: errors === 0, note: `${idleN} idle + ${activeN} active; ${kinds}; ${keys} keystrokes echoed; opened in ${openSeconds.toFixed(1)} s; recorder counted ${open} open` });

  for (const s of idle) s.proc.removeAllListeners('exit');
  await Promise.all([...idle.map((s) => (s.proc.stdin.end(), s.proc.kill('SIGTERM'))), ...active.map((s) => s.close())]);
  const tClose = Date.now();
  while (Date.now() - tClose < 60_000 && ((await lab.recorder.metric('srec_sessions_open')) > 0 || (await lab.recorder.metric('srec_recordings_pending')) > 0)) await sleep(500);
  const closedIn = (Date.now() - tClose) / 1000;
  await sleep(2000);
  const rssAfter = rssBytes(lab.recorder.pid);
  emit({ bench: B, metric: 'rss_after_close', value: rssAfter / MiB, unit: 'MiB', baseline: rss0 / MiB, ratio: rssAfter / rss0, note: `every session closed and moved to the share (${closedIn.toFixed(1)} s), 2 s later; baseline = RSS before` });
  await lab.recorder.stop();
}
