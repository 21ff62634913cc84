// `node dist/bench/cpuprof.js FILE.cpuprofile [N]`: the top N functions by self time and the top files by
// self time, from a `node --cpu-prof` profile (BENCH_CPU_PROF=DIR writes one per recorder run).
import { fileToolArgs } from './support/file-tool.js';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function main(): void {
  const { file, n, json: p } = fileToolArgs<Profile>('node dist/bench/cpuprof.js FILE.cpuprofile [N]');
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const short = (url: string) => url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '').replace(/.*\/dist\//, '');
  const fnKey = (x: Node) => `${x.callFrame.functionName || '(anonymous)'}  ${short(x.callFrame.url)}:${x.callFrame.lineNumber + 1}`;
  const fileKey = (x: Node) => short(x.callFrame.url) || `(${x.callFrame.functionName})`;
  const sum = (key: (x: Node) => string) => {
    const m = new Map<string, number>();
    for (const [id, t] of self) {
      const x = byId.get(id);
      if (x) m.set(key(x), (m.get(key(x)) ?? 0) + t);
    }
    return [...m.entries()].sort((a, b) => b[1] - a[1]);
  };
  const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
  process.stdout.write(`profile ${file}: ${(total / 1e6).toFixed(2)} s sampled\n\nself time by function:\n`);
  for (const [k, t] of sum(fnKey).slice(0, n)) process.stdout.write(`${pct(t)}  ${k}\n`);
  process.stdout.write('\nself time by file:\n');
  for (const [k, t] of sum(fileKey).slice(0, n)) process.stdout.write(`${pct(t)}  ${k}\n`);
}

main();
