// throughput: N MiB up (`ssh ... 'cat > /dev/null' < file`) and down (`ssh ... 'cat file'`), straight to
// sshd, through the recorder with recording off, and with recording on; for each client cipher. The three
// modes run back to back per direction and cipher, so that a noisy neighbour hits them alike.
// Two kinds of data: log-like text (`cat` of logs) and incompressible bytes (a tarball piped through ssh).
// The issue's size is 512 MiB; with recording on running at about 14 MiB/s here, 4 recorded runs of that
// take 2.5 minutes alone, so the default is 256 MiB of text and 16 MiB of bytes (recording those is an
// order of magnitude slower still) to stay within 3 minutes: BENCH_THROUGHPUT_MIB=512 for the issue's size.
import path from 'node:path';
import { MiB, cpuSeconds, emit, median, progress, scaled, tempDir, threadCpuSeconds } from './support/common.js';
import { writeLogFile } from './support/data.js';
import { sshArgs, type SshTarget } from '../testing/openssh.js';
import { startLab, waitMoved } from './support/recorder.js';
import { cmdline, q, shOk } from './support/shell.js';

const B = 'throughput';
const CIPHERS = ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com'] as const;
type Mode = 'direct' | 'recording_off' | 'recording_on';

export async function run(): Promise<void> {
  const dir = tempDir(B);
  const kinds = [
    { kind: 'text', mib: scaled(Number(process.env.BENCH_THROUGHPUT_MIB ?? 256), 8), file: path.join(dir, 'data.txt') },
    { kind: 'binary', mib: scaled(Number(process.env.BENCH_THROUGHPUT_BINARY_MIB ?? 16), 4), file: path.join(dir, 'data.bin') },
  ];
  for (const k of kinds) {
    progress(B, `writing ${k.mib} MiB of ${k.kind} data`);
    if (k.kind === 'text') await writeLogFile(k.file, k.mib * MiB);
    else await shOk(`head -c ${k.mib * MiB} /dev/urandom > ${q(k.file)}`, 'making the data file');
  }
  const lab = await startLab(dir);
  const targets: Record<Mode, SshTarget> = { direct: lab.direct, recording_off: lab.via('norec'), recording_on: lab.via('rec') };

  for (const { kind, mib, file } of kinds) {
    const bytes = mib * MiB;
    for (const direction of ['up', 'down'] as const) {
      for (const cipher of CIPHERS) {
        const mbps: Partial<Record<Mode, number>> = {};
        const cpu: Partial<Record<Mode, number>> = {};
        const after: Partial<Record<Mode, number>> = {};
        for (const mode of ['direct', 'recording_off', 'recording_on'] as const) {
          const ssh = cmdline(['ssh', ...sshArgs(targets[mode], ['-c', cipher, '-o', 'Compression=no'])]);
          // The login (two handshakes through the recorder) is not the data path: its time is taken off.
          const logins: number[] = [];
          for (let i = 0; i < 3; i++) logins.push((await shOk(`${ssh} true`, `login ${mode}`)).seconds);
          const login = median(logins);
          const script = direction === 'up' ? `${ssh} ${q('cat > /dev/null')} < ${q(file)}` : `${ssh} ${q(`cat ${q(file)}`)} | wc -c`;
          const cpu0 = cpuSeconds(lab.recorder.pid);
          const th0 = threadCpuSeconds(lab.recorder.pid);
          const r = await shOk(script, `${direction} ${cipher} ${mode}`);
          cpu[mode] = cpuSeconds(lab.recorder.pid) - cpu0;
          const th1 = threadCpuSeconds(lab.recorder.pid);
          if (direction === 'down' && Number(r.stdout.trim()) !== bytes) throw new Error(`${mode}: received ${r.stdout.trim()} bytes, not ${bytes}`);
          mbps[mode] = bytes / MiB / Math.max(0.01, r.seconds - login);
          progress(
            B,
            `${kind} ${direction} ${cipher} ${mode}: ${mbps[mode]!.toFixed(1)} MiB/s (${r.seconds.toFixed(2)} s - login ${login.toFixed(2)} s; recorder CPU ${cpu[mode]!.toFixed(2)} s: main thread ${(th1.main - th0.main).toFixed(2)} s, other threads ${(th1.others - th0.others).toFixed(2)} s)`,
          );
          // Let the recording move to the share before the next run, so it does not compete; what the recorder
          // spends after the transfer (a pty-less channel's cast, the repack at level 6) is counted apart.
          if (mode === 'recording_on') {
            await waitMoved(lab.recorder);
            const th2 = threadCpuSeconds(lab.recorder.pid);
            after[mode] = th2.main + th2.others - (th1.main + th1.others);
            progress(B, `${kind} ${direction} ${cipher} ${mode}: after the transfer until on the share, recorder CPU ${after[mode]!.toFixed(2)} s (main thread ${(th2.main - th1.main).toFixed(2)} s)`);
          }
        }
        const name = `${kind}.${direction}.${cipher.split('@')[0]}`;
        const direct = mbps.direct!;
        const off = mbps.recording_off!;
        const on = mbps.recording_on!;
        const note = `${mib} MiB ${kind}, wall time less the login's`;
        emit({ bench: B, metric: `${name}.direct`, value: direct, unit: 'MiB/s', baseline: null, ratio: null, note });
        emit({ bench: B, metric: `${name}.recording_off_vs_direct`, value: off, unit: 'MiB/s', baseline: direct, ratio: off / direct, note: `relaying alone; recorder CPU ${(cpu.recording_off! / (bytes / MiB / 1024)).toFixed(1)} s/GiB` });
        emit({ bench: B, metric: `${name}.recording_on_vs_direct`, value: on, unit: 'MiB/s', baseline: direct, ratio: on / direct, target: '>= 0.5x direct', met: on / direct >= 0.5, note: `recorder CPU ${(cpu.recording_on! / (bytes / MiB / 1024)).toFixed(1)} s/GiB during the transfer, ${(after.recording_on! / (bytes / MiB / 1024)).toFixed(1)} s/GiB after it (cast, repack)` });
        const want = kind === 'text' ? 0.9 : 0.8;
        emit({ bench: B, metric: `${name}.recording_on_vs_off`, value: on, unit: 'MiB/s', baseline: off, ratio: on / off, target: `>= ${want}x recording off`, met: on / off >= want });
      }
    }
  }
  await lab.recorder.stop();
}

