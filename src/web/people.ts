// The storage half of people and access: passwords, browser sessions, personal API tokens, one-time
// links (invitation, password reset) and single sign-on flows under way, in PostgreSQL (migrations
// 0005_people and 0006_sign_in).
//
// Every secret handed out here (session cookie, bearer token, link, sign-in flow id) is 32 random bytes; only its
// SHA-256 is stored, and a secret is found only by looking its hash up, so nothing at rest lets
// anyone in and no comparison leaks timing about the secret. No secret appears in a log, an audit
// entry or an error message.
//
// The store knows people only by name: whether a person exists, is an admin or is disabled lives in
// the Experimenter objects of the desired state, and the web layer checks it (personExists for the
// command line). Every time comes from the injected Clock and is passed to SQL as a parameter.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../config.js';
import { loadManifests } from '../desired/files.js';
import { validateRow } from '../desired/rows.js';
import type { Experimenter } from '../manifest/types.js';
import { audit } from '../store/audit.js';
import type { Actor as AuditActor } from '../store/audit.js';
import type { Clock } from '../engine/clock.js';
import { inTransaction } from '../store/pool.js';
import { DUMMY_HASH, checkPasswordPolicy, hashPassword, needsRehash, passwordLength, MAX_PASSWORD_LENGTH, verifyPassword } from './passwords.js';

export type TokenScope = 'read' | 'write';
export const TOKEN_SCOPES: readonly TokenScope[] = ['read', 'write'];

/** Who acts, for the audit log, with how they proved it always known. */
export interface Actor extends AuditActor {
  authMethod: string;
}

export interface Session {
  id: string;
  person: string;
  createdAt: Date;
  lastSeenAt: Date;
  /** When the session ends unless used again: the earlier of the idle and the absolute timeout. */
  expiresAt: Date;
  clientAddress: string;
  userAgent: string;
  method: SignInMethod;
  /** An admin group of the identity provider made this an admin session (the person's declared role aside). */
  adminByGroup: boolean;
}

export type SignInMethod = 'password' | 'oidc' | 'invite' | 'reset';

