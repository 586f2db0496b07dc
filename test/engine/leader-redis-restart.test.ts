// Leader election when Redis itself fails, against a private redis-server this test starts (the shared one
// is never paused or restarted): a paused server makes the leader step down while its lease is still valid
// in Redis, and a restarted server (which lost every key) is survived with the fencing token still growing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisLease, createLeaderElector } from '../../src/engine/leader.js';
import type { LeaderElector } from '../../src/engine/leader.js';
import { FakeClock } from '../../src/engine/clock.js';
import { waitFor } from '../support/services.js';

const silent = pino({ level: 'silent' });

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no TCP address for the probe listener');
  return address.port;
}

/** A redis-server of our own on a loopback port, without persistence, that can be paused and restarted. */
class PrivateRedis {
  private process: ChildProcess | undefined;
  private constructor(readonly port: number, private readonly dir: string) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freeLoopbackPort(), await mkdtemp(join(tmpdir(), 'otm-leader-redis-')));
    await redis.launch();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async launch(): Promise<void> {
    const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(this.port), '--save', '', '--appendonly', 'no', '--dir', this.dir], { stdio: 'ignore' });
    this.process = child;
    const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => undefined); // refused until the server listens; waitFor reports the last failure
    try {
      await waitFor(`redis-server on ${this.url}`, async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG' ? true : undefined;
      });
    } finally {
      probe.disconnect();
    }
  }

  signal(signal: NodeJS.Signals): void {
    this.process?.kill(signal);
  }

  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async remove(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}

test('a leader whose renewals go unanswered steps down at the renew deadline, before its lease can expire in Redis', async (t) => {
  const server = await PrivateRedis.start();
  const client = new Redis(server.url);
  const observer = new Redis(server.url);
  t.after(async () => {
    server.signal('SIGCONT');
    client.disconnect();
    observer.disconnect();
    await server.remove();
  });
  const clock = new FakeClock(0);
  const timings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
  const lease = new RedisLease({ redis: client, identity: 'paused', timings, clock, log: silent });
  await lease.start();
  assert.equal(lease.isLeader(), true);

  server.signal('SIGSTOP');
  clock.advance(timings.retryPeriodMs); // a renewal goes out and is not answered
  clock.advance(timings.renewDeadlineMs - timings.retryPeriodMs - 1);
  assert.equal(lease.isLeader(), true, 'still within the renew deadline of the acquisition');
  clock.advance(1);
  assert.equal(lease.isLeader(), false, 'stepped down exactly at the renew deadline');
  assert.equal(lease.fencingToken(), undefined);

  // Once Redis answers again, the late renewal counts for nothing and the lease is given back at once
  // rather than left to expire.
  server.signal('SIGCONT');
  await waitFor('the lease to be released', async () => ((await observer.get('otm:leader')) === null ? true : undefined));
  assert.equal(lease.isLeader(), false);
  await lease.stop();
});

test('Redis restarts and loses every key: the leader steps down, a replica re-acquires, the fencing token still grows', async (t) => {
  const server = await PrivateRedis.start();
  const timings = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 150 };
  const electors = ['x', 'y'].map((identity) => createLeaderElector({ redisUrl: server.url, identity, timings, log: silent })) as [LeaderElector, LeaderElector];
  t.after(async () => {
    for (const e of electors) await e.stop();
    await server.remove();
  });
  await Promise.all(electors.map((e) => e.start()));
  const leader = await waitFor('a leader', () => electors.find((e) => e.isLeader()));
  const before = leader.assertLeader();
  const standby = electors.find((e) => e !== leader)!;
  assert.equal(standby.isLeader(), false);

  await server.kill();
  await waitFor('the leader to step down while Redis is gone', () => (leader.isLeader() ? undefined : true));
  // Only the standby competes after the restart: it knows the old token only from having seen the holder.
  await leader.stop();
  await server.launch();
  await waitFor('the standby to lead after the restart', () => (standby.isLeader() ? true : undefined), 20_000);
  const after = standby.assertLeader();
  assert.ok(after > before, `the fencing token grew across the restart: ${before} then ${after}`);
});
