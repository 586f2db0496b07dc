// Versioned schema migrations: each one runs in its own transaction under an advisory lock, so
// several daemons (or `otm migrate` next to a running daemon) can start at once safely.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { MIGRATIONS } from './migrations/index.js';
import { inTransaction } from './pool.js';

export interface Migration {
  /** Sortable and unique, e.g. `0001_init`. */
  id: string;
  sql: string;
}

export interface MigrationResult {
  /** Ids applied by this call, in order. */
  applied: string[];
  /** Ids that were already in place. */
  alreadyApplied: string[];
}

/** Any fixed number: the key every otree-manager process takes before touching the schema. */
const MIGRATION_LOCK_KEY = 0x6f746d00;

export function checksum(migration: Migration): string {
  return createHash('sha256').update(migration.sql).digest('hex');
}

interface AppliedRow {
  id: string;
  checksum: string;
}

async function lockAndReadApplied(client: pg.ClientBase): Promise<Map<string, string>> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
  await client.query('CREATE SCHEMA IF NOT EXISTS otm');
  await client.query(`CREATE TABLE IF NOT EXISTS otm.schema_migrations (
    id text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  return readApplied(client);
}

async function readApplied(db: pg.ClientBase | pg.Pool): Promise<Map<string, string>> {
  const { rows } = await db.query<AppliedRow>('SELECT id, checksum FROM otm.schema_migrations');
  return new Map(rows.map((row) => [row.id, row.checksum]));
}

/** Refuses to go on when the database was migrated by a different build of otree-manager. */
function verifyApplied(applied: Map<string, string>, migrations: readonly Migration[]): void {
  const known = new Map(migrations.map((m) => [m.id, checksum(m)]));
  for (const [id, recorded] of applied) {
    const expected = known.get(id);
    if (expected === undefined) {
      throw new Error(`database schema has migration ${id}, which this otree-manager does not know: the database was migrated by a newer version; upgrade otree-manager`);
    }
    if (expected !== recorded) {
      throw new Error(`migration ${id} was applied with checksum ${recorded} but this otree-manager ships ${expected}: an applied migration must never change; restore the original migration and add a new one`);
    }
  }
}

/** Brings the `otm` schema up to date. Running it again when nothing is pending changes nothing. */
export async function migrate(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  const result: MigrationResult = { applied: [], alreadyApplied: [] };
  for (const migration of migrations) {
    await inTransaction(pool, async (client) => {
      const applied = await lockAndReadApplied(client);
      verifyApplied(applied, migrations);
      if (applied.has(migration.id)) {
        result.alreadyApplied.push(migration.id);
        return;
      }
      try {
        await client.query(migration.sql);
      } catch (err) {
        throw new Error(`migration ${migration.id} failed and was rolled back: ${(err as Error).message}`);
      }
      await client.query('INSERT INTO otm.schema_migrations (id, checksum) VALUES ($1, $2)', [migration.id, checksum(migration)]);
      result.applied.push(migration.id);
    });
  }
  return result;
}

/**
 * The migrations not applied yet, found without taking a lock or creating anything (for readers such as
 * `otm plan`); refuses a schema migrated by a different build, like migrate() does.
 */
export async function pendingMigrations(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<string[]> {
  const { rows } = await pool.query<{ found: string | null }>("SELECT to_regclass('otm.schema_migrations')::text AS found");
  if (!rows[0]?.found) return migrations.map((m) => m.id);
  const applied = await readApplied(pool);
  verifyApplied(applied, migrations);
  return migrations.filter((m) => !applied.has(m.id)).map((m) => m.id);
}
