// StatusStore on PostgreSQL: one row per instance in otm.instance_status, history in
// otm.instance_events trimmed to the newest `eventsPerInstance` rows per instance.
import type pg from 'pg';
import type { Claim, ClaimRef, InstanceEvent, InstanceStatus, Phase, StatusStore } from './status.js';
import { inTransaction } from '../store/pool.js';

interface StatusRow {
  name: string;
  host: string;
  phase: Phase;
  observed_generation: string;
  conditions: InstanceStatus['conditions'];
  urls: string[];
  deferred: InstanceStatus['deferred'];
  last_error: InstanceStatus['lastError'] | null;
  done_reset_generation: string;
  done_restart_generation: string;
  last_synced_at: Date | null;
  updated_at: Date;
}

interface EventRow {
  instance: string;
  at: Date;
  type: InstanceEvent['type'];
  reason: string;
  message: string;
}

interface ClaimRow {
  instance: string;
  host: string;
  kind: Claim['kind'];
  object: string;
  state: Claim['state'];
  at: Date;
}

function fromRow(row: StatusRow): InstanceStatus {
  const status: InstanceStatus = {
    name: row.name,
    host: row.host,
    phase: row.phase,
    observedGeneration: Number(row.observed_generation),
    conditions: row.conditions,
    urls: row.urls,
    deferred: row.deferred,
    done: { resetDatabase: Number(row.done_reset_generation), restart: Number(row.done_restart_generation) },
    updatedAt: row.updated_at.toISOString(),
  };
  if (row.last_error) status.lastError = row.last_error;
  if (row.last_synced_at) status.lastSyncedAt = row.last_synced_at.toISOString();
  return status;
}

const STATUS_COLUMNS = `name, host, phase, observed_generation, conditions, urls, deferred, last_error,
  done_reset_generation, done_restart_generation, last_synced_at, updated_at`;

export interface PgStatusStoreOptions {
  /** Events kept per instance, newest first. @default 50 */
  eventsPerInstance?: number;
}

export class PgStatusStore implements StatusStore {
  private readonly eventsPerInstance: number;

  constructor(
    private readonly pool: pg.Pool,
    options: PgStatusStoreOptions = {},
  ) {
    this.eventsPerInstance = options.eventsPerInstance ?? 50;
    if (!Number.isInteger(this.eventsPerInstance) || this.eventsPerInstance < 1) {
      throw new TypeError(`eventsPerInstance must be an integer from 1 up, got ${this.eventsPerInstance}`);
    }
  }

  async get(name: string): Promise<InstanceStatus | undefined> {
    const { rows } = await this.pool.query<StatusRow>(`SELECT ${STATUS_COLUMNS} FROM otm.instance_status WHERE name = $1`, [name]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async list(): Promise<InstanceStatus[]> {
    const { rows } = await this.pool.query<StatusRow>(`SELECT ${STATUS_COLUMNS} FROM otm.instance_status ORDER BY name`);
    return rows.map(fromRow);
  }

  async put(status: InstanceStatus): Promise<void> {
    // One statement, so readers see either the old row or the new one.
    await this.pool.query(
      `INSERT INTO otm.instance_status (${STATUS_COLUMNS})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (name) DO UPDATE SET
         host = EXCLUDED.host, phase = EXCLUDED.phase, observed_generation = EXCLUDED.observed_generation,
         conditions = EXCLUDED.conditions, urls = EXCLUDED.urls, deferred = EXCLUDED.deferred,
         last_error = EXCLUDED.last_error, done_reset_generation = EXCLUDED.done_reset_generation,
         done_restart_generation = EXCLUDED.done_restart_generation, last_synced_at = EXCLUDED.last_synced_at,
         updated_at = EXCLUDED.updated_at`,
      [
        status.name,
        status.host,
        status.phase,
        status.observedGeneration,
        JSON.stringify(status.conditions),
        JSON.stringify(status.urls),
        JSON.stringify(status.deferred),
        status.lastError ? JSON.stringify(status.lastError) : null,
        status.done.resetDatabase,
        status.done.restart,
        status.lastSyncedAt ?? null,
        status.updatedAt,
      ],
    );
  }

  async remove(name: string): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query('DELETE FROM otm.instance_status WHERE name = $1', [name]);
      await client.query('DELETE FROM otm.instance_events WHERE instance = $1', [name]);
      await client.query('DELETE FROM otm.instance_claims WHERE instance = $1', [name]);
    });
  }

  async record(event: InstanceEvent): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query(
        'INSERT INTO otm.instance_events (instance, at, type, reason, message) VALUES ($1, $2, $3, $4, $5)',
        [event.instance, event.at, event.type, event.reason, event.message],
      );
      await client.query(
        `DELETE FROM otm.instance_events WHERE instance = $1 AND id <= (
           SELECT id FROM otm.instance_events WHERE instance = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)`,
        [event.instance, this.eventsPerInstance],
      );
    });
  }

  /** Newest first. */
  async events(name: string, limit = this.eventsPerInstance): Promise<InstanceEvent[]> {
    const { rows } = await this.pool.query<EventRow>(
      'SELECT instance, at, type, reason, message FROM otm.instance_events WHERE instance = $1 ORDER BY id DESC LIMIT $2',
      [name, limit],
    );
    return rows.map((row) => ({ instance: row.instance, at: row.at.toISOString(), type: row.type, reason: row.reason, message: row.message }));
  }

  async claims(instance: string): Promise<Claim[]> {
    const { rows } = await this.pool.query<ClaimRow>(
      'SELECT instance, host, kind, object, state, at FROM otm.instance_claims WHERE instance = $1 ORDER BY host, kind, object',
      [instance],
    );
    return rows.map((row) => ({ instance: row.instance, host: row.host, kind: row.kind, object: row.object, state: row.state, at: row.at.toISOString() }));
  }

  async putClaim(claim: Claim): Promise<void> {
    await this.pool.query(
      `INSERT INTO otm.instance_claims (host, kind, object, instance, state, at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (host, kind, object) DO UPDATE SET instance = EXCLUDED.instance, state = EXCLUDED.state, at = EXCLUDED.at`,
      [claim.host, claim.kind, claim.object, claim.instance, claim.state, claim.at],
    );
  }

  async dropClaim(ref: ClaimRef): Promise<void> {
    await this.pool.query(
      'DELETE FROM otm.instance_claims WHERE host = $1 AND kind = $2 AND object = $3 AND instance = $4',
      [ref.host, ref.kind, ref.object, ref.instance],
    );
  }

  async dropClaims(instance: string): Promise<void> {
    await this.pool.query('DELETE FROM otm.instance_claims WHERE instance = $1', [instance]);
  }

  /** The pool belongs to whoever created it; closing the store leaves it open. */
  async close(): Promise<void> {}
}
