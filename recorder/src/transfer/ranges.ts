// Which byte ranges of a file a capture has seen: a resumed upload (`sftp reput`, sshfs appends) or download
// (`reget`) moves only the tail, and a hash of the whole file would be a hash of bytes never seen.

/** Half-open byte ranges `[start, end)`, kept sorted and merged. */
export class RangeSet {
  private ranges: [number, number][] = [];

  add(start: number, end: number): void {
    if (end <= start) return;
    const out: [number, number][] = [];
    let s = start;
    let e = end;
    for (const [a, b] of this.ranges) {
      if (b < s || a > e) out.push([a, b]);
      else {
        s = Math.min(s, a);
        e = Math.max(e, b);
      }
    }
    out.push([s, e]);
    this.ranges = out.sort((x, y) => x[0] - y[0]);
  }

  /** The content was cut to `size`: what lies beyond it was never part of the file. */
  truncate(size: number): void {
    this.ranges = this.ranges.filter(([a]) => a < size).map(([a, b]) => [a, Math.min(b, size)]);
  }

  /** Every byte of `[0, size)` was seen. */
  coversAll(size: number): boolean {
    if (size === 0) return true;
    const first = this.ranges[0];
    return first !== undefined && first[0] === 0 && first[1] >= size;
  }

  list(): [number, number][] {
    return this.ranges.map(([a, b]) => [a, b]);
  }
}

/** `bytes 1048576-2097151 of 2097152` (inclusive ends, as HTTP's Content-Range writes them). */
export function describeRanges(ranges: readonly (readonly [number, number])[], size: number): string {
  const seen = ranges.length === 0 ? 'no bytes' : `bytes ${ranges.map(([a, b]) => `${a}-${b - 1}`).join(', ')}`;
  return `${seen} of ${size} seen`;
}
