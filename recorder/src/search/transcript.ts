// A session's recordings as text lines: for each cast channel, what the server printed (output) and what
// the person typed (input), in the order the lines were completed.
import path from 'node:path';
import { readCast } from '../trail/reader.js';
import { castFiles, type StoredSession, type TrailProblem } from '../trail/sessions.js';
import { InputEditor, OutputTerminal, type TextLine } from './terminal.js';

export type Stream = 'input' | 'output';

export interface TranscriptLine extends TextLine {
  readonly channel: number;
  readonly stream: Stream;
}

export interface TranscriptVisitor {
  /** Each finished line; channel and stream apart so that the hot path makes no new object. */
  line(line: TextLine, channel: number, stream: Stream): void;
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
  for (const { channel, file } of castFiles(ref)) {
    if (opts.channel !== undefined && opts.channel !== channel) continue;
    const out = new OutputTerminal((l) => visit.line(l, channel, 'output'));
    const inp = new InputEditor((l) => visit.line(l, channel, 'input'));
    let last = 0;
    const full = path.join(ref.dir, file);
    const res = await readCast(full, {
      event(t, code, data) {
        last = t;
        if (code === 'o') {
          if (want.has('output')) out.write(data, t);
        } else if (code === 'i') {
          if (want.has('input')) inp.write(data, t);
        }
      },
    });
    inp.end(last);
    out.end(last);
    bytesRead += res.bytesRead;
    if (res.problem !== undefined) problems.push({ session: ref.id, path: full, message: res.problem });
  }
  return { problems, bytesRead };
}

export interface Transcript {
  readonly lines: TranscriptLine[];
  readonly problems: TrailProblem[];
}

/** The whole transcript of a session in memory (for `play --text` and tests; search uses the index). */
export async function transcript(
  ref: StoredSession,
  opts: { channel?: number; streams?: readonly Stream[] } = {},
): Promise<Transcript> {
  const lines: TranscriptLine[] = [];
  const { problems } = await scanTranscript(ref, { line: (l, channel, stream) => lines.push({ ...l, channel, stream }) }, opts);
  return { lines, problems };
}
