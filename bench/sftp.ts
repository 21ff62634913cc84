// sftp: put and get of one N MiB file (incompressible) with OpenSSH sftp, and the same with scp over the SCP
// protocol (`scp -O`; OpenSSH's plain scp speaks SFTP), straight to sshd and through the recorder with file
// capture on (fileTransfers: true, so every byte is also written to the recording and hashed). Reports each
// direction's MiB/s and the ratio to direct.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { scanSessions } from '../recorder/src/trail/sessions.js';
import { MiB, cpuSeconds, emit, median, progress, scaled, sleep, tempDir } from './support/common.js';
import { hostOf, sftpArgs, sshArgs, type SshTarget } from '../testing/openssh.js';
import { startLab } from './support/recorder.js';
import { cmdline, q, shOk } from './support/shell.js';

const B = 'sftp';
/** BENCH_SFTP_PROTOCOLS=sftp for sftp alone. */
const PROTOCOLS = (process.env.BENCH_SFTP_PROTOCOLS ?? 'sftp,scp').split(',').filter((p): p is 'sftp' | 'scp' => p === 'sftp' || p === 'scp');

export async function run(): Promise<void> {
  const mib = scaled(Number(process.env.BENCH_SFTP_MIB ?? 1024), 8);
  const bytes = mib * MiB;
  const dir = tempDir(B);
  const src = path.join(dir, 'src.bin');
  progress(B, `writing ${mib} MiB of random data`);
  await shOk(`head -c ${bytes} /dev/urandom > ${q(src)}`, 'making the data file');
  // `srec recorder` captures SFTP and SCP files itself (transferTaps(), the taps it gives the bastion).
  const lab = await startLab(dir, { fileTransfers: true });
  // recording_off: the same relay without recording or capture, to tell the relay's cost from the capture's.
  const modes: Record<'direct' | 'recording_off' | 'recorder', SshTarget> = { direct: lab.direct, recording_off: lab.via('norec'), recorder: lab.via('rec') };
  const mbps: Record<string, number> = {};
  const cpuOf: Record<string, number> = {};
  // One unmeasured direct put first: the first transfer of a run (cold page cache for the new file's
  // directory, sshd's first sftp-server) ran at under half the speed of the others.
  await fsp.writeFile(path.join(dir, 'batch'), `put ${src} ${path.join(dir, 'warm-up.bin')}\n`);
  await shOk(`${cmdline(['sftp', ...sftpArgs(lab.direct), '-b', path.join(dir, 'batch'), hostOf(lab.direct)])} > /dev/null`, 'warm-up put');
  await fsp.rm(path.join(dir, 'warm-up.bin'), { force: true });

  for (const protocol of PROTOCOLS) for (const direction of ['put', 'get'] as const) {
    for (const [mode, t] of Object.entries(modes)) {
      const key = `${protocol === 'sftp' ? '' : 'scp.'}${direction}.${mode}`;
      const remote = path.join(dir, `remote-${protocol}-${mode}.bin`);
      const local = path.join(dir, `local-${protocol}-${mode}.bin`);
      if (direction === 'get') await fsp.rm(local, { force: true });
      const batch = path.join(dir, 'batch');
      await fsp.writeFile(batch, direction === 'put' ? `put ${src} ${remote}\n` : `get ${remote} ${local}\n`);
      const command =
        protocol === 'sftp'
          ? `${cmdline(['sftp', ...sftpArgs(t), '-b', batch, hostOf(t)])} > /dev/null`
          : cmdline(['scp', '-O', '-q', ...sftpArgs(t), ...(direction === 'put' ? [src, `${hostOf(t)}:${remote}`] : [`${hostOf(t)}:${remote}`, local])]);
      // The login (two handshakes through the recorder) is not the data path: its time is taken off.
      const logins: number[] = [];
      for (let i = 0; i < 3; i++) logins.push((await shOk(`${cmdline(['ssh', ...sshArgs(t)])} true`, `login ${mode}`)).seconds);
      const login = median(logins);
      const cpu0 = cpuSeconds(lab.recorder.pid);
      const r = await shOk(command, `${protocol} ${direction} ${mode}`);
      const cpu = cpuSeconds(lab.recorder.pid) - cpu0;
      cpuOf[key] = cpu;
      const got = (await fsp.stat(direction === 'put' ? remote : local)).size;
      if (got !== bytes) throw new Error(`${protocol} ${direction} ${mode}: ${got} bytes arrived, not ${bytes}`);
      mbps[key] = bytes / MiB / Math.max(0.01, r.seconds - login);
      progress(B, `${protocol} ${direction} ${mode}: ${mbps[key]!.toFixed(1)} MiB/s (${r.seconds.toFixed(2)} s - login ${login.toFixed(2)} s, recorder CPU ${cpu.toFixed(1)} s = ${((100 * cpu) / r.seconds).toFixed(0)}% of a core)`);
      if (mode === 'recorder') await settle(lab.recorder.metric.bind(lab.recorder));
      if (direction === 'get') await fsp.rm(local, { force: true });
    }
  }
  const captured = await capturedFiles(lab.recorder.dataFolder);
  progress(B, `captured on the share: ${captured.map((c) => `${c.direction} ${(c.size / MiB).toFixed(0)} MiB sha256 ${c.sha256 ? 'yes' : 'no'}`).join(', ')}`);
  const capNote = `${mib} MiB random, wall time less the login's; capture by srec recorder; ${captured.filter((c) => c.size === bytes && c.sha256).length}/${2 * PROTOCOLS.length} transfers captured whole with sha256`;
  for (const protocol of PROTOCOLS) for (const direction of ['put', 'get'] as const) {
    const k = `${protocol === 'sftp' ? '' : 'scp.'}${direction}`;
    const d = mbps[`${k}.direct`]!;
    const off = mbps[`${k}.recording_off`]!;
    const r = mbps[`${k}.recorder`]!;
    const target = protocol === 'sftp' ? { target: '>= 0.5x direct', met: r / d >= 0.5 } : { target: '>= 0.57x direct (kept from the first round)', met: r / d >= 0.57 };
    emit({ bench: B, metric: `${k}.direct`, value: d, unit: 'MiB/s', baseline: null, ratio: null, note: `${protocol}, ${mib} MiB random, wall time less the login's` });
    emit({ bench: B, metric: `${k}.recording_off_vs_direct`, value: off, unit: 'MiB/s', baseline: d, ratio: off / d, note: `${protocol}, the relay alone: no recording, no capture; recorder CPU ${(cpuOf[`${k}.recording_off`]! / (mib / 1024)).toFixed(1)} s/GiB` });
    emit({ bench: B, metric: `${k}.capture_vs_direct`, value: r, unit: 'MiB/s', baseline: d, ratio: r / d, ...target, note: `${protocol}, ${capNote}; recorder CPU ${(cpuOf[`${k}.recorder`]! / (mib / 1024)).toFixed(1)} s/GiB` });
  }
  await lab.recorder.stop();
}

async function settle(metric: (name: string) => Promise<number>): Promise<void> {
  const until = Date.now() + 120_000;
  while (Date.now() < until && ((await metric('srec_sessions_open')) > 0 || (await metric('srec_recordings_pending')) > 0)) await sleep(200);
}

async function capturedFiles(dataFolder: string): Promise<Array<{ direction: string; size: number; sha256?: string }>> {
  const out: Array<{ direction: string; size: number; sha256?: string }> = [];
  for (const s of scanSessions(dataFolder).sessions) {
    for (const t of s.manifest.transfers) {
      if (!t.file) continue;
      const st = await fsp.stat(path.join(s.dir, t.file)).catch(() => undefined);
      out.push({ direction: t.direction, size: st?.size ?? 0, ...(t.sha256 ? { sha256: t.sha256 } : {}) });
    }
  }
  return out;
}
