import { describeRanges, RangeSet } from './ranges.js';

describe('RangeSet', () => {
  it('merges touching and overlapping ranges, in any order', () => {
    const r = new RangeSet();
    r.add(10, 20);
    r.add(0, 5);
    r.add(5, 10);
    r.add(30, 40);
    r.add(35, 45);
    expect(r.list()).toEqual([[0, 20], [30, 45]]);
    expect(r.coversAll(20)).toBe(true);
    expect(r.coversAll(21)).toBe(false);
  });

  it('forgets what a truncate cut away, so a write past a gap taken back leaves the file whole', () => {
    const r = new RangeSet();
    r.add(0, 100);
    r.add(1000, 2000);
    r.truncate(100);
    expect(r.list()).toEqual([[0, 100]]);
    expect(r.coversAll(100)).toBe(true);
  });

  it('says which bytes were seen, inclusive ends', () => {
    expect(describeRanges([[300, 1000]], 1000)).toBe('bytes 300-999 of 1000 seen');
    expect(describeRanges([], 10)).toBe('no bytes of 10 seen');
    expect(new RangeSet().coversAll(0)).toBe(true);
  });
});
