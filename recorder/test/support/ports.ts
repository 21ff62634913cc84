// Polling until something is true (free ports and waiting for a listener: testing/openssh.ts).

/** Poll `cond` until it is true. */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 10000): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
