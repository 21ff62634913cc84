// A session's recordings as text lines: for each cast channel, what the server printed (output) and what
// the person typed (input), in the order the lines were completed.
import { readCast } from '../trail/reader.js';
import { refPath } from '../trail/session-file.js';
import { castFiles, type StoredSession, type TrailProblem } from '../trail/sessions.js';
import { InputEditor, OutputTerminal, type TextLine } from './terminal.js';

export type Stream = 'input' | 'output';

export interface TranscriptLine extends TextLine {
  readonly channel: number;
  readonly stream: Stream;
}

export interface TranscriptVisitor {
  /** A cast channel begins (before its lines). */
  channel?(channel: number): void;
  /** Each finished line; channel and stream apart so that the hot path makes no new object. */
  line(line: TextLine, channel: number, stream: Stream): void;
  /** Called after each cast event; a promise pauses the reading until it settles (backpressure for a writer). */
  drain?(): void | Promise<void>;
}

export interface TranscriptScan {
  /** Damaged or truncated casts: what could be read was used. */
  readonly problems: TrailProblem[];
  /** Compressed bytes read from the share. */
  readonly bytesRead: number;
}

/** Streams every line of every cast channel of a session to `visit`, one channel after another. */
export async function scanTranscript(
  ref: StoredSession,
  visit: TranscriptVisitor,
  opts: { channel?: number; streams?: readonly Stream[] } = {},
): Promise<TranscriptScan> {
  const problems: TrailProblem[] = [];
  let bytesRead = 0;
  const want = new Set<Stream>(opts.streams ?? ['input', 'output']);
  for (const { channel, ref: cast } of castFiles(ref)) {
    if (opts.channel !== undefined && opts.channel !== channel) continue;
    visit.channel?.(channel);
    const out = new OutputTerminal((l) => visit.line(l, channel, 'output'));
    const inp = new InputEditor((l) => visit.line(l, channel, 'input'));
    let last = 0;
    const res = await readCast(cast, {
      event(t, code, data) {
        last = t;
        if (code === 'o') {
          if (want.has('output')) out.write(data, t);
        } else if (code === 'i') {
          if (want.has('input')) inp.write(data, t);
        }
        return visit.drain?.();
      },
    });
    inp.end(last);
    out.end(last);
    await visit.drain?.();
    bytesRead += res.bytesRead;
    if (res.problem !== undefined) problems.push({ session: ref.id, path: refPath(cast), message: res.problem });
  }
  return { problems, bytesRead };
}

export interface Transcript {
  readonly lines: TranscriptLine[];
  readonly problems: TrailProblem[];
}

/** The whole transcript of a session in memory, for tests (`play --text` streams with scanTranscript; search uses the index). */
export async function transcript(
  ref: StoredSession,
  opts: { channel?: number; streams?: readonly Stream[] } = {},
): Promise<Transcript> {
  const lines: TranscriptLine[] = [];
  const { problems } = await scanTranscript(ref, { line: (l, channel, stream) => lines.push({ ...l, channel, stream }) }, opts);
  return { lines, problems };
}
