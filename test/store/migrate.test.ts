import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { checksum, migrate } from '../../src/store/migrate.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { EXIT_OK, EXIT_PROBLEM, run } from '../../src/cli/main.js';
import { createTestDatabase, type TestDatabase } from './database.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

async function tables(): Promise<string[]> {
  const { rows } = await db.pool.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'otm' ORDER BY table_name",
  );
  return rows.map((r) => r.table_name);
}

test('migrations run from an empty database and a second run changes nothing', async () => {
  assert.deepEqual(await tables(), []);
  const first = await migrate(db.pool);
  assert.deepEqual(first.applied, MIGRATIONS.map((m) => m.id));
  const created = await tables();
  assert.deepEqual(created, ['api_tokens', 'audit_log', 'experimenters', 'instance_claims', 'instance_events', 'instance_status', 'instances', 'lobby_seats', 'one_time_links',
    'passwords', 'schema_migrations', 'secrets', 'sessions', 'sign_in_flows', 'site_pages', 'validation']);

  const second = await migrate(db.pool);
  assert.deepEqual(second.applied, []);
  assert.deepEqual(second.alreadyApplied, MIGRATIONS.map((m) => m.id));
  assert.deepEqual(await tables(), created);
  const { rows } = await db.pool.query<{ id: string; checksum: string }>('SELECT id, checksum FROM otm.schema_migrations ORDER BY id');
  assert.deepEqual(rows, MIGRATIONS.map((m) => ({ id: m.id, checksum: checksum(m) })));
});

test('concurrent runs serialise on the advisory lock and apply each migration once', async () => {
  const extra = { id: '0002_concurrent_probe', sql: 'CREATE TABLE otm.concurrent_probe (x int)' };
  const results = await Promise.all([1, 2, 3].map(() => migrate(db.pool, [...MIGRATIONS, extra])));
  assert.equal(results.filter((r) => r.applied.includes(extra.id)).length, 1);
  const { rows } = await db.pool.query('SELECT id FROM otm.schema_migrations WHERE id = $1', [extra.id]);
  assert.equal(rows.length, 1);
});

test('a changed applied migration is refused with a clear error and nothing runs', async () => {
  const tampered = MIGRATIONS.map((m, i) => (i === 0 ? { ...m, sql: `${m.sql}\n-- edited` } : m));
  await assert.rejects(migrate(db.pool, tampered), /migration 0001_init was applied with checksum [0-9a-f]{64} but this otree-manager ships [0-9a-f]{64}/);
});

test('a database migrated by a newer version is refused', async () => {
  await assert.rejects(migrate(db.pool, MIGRATIONS), /0002_concurrent_probe, which this otree-manager does not know.*upgrade otree-manager/);
});

test('a failing migration is rolled back completely', async () => {
  const broken = { id: '0003_broken', sql: 'CREATE TABLE otm.half_made (x int); SELECT no_such_function();' };
  const probe = { id: '0002_concurrent_probe', sql: 'CREATE TABLE otm.concurrent_probe (x int)' };
  await assert.rejects(migrate(db.pool, [...MIGRATIONS, probe, broken]), /migration 0003_broken failed and was rolled back: function no_such_function\(\) does not exist/);
  assert.ok(!(await tables()).includes('half_made'));
  const { rows } = await db.pool.query('SELECT id FROM otm.schema_migrations WHERE id = $1', [broken.id]);
  assert.equal(rows.length, 0);
});

test('`otm migrate` migrates the database named by --database-url, and says what to do without one', async () => {
  const fresh = await createTestDatabase();
  try {
    assert.equal(await run(['migrate', '--database-url', fresh.url]), EXIT_OK);
    const { rows } = await fresh.pool.query<{ id: string }>('SELECT id FROM otm.schema_migrations ORDER BY id');
    assert.deepEqual(rows.map((r) => r.id), MIGRATIONS.map((m) => m.id));
    assert.equal(await run(['migrate', '--database-url', fresh.url]), EXIT_OK);
  } finally {
    await fresh.drop();
  }
  const saved = { config: process.env.OTM_CONFIG, url: process.env.OTM_DATABASE_URL };
  delete process.env.OTM_CONFIG;
  delete process.env.OTM_DATABASE_URL;
  try {
    assert.equal(await run(['migrate']), EXIT_PROBLEM);
  } finally {
    if (saved.config !== undefined) process.env.OTM_CONFIG = saved.config;
    if (saved.url !== undefined) process.env.OTM_DATABASE_URL = saved.url;
  }
});
