// Desired state from PostgreSQL rows (otm.instances, otm.experimenters), written by a web UI.
// A dedicated connection LISTENs on `otm_desired`; a notification only says which row to read
// again, and every (re)connect relists everything, so a missed notification costs nothing.
// Each row is a source of its own for the DesiredStore (named like its origin, `row:instances/x`):
// rows are independent, so one invalid row never holds back the deletion of another.
// Rows are validated with the same schemas as manifest files; an invalid row is reported and the
// last version that passed keeps running (remembered in otm.validation, so it survives restarts).
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';
import { makeIssue, maskStoredSpec } from '../manifest/index.js';
import type { Kind, ManifestIssue, ParseResult, RowPolicyOptions } from '../manifest/index.js';
import { ExponentialBackoff } from '../engine/backoff.js';
import type { BackoffOptions } from '../engine/backoff.js';
import { audit } from '../store/audit.js';
import type { Actor } from '../store/audit.js';
import { connectionConfig, inTransaction } from '../store/pool.js';
import { KINDS, rowOrigin, TABLES, validateRow } from './rows.js';
import type { DesiredTable } from './rows.js';
import type { SourceSnapshot, SourceUpdate } from './store.js';

export const DESIRED_CHANNEL = 'otm_desired';

/** Pino loggers fit this. */
export interface SourceLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface PostgresDesiredSourceOptions {
  /** For reads and writes. */
  pool: pg.Pool;
  /** The database URL, for the dedicated LISTEN connection. */
  url: string;
  /**
   * Receives the rows that changed, for DesiredStore.apply(): after a relist every live row and a
   * removal for each row that is gone. An invalid row that never passed comes as `rejected`.
   */
  onChange: (updates: SourceUpdate[]) => void;
  log: SourceLog;
  /** Told the instance whose stored secrets changed (`secrets/<instance>` notifications), to plan it again. */
  onSecretsChange?: (instance: string) => void;
  /** Delays between reconnect attempts. @default base 1 s, cap 60 s */
  backoff?: BackoffOptions;
  /** What rows may ask for (see rowPolicyOptions()). @default no domains allowed, nothing reserved */
  policy?: RowPolicyOptions;
}

export type WriteResult = { ok: true; generation: number } | { ok: false; issues: ManifestIssue[] };

interface DesiredRow {
  name: string;
  spec: unknown;
  labels: unknown;
  generation: string;
  accepted_generation: string | null;
  accepted_spec: unknown;
  accepted_labels: unknown;
}

/** What gets written to otm.validation for one row. */
interface ValidationRecord {
  kind: DesiredTable;
  name: string;
  checked_generation: number;
  checked_labels: unknown;
  valid: boolean;
  issues: ManifestIssue[];
  accepted_generation: number | null;
  accepted_spec: unknown;
  accepted_labels: unknown;
}

const SELECT_ROWS = (table: DesiredTable) => `
  SELECT d.name, d.spec, d.labels, d.generation, v.accepted_generation, v.accepted_spec, v.accepted_labels
  FROM otm.${table} d
  LEFT JOIN otm.validation v ON v.kind = '${table}' AND v.name = d.name
  WHERE d.deleted_at IS NULL`;

const LISTENER_KEY = 'listen';

/** What a row declares now: its current version when valid, else the last valid one recorded in otm.validation. */
function evaluate(table: DesiredTable, row: DesiredRow, policy: RowPolicyOptions | undefined): { snapshot: SourceSnapshot; record: ValidationRecord } {
  const origin = rowOrigin(table, row.name);
  const generation = Number(row.generation);
  const current = validateRow(table, row.name, row.spec, row.labels, policy);
  const accepted = current.objects[0];
  const valid = accepted !== undefined;
  const record: ValidationRecord = {
    kind: table,
    name: row.name,
    checked_generation: generation,
    checked_labels: row.labels,
    valid,
    issues: current.issues,
    accepted_generation: valid ? generation : row.accepted_generation === null ? null : Number(row.accepted_generation),
    accepted_spec: valid ? row.spec : row.accepted_spec,
    accepted_labels: valid ? row.labels : row.accepted_labels,
  };
  if (accepted) return { snapshot: { objects: [{ ...accepted, generation }], issues: current.issues, rejected: [] }, record };

  const issues = [...current.issues];
  const acceptedGeneration = record.accepted_generation;
  const previous = acceptedGeneration === null ? undefined : validateRow(table, row.name, record.accepted_spec, record.accepted_labels, policy).objects[0];
  if (previous && acceptedGeneration !== null) {
    issues.push(makeIssue('ROW_LAST_VALID_KEPT', origin, '',
      `generation ${generation} of ${table} row "${row.name}" is invalid and is not applied; generation ${acceptedGeneration} keeps running until the row is fixed`));
    return { snapshot: { objects: [{ ...previous, generation: acceptedGeneration }], issues, rejected: [] }, record };
  }
  return { snapshot: { objects: [], issues, rejected: [{ kind: KINDS[table], name: row.name, origin }] }, record };
}

