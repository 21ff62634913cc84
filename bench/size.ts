// size: a scripted interactive session of admin work through the recorder, in a pty with real programs
// (bash, ls, ps, grep, tail, less paging, vim scrolling and editing, interactive top), typed at ~5 keys/s
// with pauses between commands, replayed `speed` times faster than a person (top refreshes `speed` times
// faster too, so the bytes per session-minute are those of the real pace). Reported: bytes on the share
// per hour of session, and how much smaller that is than the raw asciicast.
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { castFiles, scanSessions, type StoredSession } from '../recorder/src/trail/sessions.js';
import { MiB, SCALE, atEnd, emit, progress, sleep, tempDir } from './support/common.js';
import { logText, prng } from './support/data.js';
import { sshArgs } from '../testing/openssh.js';
import { startLab } from './support/recorder.js';

const B = 'size';

type Step =
  | { readonly cmd: string; readonly think: number }
  | { readonly keys: readonly string[]; readonly gap: number; readonly think?: number }
  | { readonly type: string; readonly think?: number };

const ESC = '\x1b';

function script(workDir: string, speed: number): Step[] {
  return [
    { cmd: `cd ${workDir}`, think: 2 },
    { cmd: 'stty rows 40 cols 132; export TERM=xterm-256color', think: 2 },
    { cmd: 'uptime', think: 8 },
    { cmd: 'df -h', think: 10 },
    { cmd: 'free -m', think: 8 },
    { cmd: 'ls -la --color=always /etc | head -60', think: 15 },
    { cmd: 'ls -la --color=always', think: 8 },
    { cmd: 'ps aux --sort=-%cpu | head -30', think: 15 },
    { cmd: 'tail -n 40 app.log', think: 20 },
    { cmd: 'grep -c ERROR app.log', think: 5 },
    { cmd: 'grep ERROR app.log | tail -20', think: 20 },
    { cmd: 'less app.log', think: 3 },
    { keys: Array(15).fill(' '), gap: 4 },
    { type: '/timeout\r', think: 3 },
    { keys: ['n', 'n', 'n', 'q'], gap: 3, think: 3 },
    { cmd: 'vim app.conf', think: 3 },
    { keys: Array(8).fill('\x06'), gap: 3 },
    { keys: ['5', '0', 'G'], gap: 0.3, think: 2 },
    { type: 'o    max_connections = 512  # raised during incident', think: 1 },
    { keys: [ESC], gap: 1 },
    { type: ':wq\r', think: 5 },
    { cmd: `top -d ${(3 / speed).toFixed(3)}`, think: 120 },
    { keys: ['q'], gap: 1, think: 3 },
    { cmd: 'head -60 app.conf', think: 15 },
    { cmd: 'grep -n timeout app.conf', think: 10 },
    { cmd: 'tail -n 100 app.log | grep -v DEBUG', think: 25 },
    { cmd: 'ls -la /usr/bin | head -80', think: 15 },
    { cmd: 'uptime', think: 5 },
  ];
}

export async function run(): Promise<void> {
  const speed = Math.min(30, 6 / SCALE);
  const dir = tempDir(B);
  const work = path.join(dir, 'work');
  await fsp.mkdir(work);
  const rand = prng(11);
  await fsp.writeFile(path.join(work, 'app.log'), logText(rand, 2 * MiB));
  const conf: string[] = [];
  for (let i = 0; i < 300; i++) conf.push(i % 12 === 0 ? `\n[section_${i / 12}]` : `setting_${i} = ${rand() % 10000}  # ${['timeout', 'retries', 'path', 'listen'][i % 4]}`);
  await fsp.writeFile(path.join(work, 'app.conf'), conf.join('\n') + '\n');
  const lab = await startLab(dir);

  const ssh = spawn('ssh', sshArgs(lab.via('rec'), ['-tt']), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TERM: 'xterm-256color' } });
  atEnd(() => void ssh.kill('SIGKILL'));
  ssh.stdin.on('error', () => undefined);
  let shown = 0;
  ssh.stdout.on('data', (b: Buffer) => (shown += b.length));
  while (shown === 0) await sleep(50);

  const t0 = Date.now();
  const wait = (virtualSeconds: number) => sleep((virtualSeconds * 1000) / speed);
  const typeText = async (text: string) => {
    for (const ch of text) {
      ssh.stdin.write(ch);
      await wait(0.12 + (rand() % 160) / 1000); // ~5 keys/s
    }
  };
  const steps = script(work, speed);
  progress(B, `running ${steps.length} steps at ${speed}x a person's pace`);
  for (const s of steps) {
    if ('cmd' in s) {
      await typeText(s.cmd + '\r');
      await wait(s.think);
    } else if ('keys' in s) {
      for (const k of s.keys) {
        ssh.stdin.write(k);
        await wait(s.gap);
      }
      await wait(s.think ?? 0);
    } else {
      await typeText(s.type);
      await wait(s.think ?? 0);
    }
  }
  ssh.stdin.write('exit\r');
  await new Promise<void>((r) => ssh.once('exit', () => r()));
  const realSeconds = (Date.now() - t0) / 1000;
  const virtualSeconds = realSeconds * speed;
  progress(B, `session done: ${realSeconds.toFixed(1)} s real = ${(virtualSeconds / 60).toFixed(1)} min at a person's pace; ${(shown / 1024).toFixed(0)} KiB shown`);

  // Wait for the recording on the share.
  const until = Date.now() + 60_000;
  while (Date.now() < until && ((await lab.recorder.metric('srec_sessions_open')) > 0 || (await lab.recorder.metric('srec_recordings_pending')) > 0)) await sleep(100);
  const session = findSession(lab.recorder.dataFolder);
  let share = 0;
  for (const f of await fsp.readdir(session.dir, { recursive: true })) {
    const st = await fsp.stat(path.join(session.dir, f));
    if (st.isFile()) share += st.size;
  }
  let raw = 0;
  for (const c of castFiles(session)) raw += zlib.gunzipSync(await fsp.readFile(path.join(session.dir, c.file))).length;
  const perHour = (b: number) => (b * 3600) / virtualSeconds;
  const note = `${(virtualSeconds / 60).toFixed(1)}-minute session (commands, less, vim, 2 min of top) played ${speed}x; share ${(share / 1024).toFixed(1)} KiB, raw asciicast ${(raw / 1024).toFixed(1)} KiB`;
  emit({ bench: B, metric: 'share_bytes_per_hour', value: perHour(share) / 1e6, unit: 'MB/h', baseline: perHour(raw) / 1e6, ratio: share / raw, target: '<= 5 MB per hour', met: perHour(share) <= 5e6, note: `baseline = raw asciicast MB/h; ${note}` });
  emit({ bench: B, metric: 'smaller_than_raw_asciicast', value: raw / share, unit: 'x', baseline: null, ratio: null, target: '>= 10x smaller than raw', met: raw / share >= 10, note: 'raw asciicast bytes / every byte of the session on the share (casts, channel log, manifest)' });
  await lab.recorder.stop();
}

function findSession(dataFolder: string): StoredSession {
  const s = scanSessions(dataFolder).sessions[0];
  if (s === undefined) throw new Error(`no session on the share under ${dataFolder}`);
  return s;
}
