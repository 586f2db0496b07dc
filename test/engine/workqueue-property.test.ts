// Random interleavings of adds, delayed adds, backoff, hand-outs, dones and time, checked against a small
// model: the waiting keys are exactly the ones owed a run, no key is handed out twice at once, no add is lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../../src/engine/clock.js';
import { ExponentialBackoff } from '../../src/engine/backoff.js';
import { WorkQueue } from '../../src/engine/workqueue.js';

const key = fc.constantFrom('a', 'b', 'c', 'd');
const op = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), key }),
  fc.record({ kind: fc.constant('addAfter' as const), key, ms: fc.integer({ min: 0, max: 5000 }) }),
  fc.record({ kind: fc.constant('addRateLimited' as const), key }),
  fc.record({ kind: fc.constant('get' as const) }),
  fc.record({ kind: fc.constant('done' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3000 }) }),
);

test('no key is handed out twice at once, and no add is lost', async () => {
  await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 80 }), async (ops) => {
    const clock = new FakeClock();
    const backoff = { baseMs: 100, capMs: 1000, jitter: 0.5, random: () => 0.3 };
    const queue = new WorkQueue({ clock, backoff });
    // The model: the same backoff sequence, and the earliest pending delayed add per key.
    const modelBackoff = new ExponentialBackoff(backoff);
    const due = new Map<string, number>();
    const later = (k: string, ms: number): void => {
      if (ms <= 0) owed.add(k);
      else due.set(k, Math.min(due.get(k) ?? Infinity, clock.now() + ms));
    };
    const held: string[] = [];
    /** Keys added since they were last handed out. */
    const owed = new Set<string>();
    const take = async (): Promise<void> => {
      const k = (await queue.get()) as string;
      assert.ok(!held.includes(k), `${k} handed out while being processed`);
      held.push(k);
      owed.delete(k);
    };
    for (const o of ops) {
      switch (o.kind) {
        case 'add': queue.add(o.key); owed.add(o.key); break;
        case 'addAfter': queue.addAfter(o.key, o.ms); later(o.key, o.ms); break;
        case 'addRateLimited': queue.addRateLimited(o.key); later(o.key, modelBackoff.next(o.key)); break;
        case 'get': if (queue.len() > 0) await take(); break;
        case 'done': if (held.length > 0) queue.done(held.splice(o.pick % held.length, 1)[0] as string); break;
        case 'advance':
          clock.advance(o.ms);
          for (const [k, at] of due) if (at <= clock.now()) { due.delete(k); owed.add(k); }
          break;
      }
      // Waiting keys are exactly those added since their last hand-out and not being processed.
      assert.equal(queue.len(), [...owed].filter((k) => !held.includes(k)).length, 'queue length matches the model');
    }
    // Finish everything: release held keys, let every timer fire, and drain until quiet.
    for (;;) {
      for (const k of held.splice(0)) queue.done(k);
      clock.advance(1_000_000);
      for (const k of due.keys()) owed.add(k);
      due.clear();
      if (queue.len() === 0) break;
      while (queue.len() > 0) await take();
    }
    assert.deepEqual([...owed], [], 'every added key was handed out after its last add');
    assert.equal(queue.delayedLen(), 0);
  }), { numRuns: 300 });
});
