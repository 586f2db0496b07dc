// Counting failures per key in a sliding window: failed sign-ins per account and per client address,
// e-mail requests per address. Kept in memory (one otm web process; replicas each count their own, so
// the limit a lab sets is per replica). Time comes from the injected Clock.
import type { Clock } from '../engine/clock.js';

export interface LimitRule {
  /** Failures allowed within the window; the next attempt is refused until the oldest leaves it. */
  limit: number;
  windowMs: number;
}

/** One thing an attempt counts against: a rule ('account', 'address', …) and its key (a name, an address). */
export interface LimitKey {
  rule: string;
  key: string;
}

/** More keys than this and the least recently failed ones are forgotten: memory stays bounded under a flood. */
const MAX_KEYS = 100_000;

export class AttemptLimiter {
  /** Failure times per `rule\0key`, oldest first; Map order is the order of the latest failure. */
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly clock: Clock, private readonly rules: Readonly<Record<string, LimitRule>>) {
    for (const [name, rule] of Object.entries(rules)) {
      if (!(rule.limit >= 1) || !(rule.windowMs > 0)) throw new RangeError(`limit rule ${name} needs a limit of at least 1 and a positive window`);
    }
  }

  /** Seconds until every key allows another attempt (at least 1), or undefined when all allow one now. */
  retryAfterSeconds(keys: readonly LimitKey[]): number | undefined {
    const now = this.clock.now();
    let waitMs = 0;
    for (const { rule, key } of keys) {
      const { limit, windowMs } = this.rule(rule);
      const times = this.live(`${rule}\0${key}`, now, windowMs);
      if (times.length >= limit) waitMs = Math.max(waitMs, times[times.length - limit]! + windowMs - now);
    }
    return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : undefined;
  }

  /** Counts one failure against every key. */
  fail(keys: readonly LimitKey[]): void {
    const now = this.clock.now();
    for (const { rule, key } of keys) {
      const id = `${rule}\0${key}`;
      const times = this.live(id, now, this.rule(rule).windowMs);
      times.push(now);
      this.failures.delete(id);
      this.failures.set(id, times);
    }
    while (this.failures.size > MAX_KEYS) this.failures.delete(this.failures.keys().next().value!);
  }

  /** Forgets the failures of one key (a successful sign-in clears its account's count). */
  clear(key: LimitKey): void {
    this.failures.delete(`${key.rule}\0${key.key}`);
  }

  private rule(name: string): LimitRule {
    const rule = this.rules[name];
    if (!rule) throw new RangeError(`no limit rule named ${name}`);
    return rule;
  }

  private live(id: string, now: number, windowMs: number): number[] {
    const times = (this.failures.get(id) ?? []).filter((t) => t > now - windowMs);
    if (times.length === 0) this.failures.delete(id);
    else this.failures.set(id, times);
    return times;
  }
}
