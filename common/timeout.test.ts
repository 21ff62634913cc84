import { settlesWithin, TimeoutError, withTimeout } from './timeout.js';

const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));
const never = new Promise<never>(() => undefined);
const failAfter = (ms: number, message: string) => new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(message)), ms));

describe('settlesWithin', () => {
  it('is true when the promise resolves in time and false when the time runs out first', async () => {
    // GIVEN one promise that resolves after 5 ms and one that never settles
    // WHEN each is given 500 ms and 20 ms
    const [fast, slow] = await Promise.all([settlesWithin(after(5, 'x'), 500), settlesWithin(never, 20)]);
    // THEN the fast one made it and the other did not (and was not waited for)
    expect([fast, slow]).toEqual([true, false]);
  });

  it('passes on a rejection that comes in time', async () => {
    await expect(settlesWithin(failAfter(5, 'share gone'), 500)).rejects.toThrow('share gone');
  });
});

describe('withTimeout', () => {
  it("gives the promise's value in time, and a TimeoutError with the message after it", async () => {
    // GIVEN a promise resolving to 42 after 5 ms and one that never settles
    // WHEN each is given 500 ms and 20 ms
    // THEN the first gives 42 and the second fails with the given message
    await expect(withTimeout(after(5, 42), 500, 'no answer')).resolves.toBe(42);
    const err = await withTimeout(never, 20, 'no echo in 20 ms').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toBe('no echo in 20 ms');
  });

  it('passes on a rejection that comes in time', async () => {
    await expect(withTimeout(failAfter(5, 'ssh exited'), 500, 'no answer')).rejects.toThrow('ssh exited');
  });
});
