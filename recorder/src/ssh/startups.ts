// Who may start logging in: connections not yet logged in are bounded per source (its net block, as
// OpenSSH's PerSourceMaxStartups / PerSourceNetBlockSize) and in all (MaxStartups' random early drop), so
// one address holding sockets open cannot lock everyone else out. Pure: the randomness is injected.
import type { MaxStartups, NetBlockSize } from '../../../common/recorder-config/limits.js';

/**
 * MaxStartups' random early drop, as OpenSSH's drop_connection(): below `start` none, at `full` and beyond
 * all, between them with probability rising linearly from `rate`% to 100%. `random` is uniform in [0, 1).
 */
export function earlyDrop(pending: number, m: MaxStartups, random: () => number): boolean {
  if (pending < m.start) return false;
  if (pending >= m.full) return true;
  const percent = m.rate + ((100 - m.rate) * (pending - m.start)) / (m.full - m.start);
  return Math.floor(random() * 100) < percent;
}

/** The source an address belongs to: its net block, `10.1.2.0/24` or `fd00:0:0:0:0:0:0:0/56`; an address that parses as neither is its own. */
export function sourceOf(address: string, block: NetBlockSize): string {
  const v4 = parseV4(address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, ''));
  if (v4) return `${masked(v4, 8, block.v4).join('.')}/${block.v4}`;
  const v6 = parseV6(address);
  if (v6) return `${masked(v6, 16, block.v6).map((g) => g.toString(16)).join(':')}/${block.v6}`;
  return address;
}

function parseV4(a: string): number[] | undefined {
  const parts = a.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.map(Number);
}

function parseV6(a: string): number[] | undefined {
  const address = a.replace(/%.*$/, ''); // a zone (fe80::1%eth0) is not part of the block
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4 handled above; 64:ff9b::1.2.3.4 here) is two groups.
  const last = tail.length > 0 ? tail : head;
  const v4 = last.length > 0 ? parseV4(last[last.length - 1]!) : undefined;
  if (v4) last.splice(last.length - 1, 1, ((v4[0]! << 8) | v4[1]!).toString(16), ((v4[2]! << 8) | v4[3]!).toString(16));
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return all.map((g) => parseInt(g, 16));
}

/** The first `bits` bits of `parts` (each `width` bits wide), the rest zero. */
function masked(parts: readonly number[], width: number, bits: number): number[] {
  return parts.map((p, i) => {
    const keep = Math.max(0, Math.min(width, bits - i * width));
    return keep === 0 ? 0 : p & (((1 << keep) - 1) << (width - keep));
  });
}

export interface StartupLimits {
  readonly maxStartups: MaxStartups;
  readonly perSourceMaxStartups: number;
  readonly perSourceNetBlockSize: NetBlockSize;
}

export type Admission = { readonly ok: true; readonly source: string } | { readonly ok: false; readonly source: string; readonly reason: 'per_source' | 'max_startups' };

/** The connections not yet logged in, by source; admit() one, release() it once it logged in or went away. */
export class StartupGate {
  private total = 0;
  private readonly bySource = new Map<string, number>();

  constructor(
    private readonly limits: StartupLimits,
    private readonly random: () => number = Math.random,
  ) {}

  get pending(): number {
    return this.total;
  }

  pendingFrom(source: string): number {
    return this.bySource.get(source) ?? 0;
  }

  source(address: string): string {
    return sourceOf(address, this.limits.perSourceNetBlockSize);
  }

  /** The per-source limit first (so one address's flood never reaches the early drop's odds for others). */
  admit(address: string): Admission {
    const source = this.source(address);
    const held = this.bySource.get(source) ?? 0;
    if (held >= this.limits.perSourceMaxStartups) return { ok: false, source, reason: 'per_source' };
    if (earlyDrop(this.total, this.limits.maxStartups, this.random)) return { ok: false, source, reason: 'max_startups' };
    this.bySource.set(source, held + 1);
    this.total++;
    return { ok: true, source };
  }

  release(source: string): void {
    const held = this.bySource.get(source);
    if (held === undefined) return;
    if (held <= 1) this.bySource.delete(source);
    else this.bySource.set(source, held - 1);
    this.total--;
  }
}
