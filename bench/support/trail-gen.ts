// Recorded sessions made with the recorder's own trail writer (SessionRecording + CastWriter), on a
// simulated clock: a person types a command, the target prints log-like text (with colours and prompts) in
// terminal-sized chunks. Closed recordings are renamed from the spool into the share's date layout.
// Runs as a worker thread (workerData) so that two cores write at once.
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { loadTrailKeys } from '../../recorder/src/trail/crypto/keys.js';
import { SessionRecording } from '../../recorder/src/trail/recording.js';
import { SESSION_INFO, shareSessionDir } from '../../recorder/src/trail/paths.js';
import { logText, prng } from './data.js';

export interface GenJob {
  readonly tempFolder: string;
  readonly dataFolder: string;
  /** One entry per session: its output bytes and the needles to plant in it. */
  readonly sessions: ReadonlyArray<{ readonly bytes: number; readonly seed: number; readonly needles: readonly string[] }>;
  /** A key set: the sessions are sealed and signed as the recorder's would be. */
  readonly keysDir?: string;
  /** Output bytes of one command, smallest and largest. @default 64 KiB .. 1 MiB */
  readonly commandBytes?: readonly [number, number];
}

const COMMANDS = ['tail -n 200 /var/log/app.log', 'grep -i error /var/log/app.log', 'journalctl -u nginx --no-pager', 'kubectl logs deploy/api', 'cat /var/log/syslog', 'ls -la /srv/app/releases'];

export async function generate(job: GenJob): Promise<number> {
  let total = 0;
  const keys = job.keysDir !== undefined ? loadTrailKeys(job.keysDir) : undefined;
  for (const s of job.sessions) {
    const rand = prng(s.seed);
    let clock = Date.UTC(2025, 2, 1, 8, 0, 0) + (s.seed % 1000) * 60_000;
    const now = () => clock;
    const id = randomUUID();
    const start = new Date(clock);
    const rec = await SessionRecording.create({
      tempFolder: job.tempFolder,
      identity: { sessionId: id, connectionId: randomUUID(), recorder: 'bench', user: `user${s.seed % 7}`, remoteAddress: '10.0.0.9:50000', targetUser: 'root', host: { name: `db-${s.seed % 5}`, address: '10.0.0.5', port: 22 }, start: start.toISOString() },
      now,
      flushIntervalMs: 3_600_000,
      ...(keys !== undefined ? { keys } : {}),
    });
    rec.record({ ch: 0, type: 'open', channel: 'session' });
    rec.record({ ch: 0, type: 'request', request: 'shell', accepted: true });
    const cast = rec.openCast(0, { cols: 132, rows: 40, term: 'xterm-256color' });
    const needles = [...s.needles];
    let written = 0;
    let bytesIn = 0;
    const write = async (ok: boolean) => {
      if (!ok) await new Promise<void>((r) => cast.onceDrain(r));
    };
    while (written < s.bytes) {
      const cmd = COMMANDS[rand() % COMMANDS.length]!;
      for (const ch of cmd + '\r') {
        clock += 80 + (rand() % 150);
        await write(cast.input(Buffer.from(ch)));
        await write(cast.output(Buffer.from(ch === '\r' ? '\r\n' : ch)));
        bytesIn++;
      }
      // The command's output (64 KiB .. 1 MiB unless told), in chunks of 1..16 KiB, a needle now and then.
      const [least, most] = job.commandBytes ?? [64 * 1024, 1024 * 1024];
      let text = logText(rand, least + (rand() % (most - least)), Math.floor(clock / 1000)).replace(/ ERROR /g, ' \x1b[31mERROR\x1b[0m ');
      if (needles.length > 0 && rand() % 4 === 0) {
        const at = text.indexOf('\n', rand() % text.length) + 1;
        text = text.slice(0, at) + `${new Date(clock).toISOString()} kernel: ${needles.shift()} detected on cpu ${rand() % 64}\n` + text.slice(at);
      }
      const buf = Buffer.from(text.replace(/\n/g, '\r\n'), 'latin1');
      for (let o = 0; o < buf.length; ) {
        const n = 1024 + (rand() % (15 * 1024));
        clock += 1 + (rand() % 20);
        await write(cast.output(buf.subarray(o, o + n)));
        o += n;
      }
      written += buf.length;
      clock += 2000 + (rand() % 20_000);
      await write(cast.output(Buffer.from('\x1b[01;32mroot@db\x1b[00m:\x1b[01;34m~\x1b[00m# ')));
    }
    for (const n of needles) await write(cast.output(Buffer.from(`kernel: ${n} detected\r\n`)));
    await rec.closeCast(0);
    rec.record({ ch: 0, type: 'close', bytesIn, bytesOut: written });
    await rec.close({ complete: true });
    await fsp.rm(path.join(rec.dir, SESSION_INFO), { force: true });
    const dest = shareSessionDir(job.dataFolder, id, start);
    await fsp.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
    await fsp.rename(rec.dir, dest);
    total += written;
  }
  return total;
}

if (parentPort && workerData) {
  const port = parentPort;
  generate(workerData as GenJob).then(
    (n) => port.postMessage({ ok: true, bytes: n }),
    (err: Error) => port.postMessage({ ok: false, error: err.stack ?? err.message }),
  );
}
