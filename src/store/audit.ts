// The audit log (otm.audit_log, migration 0002): who did what to which object, from where and how they
// proved who they are. Every part that changes people, secrets or desired state on someone's behalf
// writes here; no entry ever holds a secret value.
import type pg from 'pg';

/** Who acts: every write and every reveal is recorded under them. */
export interface Actor {
  actor: string;
  clientAddress?: string;
  authMethod?: string;
}

export interface AuditEntry {
  actor: string;
  action: string;
  objectKind: string;
  objectName: string;
  clientAddress?: string;
  authMethod?: string;
  /** Never a secret value. */
  details?: Record<string, unknown>;
}

/** Appends one row to otm.audit_log. */
export async function audit(db: pg.Pool | pg.ClientBase, entry: AuditEntry): Promise<void> {
  await db.query(
    `INSERT INTO otm.audit_log (at, actor, action, object_kind, object_name, client_address, auth_method, details)
     VALUES (now(), $1, $2, $3, $4, $5, $6, $7)`,
    [entry.actor, entry.action, entry.objectKind, entry.objectName, entry.clientAddress ?? null, entry.authMethod ?? null, JSON.stringify(entry.details ?? {})],
  );
}

/** One entry as read back. */
export interface AuditRecord extends Required<Omit<AuditEntry, 'clientAddress' | 'authMethod'>> {
  id: number;
  at: Date;
  clientAddress: string | null;
  authMethod: string | null;
}

export interface AuditQuery {
  /** Only what this person did. */
  actor?: string;
  /** Only entries about this object (an instance, a person). */
  objectName?: string;
  /** Only this action (`token.create`), or every action of a family (`token`: token.create, token.revoke). */
  action?: string;
  /** Only entries at or after this time. */
  since?: Date;
  /** Only entries before this time. */
  until?: Date;
  /** Entries older than this id (the next page). */
  beforeId?: number;
  limit: number;
}

/** The newest entries matching `query`, newest first. */
export async function readAudit(db: pg.Pool, query: AuditQuery): Promise<AuditRecord[]> {
  const { rows } = await db.query<{ id: string; at: Date; actor: string; action: string; object_kind: string; object_name: string; client_address: string | null; auth_method: string | null; details: Record<string, unknown> }>(
    `SELECT id, at, actor, action, object_kind, object_name, client_address, auth_method, details FROM otm.audit_log
     WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR object_name = $2) AND ($3::bigint IS NULL OR id < $3)
       AND ($5::text IS NULL OR action = $5 OR starts_with(action, $5 || '.'))
       AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7)
     ORDER BY id DESC LIMIT $4`,
    [query.actor ?? null, query.objectName ?? null, query.beforeId ?? null, query.limit, query.action ?? null, query.since ?? null, query.until ?? null]);
  return rows.map((row) => ({
    id: Number(row.id), at: row.at, actor: row.actor, action: row.action, objectKind: row.object_kind, objectName: row.object_name,
    clientAddress: row.client_address, authMethod: row.auth_method, details: row.details,
  }));
}
