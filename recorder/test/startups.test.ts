// The pre-login limits' decisions, with the randomness and the clock injected: MaxStartups' random early
// drop, sources by net block, the per-source limit, and per-source penalties.
import { PenaltyBox } from '../src/ssh/penalties.js';
import { earlyDrop, sourceOf, StartupGate } from '../src/ssh/startups.js';

const OPENSSH_DEFAULT = { start: 10, rate: 30, full: 100 };

describe('earlyDrop (MaxStartups start:rate:full)', () => {
  it('drops none below start, rate% at start, rising linearly to all at full', () => {
    // GIVEN 10:30:100 and a "random" that returns each percent once
    const dropped = (pending: number) => Array.from({ length: 100 }, (_, i) => earlyDrop(pending, OPENSSH_DEFAULT, () => i / 100)).filter(Boolean).length;
    // WHEN the decision is taken at each level THEN the share dropped is OpenSSH's
    expect(dropped(0)).toBe(0);
    expect(dropped(9)).toBe(0);
    expect(dropped(10)).toBe(30);
    expect(dropped(55)).toBe(65);
    expect(dropped(40)).toBe(54); // 30 + 70 * 30/90 = 53.3%
    expect(dropped(100)).toBe(100);
    expect(dropped(500)).toBe(100);
  });

  it('with a single number N (N:100:N) admits N and drops the rest', () => {
    const hard = { start: 3, rate: 100, full: 3 };
    expect([0, 1, 2, 3, 4].map((n) => earlyDrop(n, hard, () => 0.999))).toEqual([false, false, false, true, true]);
  });
});

describe('sourceOf (PerSourceNetBlockSize)', () => {
  it('groups addresses by their v4 and v6 prefix, IPv4-mapped addresses as IPv4', () => {
    const exact = { v4: 32, v6: 128 };
    const wide = { v4: 24, v6: 56 };
    expect(sourceOf('10.1.2.3', exact)).toBe('10.1.2.3/32');
    expect(sourceOf('10.1.2.3', wide)).toBe('10.1.2.0/24');
    expect(sourceOf('::ffff:10.1.2.3', wide)).toBe('10.1.2.0/24');
    expect(sourceOf('10.1.2.3', { v4: 0, v6: 0 })).toBe('0.0.0.0/0');
    expect(sourceOf('10.1.2.3', { v4: 12, v6: 0 })).toBe('10.0.0.0/12');
    expect(sourceOf('2001:db8:aa:bbcc::1', wide)).toBe('2001:db8:aa:bb00:0:0:0:0/56');
    expect(sourceOf('2001:db8:aa:bbcc::1', exact)).toBe('2001:db8:aa:bbcc:0:0:0:1/128');
    expect(sourceOf('::1', exact)).toBe('0:0:0:0:0:0:0:1/128');
    expect(sourceOf('fe80::1%eth0', { v4: 32, v6: 64 })).toBe('fe80:0:0:0:0:0:0:0/64');
    expect(sourceOf('64:ff9b::10.1.2.3', exact)).toBe('64:ff9b:0:0:0:0:a01:203/128');
    expect(sourceOf('not-an-address', exact)).toBe('not-an-address');
  });
});

describe('StartupGate', () => {
  const limits = { maxStartups: { start: 4, rate: 100, full: 4 }, perSourceMaxStartups: 2, perSourceNetBlockSize: { v4: 32, v6: 128 } };

  it('admits up to the per-source limit from one address while others still get in, up to the total', () => {
    // GIVEN a gate of 2 per source and 4 in all
    const gate = new StartupGate(limits, () => 0);
    // WHEN one address opens three connections THEN the third is refused per source
    expect([gate.admit('10.0.0.1'), gate.admit('10.0.0.1'), gate.admit('10.0.0.1')].map((a) => (a.ok ? 'ok' : a.reason))).toEqual(['ok', 'ok', 'per_source']);
    // ... and other addresses get the remaining slots, then the total is reached
    expect([gate.admit('10.0.0.2'), gate.admit('10.0.0.3'), gate.admit('10.0.0.4')].map((a) => (a.ok ? 'ok' : a.reason))).toEqual(['ok', 'ok', 'max_startups']);
    expect(gate.pending).toBe(4);
    // WHEN one of the first address's connections logs in THEN its slot is free again
    gate.release('10.0.0.1/32');
    expect(gate.pendingFrom('10.0.0.1/32')).toBe(1);
    expect(gate.admit('10.0.0.1')).toEqual({ ok: true, source: '10.0.0.1/32' });
  });

  it('counts a net block as one source', () => {
    const gate = new StartupGate({ ...limits, perSourceNetBlockSize: { v4: 24, v6: 64 } });
    expect(gate.admit('10.0.0.1').ok).toBe(true);
    expect(gate.admit('10.0.0.200').ok).toBe(true);
    expect(gate.admit('10.0.0.7')).toEqual({ ok: false, source: '10.0.0.0/24', reason: 'per_source' });
    expect(gate.admit('10.0.1.7').ok).toBe(true);
  });
});

describe('PenaltyBox (PerSourcePenalties)', () => {
  it('refuses a source once its penalties reach minSeconds, until they run out', () => {
    // GIVEN min 15 s, max 600 s and a clock
    let now = 1_000_000;
    const box = new PenaltyBox({ minSeconds: 15, maxSeconds: 600 }, () => now);
    // WHEN a source fails three times, 5 s each THEN it is refused from the third on, and others are not
    expect(box.penalise('10.0.0.1/32', 5)).toBe(false);
    expect(box.penalise('10.0.0.1/32', 5)).toBe(false);
    expect(box.refuses('10.0.0.1/32')).toBe(false);
    expect(box.penalise('10.0.0.1/32', 5)).toBe(true);
    expect(box.refuses('10.0.0.1/32')).toBe(true);
    expect(box.refuses('10.0.0.2/32')).toBe(false);
    expect(box.refused).toBe(1);
    // WHEN the penalty's time has passed THEN the source is taken again
    now += 14_999;
    expect(box.refuses('10.0.0.1/32')).toBe(true);
    now += 1;
    expect(box.refuses('10.0.0.1/32')).toBe(false);
    expect(box.refused).toBe(0);
  });

  it('lets old penalties run out, caps a source at maxSeconds, and a 0-second penalty is none', () => {
    let now = 0;
    const box = new PenaltyBox({ minSeconds: 15, maxSeconds: 60 }, () => now);
    box.penalise('a', 10);
    now += 10_000;
    expect(box.penalise('a', 10)).toBe(false);
    for (let i = 0; i < 100; i++) box.penalise('a', 10);
    now += 59_999;
    expect(box.refuses('a')).toBe(true);
    now += 1;
    expect(box.refuses('a')).toBe(false);
    expect(box.penalise('b', 0)).toBe(false);
    expect(box.refused).toBe(0);
  });

  it('tracks at most maxSources, leaving new ones unpenalised rather than forgetting the refused', () => {
    const box = new PenaltyBox({ minSeconds: 1, maxSeconds: 60 }, () => 0, 2);
    box.penalise('a', 5);
    box.penalise('b', 5);
    expect(box.penalise('c', 5)).toBe(false);
    expect([box.refuses('a'), box.refuses('b'), box.refuses('c')]).toEqual([true, true, false]);
  });
});
