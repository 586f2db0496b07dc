import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { FakeClock } from '../../src/engine/clock.js';
import { ExponentialBackoff } from '../../src/engine/backoff.js';
import { WorkQueue } from '../../src/engine/workqueue.js';

/** Takes every key the queue hands out right now, without waiting. */
async function drainReady(q: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (q.len() > 0) keys.push((await q.get()) as string);
  return keys;
}

test('fake clock fires timers in due order and reports the due time while firing', () => {
  const clock = new FakeClock(1000);
  const fired: Array<[string, number]> = [];
  clock.setTimeout(() => fired.push(['b', clock.now()]), 20);
  clock.setTimeout(() => fired.push(['a', clock.now()]), 10);
  const cancelled = clock.setTimeout(() => fired.push(['x', clock.now()]), 5);
  clock.setTimeout(() => fired.push(['c', clock.now()]), 20);
  clock.clearTimeout(cancelled);
  clock.advance(15);
  assert.deepEqual(fired, [['a', 1010]]);
  clock.advance(100);
  assert.deepEqual(fired, [['a', 1010], ['b', 1020], ['c', 1020]]);
  assert.equal(clock.now(), 1115);
  assert.equal(clock.pendingTimers(), 0);
});

test('backoff doubles from the base up to the cap, and forget resets it', () => {
  const b = new ExponentialBackoff({ baseMs: 1000, capMs: 10_000, jitter: 0 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => b.next('k')), [1000, 2000, 4000, 8000, 10_000, 10_000]);
  assert.equal(b.failuresOf('k'), 6);
  assert.equal(b.next('other'), 1000);
  b.forget('k');
  assert.equal(b.next('k'), 1000);
});

test('backoff jitter stays within ±fraction and never exceeds the cap', () => {
  const low = new ExponentialBackoff({ baseMs: 1000, capMs: 4000, jitter: 0.1, random: () => 0 });
  const high = new ExponentialBackoff({ baseMs: 1000, capMs: 4000, jitter: 0.1, random: () => 0.999999 });
  assert.deepEqual([1, 2, 3, 4].map(() => low.next('k')), [900, 1800, 3600, 3600]);
  assert.deepEqual([1, 2, 3, 4].map(() => high.next('k')), [1100, 2200, 4000, 4000]);
  const many = new ExponentialBackoff({ random: () => 0.5 });
  for (let i = 0; i < 5000; i++) many.next('k');
  assert.equal(many.next('k'), 300_000, 'a long failure streak stays at the default 5 minute cap');
});

test('backoff rejects nonsense options with a message naming the option', () => {
  assert.throws(() => new ExponentialBackoff({ baseMs: 0 }), /backoff base/);
  assert.throws(() => new ExponentialBackoff({ baseMs: 1000, capMs: 10 }), /backoff cap/);
  assert.throws(() => new ExponentialBackoff({ jitter: 1 }), /backoff jitter/);
});

test('duplicate adds collapse into one key, in first-added order', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  for (const k of ['a', 'b', 'a', 'c', 'b', 'a']) q.add(k);
  assert.equal(q.len(), 3);
  assert.deepEqual(await drainReady(q), ['a', 'b', 'c']);
});

test('a key added while processing is not handed out twice at once, and runs once more after done', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add('a');
  assert.equal(await q.get(), 'a');
  q.add('a');
  q.add('a');
  assert.equal(q.len(), 0, 'a is processing: the re-add waits');
  q.done('a');
  assert.equal(q.len(), 1);
  assert.equal(await q.get(), 'a');
  q.done('a');
  assert.equal(q.len(), 0, 'exactly one re-run');
});

test('get waits for a key and resolves when one is added', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  const pending = q.get();
  let got: string | undefined;
  void pending.then((k) => { got = k; });
  await tick();
  assert.equal(got, undefined);
  q.add('x');
  assert.equal(await pending, 'x');
});

