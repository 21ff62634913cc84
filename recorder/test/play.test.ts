import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { main } from '../../cli.js';
import { play, textTranscript } from '../src/search/play.js';
import { resolveSession, scanSessions } from '../src/trail/sessions.js';
import { tempDataFolder, typed, writeSession } from './support/trail-fixture.js';

describe('play', () => {
  let data: ReturnType<typeof tempDataFolder>;
  beforeEach(() => (data = tempDataFolder()));
  afterEach(() => data.cleanup());

  function session(id: string) {
    return resolveSession(scanSessions(data.dir).sessions, id);
  }

  it('replays the output with its timing, idle gaps capped and speed applied, and never the input', async () => {
    // GIVEN output at 1 s, 1.5 s and, after a 60 s pause, 61.5 s; and typed input in between
    const s = writeSession({
      dataFolder: data.dir,
      channels: [{ id: 0, events: [[1, 'o', 'a'], [1.2, 'i', 'secret'], [1.5, 'o', 'b'], [61.5, 'o', 'c'], [61.5, 'r', '100x30']] }],
    });
    const sleeps: number[] = [];
    const written: string[] = [];
    // WHEN played at double speed with a 2 s idle limit
    const res = await play(session(s.id), { write: (d) => void written.push(d), sleep: async (ms) => void sleeps.push(ms), speed: 2, idleLimit: 2 });
    // THEN each pause is the recorded gap (at most 2 s) halved, and only output is written
    expect(sleeps).toEqual([500, 250, 1000]);
    expect(written).toEqual(['a', 'b', 'c']);
    expect(res).toMatchObject({ channels: 1, events: 5, problems: [], played: true });
  });

  it('plays what a truncated cast holds and names it', async () => {
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events: [[1, 'o', 'hello']] }] });
    const file = path.join(s.dir, 'ch-0.cast.gz');
    writeFileSync(file, 'garbage');
    const res = await play(session(s.id), { write: () => {}, sleep: async () => {} });
    expect(res.played).toBe(false);
    expect(res.problems).toEqual([{ session: s.id, path: file, message: expect.stringMatching(/damaged gzip/) }]);
  });
});

describe('textTranscript', () => {
  let data: ReturnType<typeof tempDataFolder>;
  beforeEach(() => (data = tempDataFolder()));
  afterEach(() => data.cleanup());

  it('prints what the terminals showed, channel by channel, with times when asked', async () => {
    // GIVEN a shell channel with an edited command and an exec channel
    const s = writeSession({
      dataFolder: data.dir,
      channels: [
        { id: 0, events: [[0.5, 'o', '\x1b[01;32m$\x1b[0m '], ...typed(1, ['l', 'x', '\x7f', 's', '\r']), [2, 'o', 'a.txt  b.txt\r\n']] },
        { id: 1, kind: 'exec', command: 'uptime', events: [[0.1, 'o', ' 10:00:01 up 3 days\r\n']] },
      ],
    });
    const ref = resolveSession(scanSessions(data.dir).sessions, s.id);
    // WHEN the transcript is printed
    const plain = await textTranscript(ref);
    const timed = await textTranscript(ref, { channel: 0, timestamps: true });
    // THEN escapes and edits are resolved and the channels are headed
    expect(plain.text).toBe(['── channel 0 (shell) ──', '$ ls', 'a.txt  b.txt', '── channel 1 (uptime) ──', ' 10:00:01 up 3 days', ''].join('\n'));
    expect(timed.text).toBe(['[    0.500] $ ls', '[    2.000] a.txt  b.txt', ''].join('\n'));
  });
});

describe('srec play --text', () => {
  let data: ReturnType<typeof tempDataFolder>;
  beforeEach(() => (data = tempDataFolder()));
  afterEach(() => data.cleanup());

  it('streams: the first text reaches a full stdout before the cast is read to its end, and the reading waits for it to drain', async () => {
    // GIVEN a cast of 50,000 short output lines (about 600 KB of text)
    const lines = Array.from({ length: 50_000 }, (_, i) => `line-${String(i).padStart(5, '0')}`);
    const s = writeSession({ dataFolder: data.dir, channels: [{ id: 0, events: lines.map((l, i) => [i / 1000, 'o', `${l}\r\n`] as [number, 'o', string]) }] });
    // AND a stdout that takes each chunk and then says it is full, until told it drained
    const chunks: string[] = [];
    const realWrite = process.stdout.write;
    const realErr = process.stderr.write;
    process.stdout.write = ((chunk: string | Uint8Array) => {
      chunks.push(String(chunk));
      return false;
    }) as typeof process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    let finished = false;
    try {
      // WHEN the transcript is printed
      const run = main(['play', '--data', data.dir, '--text', s.id]).finally(() => (finished = true));
      const turns = async (n: number) => {
        for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
      };
      while (chunks.length === 0 && !finished) await turns(1);
      // THEN a first piece is out while the command still runs, and it is a small part of the text
      expect(finished).toBe(false);
      expect(chunks).toHaveLength(1);
      const firstLines = chunks[0]!.split('\n').length - 1;
      expect(firstLines).toBeGreaterThan(0);
      expect(firstLines).toBeLessThan(lines.length / 4);
      // AND nothing more is read into output while stdout is full
      await turns(200);
      expect(chunks).toHaveLength(1);
      // WHEN stdout drains, again and again
      while (!finished) {
        process.stdout.emit('drain');
        await turns(5);
      }
      // THEN the whole transcript came out, in order, in many pieces
      expect(await run).toBe(0);
      expect(chunks.length).toBeGreaterThan(4);
      expect(chunks.join('')).toBe(lines.join('\n') + '\n');
    } finally {
      process.stdout.write = realWrite;
      process.stderr.write = realErr;
    }
  });
});