export interface PersonalToken {
  id: string;
  person: string;
  scope: TokenScope;
  label: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

export type LinkPurpose = 'invite' | 'reset';

/** What the callback of a single sign-on checks: the values sent to the provider, and where to go afterwards. */
export interface SignInFlow {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** A local path. */
  returnTo: string;
}

export interface PeopleStoreOptions {
  pool: pg.Pool;
  clock: Clock;
  /** A session not used for this long ends. */
  idleTimeoutMs: number;
  /** A session ends this long after sign-in, however busy. */
  absoluteTimeoutMs: number;
}

/** The documented defaults of web.session.idleMinutes and web.session.absoluteHours. */
export const DEFAULT_SESSION_IDLE_MS = 120 * 60_000;
export const DEFAULT_SESSION_ABSOLUTE_MS = 12 * 3_600_000;

/** Prefix of personal API tokens, so that they are recognisable (and findable by secret scanners). */
export const TOKEN_PREFIX = 'otm_';
export const MAX_TOKEN_LABEL_LENGTH = 200;
const MAX_USER_AGENT_LENGTH = 512;
const MAX_CLIENT_ADDRESS_LENGTH = 128;
/** Ended sessions, tokens and links stay this long (a person sees recently ended ones), then are deleted. */
export const PURGE_AFTER_MS = 30 * 86_400_000;
/** lastSeenAt and lastUsedAt are written at most this often, to spare a write per request. */
const TOUCH_INTERVAL_MS = 60_000;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function secretHash(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

interface SessionRow {
  id: string;
  person: string;
  created_at: Date;
  last_seen_at: Date;
  absolute_expires_at: Date;
  client_address: string;
  user_agent: string;
  auth_method: SignInMethod;
  admin_by_group: boolean;
}

interface TokenRow {
  id: string;
  person: string;
  scope: TokenScope;
  label: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
}

const SESSION_COLUMNS = 'id, person, created_at, last_seen_at, absolute_expires_at, client_address, user_agent, auth_method, admin_by_group';
const TOKEN_COLUMNS = 'id, person, scope, label, created_at, expires_at, last_used_at';

function toToken(row: TokenRow): PersonalToken {
  return { id: row.id, person: row.person, scope: row.scope, label: row.label, createdAt: row.created_at, expiresAt: row.expires_at, lastUsedAt: row.last_used_at };
}

const personAudit = (by: Actor, action: string, person: string, details: Record<string, unknown> = {}) => ({
  ...by, action, objectKind: 'person', objectName: person, details,
});

export class PeopleStore {
  private readonly pool: pg.Pool;
  private readonly clock: Clock;
  private readonly idleTimeoutMs: number;
  private readonly absoluteTimeoutMs: number;

  constructor(options: PeopleStoreOptions) {
    if (!(options.idleTimeoutMs > 0) || !(options.absoluteTimeoutMs > 0)) throw new RangeError('session timeouts must be positive');
    this.pool = options.pool;
    this.clock = options.clock;
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.absoluteTimeoutMs = options.absoluteTimeoutMs;
  }

  private now(): Date {
    return new Date(this.clock.now());
  }

  // ---- passwords ---------------------------------------------------------------------------------

  /**
   * Applies the policy (PasswordPolicyError), stores the argon2id hash and revokes every session of
   * the person: whoever was signed in with the old password is signed out. Personal tokens are left
   * alone (revoke them separately). Audited as 'password.set', never with the value.
   */
  async setPassword(person: string, password: string, by: Actor): Promise<void> {
    checkPasswordPolicy(password, person);
    const hash = await hashPassword(password);
    const now = this.now();
    await inTransaction(this.pool, async (client) => {
      await client.query(
        `INSERT INTO otm.passwords (person, hash, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (person) DO UPDATE SET hash = EXCLUDED.hash, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`,
        [person, hash, now, by.actor]);
      const revoked = await client.query('UPDATE otm.sessions SET revoked_at = $2 WHERE person = $1 AND revoked_at IS NULL', [person, now]);
      await audit(client, personAudit(by, 'password.set', person, { revokedSessions: revoked.rowCount ?? 0 }));
    });
  }

  async hasPassword(person: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM otm.passwords WHERE person = $1', [person]);
    return rowCount === 1;
  }

  /**
   * True only for the right password. An unknown person, or one without a password, costs one argon2
   * verify against a dummy hash, so timing does not tell them apart from a wrong password. A hash
   * made with older parameters is replaced after a successful check.
   */
  async checkPassword(person: string, password: string): Promise<boolean> {
    // Longer than any password that can be set: cannot be right, and is not worth hashing.
    if (password.length > 4 * MAX_PASSWORD_LENGTH || passwordLength(password) > MAX_PASSWORD_LENGTH) return false;
    const { rows } = await this.pool.query<{ hash: string }>('SELECT hash FROM otm.passwords WHERE person = $1', [person]);
    const stored = rows[0]?.hash;
    if (stored === undefined) {
      await verifyPassword(DUMMY_HASH, password);
      return false;
    }
    const ok = await verifyPassword(stored, password);
    if (ok && needsRehash(stored)) {
      await this.pool.query('UPDATE otm.passwords SET hash = $3 WHERE person = $1 AND hash = $2', [person, stored, await hashPassword(password)]);
    }
    return ok;
  }

  // ---- sessions ----------------------------------------------------------------------------------

  private toSession(row: SessionRow): Session {
    const idleEnd = row.last_seen_at.getTime() + this.idleTimeoutMs;
    return {
      id: row.id, person: row.person, createdAt: row.created_at, lastSeenAt: row.last_seen_at,
      expiresAt: new Date(Math.min(idleEnd, row.absolute_expires_at.getTime())),
      clientAddress: row.client_address, userAgent: row.user_agent, method: row.auth_method, adminByGroup: row.admin_by_group,
    };
  }

  /** The SQL condition (on $2 = now, $3 = now - idle timeout) of a live session. */
  private static readonly LIVE = 'revoked_at IS NULL AND absolute_expires_at > $2 AND last_seen_at > $3';

  private liveParams(): [Date, Date] {
    const now = this.clock.now();
    return [new Date(now), new Date(now - this.idleTimeoutMs)];
  }

  /** A new session after sign-in; the secret goes into the cookie and is not kept here. */
  async createSession(person: string, meta: { clientAddress: string; userAgent: string; method?: SignInMethod; adminByGroup?: boolean }): Promise<{ secret: string; session: Session }> {
    const secret = newSecret();
    const now = this.now();
    const { rows } = await this.pool.query<SessionRow>(
      `INSERT INTO otm.sessions (id, secret_hash, person, created_at, last_seen_at, absolute_expires_at, client_address, user_agent, auth_method, admin_by_group)
       VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9) RETURNING ${SESSION_COLUMNS}`,
      [randomUUID(), secretHash(secret), person, now, new Date(now.getTime() + this.absoluteTimeoutMs),
        meta.clientAddress.slice(0, MAX_CLIENT_ADDRESS_LENGTH), meta.userAgent.slice(0, MAX_USER_AGENT_LENGTH),
        meta.method ?? 'password', meta.adminByGroup ?? false]);
    return { secret, session: this.toSession(rows[0]!) };
  }

  /**
   * The live session for a cookie secret, or undefined (unknown, revoked, idle-expired,
   * absolute-expired). Records the use in lastSeenAt, at most once a minute, so the idle timeout
   * counts from a moment up to a minute before the last request.
   */
  async session(secret: string): Promise<Session | undefined> {
    const [now, idleSince] = this.liveParams();
    const { rows } = await this.pool.query<SessionRow>(
      `SELECT ${SESSION_COLUMNS} FROM otm.sessions WHERE secret_hash = $1 AND ${PeopleStore.LIVE}`,
      [secretHash(secret), now, idleSince]);
    const row = rows[0];
    if (!row) return undefined;
    if (now.getTime() - row.last_seen_at.getTime() >= TOUCH_INTERVAL_MS) {
      await this.pool.query('UPDATE otm.sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2', [row.id, now]);
      row.last_seen_at = now;
    }
    return this.toSession(row);
  }

  /** The person's live sessions, newest first. */
  async sessions(person: string): Promise<Session[]> {
    const [now, idleSince] = this.liveParams();
    const { rows } = await this.pool.query<SessionRow>(
      `SELECT ${SESSION_COLUMNS} FROM otm.sessions WHERE person = $1 AND ${PeopleStore.LIVE} ORDER BY created_at DESC, id`,
      [person, now, idleSince]);
    return rows.map((row) => this.toSession(row));
  }

  /** Ends one of the person's own sessions (sign-out, or from the list); false when it is not theirs or already over. Audited. */
  async revokeSession(person: string, id: string, by: Actor): Promise<boolean> {
    if (!UUID_PATTERN.test(id)) return false;
    const [now, idleSince] = this.liveParams();
    return inTransaction(this.pool, async (client) => {
      const result = await client.query(`UPDATE otm.sessions SET revoked_at = $2 WHERE id = $4 AND person = $1 AND ${PeopleStore.LIVE}`,
        [person, now, idleSince, id]);
      if (result.rowCount !== 1) return false;
      await audit(client, personAudit(by, 'session.revoke', person, { session: id }));
      return true;
    });
  }

  /**
   * Ends every live session of the person but `options.except` (the one the person asks from: "sign out
   * everywhere else"); returns how many. Audited.
   */
  async revokeSessions(person: string, by: Actor, options: { except?: string } = {}): Promise<number> {
    const [now, idleSince] = this.liveParams();
    const except = options.except !== undefined && UUID_PATTERN.test(options.except) ? options.except : null;
    return inTransaction(this.pool, async (client) => {
      const result = await client.query(`UPDATE otm.sessions SET revoked_at = $2 WHERE person = $1 AND ${PeopleStore.LIVE} AND ($4::uuid IS NULL OR id <> $4::uuid)`,
        [person, now, idleSince, except]);
      const count = result.rowCount ?? 0;
      await audit(client, personAudit(by, 'sessions.revoke', person, { revoked: count, ...(except !== null ? { kept: except } : {}) }));
      return count;
    });
  }

  // ---- personal API tokens -----------------------------------------------------------------------

  /** A new token; the secret (`otm_…`) is shown once and not kept here. Audited as 'token.create'. */
  async createToken(person: string, opts: { scope: TokenScope; expiresAt: Date | null; label: string }, by: Actor): Promise<{ secret: string; token: PersonalToken }> {
    if (!TOKEN_SCOPES.includes(opts.scope)) throw new TypeError(`a token's scope is read or write, not ${JSON.stringify(opts.scope)}`);
    if (opts.label.length > MAX_TOKEN_LABEL_LENGTH) throw new RangeError(`a token's label has at most ${MAX_TOKEN_LABEL_LENGTH} characters`);
    const now = this.now();
    if (opts.expiresAt !== null && !(opts.expiresAt.getTime() > now.getTime())) throw new RangeError('a token must expire in the future (or never)');
    const secret = TOKEN_PREFIX + newSecret();
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<TokenRow>(
        `INSERT INTO otm.api_tokens (id, secret_hash, person, scope, label, created_at, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${TOKEN_COLUMNS}`,
        [randomUUID(), secretHash(secret), person, opts.scope, opts.label, now, opts.expiresAt, by.actor]);
      const token = toToken(rows[0]!);
      await audit(client, personAudit(by, 'token.create', person, {
        token: token.id, scope: token.scope, label: token.label, expiresAt: token.expiresAt?.toISOString() ?? null,
      }));
      return { secret, token };
    });
  }