export class PostgresDesiredSource {
  /** What each live row declares, by source name. */
  private readonly rows = new Map<string, SourceSnapshot>();
  private readonly pending = new Set<string>();
  private readonly backoff: ExponentialBackoff;
  private readonly abort = new AbortController();
  private work: Promise<void> = Promise.resolve();
  private drainScheduled = false;
  private listener: pg.Client | undefined;
  private loop: Promise<void> | undefined;
  private listening = false;
  private resolveFirstSync!: () => void;
  private rejectFirstSync!: (err: Error) => void;
  private readonly firstSync = new Promise<void>((resolve, reject) => {
    this.resolveFirstSync = resolve;
    this.rejectFirstSync = reject;
  });

  constructor(private readonly options: PostgresDesiredSourceOptions) {
    this.backoff = new ExponentialBackoff({ baseMs: 1000, capMs: 60_000, ...options.backoff });
    // Callers that never await start() must not see an unhandled rejection when stopped early.
    this.firstSync.catch(() => undefined);
  }

  /**
   * Every live row, validated as a running source validates it (the last valid version included), read
   * once and recorded nowhere: for `otm plan`, which must not write to the database.
   */
  static async readOnce(pool: pg.Pool, policy?: RowPolicyOptions): Promise<SourceUpdate[]> {
    const updates: SourceUpdate[] = [];
    for (const table of ['instances', 'experimenters'] as const) {
      const { rows } = await pool.query<DesiredRow>(SELECT_ROWS(table));
      for (const row of rows) updates.push({ source: rowOrigin(table, row.name).source, snapshot: evaluate(table, row, policy).snapshot });
    }
    return updates;
  }

  /** Connects, listens and relists; resolves after the first full relist (retrying until then). */
  start(): Promise<void> {
    if (this.loop) throw new Error('PostgresDesiredSource.start() was called twice');
    this.loop = this.listenLoop();
    return this.firstSync;
  }

  /** True while the LISTEN connection is up and the last relist succeeded. */
  isListening(): boolean {
    return this.listening;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.rejectFirstSync(new Error('the PostgreSQL desired-state source was stopped before its first relist'));
    await this.listener?.end().catch(() => undefined);
    await this.loop;
    await this.work;
  }

