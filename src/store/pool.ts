// The one place PostgreSQL connections are made. Idle pooled clients can fail at any time
// (a server restart, a dropped connection); the pool reports that instead of crashing the process.
import pg from 'pg';

export interface PoolOptions {
  /** Upper bound on connections; the daemon needs few. */
  max?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** Called when an idle client breaks; the pool replaces it on the next query. */
  onIdleError?: (err: Error) => void;
  /** Every session refuses writes, so a reader that must change nothing (`otm plan`) cannot by mistake. */
  readOnly?: boolean;
}

export function connectionConfig(url: string, applicationName = 'otree-manager'): pg.ClientConfig {
  return { connectionString: url, application_name: applicationName };
}

export function createPool(url: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    ...connectionConfig(url, options.applicationName),
    max: options.max ?? 4,
    // Awaited before the connection is handed out; a connection that cannot be made read-only is closed.
    ...(options.readOnly ? { onConnect: async (client: pg.ClientBase) => { await client.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY'); } } : {}),
  });
  pool.on('error', (err) => options.onIdleError?.(err));
  return pool;
}

/** Runs `work` inside BEGIN/COMMIT on one pooled client, rolling back when it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
