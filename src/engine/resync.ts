// The periodic full resync: the safety net under the event sources. Even if a file event, a NOTIFY or a
// Docker event was missed, every instance is looked at again on this schedule. Each run starts after a
// random delay so that several daemons (or a daemon and the lab's cron jobs) do not hit the host at the
// same second, and a run still going when the next one is due is not doubled.
import cron from 'node-cron';
import type { Clock, TimerHandle } from './clock.js';
import { systemClock } from './clock.js';

/** A running schedule. */
export interface ScheduledCron {
  stop(): Promise<void> | void;
  /** Milliseconds between the next two scheduled times. */
  periodMs(): number;
}

/** What the resync needs from a cron library; node-cron by default, a hand-driven one in tests. */
export interface CronScheduler {
  schedule(expression: string, tick: () => void): ScheduledCron;
}

export const nodeCronScheduler: CronScheduler = {
  schedule(expression, tick) {
    const task = cron.schedule(expression, tick, { name: 'otm-resync', noOverlap: true });
    return {
      stop: () => task.destroy(),
      periodMs: () => {
        const [next, after] = task.getNextRuns(2);
        return next && after ? after.getTime() - next.getTime() : 0;
      },
    };
  },
};

export interface ResyncOptions {
  /** A cron expression (5 fields, or 6 with seconds first), e.g. `*\/10 * * * *`. */
  schedule: string;
  /** Each run starts after a uniformly random delay of up to this share of the schedule's period. @default 10 */
  jitterPercent?: number;
  /** Called once per run; the next run is skipped while this one is unfinished. */
  onResync: () => Promise<void> | void;
  /** Receives what `onResync` threw; the schedule goes on. */
  onError: (err: unknown) => void;
  random?: () => number;
  clock?: Clock;
  scheduler?: CronScheduler;
}

export const DEFAULT_RESYNC = { schedule: '*/10 * * * *', jitterPercent: 10 } as const;

export class Resync {
  private readonly options: ResyncOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly jitterPercent: number;
  private readonly task: ScheduledCron;
  private pending: TimerHandle | undefined;
  private current: Promise<void> | undefined;
  private stopped = false;
  private skippedRuns = 0;

  constructor(options: ResyncOptions) {
    if (!cron.validate(options.schedule)) {
      throw new TypeError(`resync schedule "${options.schedule}" is not a cron expression; use 5 fields (minute hour day month weekday) or 6 with seconds first, e.g. "${DEFAULT_RESYNC.schedule}"`);
    }
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.jitterPercent = options.jitterPercent ?? DEFAULT_RESYNC.jitterPercent;
    if (!(this.jitterPercent >= 0 && this.jitterPercent <= 100)) throw new TypeError(`resync jitterPercent must be from 0 to 100, got ${this.jitterPercent}`);
    this.task = (options.scheduler ?? nodeCronScheduler).schedule(options.schedule, () => this.due());
  }

  /** Runs skipped because the previous one was still waiting or running. */
  skipped(): number {
    return this.skippedRuns;
  }

  /** Stops the schedule and cancels a run waiting for its jitter; resolves after a run in progress ends. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pending) this.clock.clearTimeout(this.pending);
    this.pending = undefined;
    await this.task.stop();
    await this.current;
  }

  private due(): void {
    if (this.stopped) return;
    if (this.pending || this.current) {
      this.skippedRuns++;
      return;
    }
    this.pending = this.clock.setTimeout(() => {
      this.pending = undefined;
      this.current = this.run().finally(() => { this.current = undefined; });
    }, Math.floor((this.random() * this.jitterPercent * this.task.periodMs()) / 100));
  }

  private async run(): Promise<void> {
    try {
      await this.options.onResync();
    } catch (err) {
      this.options.onError(err);
    }
  }
}
