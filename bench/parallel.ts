// parallel: aggregate throughput of 1, 2 and 4 bulk sessions at once (`ssh ... 'cat file'`, log-like text),
// straight to sshd, through the recorder with recording off and on (its workers sized from the CPU, as in a
// pod), and through a recorder with one worker (everything in one process, the first round's recorder), back
// to back per count. What it predicts for bigger nodes: the recorder's CPU per GiB over all its processes and
// threads until the recordings are on the share (spread over the workers' cores), and the primary's main
// thread per GiB (one per pod: it moves and indexes every recording) — see the `predicted` rows.
import os from 'node:os';
import path from 'node:path';
import { MiB, emit, progress, scaled, tempDir, threadCpuSeconds } from './support/common.js';
import { writeLogFile } from './support/data.js';
import { sshArgs, type SshTarget } from '../testing/openssh.js';
import { startLab, waitIdle, waitMoved, type BenchRecorder } from './support/recorder.js';
import { cmdline, q, shOk } from './support/shell.js';

const B = 'parallel';
const COUNTS = [1, 2, 4] as const;
type Mode = 'direct' | 'recording_off' | 'recording_on' | 'recording_on_one_worker';

export async function run(): Promise<void> {
  const dir = tempDir(B);
  const mib = scaled(Number(process.env.BENCH_PARALLEL_MIB ?? 96), 8);
  const file = path.join(dir, 'data.txt');
  progress(B, `writing ${mib} MiB of text`);
  await writeLogFile(file, mib * MiB);
  const lab = await startLab(path.join(dir, 'workers'));
  const one = await startLab(path.join(dir, 'one'), { workers: 1 });
  const workers = Number((await lab.recorder.metrics()).match(/^srec_recorder_workers (\d+)/m)?.[1] ?? NaN);
  progress(B, `recorder with ${workers} workers (sized from the CPU) beside one with 1`);
  const targets: Record<Mode, SshTarget> = { direct: lab.direct, recording_off: lab.via('norec'), recording_on: lab.via('rec'), recording_on_one_worker: one.via('rec') };
  const recorderOf = (mode: Mode): BenchRecorder => (mode === 'recording_on_one_worker' ? one.recorder : lab.recorder);
  const single: Partial<Record<Mode, number>> = {};
  let last: { totalPerGiB: number; primaryPerGiB: number; workerMainPerGiB: number } | undefined;
  for (const n of COUNTS) {
    const rate: Partial<Record<Mode, number>> = {};
    const cpu: Partial<Record<Mode, { totalPerGiB: number; primaryPerGiB: number; workerMainPerGiB: number }>> = {};
    for (const mode of ['direct', 'recording_off', 'recording_on', 'recording_on_one_worker'] as const) {
      const rec = recorderOf(mode);
      // Each run starts with both recorders idle: no afterwork of the previous run on the same cores.
      await Promise.all([waitIdle(lab.recorder), waitIdle(one.recorder)]);
      const ssh = cmdline(['ssh', ...sshArgs(targets[mode], ['-c', 'aes128-gcm@openssh.com', '-o', 'Compression=no'])]);
      // n sessions started together; each checks its byte count. The wall time includes n logins, started at once.
      const script = Array.from({ length: n }, () => `( test "$(${ssh} ${q(`cat ${q(file)}`)} | wc -c)" = ${mib * MiB} ) &`).join(' ') + ' wait';
      const th0 = threadCpuSeconds(rec.pid);
      const r = await shOk(`set -e; ${script}`, `${n} x ${mode}`);
      const th1 = threadCpuSeconds(rec.pid);
      const bytes = n * mib * MiB;
      const gib = bytes / MiB / 1024;
      rate[mode] = bytes / MiB / Math.max(0.01, r.seconds);
      // The work on these sessions includes what follows them: a pty-less channel's cast, the repack, the move.
      if (mode !== 'direct') await waitMoved(rec);
      const th2 = threadCpuSeconds(rec.pid);
      cpu[mode] = {
        totalPerGiB: (th2.main + th2.others - th0.main - th0.others) / gib,
        primaryPerGiB: (th2.main - th2.workers - (th0.main - th0.workers)) / gib,
        workerMainPerGiB: (th2.workers - th0.workers) / gib,
      };
      progress(
        B,
        `${n} x ${mode}: ${rate[mode]!.toFixed(1)} MiB/s together (${r.seconds.toFixed(2)} s; recorder CPU during: main threads ${(th1.main - th0.main).toFixed(2)} s, other threads ${(th1.others - th0.others).toFixed(2)} s; until on the share: ${(th2.main + th2.others - th0.main - th0.others).toFixed(2)} s in all, workers' main threads ${(th2.workers - th0.workers).toFixed(2)} s, primary's main thread ${(th2.main - th2.workers - th0.main + th0.workers).toFixed(2)} s)`,
      );
    }
    if (n === 1) Object.assign(single, rate);
    last = cpu.recording_on;
    const note = `${n} sessions of ${mib} MiB text at once, aes128-gcm, wall time including the logins`;
    const perGiB = (m: Mode) => `recorder CPU ${cpu[m]!.totalPerGiB.toFixed(1)} s/GiB until on the share (workers' main threads ${cpu[m]!.workerMainPerGiB.toFixed(1)}, primary's ${cpu[m]!.primaryPerGiB.toFixed(1)})`;
    emit({ bench: B, metric: `x${n}.direct`, value: rate.direct!, unit: 'MiB/s', baseline: n === 1 ? null : single.direct!, ratio: n === 1 ? null : rate.direct! / single.direct!, note: `${note}; baseline: 1 session` });
    emit({ bench: B, metric: `x${n}.recording_off`, value: rate.recording_off!, unit: 'MiB/s', baseline: rate.direct!, ratio: rate.recording_off! / rate.direct!, note: `${note}; ${workers} workers; ${perGiB('recording_off')}` });
    emit({ bench: B, metric: `x${n}.recording_on`, value: rate.recording_on!, unit: 'MiB/s', baseline: rate.recording_off!, ratio: rate.recording_on! / rate.recording_off!, target: '>= 0.9x recording off', met: rate.recording_on! / rate.recording_off! >= 0.9, note: `${note}; ${workers} workers; ${perGiB('recording_on')}` });
    emit({
      bench: B,
      metric: `x${n}.recording_on_workers_vs_one`,
      value: rate.recording_on!,
      unit: 'MiB/s',
      baseline: rate.recording_on_one_worker!,
      ratio: rate.recording_on! / rate.recording_on_one_worker!,
      note: `${note}; ${workers} workers against 1 (everything in one process; ${perGiB('recording_on_one_worker')})`,
    });
  }
  // On a node with C cores for the recorder (ssh and sshd elsewhere, as in production): its processes together
  // need totalPerGiB CPU seconds per GiB, spread over C workers; the primary's main thread, one per pod, needs
  // primaryPerGiB of one core. The smaller bound is the prediction.
  for (const cores of [os.availableParallelism(), 8, 16]) {
    const byCpu = (cores * 1024) / last!.totalPerGiB;
    const byPrimary = 1024 / Math.max(0.001, last!.primaryPerGiB);
    emit({
      bench: B,
      metric: `predicted.${cores}_cores`,
      value: Math.min(byCpu, byPrimary),
      unit: 'MiB/s',
      baseline: null,
      ratio: null,
      note: `recording on, ${cores} workers, from the x4 run: ${cores} cores / ${last!.totalPerGiB.toFixed(1)} CPU s per GiB = ${byCpu.toFixed(0)} MiB/s; the primary's main thread (${last!.primaryPerGiB.toFixed(2)} s/GiB) bounds at ${byPrimary.toFixed(0)} MiB/s${cores === os.availableParallelism() ? '; this machine, where ssh and sshd share the cores' : ''}`,
    });
  }
  await Promise.all([lab.recorder.stop(), one.recorder.stop()]);
}
