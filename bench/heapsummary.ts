// `node dist/bench/heapsummary.js FILE.heapsnapshot [N]`: a V8 heap snapshot summed by what holds the bytes
// (the "Summary" view of a browser's memory tools, by self size): the top N constructors and the totals by
// node type. BENCH_HEAP_SNAPSHOT=DIR makes one of the operator at convergence (bench/operator.ts).
import { fileToolArgs } from './support/file-tool.js';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  strings: string[];
}

function main(): void {
  const { file, n, json: h } = fileToolArgs<Snapshot>('node dist/bench/heapsummary.js FILE.heapsnapshot [N]');
  const fields = h.snapshot.meta.node_fields;
  const types = h.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  if ([iType, iName, iSize].some((i) => i === undefined || i < 0)) throw new Error(`${file}: no type, name and self_size in node_fields`);
  const stride = fields.length;
  const byName = new Map<string, { size: number; count: number }>();
  const byType = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < h.nodes.length; i += stride) {
    const type = types[h.nodes[i + iType!]!] ?? '?';
    const size = h.nodes[i + iSize!]!;
    total += size;
    byType.set(type, (byType.get(type) ?? 0) + size);
    // Strings of every kind count as one line; objects and arrays by their constructor's name.
    const key = /string/.test(type) ? '(strings)' : type === 'object' || type === 'closure' || type === 'native' ? `${h.strings[h.nodes[i + iName!]!]} (${type})` : `(${type})`;
    const e = byName.get(key) ?? { size: 0, count: 0 };
    e.size += size;
    e.count++;
    byName.set(key, e);
  }
  const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
  const pct = (b: number) => `${((100 * b) / total).toFixed(1)}%`.padStart(6);
  console.log(`${file}: ${mib(total)} live (self sizes), ${h.snapshot.node_count} nodes\n\nby type:`);
  for (const [t, b] of [...byType].sort((a, b) => b[1] - a[1])) console.log(`${pct(b)}  ${mib(b).padStart(10)}  ${t}`);
  console.log(`\ntop ${n} by self size:`);
  for (const [k, e] of [...byName].sort((a, b) => b[1].size - a[1].size).slice(0, n)) console.log(`${pct(e.size)}  ${mib(e.size).padStart(10)}  ${String(e.count).padStart(8)}  ${k}`);
}

main();
