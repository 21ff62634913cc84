// Reading what the trail writer wrote, tolerating the damage a crash or a bad disk can do: a gzip stream
// cut short decodes up to the last flush, and a torn last line is dropped rather than failing the file.
import zlib from 'node:zlib';

export interface Decoded {
  readonly data: Buffer;
  /** The stream ended early or was corrupt after `data`. */
  readonly truncated: boolean;
  readonly error?: string;
}

export function gunzipTolerant(buf: Buffer): Promise<Decoded> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (truncated: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      resolve({ data: Buffer.concat(chunks), truncated, ...(error ? { error } : {}) });
    };
    const gunzip = zlib.createGunzip();
    gunzip.on('data', (c: Buffer) => chunks.push(c));
    gunzip.on('end', () => done(false));
    gunzip.on('error', (err: Error) => done(true, err.message));
    gunzip.end(buf);
  });
}

/** Whole lines only: the text up to and including the last newline. */
export function completeLines(data: Buffer): { text: string; dropped: number } {
  const last = data.lastIndexOf(0x0a);
  const keep = last < 0 ? 0 : last + 1;
  return { text: data.subarray(0, keep).toString('utf8'), dropped: data.length - keep };
}

/** JSON values of each line; lines that do not parse are counted, not thrown. */
export function parseJsonLines(text: string): { values: unknown[]; badLines: number } {
  const values: unknown[] = [];
  let badLines = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      values.push(JSON.parse(line));
    } catch {
      badLines += 1;
    }
  }
  return { values, badLines };
}