test('addAfter waits for the clock, and a second delayed add keeps the earlier time', async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  q.addAfter('a', 5000);
  q.addAfter('a', 9000);
  q.addAfter('b', 9000);
  q.addAfter('b', 3000);
  assert.equal(q.delayedLen(), 2);
  clock.advance(2999);
  assert.equal(q.len(), 0);
  clock.advance(1);
  assert.deepEqual(await drainReady(q), ['b']);
  clock.advance(2000);
  assert.deepEqual(await drainReady(q), ['a']);
  clock.advance(10_000);
  assert.equal(q.len(), 0, 'the later duplicate timers were dropped');
  assert.equal(clock.pendingTimers(), 0);
});

test('addRateLimited backs off exponentially per key until forget', async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock, backoff: { baseMs: 1000, capMs: 8000, jitter: 0 } });
  const readyAfter = async (key: string): Promise<number> => {
    q.addRateLimited(key);
    const start = clock.now();
    while (q.len() === 0) clock.advance(100);
    assert.equal(await q.get(), key);
    q.done(key);
    return clock.now() - start;
  };
  assert.deepEqual([await readyAfter('k'), await readyAfter('k'), await readyAfter('k'), await readyAfter('k'), await readyAfter('k')], [1000, 2000, 4000, 8000, 8000]);
  assert.equal(q.numRequeues('k'), 5);
  q.forget('k');
  assert.equal(q.numRequeues('k'), 0);
  assert.equal(await readyAfter('k'), 1000);
});

test('hooks see adds, depth, queue latency, work duration, retries and the longest running key', async () => {
  const clock = new FakeClock();
  const seen = { added: 0, depth: [] as number[], queued: [] as number[], worked: [] as number[], retried: 0 };
  const q = new WorkQueue({
    clock,
    backoff: { jitter: 0 },
    hooks: {
      added: () => { seen.added++; },
      depth: (d) => { seen.depth.push(d); },
      queued: (s) => { seen.queued.push(s); },
      worked: (s) => { seen.worked.push(s); },
      retried: () => { seen.retried++; },
    },
  });
  q.add('a');
  q.add('a');
  q.add('b');
  clock.advance(1500);
  const a = await q.get();
  clock.advance(250);
  const b = await q.get();
  clock.advance(4000);
  assert.equal(q.longestRunningSeconds(), 4.25);
  q.done(a as string);
  assert.equal(q.longestRunningSeconds(), 4);
  q.done(b as string);
  assert.equal(q.longestRunningSeconds(), 0);
  q.addRateLimited('a');
  assert.deepEqual(seen, { added: 2, depth: [1, 2, 1, 0], queued: [1.5, 1.75], worked: [4.25, 4], retried: 1 });
});

test('shutdown releases waiting getters, drops queued and delayed keys and ignores later adds', async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  const waiting = [q.get(), q.get()];
  await tick();
  q.addAfter('later', 1000);
  q.shutdown();
  assert.deepEqual(await Promise.all(waiting), [undefined, undefined]);
  q.add('x');
  q.addRateLimited('y');
  assert.equal(q.len(), 0);
  assert.equal(q.delayedLen(), 0);
  assert.equal(clock.pendingTimers(), 0);
  assert.equal(await q.get(), undefined);
});

test('shutDownWithDrain waits for keys being processed, and a key added meanwhile is not re-queued', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add('a');
  q.add('b');
  const a = await q.get();
  let drained = false;
  const drain = q.shutDownWithDrain().then(() => { drained = true; });
  q.add('a');
  await tick();
  assert.equal(drained, false, 'a is still processing');
  q.done(a as string);
  await drain;
  assert.equal(drained, true);
  assert.equal(q.len(), 0);
  assert.equal(await q.get(), undefined);
});

test('several workers never hold the same key at once', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  const holding = new Set<string>();
  let processed = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await q.get();
      if (key === undefined) return;
      assert.ok(!holding.has(key), `${key} handed to two workers at once`);
      holding.add(key);
      if (processed++ < 200) for (const k of ['a', 'b', 'c']) q.add(k);
      await tick();
      holding.delete(key);
      q.done(key);
    }
  };
  q.add('a');
  const workers = [worker(), worker(), worker(), worker()];
  while (processed < 200 || q.len() > 0) await tick();
  await q.shutDownWithDrain();
  await Promise.all(workers);
  assert.ok(processed >= 200);
});
