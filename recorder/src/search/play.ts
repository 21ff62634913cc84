// Playback of a session's casts with their real timing (idle gaps capped, speed applied), and its plain
// transcript. The clock (sleep) and the terminal (write) are injected.
import { readCast } from '../trail/reader.js';
import { refPath } from '../trail/session-file.js';
import { castFiles, type StoredSession, type TrailProblem } from '../trail/sessions.js';
import { scanTranscript } from './transcript.js';

export interface PlayOptions {
  /** Where the output goes; may return a promise to apply backpressure. */
  readonly write: (data: string) => void | Promise<void>;
  /** @default real time (setTimeout) */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Playback speed factor. @default 1 */
  readonly speed?: number;
  /** Longest pause, in recorded seconds. @default 2 */
  readonly idleLimit?: number;
  /** Only this channel. @default every cast channel, one after another */
  readonly channel?: number;
}

export interface PlayResult {
  readonly channels: number;
  readonly events: number;
  /** Casts that were damaged or cut short: what could be read was played. */
  readonly problems: TrailProblem[];
  /** false when no cast of the session could be read at all. */
  readonly played: boolean;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function play(ref: StoredSession, opts: PlayOptions): Promise<PlayResult> {
  const sleep = opts.sleep ?? realSleep;
  const speed = opts.speed ?? 1;
  const idle = opts.idleLimit ?? 2;
  const problems: TrailProblem[] = [];
  let channels = 0;
  let events = 0;
  let played = false;
  for (const { channel, ref: cast } of castFiles(ref)) {
    if (opts.channel !== undefined && opts.channel !== channel) continue;
    channels++;
    let prev = 0;
    const res = await readCast(cast, {
      async event(t, code, data) {
        if (code !== 'o') return;
        const gap = Math.min(Math.max(t - prev, 0), idle) / speed;
        prev = t;
        if (gap > 0.0005) await sleep(gap * 1000);
        await opts.write(data);
      },
    });
    events += res.events;
    if (res.header !== undefined) played = true;
    if (res.problem !== undefined) problems.push({ session: ref.id, path: refPath(cast), message: res.problem });
  }
  return { channels, events, problems, played };
}

/** Text is handed to `write` in pieces of about this many characters. */
const TEXT_CHUNK = 64 * 1024;

/**
 * The plain text of what the session's terminals showed, channel by channel, streamed to `write` as the
 * casts are read: the reading waits for a write that returns a promise, so memory stays bounded however
 * long the recording.
 */
export async function writeTranscript(
  ref: StoredSession,
  write: (text: string) => void | Promise<void>,
  opts: { channel?: number; timestamps?: boolean } = {},
): Promise<{ problems: TrailProblem[] }> {
  const casts = castFiles(ref).filter((c) => opts.channel === undefined || c.channel === opts.channel);
  let pending = '';
  const flush = (): void | Promise<void> => {
    if (pending.length === 0) return;
    const text = pending;
    pending = '';
    return write(text);
  };
  const { problems } = await scanTranscript(
    ref,
    {
      channel(channel) {
        if (casts.length <= 1) return;
        const ch = ref.manifest.channels.find((c) => c.id === channel);
        const what = ch?.command ?? ch?.kind ?? '';
        pending += `── channel ${channel}${what ? ` (${what})` : ''} ──\n`;
      },
      line(l) {
        pending += opts.timestamps ? `[${l.start.toFixed(3).padStart(9)}] ${l.text}\n` : `${l.text}\n`;
      },
      drain: () => (pending.length >= TEXT_CHUNK ? flush() : undefined),
    },
    { channel: opts.channel, streams: ['output'] },
  );
  await flush();
  return { problems };
}

/** writeTranscript() into one string, for tests and small sessions. */
export async function textTranscript(ref: StoredSession, opts: { channel?: number; timestamps?: boolean } = {}): Promise<{ text: string; problems: TrailProblem[] }> {
  const parts: string[] = [];
  const { problems } = await writeTranscript(ref, (t) => void parts.push(t), opts);
  return { text: parts.join(''), problems };
}
