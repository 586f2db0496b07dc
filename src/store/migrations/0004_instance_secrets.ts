// A stored secret dies with its instance's row, whoever removes the row: the API's soft delete, or a
// lab's own UI deleting it or setting deleted_at straight in PostgreSQL. Secrets for a name without a
// live row stay allowed (a secret may be stored before its instance), hence a trigger, not a foreign key.
import type { Migration } from '../migrate.js';

export const instanceSecrets: Migration = {
  id: '0004_instance_secrets',
  sql: `
-- Each removed secret gets an audit entry (actor: the row's deleted_by, else the database user); the
-- secrets_notify trigger sends 'secrets/<instance>' for the removed rows, as for any other deletion.
-- SECURITY DEFINER: a role that may write otm.instances but not otm.secrets can still delete a row.
CREATE FUNCTION otm.instance_secrets_die() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  cause text;
  actor text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    cause := 'instance row deleted';
    actor := OLD.deleted_by;
  ELSIF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
    cause := 'instance row soft-deleted';
    actor := NEW.deleted_by;
  ELSIF NEW.name <> OLD.name THEN
    cause := 'instance row renamed';
  ELSE
    RETURN NULL;
  END IF;
  WITH removed AS (DELETE FROM otm.secrets WHERE instance = OLD.name RETURNING name)
  INSERT INTO otm.audit_log (at, actor, action, object_kind, object_name, details)
  SELECT now(), COALESCE(NULLIF(actor, ''), session_user), 'secret.delete', 'secret', OLD.name || '/' || removed.name,
         jsonb_build_object('instance', OLD.name, 'secret', removed.name, 'cause', cause)
  FROM removed;
  RETURN NULL;
END $$;

CREATE TRIGGER instances_secrets_die AFTER UPDATE OR DELETE ON otm.instances
  FOR EACH ROW EXECUTE FUNCTION otm.instance_secrets_die();
`,
};
