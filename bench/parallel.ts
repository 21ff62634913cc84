// parallel: aggregate throughput of 1, 2 and 4 bulk sessions at once (`ssh ... 'cat file'`, log-like text),
// straight to sshd, through the recorder with recording off, and with recording on, back to back per count.
// What it predicts for bigger nodes: the recorder runs every session on its one main thread, so its
// aggregate is bounded by that thread, whatever the cores: the bound is bytes / main-thread CPU seconds.
import path from 'node:path';
import { MiB, emit, progress, scaled, tempDir, threadCpuSeconds } from './support/common.js';
import { writeLogFile } from './support/data.js';
import { sshArgs, type SshTarget } from '../testing/openssh.js';
import { startLab, waitMoved } from './support/recorder.js';
import { cmdline, q, shOk } from './support/shell.js';

const B = 'parallel';
const COUNTS = [1, 2, 4] as const;
type Mode = 'direct' | 'recording_off' | 'recording_on';

export async function run(): Promise<void> {
  const dir = tempDir(B);
  const mib = scaled(Number(process.env.BENCH_PARALLEL_MIB ?? 96), 8);
  const file = path.join(dir, 'data.txt');
  progress(B, `writing ${mib} MiB of text`);
  await writeLogFile(file, mib * MiB);
  const lab = await startLab(dir);
  const targets: Record<Mode, SshTarget> = { direct: lab.direct, recording_off: lab.via('norec'), recording_on: lab.via('rec') };
  const single: Partial<Record<Mode, number>> = {};
  for (const n of COUNTS) {
    const rate: Partial<Record<Mode, number>> = {};
    const mainPerGiB: Partial<Record<Mode, number>> = {};
    for (const mode of ['direct', 'recording_off', 'recording_on'] as const) {
      const ssh = cmdline(['ssh', ...sshArgs(targets[mode], ['-c', 'aes128-gcm@openssh.com', '-o', 'Compression=no'])]);
      // n sessions started together; each checks its byte count. The wall time includes n logins, started at once.
      const script = Array.from({ length: n }, () => `( test "$(${ssh} ${q(`cat ${q(file)}`)} | wc -c)" = ${mib * MiB} ) &`).join(' ') + ' wait';
      const th0 = threadCpuSeconds(lab.recorder.pid);
      const r = await shOk(`set -e; ${script}`, `${n} x ${mode}`);
      const th1 = threadCpuSeconds(lab.recorder.pid);
      const bytes = n * mib * MiB;
      rate[mode] = bytes / MiB / Math.max(0.01, r.seconds);
      // The main thread's work on these sessions includes what it does after them (a pty-less channel's cast).
      if (mode === 'recording_on') await waitMoved(lab.recorder);
      const th2 = threadCpuSeconds(lab.recorder.pid);
      mainPerGiB[mode] = (th2.main - th0.main) / (bytes / MiB / 1024);
      progress(B, `${n} x ${mode}: ${rate[mode]!.toFixed(1)} MiB/s together (${r.seconds.toFixed(2)} s; recorder main thread ${(th1.main - th0.main).toFixed(2)} s, other threads ${(th1.others - th0.others).toFixed(2)} s; until on the share: main thread ${(th2.main - th0.main).toFixed(2)} s, other threads ${(th2.others - th0.others).toFixed(2)} s)`);
    }
    if (n === 1) Object.assign(single, rate);
    const note = `${n} sessions of ${mib} MiB text at once, aes128-gcm, wall time including the logins`;
    emit({ bench: B, metric: `x${n}.direct`, value: rate.direct!, unit: 'MiB/s', baseline: n === 1 ? null : single.direct!, ratio: n === 1 ? null : rate.direct! / single.direct!, note: `${note}; baseline: 1 session` });
    emit({ bench: B, metric: `x${n}.recording_off`, value: rate.recording_off!, unit: 'MiB/s', baseline: rate.direct!, ratio: rate.recording_off! / rate.direct!, note: `${note}; recorder main thread ${mainPerGiB.recording_off!.toFixed(1)} s/GiB` });
    emit({ bench: B, metric: `x${n}.recording_on`, value: rate.recording_on!, unit: 'MiB/s', baseline: rate.recording_off!, ratio: rate.recording_on! / rate.recording_off!, target: '>= 0.9x recording off', met: rate.recording_on! / rate.recording_off! >= 0.9, note: `${note}; recorder main thread ${mainPerGiB.recording_on!.toFixed(1)} s/GiB` });
    emit({
      bench: B,
      metric: `x${n}.recording_on_bound_any_cores`,
      value: 1024 / mainPerGiB.recording_on!,
      unit: 'MiB/s',
      baseline: null,
      ratio: null,
      note: 'what one recorder process can record at most on 8 or 16 cores alike: its main thread does every session (bytes / main-thread CPU, until the recordings are on the share)',
    });
  }
  await lab.recorder.stop();
}

