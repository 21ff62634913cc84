// Prometheus metrics for every srec process: prom-client, with one Registry per process (never
// prom-client's global one, so that each test and each in-process operator counts only its own).
// srec code takes the metric classes from here, so this file is the one owner of the dependency.
import { AggregatorRegistry, type Counter, type Gauge, type Metric, type Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** One registry from several processes' `getMetricsAsJSON()`: each series summed (prom-client's cluster aggregation). */
export function aggregate(parts: readonly unknown[][]): Registry {
  return AggregatorRegistry.aggregate(parts as object[][]) as unknown as Registry;
}

/**
 * The exposition text served on /metrics. A counter or gauge with labels that has nothing counted yet
 * still shows one `name 0` sample (prom-client would show none): srec's metrics always have, and a
 * scrape of a standby operator (leader.e2e) reads its zero reconciles from it.
 */
export async function render(registry: Registry): Promise<string> {
  const text = await registry.metrics();
  return text.replace(/(^|\n)(# TYPE (\S+) (?:counter|gauge)\n)(?=\n|$)/g, (_m, start: string, type: string, name: string) => `${start}${type}${name} 0\n`);
}

interface Series {
  readonly value: number;
  readonly labels: Readonly<Record<string, string | number>>;
}

/**
 * A counter's or gauge's series as they are now. prom-client hands them out only through the async
 * get(); tests and benchmarks poll values between awaits, so this reads the map get() reads
 * (metrics.test.ts pins it, so an upgrade that moves it fails there first).
 */
function seriesOf(metric: Metric): readonly Series[] {
  const map = (metric as unknown as { hashMap?: Record<string, Series> }).hashMap;
  const values = map === undefined ? [] : Object.values(map);
  if (map === undefined || values.some((s) => typeof s.value !== 'number')) {
    throw new Error(`${String((metric as unknown as { name?: string }).name)}: only counters and gauges can be read`);
  }
  return values;
}

/** The value of one series of a counter or gauge, 0 when that series has not been counted yet. */
export function valueOf(metric: Counter | Gauge, labels: Readonly<Record<string, string>> = {}): number {
  const want = Object.entries(labels);
  const match = (s: Series) => Object.keys(s.labels).length === want.length && want.every(([k, v]) => String(s.labels[k]) === v);
  return seriesOf(metric).find(match)?.value ?? 0;
}

/** The sum over every series of a counter or gauge; 0 when the registry has no such metric. */
export function total(registry: Registry, name: string): number {
  const metric = registry.getSingleMetric(name);
  return metric === undefined ? 0 : seriesOf(metric).reduce((a, s) => a + s.value, 0);
}

/**
 * One sample as it reads on /metrics, labels in any order: `sample(registry, 'srec_x_total{reason="a"}')`;
 * 0 when the metric or the series does not exist yet.
 */
export function sample(registry: Registry, series: string): number {
  const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?$/.exec(series);
  if (!m) throw new Error(`"${series}" is not a series like name or name{label="value"}`);
  const metric = registry.getSingleMetric(m[1]!);
  if (metric === undefined) return 0;
  const labels: Record<string, string> = {};
  for (const [, k, v] of (m[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    labels[k!] = v!.replace(/\\(.)/g, (_e, c: string) => (c === 'n' ? '\n' : c));
  }
  return valueOf(metric as Counter | Gauge, labels);
}
