// sftp: put and get of one N MiB file (incompressible) with OpenSSH sftp, straight to sshd and through the
// recorder with file capture on (fileTransfers: true, so every byte is also written to the recording and
// hashed). Reports each direction's MiB/s and the ratio to direct.
import { readFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { MiB, REPO, cpuSeconds, emit, progress, scaled, sleep, tempDir } from './support/common.js';
import { hostOf, sftpArgs, type SshTarget } from './support/openssh.js';
import { startLab } from './support/recorder.js';
import { cmdline, q, shOk } from './support/shell.js';

const B = 'sftp';

/** Whether `srec recorder` wires the transfer taps itself (then it is what runs). */
function productionCaptures(): boolean {
  try {
    return readFileSync(path.join(REPO, 'dist', 'recorder', 'src', 'cmd', 'recorder.js'), 'utf8').includes('transferTaps');
  } catch {
    return false;
  }
}

export async function run(): Promise<void> {
  const mib = scaled(Number(process.env.BENCH_SFTP_MIB ?? 1024), 8);
  const bytes = mib * MiB;
  const dir = tempDir(B);
  const src = path.join(dir, 'src.bin');
  progress(B, `writing ${mib} MiB of random data`);
  await shOk(`head -c ${bytes} /dev/urandom > ${q(src)}`, 'making the data file');
  const production = productionCaptures();
  const entry = production ? undefined : path.join(REPO, 'dist', 'bench', 'support', 'recorder-taps.js');
  const lab = await startLab(dir, { fileTransfers: true, ...(entry ? { entry } : {}) });
  const modes: Record<'direct' | 'recorder', SshTarget> = { direct: lab.direct, recorder: lab.via('rec') };
  const mbps: Record<string, number> = {};

  for (const direction of ['put', 'get'] as const) {
    for (const [mode, t] of Object.entries(modes)) {
      const remote = path.join(dir, `remote-${mode}.bin`);
      const local = path.join(dir, `local-${mode}.bin`);
      if (direction === 'get') await fsp.rm(local, { force: true });
      const batch = path.join(dir, 'batch');
      await fsp.writeFile(batch, direction === 'put' ? `put ${src} ${remote}\n` : `get ${remote} ${local}\n`);
      const cpu0 = cpuSeconds(lab.recorder.pid);
      const r = await shOk(`${cmdline(['sftp', ...sftpArgs(t), '-b', batch, hostOf(t)])} > /dev/null`, `sftp ${direction} ${mode}`);
      const cpu = cpuSeconds(lab.recorder.pid) - cpu0;
      const got = (await fsp.stat(direction === 'put' ? remote : local)).size;
      if (got !== bytes) throw new Error(`sftp ${direction} ${mode}: ${got} bytes arrived, not ${bytes}`);
      mbps[`${direction}.${mode}`] = bytes / MiB / r.seconds;
      progress(B, `${direction} ${mode}: ${(bytes / MiB / r.seconds).toFixed(1)} MiB/s (${r.seconds.toFixed(2)} s, recorder CPU ${cpu.toFixed(1)} s)`);
      if (mode === 'recorder') await settle(lab.recorder.metric.bind(lab.recorder));
      if (direction === 'get') await fsp.rm(local, { force: true });
    }
  }
  const captured = await capturedFiles(lab.recorder.dataFolder);
  progress(B, `captured on the share: ${captured.map((c) => `${c.direction} ${(c.size / MiB).toFixed(0)} MiB sha256 ${c.sha256 ? 'yes' : 'no'}`).join(', ')}`);
  const capNote = `${mib} MiB random, wall time incl. login; capture ${production ? 'by srec recorder' : 'wired by bench/support/recorder-taps.ts (srec recorder does not wire the taps yet)'}; ${captured.filter((c) => c.size === bytes && c.sha256).length}/2 transfers captured whole with sha256`;
  for (const direction of ['put', 'get'] as const) {
    const d = mbps[`${direction}.direct`]!;
    const r = mbps[`${direction}.recorder`]!;
    emit({ bench: B, metric: `${direction}.recorder_vs_direct`, value: r, unit: 'MiB/s', baseline: d, ratio: r / d, target: '>= 0.5x direct', met: r / d >= 0.5, note: capNote });
  }
  await lab.recorder.stop();
}

async function settle(metric: (name: string) => Promise<number>): Promise<void> {
  const until = Date.now() + 120_000;
  while (Date.now() < until && ((await metric('srec_sessions_open')) > 0 || (await metric('srec_recordings_pending')) > 0)) await sleep(200);
}

async function capturedFiles(dataFolder: string): Promise<Array<{ direction: string; size: number; sha256?: string }>> {
  const out: Array<{ direction: string; size: number; sha256?: string }> = [];
  for (const f of await fsp.readdir(dataFolder, { recursive: true })) {
    if (!f.endsWith('manifest.json') || f.startsWith('.incoming')) continue;
    const m = JSON.parse(await fsp.readFile(path.join(dataFolder, f), 'utf8')) as { transfers?: Array<{ direction: string; size: number; sha256?: string; file?: string }> };
    for (const t of m.transfers ?? []) {
      if (!t.file) continue;
      const st = await fsp.stat(path.join(dataFolder, path.dirname(f), t.file)).catch(() => undefined);
      out.push({ direction: t.direction, size: st?.size ?? 0, ...(t.sha256 ? { sha256: t.sha256 } : {}) });
    }
  }
  return out;
}
