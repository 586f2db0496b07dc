// The global limit on mutating Dokku commands. Each `config:set`, `ps:scale` or deploy can restart
// containers, so a burst of reconciles (a resync after an outage, a manifest directory change) must not
// hit the host all at once. Reads are not limited: they are cheap and keep observations fresh.
import type { Clock, TimerHandle } from './clock.js';
import { systemClock } from './clock.js';

export interface TokenBucketOptions {
  /** Tokens added per second. @default 2 */
  ratePerSecond?: number;
  /** Most tokens the bucket holds; also how many commands may start back to back. @default 10 */
  burst?: number;
  clock?: Clock;
}

export const DEFAULT_TOKEN_BUCKET = { ratePerSecond: 2, burst: 10 } as const;

interface Waiter {
  resolve(): void;
  reject(reason: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class TokenBucket {
  private readonly rate: number;
  private readonly burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private refilledAt: number;
  /** First come, first served, so a steady stream of takers cannot starve an early one. */
  private readonly waiters: Waiter[] = [];
  private timer: TimerHandle | undefined;

  constructor(options: TokenBucketOptions = {}) {
    this.rate = options.ratePerSecond ?? DEFAULT_TOKEN_BUCKET.ratePerSecond;
    this.burst = options.burst ?? DEFAULT_TOKEN_BUCKET.burst;
    this.clock = options.clock ?? systemClock;
    if (!(this.rate > 0) || !Number.isFinite(this.rate)) throw new TypeError(`token bucket rate must be a positive number per second, got ${this.rate}`);
    if (!Number.isInteger(this.burst) || this.burst < 1) throw new TypeError(`token bucket burst must be an integer from 1 up, got ${this.burst}`);
    this.tokens = this.burst;
    this.refilledAt = this.clock.now();
  }

  /** Whole tokens available right now. */
  available(): number {
    this.refill();
    return Math.floor(this.tokens);
  }

  /** Callers waiting for a token. */
  waiting(): number {
    return this.waiters.length;
  }

  /** Takes a token, waiting for one if the bucket is empty. Rejects with the signal's reason if aborted. */
  take(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      if (signal) {
        waiter.signal = signal;
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
          this.schedule();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      this.schedule();
    });
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
  }

  private serve(): void {
    this.timer = undefined;
    this.refill();
    while (this.waiters.length > 0 && this.tokens >= 1) {
      const waiter = this.waiters.shift() as Waiter;
      this.tokens -= 1;
      if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.resolve();
    }
    this.schedule();
  }

  /** Keeps exactly one timer armed for the moment the first waiter's token is ready. */
  private schedule(): void {
    if (this.timer) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.waiters.length === 0) return;
    this.refill();
    const ms = Math.max(0, Math.ceil(((1 - this.tokens) * 1000) / this.rate));
    this.timer = this.clock.setTimeout(() => this.serve(), ms);
  }
}
