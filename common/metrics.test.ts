import { Registry } from './metrics.js';

describe('Registry', () => {
  it('renders counters with labels, gauges and histograms in Prometheus text format', () => {
    // GIVEN a registry with one metric of each kind
    const r = new Registry();
    const c = r.counter('srec_things_total', 'Things.');
    const g = r.gauge('srec_open', 'Open.');
    const h = r.histogram('srec_seconds', 'Seconds.', [0.1, 1]);
    // WHEN they are updated
    c.inc({ kind: 'a"b' });
    c.inc({ kind: 'a"b' }, 2);
    g.set(5);
    g.dec();
    h.observe(0.5);
    // THEN the text has the values, escaped labels and cumulative buckets
    const text = r.render();
    expect(text).toContain('# TYPE srec_things_total counter');
    expect(text).toContain('srec_things_total{kind="a\\"b"} 3');
    expect(text).toContain('srec_open 4');
    expect(text).toContain('srec_seconds_bucket{le="0.1"} 0');
    expect(text).toContain('srec_seconds_bucket{le="1"} 1');
    expect(text).toContain('srec_seconds_count 1');
  });
});
