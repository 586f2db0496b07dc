import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { getTasks } from 'node-cron';
import { FakeClock } from '../../src/engine/clock.js';
import { Resync } from '../../src/engine/resync.js';
import { nodeCronScheduler } from '../../src/engine/resync.js';
import type { CronScheduler, ScheduledCron } from '../../src/engine/resync.js';
import { waitFor } from '../support/services.js';

const unexpected = (err: unknown): void => assert.fail(`unexpected resync error: ${String(err)}`);

/** A cron stand-in the test fires by hand. */
class HandCron implements CronScheduler {
  tick: (() => void) | undefined;
  expression = '';
  stopped = false;
  constructor(private readonly period = 60_000) {}
  schedule(expression: string, tick: () => void): ScheduledCron {
    this.expression = expression;
    this.tick = tick;
    return { stop: () => { this.stopped = true; }, periodMs: () => this.period };
  }
}

test('each scheduled run starts after its random jitter, a share of the period', async () => {
  const clock = new FakeClock();
  const cron = new HandCron(300_000);
  const runs: number[] = [];
  // 10 % of a 5 minute period is up to 30 s; a random draw of 0.25 waits 7.5 s.
  const resync = new Resync({ schedule: '*/5 * * * *', jitterPercent: 10, random: () => 0.25, clock, scheduler: cron, onResync: () => { runs.push(clock.now()); }, onError: unexpected });
  assert.equal(cron.expression, '*/5 * * * *');
  cron.tick?.();
  clock.advance(7499);
  assert.deepEqual(runs, []);
  clock.advance(1);
  assert.deepEqual(runs, [7500]);
  await tick();
  clock.advance(300_000 - 7500);
  cron.tick?.();
  clock.advance(7500);
  assert.deepEqual(runs, [7500, 307_500]);
  await resync.stop();
  assert.equal(cron.stopped, true);
});

test('a run still going when the next is due is not doubled', async () => {
  const clock = new FakeClock();
  const cron = new HandCron();
  let finish: () => void = () => undefined;
  let started = 0;
  const resync = new Resync({
    schedule: '* * * * *', jitterPercent: 0, clock, scheduler: cron, onError: unexpected,
    onResync: () => { started++; return new Promise<void>((resolve) => { finish = resolve; }); },
  });
  cron.tick?.();
  clock.advance(0);
  cron.tick?.();
  cron.tick?.();
  clock.advance(0);
  assert.equal(started, 1);
  assert.equal(resync.skipped(), 2);
  finish();
  await tick();
  cron.tick?.();
  clock.advance(0);
  assert.equal(started, 2);
  finish();
  await resync.stop();
});

test('a failing run is reported and the schedule goes on', async () => {
  const clock = new FakeClock();
  const cron = new HandCron();
  const errors: unknown[] = [];
  let calls = 0;
  const resync = new Resync({
    schedule: '* * * * *', jitterPercent: 0, clock, scheduler: cron, onError: (err) => errors.push(err),
    onResync: async () => { if (++calls === 1) throw new Error('host unreachable'); },
  });
  cron.tick?.();
  clock.advance(0);
  await tick();
  cron.tick?.();
  clock.advance(0);
  await tick();
  assert.equal(calls, 2);
  assert.deepEqual(errors.map((e) => (e as Error).message), ['host unreachable']);
  await resync.stop();
});

test('stop cancels a run waiting for its jitter and waits for one in progress', async () => {
  const clock = new FakeClock();
  const cron = new HandCron();
  let calls = 0;
  const resync = new Resync({ schedule: '* * * * *', jitterPercent: 50, random: () => 0.5, clock, scheduler: cron, onResync: () => { calls++; }, onError: unexpected });
  cron.tick?.();
  await resync.stop();
  clock.advance(120_000);
  cron.tick?.();
  clock.advance(120_000);
  assert.equal(calls, 0);
  assert.equal(clock.pendingTimers(), 0);

  let finish: () => void = () => undefined;
  const busyCron = new HandCron();
  const busy = new Resync({
    schedule: '* * * * *', jitterPercent: 0, clock, scheduler: busyCron, onError: unexpected,
    onResync: () => new Promise<void>((resolve) => { finish = resolve; }),
  });
  busyCron.tick?.();
  clock.advance(0);
  let stopped = false;
  const stopping = busy.stop().then(() => { stopped = true; });
  await tick();
  assert.equal(stopped, false, 'the run in progress is awaited');
  finish();
  await stopping;
  assert.equal(stopped, true);
});

test('with node-cron, a seconds schedule triggers runs and stop removes the task', async () => {
  let calls = 0;
  const before = getTasks().size;
  const resync = new Resync({ schedule: '* * * * * *', jitterPercent: 10, onResync: () => { calls++; }, onError: unexpected });
  assert.equal(getTasks().size, before + 1);
  await waitFor('two resync runs', () => (calls >= 2 ? true : undefined), 10_000, 50);
  await resync.stop();
  assert.equal(getTasks().size, before);
});

test('the node-cron scheduler reports the period between runs', async () => {
  const every10min = nodeCronScheduler.schedule('*/10 * * * *', () => undefined);
  const everySecond = nodeCronScheduler.schedule('* * * * * *', () => undefined);
  try {
    assert.equal(every10min.periodMs(), 600_000);
    assert.equal(everySecond.periodMs(), 1000);
  } finally {
    await every10min.stop();
    await everySecond.stop();
  }
});

test('a bad schedule is refused with a message that shows the expected form', () => {
  assert.throws(
    () => new Resync({ schedule: 'every five minutes', onResync: () => undefined, onError: unexpected, scheduler: new HandCron() }),
    /resync schedule "every five minutes" is not a cron expression.*\*\/10 \* \* \* \*/,
  );
});
