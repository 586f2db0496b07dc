// Leader election against the shared Redis: two replicas, one acts; the leader dies without releasing and
// the other takes over after the lease expires, never both at once, and no action is executed twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisLease, createLeaderElector, NotLeaderError } from '../../src/engine/leader.js';
import type { LeaderElector } from '../../src/engine/leader.js';
import { REDIS_URL, waitFor } from '../support/services.js';

const timings = { leaseDurationMs: 1200, renewDeadlineMs: 800, retryPeriodMs: 150 };
const silent = pino({ level: 'silent' });

/** Samples both replicas every few ms and counts the samples where both claim to lead. */
function overlapSampler(a: LeaderElector, b: LeaderElector) {
  let overlaps = 0;
  let samples = 0;
  const timer = setInterval(() => {
    samples++;
    if (a.isLeader() && b.isLeader()) overlaps++;
  }, 5);
  return { stop: () => { clearInterval(timer); return { overlaps, samples }; } };
}

/**
 * A replica's worker: while leader, carries out the next action of a shared list, appending
 * `<action>:<token>` to a ledger in Redis, and checks leadership before every action the way the executor does.
 */
function worker(elector: LeaderElector, redis: Redis, ledger: string, total: number) {
  let running = true;
  const done = (async () => {
    while (running) {
      try {
        const token = elector.assertLeader();
        const next = (await redis.llen(ledger)) + 1;
        if (next > total) break;
        elector.assertLeader(token);
        await redis.rpush(ledger, `${next}:${token}`);
      } catch (err) {
        if (!(err instanceof NotLeaderError)) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  return { stop: async () => { running = false; await done; } };
}

test('two replicas: one leads, the leader dies without releasing, the other takes over; no action runs twice', async (t) => {
  const key = `otm-test:leader:${randomBytes(6).toString('hex')}`;
  const ledger = `${key}:ledger`;
  // Each replica holds its lease on one connection and acts on another: when its lease connection dies
  // it still believes it leads, and keeps acting, until its renew deadline passes.
  const clients = Array.from({ length: 5 }, () => new Redis(REDIS_URL));
  const [redisA, redisB, actionsA, actionsB, observer] = clients as [Redis, Redis, Redis, Redis, Redis];
  t.after(async () => {
    await observer.del(key, `${key}:token`, ledger);
    for (const c of clients) c.disconnect();
  });
  const a = new RedisLease({ redis: redisA, key, identity: 'replica-a', timings, log: silent });
  const b = new RedisLease({ redis: redisB, key, identity: 'replica-b', timings, log: silent });
  const sampler = overlapSampler(a, b);
  await Promise.all([a.start(), b.start()]);
  const first = await waitFor('a leader', () => (a.isLeader() ? a : b.isLeader() ? b : undefined));
  const second = first === a ? b : a;
  assert.equal(second.isLeader(), false);
  assert.throws(() => second.assertLeader(), NotLeaderError);
  const firstToken = first.assertLeader();
  assert.equal(await observer.get(key), `${first === a ? 'replica-a' : 'replica-b'}:${firstToken}`);

  const total = 120;
  const workers = [worker(a, actionsA, ledger, total), worker(b, actionsB, ledger, total)];
  await waitFor('the first actions', async () => ((await observer.llen(ledger)) >= 20 ? true : undefined));

  // The leader's connection dies: it can neither renew nor release.
  const losses: boolean[] = [];
  first.onChange((leader) => losses.push(leader));
  (first === a ? redisA : redisB).disconnect();
  await waitFor('the other replica to take over', () => (second.isLeader() ? true : undefined), 10_000, 10);
  assert.deepEqual(losses, [false], 'the old leader stepped down before the other took over');
  const secondToken = second.assertLeader();
  assert.ok(secondToken > firstToken, `fencing token grows: ${firstToken} then ${secondToken}`);

  await waitFor('every action', async () => ((await observer.llen(ledger)) >= total ? true : undefined), 20_000);
  await Promise.all(workers.map((w) => w.stop()));
  const { overlaps, samples } = sampler.stop();
  assert.equal(overlaps, 0, `both replicas led at once in ${overlaps} of ${samples} samples`);

  const entries = (await observer.lrange(ledger, 0, -1)).map((e) => e.split(':').map(Number) as [number, number]);
  assert.deepEqual(entries.map(([action]) => action), Array.from({ length: total }, (_, i) => i + 1), 'each action exactly once, in order');
  const tokens = entries.map(([, token]) => token);
  assert.deepEqual(tokens, [...tokens].sort((x, y) => x - y), 'tokens never go backwards');
  assert.deepEqual([...new Set(tokens)], [firstToken, secondToken]);

  await first.stop();
  await second.stop();
  assert.equal(await observer.get(key), null, 'stop releases the lease');
});

test('a leader that stops releases the lease and the other replica acquires it at its next attempt', async (t) => {
  const key = `otm-test:leader:${randomBytes(6).toString('hex')}`;
  const observer = new Redis(REDIS_URL);
  // A lease of a minute: only the release lets the second replica in soon.
  const slow = { ...timings, leaseDurationMs: 60_000, renewDeadlineMs: 40_000 };
  const [one, two] = ['one', 'two'].map((identity) => createLeaderElector({ redisUrl: REDIS_URL, redisKey: key, identity, timings: slow, log: silent })) as [LeaderElector, LeaderElector];
  t.after(async () => {
    await one.stop();
    await two.stop();
    await observer.del(key, `${key}:token`);
    observer.disconnect();
  });
  await one.start();
  assert.equal(one.isLeader(), true);
  await two.start();
  assert.equal(two.isLeader(), false);
  await one.stop();
  assert.equal(one.isLeader(), false);
  assert.equal(one.fencingToken(), undefined);
  await waitFor('the second replica to lead', () => (two.isLeader() ? true : undefined), 5_000, 10);
  assert.equal(await observer.get(key), `two:${two.fencingToken()}`);
});

test('without Redis or PostgreSQL the daemon runs as a single replica and says so', async () => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
  const elector = createLeaderElector({ log: pino(sink) });
  const changes: boolean[] = [];
  elector.onChange((leader) => changes.push(leader));
  assert.throws(() => elector.assertLeader(), NotLeaderError);
  await elector.start();
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.assertLeader(), elector.fencingToken());
  await elector.stop();
  assert.deepEqual(changes, [true, false]);
  assert.match(lines.join(''), /running as a single replica/);
});

test('timings that would let a lease expire before the leader steps down are refused', () => {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  assert.throws(() => new RedisLease({ redis, timings: { leaseDurationMs: 1000, renewDeadlineMs: 1000 }, log: silent }), /renewDeadlineMs \(1000\) must be shorter than leaseDurationMs/);
  assert.throws(() => new RedisLease({ redis, timings: { retryPeriodMs: 20_000 }, log: silent }), /retryPeriodMs \(20000\) must be shorter than renewDeadlineMs/);
  redis.disconnect();
});
