// search: N GiB of terminal output recorded across sessions (the trail writer's own files), then
// `srec search` as an auditor runs it: the first search (which builds every session's index) and the same
// and other searches again (p50 of the repeats). A rare phrase planted in three sessions is what is searched.
import os from 'node:os';
import path from 'node:path';
import { MiB, REPO, TRAIL_KEYS, emit, median, progress, scaled, tempDir } from './support/common.js';
import { initKeySet, loadTrailKeys } from '../recorder/src/trail/crypto/keys.js';
import { searchSessions } from '../recorder/src/search/query.js';
import { runTrailGen } from './support/trail-gen-run.js';
import { cmdline, sh } from './support/shell.js';

const B = 'search';
const NEEDLE = 'fatal-oops-7731';

export async function run(): Promise<void> {
  const totalMiB = scaled(Number(process.env.BENCH_SEARCH_MIB ?? 1024), 16);
  const sessions = Math.max(4, Math.round(totalMiB / 16));
  const dir = tempDir(B);
  const dataFolder = path.join(dir, 'share');
  const perSession = Math.floor((totalMiB * MiB) / sessions);
  const specs = Array.from({ length: sessions }, (_, i) => ({ bytes: perSession, seed: i + 1, needles: [0, Math.floor(sessions / 3), Math.floor((2 * sessions) / 3)].includes(i) ? [NEEDLE] : [] }));
  const workers = Math.max(1, Math.min(2, os.availableParallelism()));
  const keysDir = TRAIL_KEYS ? path.join(dir, 'trail-keys') : undefined;
  if (keysDir !== undefined) initKeySet(keysDir);
  const keys = keysDir !== undefined ? loadTrailKeys(keysDir) : undefined;
  progress(B, `recording ${totalMiB} MiB of output in ${sessions} sessions with ${workers} trail writers`);
  const t0 = Date.now();
  const written = (
    await Promise.all(
      Array.from({ length: workers }, (_, w) => runTrailGen({ tempFolder: path.join(dir, `tmp-${w}`), dataFolder, sessions: specs.filter((_, i) => i % workers === w), ...(keysDir !== undefined ? { keysDir } : {}) })),
    )
  ).reduce((a, b) => a + b, 0);
  const planted = specs.filter((s) => s.needles.length > 0).length;
  progress(B, `${(written / MiB).toFixed(0)} MiB recorded in ${((Date.now() - t0) / 1000).toFixed(1)} s; needle in ${planted} sessions`);
  const du = await sh(`du -sb ${dataFolder} | cut -f1`);

  const search = async (words: string) => {
    const r = await sh(`${cmdline([process.execPath, path.join(REPO, 'bin', 'srec.js'), 'search', '--data', dataFolder, ...(keysDir !== undefined ? ['--keys', keysDir] : []), ...words.split(' ')])} | wc -l`);
    if (r.code !== 0 && r.code !== 1) throw new Error(`srec search failed (${r.code}): ${r.stderr.slice(-500)}`);
    return { seconds: r.seconds, hits: Number(r.stdout.trim()) };
  };
  const first = await search(NEEDLE);
  progress(B, `first search (builds the indexes): ${first.seconds.toFixed(2)} s, ${first.hits} hits`);
  const repeats: number[] = [];
  const others: number[] = [];
  const inProcess: number[] = [];
  const nodeStart: number[] = [];
  for (let i = 0; i < scaled(15, 5); i++) {
    repeats.push((await search(NEEDLE)).seconds * 1000);
    if (i % 5 === 0) others.push((await search(['connection timeout', 'postgres replica', 'disk full'][i % 3]!)).seconds * 1000);
    nodeStart.push((await sh(cmdline([process.execPath, '-e', '0']))).seconds * 1000);
    const t = process.hrtime.bigint();
    let hits = 0;
    await searchSessions({ dataFolder, words: NEEDLE, onHit: () => void hits++, ...(keys !== undefined ? { keys } : {}) });
    inProcess.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (hits !== first.hits) throw new Error(`in-process search found ${hits} hits, the CLI ${first.hits}`);
  }
  const node = { seconds: median(nodeStart) / 1000 };
  progress(B, `repeated: CLI p50 ${median(repeats).toFixed(0)} ms, in-process p50 ${median(inProcess).toFixed(1)} ms (other words CLI p50 ${median(others).toFixed(0)} ms); node start-up alone p50 ${(node.seconds * 1000).toFixed(0)} ms`);
  const note = `${(written / MiB).toFixed(0)} MiB of output in ${sessions} sessions (${(Number(du.stdout) / MiB).toFixed(0)} MiB on the share); wall time of \`srec search\` as a process`;
  emit({ bench: B, metric: 'first_search', value: first.seconds, unit: 's', baseline: null, ratio: null, target: '<= 30 s', met: first.seconds <= 30, note: `${note}; builds every index; ${first.hits} hits` });
  emit({ bench: B, metric: 'repeated_search_p50.cli', value: median(repeats), unit: 'ms', baseline: node.seconds * 1000, ratio: null, target: '<= 100 ms', met: median(repeats) <= 100, note: `${repeats.length} runs of \`srec search\` for the same phrase; baseline = p50 of \`node -e 0\` (process start-up alone)` });
  emit({ bench: B, metric: 'repeated_search_p50.in_process', value: median(inProcess), unit: 'ms', baseline: null, ratio: null, target: '<= 100 ms', met: median(inProcess) <= 100, note: `${inProcess.length} calls of searchSessions() (what \`srec search\` runs), without process start-up` });
  emit({ bench: B, metric: 'other_words_p50', value: median(others), unit: 'ms', baseline: null, ratio: null, note: 'common words (many hits) after the indexes exist' });
}
