// Secrets written through the API, encrypted by the daemon (AES-256-GCM; the database never sees a
// key or a plaintext), and the audit log of who did what from where. The audit log is general: the
// people and sessions of the web interface record their writes in it too.
import type { Migration } from '../migrate.js';

export const secrets: Migration = {
  id: '0002_secrets',
  sql: `
CREATE TABLE otm.secrets (
  instance    text NOT NULL,
  name        text NOT NULL CHECK (name ~ '^[A-Za-z][A-Za-z0-9_-]{0,62}$'),
  key_id      text NOT NULL,
  iv          bytea NOT NULL CHECK (length(iv) = 12),
  ciphertext  bytea NOT NULL,
  tag         bytea NOT NULL CHECK (length(tag) = 16),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  text NOT NULL,
  PRIMARY KEY (instance, name)
);

-- The instance is planned again when one of its secrets changes: 'secrets/<instance>' on the channel
-- of the desired rows. Re-encryption under a new key (updated_at unchanged) changes no value: no hint.
CREATE FUNCTION otm.secrets_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at
     AND NEW.instance = OLD.instance AND NEW.name = OLD.name THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('otm_desired', 'secrets/' || CASE WHEN TG_OP = 'DELETE' THEN OLD.instance ELSE NEW.instance END);
  IF TG_OP = 'UPDATE' AND NEW.instance <> OLD.instance THEN
    PERFORM pg_notify('otm_desired', 'secrets/' || OLD.instance);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER secrets_notify AFTER INSERT OR UPDATE OR DELETE ON otm.secrets
  FOR EACH ROW EXECUTE FUNCTION otm.secrets_notify();

-- Append-only: who (actor, and how they proved it), did what (action) to which object, from where.
-- details never holds a secret value.
CREATE TABLE otm.audit_log (
  id              bigserial PRIMARY KEY,
  at              timestamptz NOT NULL DEFAULT now(),
  actor           text NOT NULL,
  action          text NOT NULL,
  object_kind     text NOT NULL,
  object_name     text NOT NULL,
  client_address  text,
  auth_method     text,
  details         jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_by_object ON otm.audit_log (object_kind, object_name, id DESC);
CREATE INDEX audit_log_by_actor ON otm.audit_log (actor, id DESC);
`,
};
