// Leader election without Redis: a PostgreSQL advisory lock on a dedicated connection. The leader's
// session is terminated from another connection; it steps down and the other replica acquires the lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt, randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { PgAdvisoryLease, createLeaderElector } from '../../src/engine/leader.js';
import { PG_URL, waitFor } from '../support/services.js';

const silent = pino({ level: 'silent' });
const timings = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100 };

test('advisory lock: one leader; its session is terminated, it steps down and the other takes over with a larger token', async (t) => {
  // A key of this test's own (below 2^31, so it shows in pg_locks.objid) and a sequence of its own.
  const lockKey = randomInt(1, 2 ** 31);
  const tokenSequence = `otm_test_leader_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const electors = ['p', 'q'].map((identity) => new PgAdvisoryLease({ connectionString: PG_URL, lockKey, tokenSequence, identity, timings, log: silent })) as [PgAdvisoryLease, PgAdvisoryLease];
  t.after(async () => {
    for (const e of electors) await e.stop();
    await admin.query(`DROP SEQUENCE IF EXISTS ${tokenSequence}`);
    await admin.end();
  });
  let overlaps = 0;
  const sampler = setInterval(() => { if (electors.every((e) => e.isLeader())) overlaps++; }, 5);
  t.after(() => clearInterval(sampler));

  await Promise.all(electors.map((e) => e.start()));
  const leader = await waitFor('a leader', () => electors.find((e) => e.isLeader()));
  const other = electors.find((e) => e !== leader)!;
  assert.equal(other.isLeader(), false);
  const before = leader.assertLeader();

  const holders = await admin.query<{ pid: number }>(
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = $1 AND objsubid = 1 AND granted",
    [lockKey],
  );
  assert.equal(holders.rows.length, 1, 'exactly one session holds the lock');
  const changes: boolean[] = [];
  leader.onChange((l) => changes.push(l));
  await admin.query('SELECT pg_terminate_backend($1)', [holders.rows[0]!.pid]);

  await waitFor('the other replica to lead', () => (other.isLeader() ? true : undefined), 10_000, 10);
  assert.deepEqual(changes, [false], 'the old leader stepped down');
  const after = other.assertLeader();
  assert.ok(after > before, `fencing token grows: ${before} then ${after}`);
  // The old leader reconnects and stays a standby.
  await waitFor('the old leader to have reconnected', async () => {
    const sessions = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'otree-manager leader election' AND datname = current_database()");
    return (sessions.rows[0] as { n: number }).n >= 2 ? true : undefined;
  });
  assert.equal(leader.isLeader(), false);
  assert.equal(overlaps, 0, 'never two leaders at once');
});

test('the factory picks the advisory lock when only PostgreSQL is configured, and stop frees the lock', async (t) => {
  const lockKey = randomInt(1, 2 ** 31);
  // A database of its own: the factory creates the default token sequence in it.
  const database = `otm_test_leader_${randomBytes(4).toString('hex')}`;
  const server = new pg.Client({ connectionString: PG_URL });
  await server.connect();
  await server.query(`CREATE DATABASE ${database}`);
  const url = new URL(PG_URL);
  url.pathname = `/${database}`;
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  const elector = createLeaderElector({ postgresUrl: url.toString(), advisoryLockKey: lockKey, timings, log: silent });
  t.after(async () => {
    await elector.stop();
    await admin.end();
    await server.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await server.end();
  });
  await elector.start();
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.fencingToken(), 1, 'the first term of a new database');
  const held = await admin.query('SELECT pg_try_advisory_lock($1::bigint) AS ok', [lockKey]);
  assert.equal(held.rows[0].ok, false, 'the lock is held by the leader');
  await elector.stop();
  assert.equal(elector.isLeader(), false);
  const free = await waitFor('the lock to be free', async () => {
    const r = await admin.query('SELECT pg_try_advisory_lock($1::bigint) AS ok', [lockKey]);
    return r.rows[0].ok === true ? true : undefined;
  });
  assert.equal(free, true);
  await admin.query('SELECT pg_advisory_unlock($1::bigint)', [lockKey]);
});
