// Waiting for a promise with a deadline. The timer is cleared as soon as the promise settles, so a
// shutdown that waits "at most N seconds" ends when the work does, not N seconds later. (It is not
// unref'd: a process whose last work is that wait must not exit in the middle of it.)

/**
 * Waits for `p` at most `ms`: true when it resolved in time, false when the time ran out (`p` goes on, no
 * longer awaited). A rejection of `p` in time rejects this too.
 */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** `p`'s value, or a TimeoutError with `message` when it has not settled within `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(message)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
