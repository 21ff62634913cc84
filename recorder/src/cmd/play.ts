// `srec play --data DIR ID [--speed X] [--idle-limit S] [--channel N] [--text | --raw in|out|err]`: replays a
// session in the terminal with its real timing, prints its plain transcript, or writes the exact bytes of one
// direction of a channel (a raw stream: channels without a pty, forwarded channels), which the cast cannot
// hold when they are not text.
import { play, writeTranscript } from '../search/play.js';
import { readGzipBytes } from '../trail/gzip-lines.js';
import { formatProblem, rawStreamFiles, resolveSession, scanSessions, type StoredSession } from '../trail/sessions.js';
import { parseCommand, usageError } from '../../../common/args.js';
import { keysOption } from './keys-option.js';

const USAGE = 'usage: srec play --data DIR [--keys DIR] ID [--speed X] [--idle-limit S] [--channel N] [--text [--timestamps] | --raw in|out|err]\n';

const LANES = ['in', 'out', 'err'] as const;

function write(data: string | Buffer): void | Promise<void> {
  if (process.stdout.write(data)) return;
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand('play', USAGE, args, {
    data: { type: 'string' },
    keys: { type: 'string' },
    speed: { type: 'string' },
    'idle-limit': { type: 'string' },
    channel: { type: 'string' },
    text: { type: 'boolean' },
    timestamps: { type: 'boolean' },
    raw: { type: 'string' },
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const fail = (msg: string) => usageError('play', USAGE, msg);
  if (values.data === undefined) return fail('--data DIR is required');
  if (positionals.length !== 1) return fail('give exactly one session ID (or a unique prefix of it)');
  if (values.raw !== undefined && !(LANES as readonly string[]).includes(values.raw)) return fail(`--raw "${values.raw}": give in (what the person sent), out (what came back) or err (stderr)`);
  if (values.raw !== undefined && values.text) return fail('--raw and --text are two different outputs; give one');
  const positive = (v: string | undefined, name: string, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} "${v}" is not a positive number`);
    return n;
  };
  let speed: number;
  let idleLimit: number;
  let channel: number | undefined;
  let ref: StoredSession;
  try {
    speed = positive(values.speed, '--speed', 1);
    idleLimit = positive(values['idle-limit'], '--idle-limit', 2);
    channel = values.channel === undefined ? undefined : Number(values.channel);
    if (channel !== undefined && !Number.isInteger(channel)) throw new Error(`--channel "${values.channel}" is not a channel number`);
    const keys = keysOption(values.keys);
    const scan = scanSessions(values.data, keys !== undefined ? { keys } : {});
    ref = resolveSession(scan.sessions, positionals[0]!);
    if (ref.stored.sealed !== undefined && (keys === undefined || keys.keks.length === 0)) {
      process.stderr.write(`srec play: session ${ref.id} is encrypted; give --keys DIR holding the trail's encryption.json\n`);
      return 1;
    }
  } catch (err) {
    return fail((err as Error).message);
  }
  const report = (problems: Parameters<typeof formatProblem>[0][]) =>
    problems.forEach((p) => process.stderr.write(`srec play: ${formatProblem(p)}\n`));

  if (values.raw !== undefined) return writeRaw(ref, values.raw as (typeof LANES)[number], channel);
  if (values.text) {
    // Streamed: the text of a long recording is never held whole in memory.
    const { problems } = await writeTranscript(ref, write, { channel, timestamps: values.timestamps ?? false });
    report(problems);
    return 0;
  }
  const res = await play(ref, { write, speed, idleLimit, channel });
  report(res.problems);
  if (res.channels === 0) {
    process.stderr.write(`srec play: session ${ref.id} has no terminal recording${channel !== undefined ? ` for channel ${channel}` : ''}\n`);
    return 1;
  }
  return res.played ? 0 : 1;
}

/** The exact bytes of one raw stream to stdout; several channels with one: --channel picks. */
async function writeRaw(ref: StoredSession, lane: (typeof LANES)[number], channel: number | undefined): Promise<number> {
  const all = rawStreamFiles(ref).filter((r) => r.lane === lane);
  const streams = all.filter((r) => channel === undefined || r.channel === channel);
  if (streams.length === 0) {
    process.stderr.write(
      `srec play: session ${ref.id} has no raw ${lane} stream${channel !== undefined ? ` for channel ${channel}` : ''} (raw streams are kept for channels without a pty and for forwarded channels${all.length ? `; channels with one: ${all.map((r) => r.channel).join(', ')}` : ''})\n`,
    );
    return 1;
  }
  if (streams.length > 1) {
    process.stderr.write(`srec play: session ${ref.id} has a raw ${lane} stream on channels ${streams.map((r) => r.channel).join(', ')}; give --channel N\n`);
    return 2;
  }
  const read = await readGzipBytes(streams[0]!.ref, (chunk) => write(chunk));
  if (read.problem !== undefined) {
    process.stderr.write(`srec play: ${formatProblem({ session: ref.id, path: streams[0]!.file, message: read.problem })}\n`);
    return 1;
  }
  return 0;
}
