// A PostgresDesiredSource feeding a real DesiredStore, as the daemon wires them.
import type pg from 'pg';
import { PostgresDesiredSource } from '../../src/desired/postgres.js';
import { DesiredStore } from '../../src/desired/store.js';
import type { SourceLog } from '../../src/desired/postgres.js';
import type { OTreeInstance } from '../../src/manifest/types.js';

export interface RunningSource {
  source: PostgresDesiredSource;
  store: DesiredStore;
  /** The instance as the store has it now. */
  instance(name: string): OTreeInstance | undefined;
}

export const quietLog: SourceLog = { info: () => undefined, warn: () => undefined };

export async function startSource(pool: pg.Pool, url: string, log: SourceLog = quietLog, store = new DesiredStore()): Promise<RunningSource> {
  const source = new PostgresDesiredSource({ pool, url, log, onChange: (updates) => store.apply(updates), backoff: { baseMs: 100, capMs: 400, jitter: 0 } });
  await source.start();
  return { source, store, instance: (name) => store.instance(name)?.declared.object };
}

/** The INSERT a web UI would run for an experimenter. */
export async function insertExperimenter(pool: pg.Pool | pg.Client, name: string): Promise<void> {
  await pool.query(
    'INSERT INTO otm.experimenters (name, spec, created_by, updated_by) VALUES ($1, $2, $3, $3)',
    [name, JSON.stringify({ displayName: name }), 'test@lab'],
  );
}

/** The INSERT a web UI would run for an instance owned by `owner`. */
export async function insertInstance(pool: pg.Pool | pg.Client, name: string, owner: string, spec: Record<string, unknown> = {}, labels: Record<string, string> = {}): Promise<void> {
  await pool.query(
    'INSERT INTO otm.instances (name, spec, labels, created_by, updated_by) VALUES ($1, $2, $3, $4, $4)',
    [name, JSON.stringify(instanceSpec(owner, spec)), JSON.stringify(labels), 'test@lab'],
  );
}

export function instanceSpec(owner: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { owner, otree: { adminPassword: { secretRef: 'adminPassword' } }, ...extra };
}
