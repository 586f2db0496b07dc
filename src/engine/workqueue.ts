// The work queue of instance keys, with client-go's semantics:
// - `dirty` holds every key that needs processing; adding a key that is already dirty does nothing,
//   so a burst of events for one instance collapses into one reconcile.
// - `processing` holds the keys handed out by `get()` and not yet `done()`. A key added while it is
//   processing stays dirty but is not queued; `done()` queues it then, so it runs again exactly once
//   and never twice at the same time.
// - Delayed adds (`addAfter`, `addRateLimited`) wait outside the queue; a second delayed add of the same
//   key keeps the earlier time.
import { ExponentialBackoff } from './backoff.js';
import type { BackoffOptions } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import { systemClock } from './clock.js';

/** Observers for metrics. Every hook is optional; durations are in seconds. */
export interface WorkQueueHooks {
  /** A key became dirty (an add that collapsed into a key already waiting is not counted, as in client-go). */
  added?(): void;
  /** The number of keys waiting to be handed out changed. */
  depth?(depth: number): void;
  /** A key was handed out after waiting this long since it became dirty. */
  queued?(seconds: number): void;
  /** A key was done after being processed this long. */
  worked?(seconds: number): void;
  /** A key was re-added with backoff after a failure. */
  retried?(): void;
}

export interface WorkQueueOptions {
  clock?: Clock;
  backoff?: BackoffOptions;
  hooks?: WorkQueueHooks;
}

interface Delayed {
  readyAt: number;
  timer: TimerHandle;
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly backoff: ExponentialBackoff;
  private readonly hooks: WorkQueueHooks;
  /** Keys waiting to be handed out, in order. Every key here is also in `dirty`. */
  private readonly queue: string[] = [];
  /** Keys that need processing, with the time each became dirty (for queue latency). */
  private readonly dirty = new Map<string, number>();
  /** Keys being processed, with the time each was handed out. */
  private readonly processing = new Map<string, number>();
  private readonly delayed = new Map<string, Delayed>();
  private readonly getters: Array<() => void> = [];
  private readonly drainWaiters: Array<() => void> = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.backoff = new ExponentialBackoff(options.backoff);
    this.hooks = options.hooks ?? {};
  }

  /** Marks `key` as needing processing. Ignored after shutdown. */
  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.dirty.has(key)) return;
    this.hooks.added?.();
    this.dirty.set(key, this.clock.now());
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  /**
   * Adds `key` once `ms` have passed (at once when `ms <= 0`). If `key` is already waiting for a delayed
   * add, the earlier of the two times wins.
   */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const readyAt = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing) {
      if (existing.readyAt <= readyAt) return;
      this.clock.clearTimeout(existing.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { readyAt, timer });
  }

  /** Adds `key` after its backoff delay, which doubles with every call until `forget(key)`. */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.hooks.retried?.();
    this.addAfter(key, this.backoff.next(key));
  }

  /** Resets `key`'s backoff (call it after a successful reconcile). */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  /** How many times `key` was re-added with backoff since it was last forgotten. */
  numRequeues(key: string): number {
    return this.backoff.failuresOf(key);
  }

  /**
   * The next key to process, waiting until there is one. Resolves `undefined` once the queue shuts down.
   * The caller must call `done(key)` when finished with it.
   */
  async get(): Promise<string | undefined> {
    while (this.queue.length === 0 && !this.shuttingDown) {
      await new Promise<void>((resolve) => this.getters.push(resolve));
    }
    if (this.shuttingDown) return undefined;
    const key = this.queue.shift() as string;
    this.hooks.depth?.(this.queue.length);
    const now = this.clock.now();
    const dirtySince = this.dirty.get(key) ?? now;
    this.dirty.delete(key);
    this.processing.set(key, now);
    this.hooks.queued?.((now - dirtySince) / 1000);
    return key;
  }

  /** Marks `key` as processed. If it was added meanwhile, it is queued again now. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.hooks.worked?.((this.clock.now() - started) / 1000);
    if (this.dirty.has(key) && !this.shuttingDown) this.enqueue(key);
    if (this.processing.size === 0) this.drainWaiters.splice(0).forEach((resolve) => resolve());
  }

  /** Keys waiting to be handed out (not counting delayed or processing keys). */
  len(): number {
    return this.queue.length;
  }

  /** Keys waiting for a delayed add. */
  delayedLen(): number {
    return this.delayed.size;
  }

  /** Seconds the longest-running key currently being processed has been running (0 when idle). */
  longestRunningSeconds(): number {
    const now = this.clock.now();
    let longest = 0;
    for (const started of this.processing.values()) longest = Math.max(longest, now - started);
    return longest / 1000;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Stops the queue: `get()` resolves `undefined` from now on, adds are ignored and pending delayed adds
   * are cancelled. Queued keys are dropped; the next start relists every instance anyway.
   */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) this.clock.clearTimeout(timer);
    this.delayed.clear();
    this.queue.length = 0;
    this.hooks.depth?.(0);
    this.getters.splice(0).forEach((resolve) => resolve());
  }

  /** Shuts down and resolves once every key being processed is done. */
  async shutDownWithDrain(): Promise<void> {
    this.shutdown();
    if (this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  private enqueue(key: string): void {
    this.queue.push(key);
    this.hooks.depth?.(this.queue.length);
    this.getters.shift()?.();
  }
}