  /** The token for a bearer secret, or undefined (unknown, revoked, expired); records lastUsedAt at most once a minute. */
  async token(secret: string): Promise<PersonalToken | undefined> {
    if (!secret.startsWith(TOKEN_PREFIX)) return undefined;
    const now = this.now();
    const { rows } = await this.pool.query<TokenRow>(
      `SELECT ${TOKEN_COLUMNS} FROM otm.api_tokens
       WHERE secret_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`,
      [secretHash(secret), now]);
    const row = rows[0];
    if (!row) return undefined;
    if (row.last_used_at === null || now.getTime() - row.last_used_at.getTime() >= TOUCH_INTERVAL_MS) {
      await this.pool.query('UPDATE otm.api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)', [row.id, now]);
      row.last_used_at = now;
    }
    return toToken(row);
  }

  /** The person's usable tokens (not revoked, not expired), newest first. */
  async tokens(person: string): Promise<PersonalToken[]> {
    const { rows } = await this.pool.query<TokenRow>(
      `SELECT ${TOKEN_COLUMNS} FROM otm.api_tokens
       WHERE person = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at DESC, id`,
      [person, this.now()]);
    return rows.map(toToken);
  }

  /** Revokes one of the person's own tokens; false when it is not theirs or already revoked. Audited. */
  async revokeToken(person: string, id: string, by: Actor): Promise<boolean> {
    if (!UUID_PATTERN.test(id)) return false;
    return inTransaction(this.pool, async (client) => {
      const result = await client.query('UPDATE otm.api_tokens SET revoked_at = $3 WHERE id = $1 AND person = $2 AND revoked_at IS NULL', [id, person, this.now()]);
      if (result.rowCount !== 1) return false;
      await audit(client, personAudit(by, 'token.revoke', person, { token: id }));
      return true;
    });
  }

