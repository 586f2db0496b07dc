// Per-key exponential backoff with jitter, client-go's ItemExponentialFailureRateLimiter with two changes
// that suit Dokku: a base of seconds rather than milliseconds (a failed Dokku command is rarely fixed in
// 5 ms) and jitter, so keys that failed together (a host outage) do not retry in lockstep.

export interface BackoffOptions {
  /** Delay after the first failure, in ms. @default 1000 */
  baseMs?: number;
  /** Longest delay, in ms. @default 300000 (5 minutes) */
  capMs?: number;
  /** Growth per consecutive failure. @default 2 */
  factor?: number;
  /** Each delay is spread uniformly over ±this fraction of itself (still never above the cap). @default 0.1 */
  jitter?: number;
  /** A source of numbers in [0, 1). @default Math.random */
  random?: () => number;
}

export const DEFAULT_BACKOFF = { baseMs: 1000, capMs: 300_000, factor: 2, jitter: 0.1 } as const;

export class ExponentialBackoff {
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private readonly failures = new Map<string, number>();

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
    this.capMs = options.capMs ?? DEFAULT_BACKOFF.capMs;
    this.factor = options.factor ?? DEFAULT_BACKOFF.factor;
    this.jitter = options.jitter ?? DEFAULT_BACKOFF.jitter;
    this.random = options.random ?? Math.random;
    if (!(this.baseMs > 0) || !Number.isFinite(this.baseMs)) throw new TypeError(`backoff base must be a positive number of ms, got ${this.baseMs}`);
    if (!(this.capMs >= this.baseMs) || !Number.isFinite(this.capMs)) throw new TypeError(`backoff cap must be a number of ms at least the base (${this.baseMs}), got ${this.capMs}`);
    if (!(this.factor >= 1)) throw new TypeError(`backoff factor must be at least 1, got ${this.factor}`);
    if (!(this.jitter >= 0 && this.jitter < 1)) throw new TypeError(`backoff jitter must be a fraction in [0, 1), got ${this.jitter}`);
  }

  /** Records one more failure of `key` and returns how long to wait before retrying it. */
  next(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // Cap the exponent first so that long failure streaks never overflow to Infinity.
    const plain = Math.min(this.capMs, this.baseMs * this.factor ** Math.min(n, 1024));
    const spread = plain * this.jitter * (2 * this.random() - 1);
    return Math.round(Math.min(this.capMs, Math.max(0, plain + spread)));
  }

  /** Consecutive failures recorded for `key` since it was last forgotten. */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Forgets `key`'s failures: its next failure waits the base delay again. */
  forget(key: string): void {
    this.failures.delete(key);
  }
}
