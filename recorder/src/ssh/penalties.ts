// Sources that keep failing to log in are refused for a while, as OpenSSH's PerSourcePenalties: each failed
// connection adds seconds to its source's penalty (up to maxSeconds); once a source holds minSeconds its
// new connections are closed at accept until the penalty runs out. Pure: the clock is injected.

export interface PenaltyLimits {
  readonly minSeconds: number;
  readonly maxSeconds: number;
}

interface Penalty {
  /** ms since the epoch. */
  expiresAt: number;
  /** Reached minSeconds: refused until expiresAt. */
  active: boolean;
}

/** At most this many sources are tracked; beyond it new ones go unpenalised (OpenSSH's overflow:permissive). */
export const MAX_PENALISED_SOURCES = 65536;

export class PenaltyBox {
  private readonly penalties = new Map<string, Penalty>();

  constructor(
    private readonly limits: PenaltyLimits,
    private readonly now: () => number,
    private readonly maxSources = MAX_PENALISED_SOURCES,
  ) {}

  /** Adds `seconds` to the source's penalty; true when the source is now refused. */
  penalise(source: string, seconds: number): boolean {
    if (seconds <= 0) return this.refuses(source);
    const now = this.now();
    let p = this.current(source, now);
    if (!p) {
      if (this.penalties.size >= this.maxSources) this.prune(now);
      if (this.penalties.size >= this.maxSources) return false;
      p = { expiresAt: now, active: false };
      this.penalties.set(source, p);
    }
    p.expiresAt = Math.min(p.expiresAt + seconds * 1000, now + this.limits.maxSeconds * 1000);
    if (p.expiresAt - now >= this.limits.minSeconds * 1000) p.active = true;
    return p.active;
  }

  /** True while the source's penalty is active. */
  refuses(source: string): boolean {
    return this.current(source, this.now())?.active === true;
  }

  /** Sources refused right now. */
  get refused(): number {
    const now = this.now();
    this.prune(now);
    let n = 0;
    for (const p of this.penalties.values()) if (p.active) n++;
    return n;
  }

  private current(source: string, now: number): Penalty | undefined {
    const p = this.penalties.get(source);
    if (p && p.expiresAt <= now) {
      this.penalties.delete(source);
      return undefined;
    }
    return p;
  }

  private prune(now: number): void {
    for (const [source, p] of this.penalties) if (p.expiresAt <= now) this.penalties.delete(source);
  }
}
