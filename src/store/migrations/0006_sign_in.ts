// How a session was started, and the single sign-on flows under way. A session records its sign-in
// method (password, oidc, invite, reset) for the audit log and the person's session list, and whether
// an admin group of the identity provider made it an admin session (roles from a group claim hold for
// that session only: the desired state is not rewritten). A sign-in flow holds what the callback must
// check (state, nonce, the PKCE verifier) server-side, found by the hash of a random id kept in a
// short-lived cookie of the browser that started it, so every replica of otm web can finish it.
import type { Migration } from '../migrate.js';

export const signIn: Migration = {
  id: '0006_sign_in',
  sql: `
ALTER TABLE otm.sessions
  ADD COLUMN auth_method text NOT NULL DEFAULT 'password' CHECK (auth_method IN ('password', 'oidc', 'invite', 'reset')),
  ADD COLUMN admin_by_group boolean NOT NULL DEFAULT false;

-- Consumed once, like one-time links: the callback's DELETE ... RETURNING wins or finds nothing.
CREATE TABLE otm.sign_in_flows (
  id_hash        bytea PRIMARY KEY CHECK (length(id_hash) = 32),
  state          text NOT NULL,
  nonce          text NOT NULL,
  code_verifier  text NOT NULL,
  return_to      text NOT NULL,
  created_at     timestamptz NOT NULL,
  expires_at     timestamptz NOT NULL
);
CREATE INDEX sign_in_flows_by_expiry ON otm.sign_in_flows (expires_at);
`,
};
