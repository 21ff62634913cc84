// Flow-controlled forwarding: each chunk goes to every sink (the other side's channel, the recording, a
// parser); while any sink is behind, the source is paused, which stops ssh2 from opening the sender's SSH
// window. Nothing is buffered beyond the streams' own high-water marks.
import type { Readable, Writable } from 'node:stream';

export interface Sink {
  /** false: behind; the pump pauses until onceDrain() fires. */
  write(chunk: Buffer): boolean | void;
  onceDrain?(cb: () => void): void;
}

export function streamSink(w: Writable): Sink {
  return {
    write: (chunk) => (w.destroyed || w.writableEnded ? true : w.write(chunk)),
    onceDrain: (cb) => {
      // A stream that closes while we wait will never drain; resume so the source's own close is seen.
      const done = () => {
        w.off('drain', done);
        w.off('close', done);
        cb();
      };
      w.on('drain', done);
      w.on('close', done);
    },
  };
}

export function pump(src: Readable, sinks: readonly Sink[]): void {
  let behind = 0;
  src.on('data', (chunk: Buffer) => {
    for (const s of sinks) {
      if (s.write(chunk) === false && s.onceDrain) {
        behind += 1;
        s.onceDrain(() => {
          behind -= 1;
          if (behind === 0) src.resume();
        });
      }
    }
    if (behind > 0) src.pause();
  });
}

/**
 * Fail closed: a sink that hands each chunk on to `inner` only after `commit()`, called after the chunk was
 * written to the recording, has resolved; so nothing reaches the other side that the recording does not hold.
 * The chunks of one event-loop turn share one commit (a keystroke waits for one flush; bulk output is
 * committed a batch at a time while the next batch comes in). At most `maxHeldBytes` wait; then the source
 * pauses. When a commit fails the held chunks and every later one are dropped and the source stays paused:
 * the recording's failure ends the session.
 */
export class CommitGate implements Sink {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private round?: Promise<void>;
  private innerBehind = false;
  private failed = false;
  private readonly drainWaiters: (() => void)[] = [];

  constructor(
    private readonly inner: Sink,
    private readonly commit: () => Promise<void>,
    private readonly maxHeldBytes = 1 << 20,
  ) {}

  write(chunk: Buffer): boolean {
    if (this.failed) return false;
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    this.round ??= this.run();
    return !this.behind();
  }

  onceDrain(cb: () => void): void {
    // A failed gate never drains: its source stays paused until the session is ended.
    if (this.failed) return;
    if (!this.behind()) return void setImmediate(cb);
    this.drainWaiters.push(cb);
  }

  /** Resolves once every chunk written so far has been handed on or dropped. */
  async settled(): Promise<void> {
    while (this.round) await this.round;
  }

  private behind(): boolean {
    return this.heldBytes >= this.maxHeldBytes || this.innerBehind;
  }

  private async run(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    while (this.held.length > 0 && !this.failed) {
      const batch = this.held;
      this.held = [];
      try {
        await this.commit();
      } catch {
        this.failed = true;
        this.held = [];
        this.heldBytes = 0;
        break;
      }
      for (const chunk of batch) {
        this.heldBytes -= chunk.length;
        if (this.inner.write(chunk) === false && this.inner.onceDrain && !this.innerBehind) {
          this.innerBehind = true;
          this.inner.onceDrain(() => {
            this.innerBehind = false;
            this.wake();
          });
        }
      }
      this.wake();
    }
    this.round = undefined;
  }

  private wake(): void {
    if (this.behind() || this.failed) return;
    for (const cb of this.drainWaiters.splice(0)) cb();
  }
}

/** Resolves once everything written to `w` so far has been handed on, or `w` or `gone` closed. */
export function whenWritten(w: Writable, gone?: Promise<void>): Promise<void> {
  if (w.destroyed || w.writableFinished) return Promise.resolve();
  if (w.writableLength === 0) return Promise.resolve();
  const written = new Promise<void>((resolve) => {
    const done = () => {
      w.off('close', done);
      resolve();
    };
    w.on('close', done);
    // Writes complete in order, so an empty write's callback fires after every earlier one.
    w.write(Buffer.alloc(0), () => done());
  });
  return gone ? Promise.race([written, gone]) : written;
}
