// The watch faults a real API server produces only rarely (410 Gone after etcd compaction, a connection
// that stays open but silent) are driven here through a scripted client.
import { createLogger } from '../../../common/log.js';
import type { KubeObject } from '../desired/meta.js';
import type { KubeClient } from './client.js';
import { RESOURCES } from './client.js';
import { FakeClock } from './clock.js';
import { Reflector } from './reflector.js';

const log = createLogger({ component: 'test', silent: true });
const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
const cm = (name: string, rv: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } });

interface WatchCall {
  resourceVersion: string;
  onEvent: (type: string, obj: KubeObject) => void;
  done: (err: unknown) => void;
  aborted: boolean;
}

/** A client whose list answers come from `lists` and whose watches the test drives by hand. */
function scriptedClient(lists: Array<{ items: KubeObject[]; resourceVersion: string }>) {
  const watches: WatchCall[] = [];
  let listCalls = 0;
  const client = {
    list: async () => lists[Math.min(listCalls++, lists.length - 1)],
    watch: async (_r: unknown, opts: { resourceVersion: string }, onEvent: WatchCall['onEvent'], done: WatchCall['done']) => {
      const call: WatchCall = { resourceVersion: opts.resourceVersion, onEvent, done, aborted: false };
      watches.push(call);
      const ac = new AbortController();
      ac.signal.addEventListener('abort', () => {
        call.aborted = true;
        done(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      });
      return ac;
    },
  } as unknown as KubeClient;
  return { client, watches, listCalls: () => listCalls };
}

describe('Reflector', () => {
  it('lists, then watches from the list resourceVersion and keeps the cache current', async () => {
    const s = scriptedClient([{ items: [cm('a', '5')], resourceVersion: '10' }]);
    const changed: string[] = [];
    const r = new Reflector({ client: s.client, resource: RESOURCES.configMap, clock: new FakeClock(), random: () => 0, log, onChange: (o) => changed.push(o.metadata.name) });
    r.start();
    await r.waitForSync();
    await flush();
    expect(s.watches[0]?.resourceVersion).toBe('10');
    s.watches[0]?.onEvent('ADDED', cm('b', '11'));
    s.watches[0]?.onEvent('DELETED', cm('a', '12'));
    expect(r.list().map((o) => o.metadata.name)).toEqual(['b']);
    expect(changed).toEqual(['a', 'b', 'a']);
    await r.stop();
  });

  it('relists after 410 Gone and reports what changed while it was away', async () => {
    // GIVEN a cache of a and b
    const s = scriptedClient([
      { items: [cm('a', '1'), cm('b', '2')], resourceVersion: '2' },
      { items: [cm('b', '2'), cm('c', '30')], resourceVersion: '30' },
    ]);
    const changed: string[] = [];
    const r = new Reflector({ client: s.client, resource: RESOURCES.configMap, clock: new FakeClock(), random: () => 0, log, onChange: (o) => changed.push(o.metadata.name) });
    r.start();
    await r.waitForSync();
    await flush();
    changed.length = 0;
    // WHEN the watch says its resourceVersion is too old
    s.watches[0]?.onEvent('ERROR', { code: 410, message: 'too old resource version' } as unknown as KubeObject);
    await flush();
    // THEN it relists, reports a (gone) and c (new) but not the unchanged b, and watches from the new list
    expect(s.listCalls()).toBe(2);
    expect(changed.sort()).toEqual(['a', 'c']);
    expect(r.list().map((o) => o.metadata.name).sort()).toEqual(['b', 'c']);
    expect(s.watches[1]?.resourceVersion).toBe('30');
    await r.stop();
  });

  it('restarts a watch that stays silent, and re-watches from the last resourceVersion when one just ends', async () => {
    const clock = new FakeClock();
    const s = scriptedClient([{ items: [], resourceVersion: '7' }]);
    const restarts: string[] = [];
    const r = new Reflector({ client: s.client, resource: RESOURCES.configMap, clock, random: () => 0, log, onChange: () => {}, staleAfterMs: 1000, onRestart: (why) => restarts.push(why) });
    r.start();
    await r.waitForSync();
    await flush();
    // GIVEN a watch that delivers one event, then ends normally
    s.watches[0]?.onEvent('MODIFIED', cm('x', '8'));
    s.watches[0]?.done(null);
    await flush();
    // THEN the next watch starts from 8 without a relist
    expect(restarts).toEqual(['closed']);
    expect(s.watches[1]?.resourceVersion).toBe('8');
    expect(s.listCalls()).toBe(1);
    // WHEN that watch is silent past the staleness limit
    clock.advance(1000);
    await flush();
    // THEN it is aborted and replaced after a relist
    expect(s.watches[1]?.aborted).toBe(true);
    expect(restarts).toEqual(['closed', 'stale']);
    expect(s.listCalls()).toBe(2);
    expect(s.watches).toHaveLength(3);
    await r.stop();
  });
});