  // ---- one-time links ----------------------------------------------------------------------------

  /**
   * A link secret for an invitation or a password reset, valid for `ttlMs` and usable once. It replaces
   * any earlier unused link of the same purpose for the person (only the newest mail works). Audited.
   */
  async createLink(person: string, purpose: LinkPurpose, ttlMs: number, by: Actor): Promise<string> {
    if (purpose !== 'invite' && purpose !== 'reset') throw new TypeError(`a link's purpose is invite or reset, not ${JSON.stringify(purpose)}`);
    if (!(ttlMs > 0)) throw new RangeError('a link must be valid for a positive time');
    const secret = newSecret();
    const now = this.now();
    const expiresAt = new Date(now.getTime() + ttlMs);
    await inTransaction(this.pool, async (client) => {
      await client.query('DELETE FROM otm.one_time_links WHERE person = $1 AND purpose = $2 AND used_at IS NULL', [person, purpose]);
      await client.query('INSERT INTO otm.one_time_links (secret_hash, person, purpose, expires_at, created_by) VALUES ($1, $2, $3, $4, $5)',
        [secretHash(secret), person, purpose, expiresAt, by.actor]);
      await audit(client, personAudit(by, 'link.create', person, { purpose, expiresAt: expiresAt.toISOString() }));
    });
    return secret;
  }

