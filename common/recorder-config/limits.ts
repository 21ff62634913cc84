// The two limits recorder.yaml writes as text, `maxStartups: 10:30:100` and `perSourceNetBlockSize: 32:128`,
// read the way OpenSSH reads MaxStartups and PerSourceNetBlockSize. validate.ts says what is wrong with one;
// the recorder runs on what these return.

/** Random early drop of connections not yet logged in: none below `start`, `rate`% at it, rising to all at `full`. */
export interface MaxStartups {
  readonly start: number;
  /** Percent, 1-100. */
  readonly rate: number;
  readonly full: number;
}

/** Prefix lengths that make addresses one source. */
export interface NetBlockSize {
  readonly v4: number;
  readonly v6: number;
}

/** `10:30:100`, or N (N:100:N); undefined when it is not one (start <= full, 1 <= rate <= 100, full >= 1). */
export function parseMaxStartups(value: unknown): MaxStartups | undefined {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') return undefined;
  const m = /^(\d{1,6})(?::(\d{1,3}):(\d{1,6}))?$/.exec(text);
  if (!m) return undefined;
  const start = Number(m[1]);
  const rate = m[2] === undefined ? 100 : Number(m[2]);
  const full = m[3] === undefined ? start : Number(m[3]);
  if (full < 1 || start > full || rate < 1 || rate > 100) return undefined;
  return { start, rate, full };
}

/** `32:128`, or N (N:128); undefined when it is not one (v4 0-32, v6 0-128). */
export function parseNetBlockSize(value: unknown): NetBlockSize | undefined {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') return undefined;
  const m = /^(\d{1,2})(?::(\d{1,3}))?$/.exec(text);
  if (!m) return undefined;
  const v4 = Number(m[1]);
  const v6 = m[2] === undefined ? 128 : Number(m[2]);
  return v4 <= 32 && v6 <= 128 ? { v4, v6 } : undefined;
}