  private async listenLoop(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const client = new pg.Client({ ...connectionConfig(this.options.url, 'otree-manager-listen'), keepAlive: true });
      const broken = new Promise<Error | undefined>((resolve) => {
        client.on('error', resolve);
        client.on('end', () => resolve(undefined));
      });
      this.listener = client;
      try {
        await client.connect();
        client.on('notification', (message) => {
          if (message.channel === DESIRED_CHANNEL && message.payload) this.hint(message.payload);
        });
        // LISTEN before the relist: a change committed in between is then both read and notified.
        await client.query(`LISTEN ${DESIRED_CHANNEL}`);
        await this.serially(() => this.relist());
        this.backoff.forget(LISTENER_KEY);
        this.listening = true;
        this.resolveFirstSync();
        const err = await broken;
        if (!signal.aborted) this.options.log.warn({ err: err?.message ?? 'connection ended' }, 'PostgreSQL LISTEN connection lost; reconnecting and relisting');
      } catch (err) {
        if (!signal.aborted) this.options.log.warn({ err: (err as Error).message }, 'PostgreSQL desired-state source cannot connect or relist; retrying');
      } finally {
        this.listening = false;
        this.listener = undefined;
        await client.end().catch(() => undefined);
      }
      if (signal.aborted) break;
      await sleep(this.backoff.next(LISTENER_KEY), undefined, { signal }).catch(() => undefined);
    }
  }

  /** Runs `task` after every earlier read, so an older read never overwrites a newer one. */
  private serially(task: () => Promise<void>): Promise<void> {
    const run = this.work.then(task);
    this.work = run.catch(() => undefined);
    return run;
  }

  private hint(payload: string): void {
    if (payload.startsWith('secrets/')) {
      this.options.onSecretsChange?.(payload.slice('secrets/'.length));
      return;
    }
    this.pending.add(payload);
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    void this.serially(() => this.drainPending()).catch((err: Error) => {
      // A failed re-read is repaired by the relist that follows a reconnect.
      this.options.log.warn({ err: err.message }, 'cannot re-read notified desired rows; reconnecting to relist');
      void this.listener?.end().catch(() => undefined);
    });
  }

  private async drainPending(): Promise<void> {
    this.drainScheduled = false;
    const byTable: Record<DesiredTable, string[]> = { instances: [], experimenters: [] };
    for (const payload of this.pending) {
      const slash = payload.indexOf('/');
      const table = payload.slice(0, slash);
      if (slash > 0 && (table === 'instances' || table === 'experimenters')) byTable[table].push(payload.slice(slash + 1));
    }
    this.pending.clear();
    const updates: SourceUpdate[] = [];
    for (const table of ['instances', 'experimenters'] as const) {
      const names = byTable[table];
      if (names.length === 0) continue;
      const { rows } = await this.options.pool.query<DesiredRow>(`${SELECT_ROWS(table)} AND d.name = ANY($1)`, [names]);
      const found = new Set(rows.map((row) => row.name));
      const gone = names.filter((name) => !found.has(name));
      for (const update of await this.apply(table, rows)) {
        if (!isDeepStrictEqual(this.rows.get(update.source), update.snapshot)) updates.push(update);
        this.rows.set(update.source, update.snapshot);
      }
      if (gone.length > 0) {
        await this.options.pool.query('DELETE FROM otm.validation WHERE kind = $1 AND name = ANY($2)', [table, gone]);
        for (const name of gone) {
          const source = rowOrigin(table, name).source;
          if (this.rows.delete(source)) updates.push({ source, removed: true });
        }
      }
    }
    if (updates.length > 0) this.options.onChange(updates);
  }

  private async relist(): Promise<void> {
    this.pending.clear();
    const updates: SourceUpdate[] = [];
    for (const table of ['instances', 'experimenters'] as const) {
      const { rows } = await this.options.pool.query<DesiredRow>(SELECT_ROWS(table));
      updates.push(...(await this.apply(table, rows)));
      await this.options.pool.query(
        `DELETE FROM otm.validation v WHERE v.kind = $1 AND NOT EXISTS (
           SELECT 1 FROM otm.${table} d WHERE d.name = v.name AND d.deleted_at IS NULL)`,
        [table],
      );
    }
    const live = new Set<string>();
    for (const update of updates) if ('snapshot' in update) live.add(update.source);
    for (const source of this.rows.keys()) if (!live.has(source)) updates.push({ source, removed: true });
    this.rows.clear();
    for (const update of updates) if ('snapshot' in update) this.rows.set(update.source, update.snapshot);
    this.options.onChange(updates);
  }

  /** Validates rows and records the outcome; returns what each row declares. */
  private async apply(table: DesiredTable, rows: DesiredRow[]): Promise<{ source: string; snapshot: SourceSnapshot }[]> {
    const evaluated = rows.map((row) => evaluate(table, row, this.options.policy));
    if (evaluated.length > 0) await this.recordValidation(evaluated.map((e) => e.record));
    return evaluated.map(({ record, snapshot }) => ({ source: rowOrigin(table, record.name).source, snapshot }));
  }

  private async recordValidation(records: ValidationRecord[]): Promise<void> {
    // One statement for the batch; rows whose outcome is unchanged are left untouched.
    await this.options.pool.query(
      `INSERT INTO otm.validation (kind, name, checked_generation, checked_labels, valid, issues,
         accepted_generation, accepted_spec, accepted_labels)
       SELECT kind, name, checked_generation, checked_labels, valid, issues, accepted_generation, accepted_spec, accepted_labels
       FROM jsonb_to_recordset($1::jsonb) AS r(kind text, name text, checked_generation bigint, checked_labels jsonb,
         valid boolean, issues jsonb, accepted_generation bigint, accepted_spec jsonb, accepted_labels jsonb)
       ON CONFLICT (kind, name) DO UPDATE SET
         checked_generation = EXCLUDED.checked_generation, checked_labels = EXCLUDED.checked_labels,
         valid = EXCLUDED.valid, issues = EXCLUDED.issues, accepted_generation = EXCLUDED.accepted_generation,
         accepted_spec = EXCLUDED.accepted_spec, accepted_labels = EXCLUDED.accepted_labels, checked_at = now()
       WHERE (validation.checked_generation, validation.checked_labels, validation.valid, validation.issues, validation.accepted_generation)
         IS DISTINCT FROM (EXCLUDED.checked_generation, EXCLUDED.checked_labels, EXCLUDED.valid, EXCLUDED.issues, EXCLUDED.accepted_generation)`,
      [JSON.stringify(records)],
    );
  }

  /** The row as this source will read it: schema and row policy. */
  validate(kind: Kind, name: string, spec: unknown, labels: Record<string, string>): ParseResult {
    return validateRow(TABLES[kind], name, spec, labels, this.options.policy);
  }

  /**
   * Creates or replaces a row (undeleting it); refused without writing when the spec is invalid.
   * Audited in the same transaction, with the spec before and after (secrets and env values masked).
   */
  async upsert(kind: Kind, name: string, spec: unknown, labels: Record<string, string>, by: string | Actor): Promise<WriteResult> {
    const table = TABLES[kind];
    const actor = actorOf(by);
    const { objects, issues } = this.validate(kind, name, spec, labels);
    if (objects.length === 0) return { ok: false, issues };
    return inTransaction(this.options.pool, async (client) => {
      const before = await client.query<{ spec: unknown; deleted: boolean }>(
        `SELECT spec, deleted_at IS NOT NULL AS deleted FROM otm.${table} WHERE name = $1 FOR UPDATE`, [name]);
      const previous = before.rows[0] && !before.rows[0].deleted ? before.rows[0].spec : undefined;
      const { rows } = await client.query<{ generation: string }>(
        `INSERT INTO otm.${table} (name, spec, labels, created_by, updated_by) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, labels = EXCLUDED.labels,
           updated_by = EXCLUDED.updated_by, deleted_at = NULL, deleted_by = NULL
         RETURNING generation`,
        [name, JSON.stringify(spec), JSON.stringify(labels), actor.actor],
      );
      const generation = Number(rows[0]?.generation);
      await audit(client, {
        ...actor, action: previous === undefined ? 'desired.create' : 'desired.update', objectKind: kind, objectName: name,
        details: { generation, ...(previous === undefined ? {} : { before: maskStoredSpec(previous) }), after: maskStoredSpec(spec) },
      });
      return { ok: true, generation };
    });
  }

  /** Marks a row deleted; the row stays for the record. False when there was no live row. Audited. */
  async softDelete(kind: Kind, name: string, by: string | Actor): Promise<boolean> {
    const actor = actorOf(by);
    return inTransaction(this.options.pool, async (client) => {
      const result = await client.query<{ spec: unknown }>(
        `UPDATE otm.${TABLES[kind]} SET deleted_at = now(), deleted_by = $2, updated_by = $2 WHERE name = $1 AND deleted_at IS NULL RETURNING spec`,
        [name, actor.actor],
      );
      if (result.rowCount !== 1) return false;
      await audit(client, { ...actor, action: 'desired.delete', objectKind: kind, objectName: name, details: { before: maskStoredSpec(result.rows[0]!.spec) } });
      return true;
    });
  }

  /**
   * Asks for one database reset or one restart of an instance by incrementing
   * `spec.<action>.generation` atomically; returns the new one-shot generation.
   */
  async bumpGeneration(name: string, action: 'resetDatabase' | 'restart', by: string | Actor): Promise<number> {
    const actor = actorOf(by);
    return inTransaction(this.options.pool, async (client) => {
      const { rows } = await client.query<{ bumped: string }>(
        `UPDATE otm.instances
         SET spec = spec || jsonb_build_object($2::text, COALESCE(spec -> $2, '{}'::jsonb)
               || jsonb_build_object('generation', COALESCE((spec -> $2 ->> 'generation')::bigint, 0) + 1)),
             updated_by = $3
         WHERE name = $1 AND deleted_at IS NULL
         RETURNING spec -> $2 ->> 'generation' AS bumped`,
        [name, action, actor.actor],
      );
      const bumped = rows[0]?.bumped;
      if (bumped === undefined) throw new Error(`instance "${name}" has no live row in otm.instances: create it before asking for ${action}`);
      await audit(client, { ...actor, action: `instance.${action}`, objectKind: 'OTreeInstance', objectName: name, details: { generation: Number(bumped) } });
      return Number(bumped);
    });
  }
}

/** Every write to the desired-state tables names who made it. */
function actorOf(by: string | Actor): Actor {
  const actor = typeof by === 'string' ? { actor: by } : by;
  if (actor.actor.trim() === '') throw new TypeError('every write to the desired-state tables names its author: pass a non-empty author');
  return actor;
}
