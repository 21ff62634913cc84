// console: the auditor's console over a share of many sessions (issue 19's figures). 10,000 sessions with
// 1 GiB of terminal output between them, recorded with the trail writer and indexed the way the recorder
// indexes each one when it is sealed (search/seal-indexer.ts: a worker thread builds it, once); then
// `srec console` (in process, over HTTP as a browser asks) lists the newest page of connections and
// searches a word across every session. Baselines, in the same run: GET /healthz (the HTTP round trip
// alone) for the list, searchSessions() called directly (what the console runs) for the search.
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../common/log.js';
import { TokenFileAuth } from '../console/src/auth.js';
import { startConsole } from '../console/src/cmd.js';
import type { AuditSink } from '../recorder/src/audit/emitter.js';
import { prebuildIndexes } from '../recorder/src/search/index-pool.js';
import { searchSessions } from '../recorder/src/search/query.js';
import { initKeySet, loadTrailKeys } from '../recorder/src/trail/crypto/keys.js';
import { scanSessions } from '../recorder/src/trail/sessions.js';
import { MiB, TRAIL_KEYS, emit, median, progress, scaled, tempDir } from './support/common.js';
import { runTrailGen } from './support/trail-gen-run.js';

const B = 'console';
const NEEDLE = 'fatal-oops-7731';
const TOKEN = 'bench-console-token-0123456789';

/** The p50 of `samples` against its baseline's and the target (at most `targetMs`). */
function p50(metric: string, samples: readonly number[], baseline: number, targetMs: number, note: string): void {
  const v = median([...samples]);
  emit({ bench: B, metric, value: v, unit: 'ms', baseline, ratio: v / baseline, target: `<= ${targetMs} ms`, met: v <= targetMs, note });
}

