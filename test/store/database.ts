// A private database per test file on the shared test server, dropped afterwards, so suites
// running in parallel never see each other's rows.
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import pg from 'pg';
import { PG_URL } from '../support/services.js';
import { createPool } from '../../src/store/pool.js';
import { migrate } from '../../src/store/migrate.js';

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(serverUrl = PG_URL): Promise<TestDatabase> {
  const name = `otm_test_${randomBytes(6).toString('hex')}`;
  await admin(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = databaseUrl(serverUrl, name);
  const pool = createPool(url);
  return {
    url,
    pool,
    async drop() {
      await pool.end();
      await admin(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** Gives the calling test file its own migrated database, created before its tests and dropped after. */
export function useMigratedDatabase(): TestDatabase {
  const db = {} as TestDatabase;
  before(async () => {
    Object.assign(db, await createTestDatabase());
    await migrate(db.pool);
  });
  after(async () => {
    await db.drop();
  });
  return db;
}
