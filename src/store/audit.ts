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