/** Wall milliseconds of `f`, `n` times. */
async function timed(n: number, f: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await f();
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

export async function run(): Promise<void> {
  const sessions = scaled(Number(process.env.BENCH_CONSOLE_SESSIONS ?? 10_000), 20);
  const totalMiB = scaled(1024, 2);
  const perSession = Math.floor((totalMiB * MiB) / sessions);
  const dir = tempDir(B);
  const dataFolder = path.join(dir, 'share');
  const keysDir = TRAIL_KEYS ? path.join(dir, 'trail-keys') : undefined;
  if (keysDir !== undefined) initKeySet(keysDir);
  const keys = keysDir !== undefined ? loadTrailKeys(keysDir) : undefined;
  // The needle in three sessions spread over the share, the way one rare command is.
  const planted = new Set([0, Math.floor(sessions / 3), Math.floor((2 * sessions) / 3)]);
  const specs = Array.from({ length: sessions }, (_, i) => ({ bytes: Math.floor(perSession * 0.8), seed: i + 1, needles: planted.has(i) ? [NEEDLE] : [] }));
  const workers = Math.max(1, Math.min(2, os.availableParallelism()));
  progress(B, `recording ${totalMiB} MiB of output in ${sessions} sessions (${(perSession / 1024).toFixed(0)} KiB each) with ${workers} trail writers`);
  let t0 = Date.now();
  // One command's output a session, so that the sessions add up to the total (the writer adds CRs and prompts).
  const commandBytes: [number, number] = [Math.floor(perSession * 0.8), Math.floor(perSession * 1.0) + 1];
  const written = (
    await Promise.all(
      Array.from({ length: workers }, (_, w) =>
        runTrailGen({ tempFolder: path.join(dir, `tmp-${w}`), dataFolder, sessions: specs.filter((_, i) => i % workers === w), commandBytes, ...(keysDir !== undefined ? { keysDir } : {}) }),
      ),
    )
  ).reduce((a, b) => a + b, 0);
  progress(B, `${(written / MiB).toFixed(0)} MiB recorded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Indexed as at seal: once per session, in worker threads, stored next to the recording.
  const refs = scanSessions(dataFolder, keys !== undefined ? { keys } : {}).sessions;
  if (refs.length !== sessions) throw new Error(`${refs.length} sessions on the share, ${sessions} written`);
  t0 = Date.now();
  const built = await prebuildIndexes(refs, { workers, ...(keysDir !== undefined ? { keysDir } : {}) });
  const indexSeconds = (Date.now() - t0) / 1000;
  if (built.size !== sessions) throw new Error(`${built.size} of ${sessions} sessions indexed (the worker module is bench's build: run \`npm run build\`)`);
  progress(B, `indexed in ${indexSeconds.toFixed(1)} s`);
  emit({
    bench: B,
    metric: 'index_at_seal',
    value: (written / MiB / indexSeconds) * (1 / workers),
    unit: 'MiB/s per core',
    baseline: null,
    ratio: null,
    note: `${sessions} sessions indexed by ${workers} worker threads in ${indexSeconds.toFixed(1)} s: ${((indexSeconds * 1000 * workers) / sessions).toFixed(1)} ms of one core per ${(perSession / 1024).toFixed(0)} KiB session, spent once when it is sealed`,
  });

  const sink: AuditSink = { emit: () => undefined, close: async () => undefined };
  const auth = new TokenFileAuth([{ token: TOKEN, name: 'bench' }]);
  const c = await startConsole({ dataFolder, listen: '127.0.0.1:0', tokens: auth, authorizer: auth, audit: sink, log: createLogger({ component: 'console', silent: true }), ...(keys !== undefined ? { keys } : {}) });
  try {
    // A fresh connection a request (as a browser after a pause would open): a kept-alive one can be closed by
    // the server's keep-alive timer while the in-process baseline holds the event loop.
    const request = (p: string, auth = true) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.get(`${c.url}${p}`, { agent: false, headers: auth ? { authorization: `Bearer ${TOKEN}` } : {} }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        });
        req.on('error', (err) => reject(new Error(`GET ${p}: ${err.message}`)));
      });
    const get = async (p: string, expectItems?: number) => {
      const r = await request(p);
      if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${r.body}`);
      const body = JSON.parse(r.body) as { total?: number; hits?: Array<{ session: string }> };
      if (expectItems !== undefined && body.total !== expectItems) throw new Error(`GET ${p}: ${body.total} sessions, not ${expectItems}`);
      return body;
    };
    const warmStart = Date.now();
    await c.warmed;
    const warm = Date.now() - warmStart;
    emit({ bench: B, metric: 'filters_prepared', value: warm, unit: 'ms', baseline: null, ratio: null, note: `after start, in the background: ${sessions} manifests read and each session's token filter made from its index; searches before then are slower, never wrong` });
    const health = await timed(30, () => request('/healthz', false));
    const [firstList] = await timed(1, () => get('/api/sessions', sessions));
    // The catalog keeps the manifests it read; each list walks the share's day directories again (at most once a second).
    const list: number[] = [];
    for (let i = 0; i < 30; i++) {
      list.push(...(await timed(1, () => get('/api/sessions', sessions))));
      await new Promise((r) => setTimeout(r, 1100));
    }
    const filtered = await timed(20, () => get('/api/sessions?user=user3&host=db-2'));
    emit({ bench: B, metric: 'first_list', value: firstList!, unit: 'ms', baseline: null, ratio: null, note: `the first GET /api/sessions, once the start-up reading of the ${sessions} manifests (filters_prepared) is done` });
    p50('list_p50', list, median(health), 200, `GET /api/sessions (the newest 50 of ${sessions}), ${list.length} runs a second apart so each walks the share again; baseline = p50 of GET /healthz`);
    emit({ bench: B, metric: 'list_filtered_p50', value: median(filtered), unit: 'ms', baseline: median(health), ratio: median(filtered) / median(health), note: 'GET /api/sessions?user=user3&host=db-2' });

    const direct = await timed(5, () => searchSessions({ dataFolder, words: NEEDLE, limit: 200, contextLines: 2, ...(keys !== undefined ? { keys } : {}) }));
    progress(B, `searching: searchSessions() directly ${median(direct).toFixed(0)} ms p50; now the console`);
    const [firstSearch] = await timed(1, () => get(`/api/search?q=${NEEDLE}`));
    const search = await timed(20, () => get(`/api/search?q=${NEEDLE}`));
    const common = await timed(5, () => get('/api/search?q=ERROR'));
    const hits = new Set(((await get(`/api/search?q=${NEEDLE}`)).hits ?? []).map((h) => h.session));
    if (hits.size !== planted.size) throw new Error(`the search found the needle in ${hits.size} sessions, not ${planted.size}`);
    emit({ bench: B, metric: 'first_search', value: firstSearch!, unit: 'ms', baseline: null, ratio: null, note: `the console's first search, its filters prepared (${sessions} sessions)` });
    p50('search_p50', search, median(direct), 500, `GET /api/search for a word in ${planted.size} of ${sessions} sessions (${(written / MiB).toFixed(0)} MiB of output), ${search.length} runs after the first; baseline = p50 of searchSessions() called directly, which walks the share and opens every index (what srec search does)`);
    emit({ bench: B, metric: 'search_common_word_p50', value: median(common), unit: 'ms', baseline: null, ratio: null, note: 'GET /api/search?q=ERROR: a word in every session, the first 200 hits' });
  } finally {
    await c.close();
  }
}
