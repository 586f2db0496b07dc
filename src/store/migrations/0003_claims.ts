// The daemon's claims: its own record of creating a Dokku object for an instance, kept until the object
// carries the instance's marker or link. An object on a host is claimed by one instance at most.
import type { Migration } from '../migrate.js';

export const claims: Migration = {
  id: '0003_claims',
  sql: `
CREATE TABLE otm.instance_claims (
  host      text NOT NULL,
  kind      text NOT NULL CHECK (kind IN ('app', 'postgres', 'redis')),
  object    text NOT NULL,
  instance  text NOT NULL,
  state     text NOT NULL CHECK (state IN ('creating', 'created')),
  at        timestamptz NOT NULL,
  PRIMARY KEY (host, kind, object)
);
CREATE INDEX instance_claims_by_instance ON otm.instance_claims (instance);
`,
};
