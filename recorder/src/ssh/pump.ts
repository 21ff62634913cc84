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
