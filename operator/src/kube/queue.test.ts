import { FakeClock } from './clock.js';
import { WorkQueue } from './queue.js';

/** Let pending promise callbacks run. */
const flush = () => new Promise((r) => setImmediate(r));

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WorkQueue', () => {
  it('runs a key once when it is added many times before it starts', async () => {
    // GIVEN one worker busy with another key
    const gate = deferred();
    const runs: string[] = [];
    const q = new WorkQueue(
      async (k) => {
        runs.push(k);
        if (k === 'ns/busy') await gate.promise;
      },
      { clock: new FakeClock(), random: () => 0, workers: 1 },
    );
    q.add('ns/busy');
    // WHEN the same key is added three times while it waits
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/a');
    expect(q.depth).toBe(1);
    gate.resolve();
    await flush();
    await flush();
    // THEN it runs once
    expect(runs).toEqual(['ns/busy', 'ns/a']);
  });

  it('never runs a key twice at once; an add during a run queues one more run after it', async () => {
    const gate = deferred();
    let concurrent = 0;
    let maxConcurrent = 0;
    let runs = 0;
    const q = new WorkQueue(
      async () => {
        runs++;
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        if (runs === 1) await gate.promise;
        concurrent--;
      },
      { clock: new FakeClock(), random: () => 0, workers: 4 },
    );
    // GIVEN a key running WHEN it is added twice more
    q.add('ns/a');
    await flush();
    q.add('ns/a');
    q.add('ns/a');
    await flush();
    expect(runs).toBe(1);
    // THEN after the run one more run follows, never in parallel
    gate.resolve();
    await flush();
    await flush();
    expect(runs).toBe(2);
    expect(maxConcurrent).toBe(1);
  });

  it('retries failures with exponential backoff and jitter, capped', async () => {
    // GIVEN a processor that always fails and random() = 0.5 with 20% jitter
    const clock = new FakeClock();
    const delays: number[] = [];
    let runs = 0;
    const q = new WorkQueue(
      async () => {
        runs++;
        throw new Error('boom');
      },
      { clock, random: () => 0.5, baseDelayMs: 100, maxDelayMs: 1000, jitter: 0.2, onError: (_k, _e, _n, d) => delays.push(d) },
    );
    // WHEN the key fails repeatedly
    q.add('ns/a');
    for (let i = 0; i < 6; i++) {
      await flush();
      clock.advance(delays[delays.length - 1] ?? 0);
    }
    await flush();
    // THEN each retry waits twice as long (x1.1 jitter), up to the cap
    expect(delays.slice(0, 6)).toEqual([110, 220, 440, 880, 1100, 1100]);
    expect(runs).toBeGreaterThanOrEqual(6);
  });

  it('requeues after the requested delay, and no sooner', async () => {
    const clock = new FakeClock();
    let runs = 0;
    const q = new WorkQueue(async () => (runs++, { requeueAfter: 30_000 }), { clock, random: () => 0 });
    q.add('ns/a');
    await flush();
    clock.advance(29_999);
    await flush();
    expect(runs).toBe(1);
    clock.advance(1);
    await flush();
    expect(runs).toBe(2);
  });

  it('reports depth and stops taking work on shutdown', async () => {
    const depths: number[] = [];
    const gate = deferred();
    const q = new WorkQueue(async () => gate.promise, { clock: new FakeClock(), random: () => 0, workers: 1, onDepth: (d) => depths.push(d) });
    q.add('a');
    q.add('b');
    await flush();
    expect(q.depth).toBe(1);
    const done = q.shutdown();
    q.add('c');
    gate.resolve();
    await done;
    expect(q.depth).toBe(0);
    expect(depths).toContain(1);
  });
});
