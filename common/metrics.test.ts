import { Counter, Gauge, Histogram, Registry, render, sample, total, valueOf } from './metrics.js';

describe('render', () => {
  it('renders counters with labels, gauges and histograms in Prometheus text format', async () => {
    // GIVEN a registry with one metric of each kind
    const r = new Registry();
    const c = new Counter({ name: 'srec_things_total', help: 'Things.', labelNames: ['kind'], registers: [r] });
    const g = new Gauge({ name: 'srec_open', help: 'Open.', registers: [r] });
    const h = new Histogram({ name: 'srec_seconds', help: 'Seconds.', buckets: [0.1, 1], registers: [r] });
    // WHEN they are updated
    c.inc({ kind: 'a"b' });
    c.inc({ kind: 'a"b' }, 2);
    g.set(5);
    g.dec();
    h.observe(0.5);
    // THEN the text has the values, escaped labels and cumulative buckets
    const text = await render(r);
    expect(text).toContain('# TYPE srec_things_total counter');
    expect(text).toContain('srec_things_total{kind="a\\"b"} 3');
    expect(text).toContain('srec_open 4');
    expect(text).toContain('srec_seconds_bucket{le="0.1"} 0');
    expect(text).toContain('srec_seconds_bucket{le="1"} 1');
    expect(text).toContain('srec_seconds_count 1');
  });

  it('shows a labelled counter or gauge that has counted nothing yet as one zero sample', async () => {
    // GIVEN a labelled counter and gauge never touched, and a labelled counter that has counted
    const r = new Registry();
    new Counter({ name: 'srec_idle_total', help: 'Idle.', labelNames: ['result'], registers: [r] });
    new Gauge({ name: 'srec_idle', help: 'Idle.', labelNames: ['kind'], registers: [r] });
    new Counter({ name: 'srec_busy_total', help: 'Busy.', labelNames: ['result'], registers: [r] }).inc({ result: 'ok' });
    // WHEN the registry is rendered
    const lines = (await render(r)).split('\n');
    // THEN the untouched ones read 0 and the counted one has only its real series
    expect(lines).toContain('srec_idle_total 0');
    expect(lines).toContain('srec_idle 0');
    expect(lines).toContain('srec_busy_total{result="ok"} 1');
    expect(lines).not.toContain('srec_busy_total 0');
  });
});

describe('reading values', () => {
  it('reads one series by its labels in any order, a sum, and 0 for what has not been counted', () => {
    // GIVEN a counter with two labels counted in two series, and an unlabelled gauge
    const r = new Registry();
    const dropped = new Counter({ name: 'srec_dropped_total', help: 'D.', labelNames: ['reason', 'exposure'], registers: [r] });
    const depth = new Gauge({ name: 'srec_depth', help: 'Q.', registers: [r] });
    dropped.inc({ reason: 'queue_full', exposure: 'A' }, 3);
    dropped.inc({ exposure: 'A', reason: 'oversize' });
    depth.set(7);
    // WHEN values are read THEN each is the number counted
    expect(valueOf(dropped, { exposure: 'A', reason: 'queue_full' })).toBe(3);
    expect(valueOf(dropped, { reason: 'oversize', exposure: 'A' })).toBe(1);
    expect(valueOf(dropped, { reason: 'shutdown', exposure: 'A' })).toBe(0);
    expect(valueOf(depth)).toBe(7);
    expect(sample(r, 'srec_dropped_total{exposure="A",reason="queue_full"}')).toBe(3);
    expect(sample(r, 'srec_depth')).toBe(7);
    expect(sample(r, 'srec_absent_total{reason="x"}')).toBe(0);
    expect(total(r, 'srec_dropped_total')).toBe(4);
    expect(total(r, 'srec_absent_total')).toBe(0);
  });

  it('refuses to read a histogram and a series it cannot parse', () => {
    const r = new Registry();
    new Histogram({ name: 'srec_seconds', help: 'S.', registers: [r] });
    expect(() => total(r, 'srec_seconds')).toThrow('srec_seconds: only counters and gauges can be read');
    expect(() => sample(r, 'srec x')).toThrow('"srec x" is not a series like name or name{label="value"}');
  });
});
