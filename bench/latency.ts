// latency: keystroke echo round trip in an interactive pty session, straight to sshd and through the
// recorder (recording on), with one typing session and with 100 typing at once (each a keystroke every
// ~100 ms, like fast typists). Added latency = recorder minus direct, at p50 and p99.
import { withTimeout } from '../common/timeout.js';
import { emit, percentile, progress, scaled, sleep, sortedCopy, tempDir } from './support/common.js';
import { openEchoSession, type EchoSession } from './support/echo-session.js';
import type { SshTarget } from '../testing/openssh.js';
import { startLab } from './support/recorder.js';
import { prng } from './support/data.js';

const B = 'latency';

async function openMany(t: SshTarget, n: number): Promise<EchoSession[]> {
  const out: EchoSession[] = [];
  for (let i = 0; i < n; i += 10) out.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => openEchoSession(t)))));
  return out;
}

/** Each session types a key, waits for its echo, waits `gapMs` (+-50%), again, for `seconds` or `keys` keys. */
async function typing(sessions: EchoSession[], gapMs: number, limit: { seconds?: number; keys?: number }): Promise<{ rtts: number[]; errors: number }> {
  const rtts: number[] = [];
  let errors = 0;
  const until = limit.seconds !== undefined ? Date.now() + limit.seconds * 1000 : Infinity;
  const rand = prng(7);
  await Promise.all(
    sessions.map(async (s, i) => {
      await sleep((i * gapMs) / sessions.length); // spread the sessions over one gap
      for (let k = 0; Date.now() < until && (limit.keys === undefined || k < limit.keys); k++) {
        try {
          rtts.push(await withTimeout(s.key(), 10_000, 'no echo in 10 s'));
        } catch {
          errors++;
          if (!s.alive) return;
        }
        await sleep(gapMs * (0.5 + (rand() % 1000) / 1000));
      }
    }),
  );
  return { rtts, errors };
}

export async function run(): Promise<void> {
  const dir = tempDir(B);
  const lab = await startLab(dir);
  const modes = { direct: lab.direct, recorder: lab.via('rec') } as const;

  for (const concurrency of [1, 100]) {
    const n = concurrency === 1 ? 1 : scaled(100, 2);
    const res: Record<string, { p50: number; p99: number; count: number; errors: number }> = {};
    for (const [mode, target] of Object.entries(modes)) {
      progress(B, `${mode}: opening ${n} session(s)`);
      const sessions = await openMany(target, n);
      await typing(sessions, 20, { keys: 20 }); // warm-up
      const { rtts, errors } =
        n === 1 ? await typing(sessions, 10, { keys: scaled(1000, 100) }) : await typing(sessions, 100, { seconds: scaled(20, 3) });
      const s = sortedCopy(rtts);
      res[mode] = { p50: percentile(s, 50), p99: percentile(s, 99), count: s.length, errors };
      progress(B, `${mode} x${n}: p50 ${res[mode].p50.toFixed(3)} ms, p99 ${res[mode].p99.toFixed(3)} ms over ${s.length} keystrokes, ${errors} errors`);
      await Promise.all(sessions.map((x) => x.close()));
    }
    const d = res.direct!;
    const r = res.recorder!;
    const note = `${n} session(s), ${r.count} keystrokes through the recorder (${r.errors} errors), ${d.count} direct (${d.errors} errors)`;
    emit({ bench: B, metric: `x${n}.p50`, value: r.p50, unit: 'ms', baseline: d.p50, ratio: r.p50 / d.p50, note });
    emit({ bench: B, metric: `x${n}.p99`, value: r.p99, unit: 'ms', baseline: d.p99, ratio: r.p99 / d.p99, note });
    emit({ bench: B, metric: `x${n}.added_p50`, value: r.p50 - d.p50, unit: 'ms', baseline: null, ratio: null, target: '<= 1 ms', met: r.p50 - d.p50 <= 1 });
    emit({ bench: B, metric: `x${n}.added_p99`, value: r.p99 - d.p99, unit: 'ms', baseline: null, ratio: null, target: '<= 5 ms', met: r.p99 - d.p99 <= 5 });
  }
  await lab.recorder.stop();
}
