// Two daemon processes against one simulated host, one PostgreSQL database and one Redis: only the
// leader acts; when it is killed (SIGKILL) the other takes over once the lease expires, and no action
// is carried out twice. Redis restarting (losing the lease and the token counter) is survived too. The
// Redis is a private redis-server on a loopback port, since the test restarts it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { PgStatusStore } from '../../src/engine/status-pg.js';
import { migrate } from '../../src/store/migrate.js';
import { createTestDatabase } from '../store/database.js';
import type { TestDatabase } from '../store/database.js';
import { waitFor } from '../support/services.js';
import { Lab, restartsOf } from './harness.js';
import type { DaemonProcess } from './harness.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** redis-server without persistence: a restart loses every key, like a crashed cache. */
class RestartableRedis {
  private child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(this.port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await waitFor(`redis-server on ${this.url}`, async () => {
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG' ? true : undefined;
      });
    } finally {
      probe.disconnect();
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise((r) => {
      child.once('exit', r);
      child.kill('SIGKILL');
    });
  }
}

describe('leader election end to end', { timeout: 600_000 }, () => {
  let redis: RestartableRedis;
  let db: TestDatabase;
  let lab: Lab;
  let status: PgStatusStore;
  let client: Redis;
  const key = `otm-e2e:${randomBytes(4).toString('hex')}:leader`;
  const replicas: DaemonProcess[] = [];
  const names: string[] = [];

  before(async () => {
    redis = new RestartableRedis(await freePort());
    await redis.start();
    db = await createTestDatabase();
    await migrate(db.pool);
    status = new PgStatusStore(db.pool);
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    lab = await Lab.create({
      tag: 'lead', redisUrl: redis.url, postgresUrl: db.url,
      leader: { redisKey: key, leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 },
    });
    for (let i = 1; i <= 3; i++) names.push(lab.app(i));
  });

  after(async () => {
    for (const replica of replicas) await replica.kill('SIGKILL');
    client?.disconnect();
    await lab?.destroy();
    await db?.drop();
    await redis?.stop();
  });

  /** The pid of the replica holding the lease (the value is `<host>:<pid>:<random>:<token>`). */
  async function leaderPid(): Promise<number | undefined> {
    const value = await client.get(key).catch(() => null);
    return value ? Number(value.split(':')[1]) : undefined;
  }

  /** Every instance synced after `since`, with Dokku holding ROUND=`round`. */
  async function converged(round: string, since: number): Promise<true | undefined> {
    const state = await lab.state();
    const statuses = await Promise.all(names.map((n) => status.get(n)));
    const done = names.every((n, i) => state.apps[n]?.config.ROUND === round && Date.parse(statuses[i]?.lastSyncedAt ?? '') > since && statuses[i]?.phase === 'Running');
    return done ? true : undefined;
  }

  function alive(): DaemonProcess[] {
    return replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
  }

  it('two replicas: only one acts, the other takes over when it is killed, nothing runs twice', async () => {
    for (const name of names) await lab.declare(name, { env: { ROUND: '1' } });
    const started = Date.now();
    replicas.push(lab.spawnDaemon(), lab.spawnDaemon());
    await waitFor('the first convergence', () => converged('1', started), 180_000, 500);
    const first = await leaderPid();
    assert.ok(replicas.some((r) => r.pid === first), `the lease is held by one of the replicas (${first})`);

    const calls = await lab.invocations();
    for (const name of names) {
      const creates = calls.filter((c) => c.mutating && ['apps:create', 'postgres:create'].includes(c.argv.find((a) => !a.startsWith('--'))!) && (c.argv.includes(name) || c.argv.includes(`${name}-pg`)));
      assert.deepEqual(creates.map((c) => c.exit), [0, 0], `${name}: app and database created once, never attempted again`);
    }
    assert.deepEqual(calls.filter((c) => c.mutating && c.exit !== 0).map((c) => c.argv.join(' ')), [], 'no mutation was refused as already done');

    // Kill the leader in the middle of nothing in particular, then change something.
    const leader = replicas.find((r) => r.pid === first)!;
    await leader.kill('SIGKILL');
    const from = calls.length;
    const edited = Date.now();
    for (const name of names) await lab.declare(name, { env: { ROUND: '2' } });
    await waitFor('the takeover to apply the change', () => converged('2', edited), 120_000, 500);
    const second = await leaderPid();
    assert.ok(second !== undefined && second !== first && alive().some((r) => r.pid === second), 'the surviving replica leads');
    const after = (await lab.invocations()).slice(from);
    for (const name of names) assert.deepEqual(restartsOf(after, name), [`ps:restart ${name}`], `${name} restarted once for the change`);
  });

  it('survives a Redis restart: a leader is elected again and applies the next change once', async () => {
    replicas.push(lab.spawnDaemon());
    await waitFor('the new replica to start', async () => ((await status.events(names[0]!, 1)).length > 0 ? true : undefined), 30_000);
    await redis.stop();
    await redis.start();
    const from = (await lab.invocations()).length;
    const edited = Date.now();
    for (const name of names) await lab.declare(name, { env: { ROUND: '3' } });
    await waitFor('the change after the Redis restart', () => converged('3', edited), 120_000, 500);
    const leader = await waitFor('a lease in the restarted Redis', leaderPid, 30_000);
    assert.ok(alive().some((r) => r.pid === leader), 'a live replica holds the new lease');
    const after = (await lab.invocations()).slice(from);
    for (const name of names) assert.deepEqual(restartsOf(after, name), [`ps:restart ${name}`], `${name} restarted once for the change`);
    assert.deepEqual(after.filter((c) => c.mutating && c.exit !== 0).map((c) => c.argv.join(' ')), []);
  });
});