  /**
   * The person a usable link was made for, without using it up: lets a form be checked against the
   * person (the password policy) before the link is spent. consumeLink still decides.
   */
  async linkPerson(secret: string, purpose: LinkPurpose): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ person: string }>(
      'SELECT person FROM otm.one_time_links WHERE secret_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3',
      [secretHash(secret), purpose, this.now()]);
    return rows[0]?.person;
  }

  /**
   * The person a link was made for, marking it used; undefined when unknown, expired, already used or
   * made for another purpose. One UPDATE decides, so of concurrent consumers exactly one wins.
   */
  async consumeLink(secret: string, purpose: LinkPurpose): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ person: string }>(
      `UPDATE otm.one_time_links SET used_at = $3
       WHERE secret_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 RETURNING person`,
      [secretHash(secret), purpose, this.now()]);
    return rows[0]?.person;
  }

  // ---- housekeeping ------------------------------------------------------------------------------

  /**
   * Deletes what stopped working more than PURGE_AFTER_MS ago: ended sessions, revoked or expired
   * tokens, used or expired links, abandoned sign-in flows. The audit log keeps the record of each.
   */
  async purgeEnded(): Promise<{ sessions: number; tokens: number; links: number; flows: number }> {
    const now = this.now();
    const before = new Date(now.getTime() - PURGE_AFTER_MS);
    const idleBefore = new Date(before.getTime() - this.idleTimeoutMs);
    const count = async (sql: string, params: unknown[]) => (await this.pool.query(sql, params)).rowCount ?? 0;
    return {
      sessions: await count('DELETE FROM otm.sessions WHERE revoked_at < $1 OR absolute_expires_at < $1 OR last_seen_at < $2', [before, idleBefore]),
      tokens: await count('DELETE FROM otm.api_tokens WHERE revoked_at < $1 OR expires_at < $1', [before]),
      links: await count('DELETE FROM otm.one_time_links WHERE used_at < $1 OR expires_at < $1', [before]),
      // A flow is only ever needed for minutes.
      flows: await count('DELETE FROM otm.sign_in_flows WHERE expires_at < $1', [now]),
    };
  }

  // ---- single sign-on flows ----------------------------------------------------------------------

  /**
   * Records what the callback of a single sign-on must check and returns the flow's id, for a cookie
   * of the browser that started it (only its hash is stored). Flows already expired are removed on
   * the way, so the table holds only the sign-ins of the last few minutes.
   */
  async createSignInFlow(flow: SignInFlow, ttlMs: number): Promise<string> {
    if (!(ttlMs > 0)) throw new RangeError('a sign-in flow must be valid for a positive time');
    const id = newSecret();
    const now = this.now();
    await this.pool.query('DELETE FROM otm.sign_in_flows WHERE expires_at < $1', [now]);
    await this.pool.query(
      `INSERT INTO otm.sign_in_flows (id_hash, state, nonce, code_verifier, return_to, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [secretHash(id), flow.state, flow.nonce, flow.codeVerifier, flow.returnTo, now, new Date(now.getTime() + ttlMs)]);
    return id;
  }

  /**
   * The flow of this id, removed so that it is finished at most once (of concurrent callbacks exactly
   * one gets it); undefined when unknown, already finished or expired.
   */
  async consumeSignInFlow(id: string): Promise<SignInFlow | undefined> {
    const { rows } = await this.pool.query<{ state: string; nonce: string; code_verifier: string; return_to: string; expires_at: Date }>(
      'DELETE FROM otm.sign_in_flows WHERE id_hash = $1 RETURNING state, nonce, code_verifier, return_to, expires_at',
      [secretHash(id)]);
    const row = rows[0];
    if (!row || !(row.expires_at.getTime() > this.clock.now())) return undefined;
    return { state: row.state, nonce: row.nonce, codeVerifier: row.code_verifier, returnTo: row.return_to };
  }
}

/**
 * The declared Experimenter named `name`: a valid object in the manifests directory, else a valid row
 * of otm.experimenters that is not deleted (manifests first, as the daemon loads them first). Whether
 * the person may sign in is the web layer's check.
 */
export async function declaredExperimenter(config: Config, pool: pg.Pool, name: string): Promise<Experimenter | undefined> {
  const loaded = await loadManifests([config.manifestsDir], { hosts: config.hosts.map((host) => host.name) });
  const declared = loaded.objects.find(({ object }) => object.kind === 'Experimenter' && object.metadata.name === name)?.object;
  if (declared?.kind === 'Experimenter') return declared;
  const { rows } = await pool.query<{ spec: unknown; labels: unknown }>(
    'SELECT spec, labels FROM otm.experimenters WHERE name = $1 AND deleted_at IS NULL', [name]);
  const row = rows[0];
  const fromRow = row ? validateRow('experimenters', name, row.spec, row.labels).objects[0]?.object : undefined;
  return fromRow?.kind === 'Experimenter' ? fromRow : undefined;
}
