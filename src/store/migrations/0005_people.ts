// People who sign in: their password hashes, their browser sessions, their personal API tokens and
// the one-time links of invitations and password resets. Every secret (session cookie, token, link)
// is stored only as its SHA-256: a copy of the database lets nobody in. The people themselves are
// the Experimenter objects of the desired state (manifests or rows); no foreign key, since a person
// declared in a manifest has no row. Times are written by the application's clock, never now().
import type { Migration } from '../migrate.js';

export const people: Migration = {
  id: '0005_people',
  sql: `
CREATE TABLE otm.passwords (
  person      text PRIMARY KEY,
  hash        text NOT NULL CHECK (hash LIKE '$argon2id$%'),
  updated_at  timestamptz NOT NULL,
  updated_by  text NOT NULL
);

-- Live while not revoked, seen within the idle timeout and before absolute_expires_at.
CREATE TABLE otm.sessions (
  id                   uuid PRIMARY KEY,
  secret_hash          bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
  person               text NOT NULL,
  created_at           timestamptz NOT NULL,
  last_seen_at         timestamptz NOT NULL,
  absolute_expires_at  timestamptz NOT NULL,
  client_address       text NOT NULL,
  user_agent           text NOT NULL,
  revoked_at           timestamptz
);
CREATE INDEX sessions_by_person ON otm.sessions (person, created_at DESC);

CREATE TABLE otm.api_tokens (
  id            uuid PRIMARY KEY,
  secret_hash   bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
  person        text NOT NULL,
  scope         text NOT NULL CHECK (scope IN ('read', 'write')),
  label         text NOT NULL CHECK (length(label) <= 200),
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz,
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  created_by    text NOT NULL
);
CREATE INDEX api_tokens_by_person ON otm.api_tokens (person, created_at DESC);

-- Consumed once: used_at is set by the one UPDATE that wins.
CREATE TABLE otm.one_time_links (
  secret_hash  bytea PRIMARY KEY CHECK (length(secret_hash) = 32),
  person       text NOT NULL,
  purpose      text NOT NULL CHECK (purpose IN ('invite', 'reset')),
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz,
  created_by   text NOT NULL
);
CREATE INDEX one_time_links_by_person ON otm.one_time_links (person, purpose);
`,
};
