// The first schema: desired rows written by a web UI, and the daemon's own tables (validation
// results, status, events). Everything lives in the `otm` schema so it can share a database.
import type { Migration } from '../migrate.js';

export const init: Migration = {
  id: '0001_init',
  sql: `
-- Desired state. The web UI writes name, spec, labels and the author columns; generation,
-- timestamps and notifications are maintained by the triggers below.
CREATE TABLE otm.instances (
  name        text PRIMARY KEY,
  spec        jsonb NOT NULL,
  labels      jsonb NOT NULL DEFAULT '{}'::jsonb,
  generation  bigint NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL,
  updated_by  text NOT NULL,
  deleted_at  timestamptz,
  deleted_by  text
);

CREATE TABLE otm.experimenters (LIKE otm.instances INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE otm.experimenters ADD PRIMARY KEY (name);

-- generation counts spec changes only (Kubernetes semantics): labels, authorship and soft
-- deletion leave it alone, and nobody can set it by hand.
CREATE FUNCTION otm.desired_before_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.generation := 1;
    NEW.created_at := now();
    NEW.updated_at := now();
  ELSE
    NEW.created_at := OLD.created_at;
    NEW.created_by := OLD.created_by;
    NEW.generation := OLD.generation + CASE WHEN NEW.spec IS DISTINCT FROM OLD.spec THEN 1 ELSE 0 END;
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END $$;

-- A hint for listeners: '<table>/<name>'. The rows stay the truth.
CREATE FUNCTION otm.desired_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  row_name text := CASE WHEN TG_OP = 'DELETE' THEN OLD.name ELSE NEW.name END;
BEGIN
  IF TG_OP = 'UPDATE'
     AND NEW.spec IS NOT DISTINCT FROM OLD.spec
     AND NEW.labels IS NOT DISTINCT FROM OLD.labels
     AND NEW.deleted_at IS NOT DISTINCT FROM OLD.deleted_at THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('otm_desired', TG_TABLE_NAME || '/' || row_name);
  IF TG_OP = 'UPDATE' AND NEW.name <> OLD.name THEN
    PERFORM pg_notify('otm_desired', TG_TABLE_NAME || '/' || OLD.name);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER instances_before_write BEFORE INSERT OR UPDATE ON otm.instances
  FOR EACH ROW EXECUTE FUNCTION otm.desired_before_write();
CREATE TRIGGER instances_notify AFTER INSERT OR UPDATE OR DELETE ON otm.instances
  FOR EACH ROW EXECUTE FUNCTION otm.desired_notify();
CREATE TRIGGER experimenters_before_write BEFORE INSERT OR UPDATE ON otm.experimenters
  FOR EACH ROW EXECUTE FUNCTION otm.desired_before_write();
CREATE TRIGGER experimenters_notify AFTER INSERT OR UPDATE OR DELETE ON otm.experimenters
  FOR EACH ROW EXECUTE FUNCTION otm.desired_notify();

-- Written by the daemon: the outcome of validating each desired row, and the last version
-- that passed, which keeps running while a newer version is invalid (also across restarts).
CREATE TABLE otm.validation (
  kind                text NOT NULL CHECK (kind IN ('instances', 'experimenters')),
  name                text NOT NULL,
  checked_generation  bigint NOT NULL,
  checked_labels      jsonb NOT NULL,
  valid               boolean NOT NULL,
  issues              jsonb NOT NULL,
  accepted_generation bigint,
  accepted_spec       jsonb,
  accepted_labels     jsonb,
  checked_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, name)
);

-- Written by the daemon: one row per instance.
CREATE TABLE otm.instance_status (
  name                    text PRIMARY KEY,
  host                    text NOT NULL,
  phase                   text NOT NULL,
  observed_generation     bigint NOT NULL,
  conditions              jsonb NOT NULL,
  urls                    jsonb NOT NULL,
  deferred                jsonb NOT NULL,
  last_error              jsonb,
  done_reset_generation   bigint NOT NULL,
  done_restart_generation bigint NOT NULL,
  last_synced_at          timestamptz,
  updated_at              timestamptz NOT NULL
);

CREATE FUNCTION otm.status_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('otm_status', CASE WHEN TG_OP = 'DELETE' THEN OLD.name ELSE NEW.name END);
  RETURN NULL;
END $$;

CREATE TRIGGER instance_status_notify AFTER INSERT OR UPDATE OR DELETE ON otm.instance_status
  FOR EACH ROW EXECUTE FUNCTION otm.status_notify();

-- Append-only history; the daemon keeps the newest events per instance and prunes the rest.
CREATE TABLE otm.instance_events (
  id        bigserial PRIMARY KEY,
  instance  text NOT NULL,
  at        timestamptz NOT NULL,
  type      text NOT NULL CHECK (type IN ('Normal', 'Warning')),
  reason    text NOT NULL,
  message   text NOT NULL
);
CREATE INDEX instance_events_by_instance ON otm.instance_events (instance, id DESC);
`,
};
