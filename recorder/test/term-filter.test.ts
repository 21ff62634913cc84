// The console's token filters: a search through them finds exactly what a search of every session finds,
// while opening only the sessions that may hold the words; a session without an index yet is still found.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { buildAndStore } from '../src/search/index-store.js';
import { searchSessions } from '../src/search/query.js';
import { Bloom, TermFilters } from '../src/search/term-filter.js';
import { forEachTokenHash } from '../src/search/postings.js';
import { scanSessions } from '../src/trail/sessions.js';
import { tempDataFolder, writeSession } from './support/trail-fixture.js';

describe('TermFilters', () => {
  const data = tempDataFolder();
  afterAll(() => data.cleanup());

  beforeAll(async () => {
    // GIVEN 40 sessions of ordinary output, two of which print a rare word, each indexed as at seal
    for (let i = 0; i < 40; i++) {
      const rare = i === 7 || i === 31 ? ' kernel: fatal-oops-7731 detected' : '';
      writeSession({ dataFolder: data.dir, channels: [{ id: 0, events: [[0.5, 'o', `service ${i} started on port ${8000 + i}${rare}\r\n`], [1.5, 'o', 'ERROR disk usage above threshold\r\n']] }] });
    }
    for (const s of scanSessions(data.dir).sessions) await buildAndStore(s);
  });

  it('finds what a search of every session finds, opening only the sessions that may match', async () => {
    const filters = new TermFilters();
    const sessions = scanSessions(data.dir).sessions;
    const all = await searchSessions({ dataFolder: data.dir, words: 'fatal-oops-7731' });
    const filtered = await searchSessions({ dataFolder: data.dir, words: 'fatal-oops-7731', sessions, filters });
    expect(filtered.hits).toEqual(all.hits);
    expect(all.hits).toHaveLength(2);
    expect(all.stats.indexesUsed).toBe(40);
    // 10 bits a token: a false positive or two at most, never the 40
    expect(filtered.stats.sessions).toBe(40);
    expect(filtered.stats.indexesUsed).toBeGreaterThanOrEqual(2);
    expect(filtered.stats.indexesUsed).toBeLessThanOrEqual(4);
    expect(filters.size).toBe(40);
    // A word in every session opens every session
    const common = await searchSessions({ dataFolder: data.dir, words: 'disk usage', sessions, filters });
    expect(common.hits).toHaveLength(40);
  });

  it('a session whose index is gone is searched (and indexed) as before, and found', async () => {
    const filters = new TermFilters();
    const sessions = scanSessions(data.dir).sessions;
    const target = sessions[0]!;
    rmSync(path.join(target.dir, 'index'), { recursive: true, force: true });
    const r = await searchSessions({ dataFolder: data.dir, words: 'disk usage', sessions, filters });
    expect(r.hits.map((h) => h.session)).toContain(target.id);
    expect(r.stats.indexesBuilt).toBe(1);
  });

  it('a Bloom filter never misses a token it was made from', () => {
    const hashes: number[] = [];
    forEachTokenHash('the quick brown fox jumps over the lazy dog 12345 fatal-oops-7731', (h) => hashes.push(h));
    const b = new Bloom(Uint32Array.from(hashes));
    for (const h of hashes) expect(b.has(h)).toBe(true);
    let others = 0;
    for (let h = 1; h < 10_000; h++) if (b.has(Math.imul(h, 2654435761) >>> 0)) others++;
    expect(others).toBeLessThan(300);
  });
});
