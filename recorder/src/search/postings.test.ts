import { decodePostings, findTerm, forEachTokenHash, PostingsBuilder, TERMS_MAGIC } from './postings.js';

/** What the index must say: for each token hash, the ascending distinct ids of the lines holding it. */
function expected(lines: readonly string[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  lines.forEach((text, id) =>
    forEachTokenHash(text, (h) => {
      const ids = m.get(h) ?? [];
      if (ids[ids.length - 1] !== id) ids.push(id);
      m.set(h, ids);
    }),
  );
  return m;
}

function lookup(terms: Buffer, postings: Buffer, hash: number): number[] {
  const t = findTerm((pos, len) => terms.subarray(pos, pos + len), terms.readUInt32LE(8), hash);
  return t === undefined ? [] : [...decodePostings(postings.subarray(t.offset, t.offset + t.length), t.count)];
}

function someLines(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `ERROR error w${i % 97} u${i} dup${i % 5} dup${i % 5} Ünïcode ${i % 3 === 0 ? 'rare' : ''} ${'x'.repeat(i % 70)}`);
}

describe('PostingsBuilder', () => {
  it.each([
    ['one segment', 1 << 20],
    ['many segments, merged in groups', 100],
    ['a segment smaller than one line', 3],
  ])('stores every token with the ascending distinct ids of its lines (%s)', (_, segment) => {
    // GIVEN lines with repeated, rare, non-ASCII and over-long tokens, some twice on a line
    const lines = someLines(3000);
    const want = expected(lines);
    // WHEN they are added and serialized
    const b = new PostingsBuilder(segment);
    lines.forEach((l, id) => b.addLine(l, id));
    const { terms, postings, count } = b.serialize();
    // THEN the table has every distinct hash once and each lookup gives exactly the lines holding it
    expect(terms.subarray(0, 8).toString('latin1')).toBe(TERMS_MAGIC);
    expect(count).toBe(want.size);
    expect(terms.readUInt32LE(12)).toBe(want.size);
    for (const [h, ids] of want) expect(lookup(terms, postings, h)).toEqual(ids);
    let absent = 0;
    forEachTokenHash('absentword', (h) => (absent = h));
    expect(lookup(terms, postings, absent)).toEqual([]);
  });

  it('gives the same bytes whatever the segment size', () => {
    // GIVEN the same lines built with one segment and with many
    const lines = someLines(500);
    const build = (segment: number) => {
      const b = new PostingsBuilder(segment);
      lines.forEach((l, id) => b.addLine(l, id));
      return b.serialize();
    };
    // WHEN both are serialized THEN they are identical
    const one = build(1 << 20);
    const many = build(7);
    expect(Buffer.compare(one.terms, many.terms)).toBe(0);
    expect(Buffer.compare(one.postings, many.postings)).toBe(0);
  });

  it('serializes an empty builder into a table with no terms', () => {
    const { terms, postings, count } = new PostingsBuilder().serialize();
    expect(count).toBe(0);
    expect(postings.length).toBe(0);
    expect(lookup(terms, postings, 12345)).toEqual([]);
  });
});
