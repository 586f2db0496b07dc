import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { FakeClock } from '../../src/engine/clock.js';
import { TokenBucket } from '../../src/engine/token-bucket.js';

/** Starts `n` takes and records the clock time each one is granted at. */
function takeMany(bucket: TokenBucket, clock: FakeClock, n: number): number[] {
  const grantedAt: number[] = [];
  for (let i = 0; i < n; i++) void bucket.take().then(() => grantedAt.push(clock.now()));
  return grantedAt;
}

test('a full bucket grants its burst at once, then one token per 1/rate seconds', async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 2, burst: 3, clock });
  const grantedAt = takeMany(bucket, clock, 6);
  await tick();
  assert.deepEqual(grantedAt, [0, 0, 0]);
  for (let t = 0; t < 2000; t += 100) {
    clock.advance(100);
    await tick();
  }
  assert.deepEqual(grantedAt, [0, 0, 0, 500, 1000, 1500]);
  assert.equal(bucket.waiting(), 0);
});

test('tokens refill while idle but never beyond the burst', async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2, clock });
  await bucket.take();
  await bucket.take();
  assert.equal(bucket.available(), 0);
  clock.advance(1000);
  assert.equal(bucket.available(), 1);
  clock.advance(60_000);
  assert.equal(bucket.available(), 2);
});

test('waiters are served in the order they arrived, one per refill', async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1, clock });
  await bucket.take();
  const order: string[] = [];
  for (const name of ['first', 'second', 'third']) void bucket.take().then(() => order.push(name));
  clock.advance(1000);
  await tick();
  assert.deepEqual(order, ['first']);
  clock.advance(2000);
  await tick();
  assert.deepEqual(order, ['first', 'second', 'third']);
});

test('an aborted take rejects with the reason and gives its place to the next waiter', async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1, clock });
  await bucket.take();
  const controller = new AbortController();
  const aborted = bucket.take(controller.signal);
  let laterGranted = false;
  void bucket.take().then(() => { laterGranted = true; });
  controller.abort(new Error('shutting down'));
  await assert.rejects(aborted, /shutting down/);
  clock.advance(1000);
  await tick();
  assert.equal(laterGranted, true);
  assert.equal(bucket.waiting(), 0);
  const already = AbortSignal.abort(new Error('already stopped'));
  await assert.rejects(bucket.take(already), /already stopped/);
  assert.equal(clock.pendingTimers(), 0, 'no timer left armed with nobody waiting');
});

test('nonsense options are rejected with a message naming the option', () => {
  assert.throws(() => new TokenBucket({ ratePerSecond: 0 }), /rate/);
  assert.throws(() => new TokenBucket({ burst: 0.5 }), /burst/);
});
