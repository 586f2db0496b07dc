// The people store against real PostgreSQL, with a fake clock: sessions (idle and absolute expiry,
// revocation, only one's own), personal tokens (hashed at rest, scope, expiry, revocation, last use),
// one-time links (once, expiry, purpose, looked at without being used, concurrent consumers) and
// passwords (audited without the value).
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { FakeClock } from '../../src/engine/clock.js';
import { PasswordPolicyError } from '../../src/web/passwords.js';
import { PeopleStore } from '../../src/web/people.js';
import { useMigratedDatabase } from '../store/database.js';

const db = useMigratedDatabase();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const IDLE = 120 * MINUTE;
const ABSOLUTE = 12 * HOUR;
const START = Date.parse('2030-01-01T08:00:00Z');
const by = { actor: 'admin', clientAddress: '192.0.2.1', authMethod: 'session' };
const meta = { clientAddress: '192.0.2.7', userAgent: 'Firefox' };

let clock: FakeClock;
let store: PeopleStore;
let person: string;
let serial = 0;
beforeEach(() => {
  clock = new FakeClock(START);
  store = new PeopleStore({ pool: db.pool, clock, idleTimeoutMs: IDLE, absoluteTimeoutMs: ABSOLUTE });
  person = `person${++serial}`;
});

async function auditRows(name: string): Promise<{ actor: string; action: string; client_address: string; auth_method: string; details: Record<string, unknown> }[]> {
  const { rows } = await db.pool.query("SELECT actor, action, client_address, auth_method, details FROM otm.audit_log WHERE object_kind = 'person' AND object_name = $1 ORDER BY id", [name]);
  return rows;
}

/** Every text and byte value of every row of a table, to search for a secret. */
async function tableText(table: string): Promise<string> {
  const { rows } = await db.pool.query(`SELECT * FROM otm.${table}`);
  return rows.map((row) => Object.values(row).map((v) => (Buffer.isBuffer(v) ? `${v.toString('hex')} ${v.toString('base64url')} ${v.toString('latin1')}` : String(v))).join(' ')).join('\n');
}

describe('sessions', () => {
  it('finds a session by its secret and keeps only its hash', async () => {
    const { secret, session } = await store.createSession(person, meta);
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
    assert.equal(session.person, person);
    assert.equal(session.clientAddress, '192.0.2.7');
    assert.equal(session.userAgent, 'Firefox');
    assert.equal(session.createdAt.getTime(), START);
    assert.equal(session.expiresAt.getTime(), START + IDLE);
    assert.deepEqual(await store.session(secret), session);
    assert.equal(await store.session(`${secret}x`), undefined);
    assert.equal(await store.session(''), undefined);
    assert.ok(!(await tableText('sessions')).includes(secret), 'no session secret at rest');
  });

  it('ends a session left alone for the idle timeout, and touches lastSeenAt at most once a minute', async () => {
    const { secret } = await store.createSession(person, meta);
    clock.advance(30_000);
    assert.equal((await store.session(secret))?.lastSeenAt.getTime(), START, 'not written again within a minute');
    clock.advance(30_000);
    const seen = await store.session(secret);
    assert.equal(seen?.lastSeenAt.getTime(), START + MINUTE);
    assert.equal(seen?.expiresAt.getTime(), START + MINUTE + IDLE);
    const { rows } = await db.pool.query('SELECT last_seen_at FROM otm.sessions WHERE person = $1', [person]);
    assert.equal(rows[0].last_seen_at.getTime(), START + MINUTE, 'stored, not only returned');
    clock.advance(IDLE - 1);
    assert.ok(await store.session(secret), 'still live one millisecond before the idle timeout');
    clock.advance(IDLE);
    assert.equal(await store.session(secret), undefined, 'idle for the whole timeout');
    assert.deepEqual(await store.sessions(person), []);
  });

  it('ends a busy session at the absolute timeout', async () => {
    const { secret } = await store.createSession(person, meta);
    for (let t = 0; t < ABSOLUTE - HOUR; t += HOUR) {
      clock.advance(HOUR);
      assert.ok(await store.session(secret), `live after ${(t + HOUR) / HOUR} h of use`);
    }
    const late = await store.session(secret);
    assert.equal(late?.expiresAt.getTime(), START + ABSOLUTE, 'the absolute timeout comes before the idle one');
    clock.advance(HOUR - 1);
    assert.ok(await store.session(secret));
    clock.advance(1);
    assert.equal(await store.session(secret), undefined);
  });

  it('lists the live sessions newest first, revokes one, and only the person\'s own', async () => {
    const first = await store.createSession(person, meta);
    clock.advance(1000);
    const second = await store.createSession(person, { clientAddress: '198.51.100.3', userAgent: 'curl' });
    const other = await store.createSession(`${person}-other`, meta);
    assert.deepEqual((await store.sessions(person)).map((s) => s.id), [second.session.id, first.session.id]);

    assert.equal(await store.revokeSession(person, other.session.id, by), false, 'another person\'s session');
    assert.ok(await store.session(other.secret));
    assert.equal(await store.revokeSession(person, 'not-a-uuid', by), false);
    assert.equal(await store.revokeSession(person, first.session.id, by), true);
    assert.equal(await store.revokeSession(person, first.session.id, by), false, 'already revoked');
    assert.equal(await store.session(first.secret), undefined);
    assert.ok(await store.session(second.secret));
    assert.deepEqual((await store.sessions(person)).map((s) => s.id), [second.session.id]);
    assert.deepEqual((await auditRows(person)).map((r) => [r.action, r.details]), [['session.revoke', { session: first.session.id }]]);
  });

  it('revokes all of a person\'s sessions and no one else\'s', async () => {
    const a = await store.createSession(person, meta);
    const b = await store.createSession(person, meta);
    const other = await store.createSession(`${person}-other`, meta);
    assert.equal(await store.revokeSessions(person, by), 2);
    assert.equal(await store.session(a.secret), undefined);
    assert.equal(await store.session(b.secret), undefined);
    assert.ok(await store.session(other.secret));
    assert.equal(await store.revokeSessions(person, by), 0);
  });
});

describe('personal tokens', () => {
  it('keeps only the hash, the scope and the label, and finds the token by its secret', async () => {
    const expiresAt = new Date(START + 30 * 24 * HOUR);
    const { secret, token } = await store.createToken(person, { scope: 'write', expiresAt, label: 'laptop' }, by);
    assert.match(secret, /^otm_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(token, { id: token.id, person, scope: 'write', label: 'laptop', createdAt: new Date(START), expiresAt, lastUsedAt: null });
    const text = await tableText('api_tokens');
    assert.ok(!text.includes(secret) && !text.includes(secret.slice(4)), 'no token secret at rest');
    assert.ok(!(await db.pool.query('SELECT details::text FROM otm.audit_log')).rows.some((r) => r.details.includes(secret.slice(4))), 'nor in the audit log');

    const found = await store.token(secret);
    assert.equal(found?.scope, 'write');
    assert.equal(found?.person, person);
    assert.equal(await store.token(secret.slice(4)), undefined, 'without its prefix');
    assert.equal(await store.token(`${secret}x`), undefined);
    const audit = (await auditRows(person)).find((r) => r.action === 'token.create');
    assert.deepEqual(audit?.details, { token: token.id, scope: 'write', label: 'laptop', expiresAt: expiresAt.toISOString() });
    assert.equal(audit?.auth_method, 'session');
  });

  it('records the last use at most once a minute', async () => {
    const { secret } = await store.createToken(person, { scope: 'read', expiresAt: null, label: '' }, by);
    assert.equal((await store.token(secret))?.lastUsedAt?.getTime(), START);
    clock.advance(59_000);
    assert.equal((await store.token(secret))?.lastUsedAt?.getTime(), START);
    clock.advance(1000);
    assert.equal((await store.token(secret))?.lastUsedAt?.getTime(), START + MINUTE);
    assert.equal((await store.tokens(person))[0]?.lastUsedAt?.getTime(), START + MINUTE, 'stored');
  });

  it('stops working at its expiry; a token that never expires keeps working', async () => {
    const day = await store.createToken(person, { scope: 'read', expiresAt: new Date(START + 24 * HOUR), label: 'day' }, by);
    const never = await store.createToken(person, { scope: 'read', expiresAt: null, label: 'never' }, by);
    clock.advance(24 * HOUR - 1);
    assert.ok(await store.token(day.secret));
    clock.advance(1);
    assert.equal(await store.token(day.secret), undefined);
    assert.deepEqual((await store.tokens(person)).map((t) => t.label), ['never']);
    clock.advance(10 * 365 * 24 * HOUR);
    assert.ok(await store.token(never.secret));
  });

  it('refuses an expiry in the past, an unknown scope and a label too long', async () => {
    await assert.rejects(store.createToken(person, { scope: 'read', expiresAt: new Date(START), label: '' }, by), /expire in the future/);
    await assert.rejects(store.createToken(person, { scope: 'admin' as 'read', expiresAt: null, label: '' }, by), /read or write/);
    await assert.rejects(store.createToken(person, { scope: 'read', expiresAt: null, label: 'x'.repeat(201) }, by), /at most 200/);
    assert.deepEqual(await store.tokens(person), []);
  });

  it('revokes only the person\'s own token, audited', async () => {
    const mine = await store.createToken(person, { scope: 'read', expiresAt: null, label: 'mine' }, by);
    const theirs = await store.createToken(`${person}-other`, { scope: 'read', expiresAt: null, label: 'theirs' }, by);
    assert.equal(await store.revokeToken(person, theirs.token.id, by), false);
    assert.ok(await store.token(theirs.secret));
    assert.equal(await store.revokeToken(person, mine.token.id, by), true);
    assert.equal(await store.revokeToken(person, mine.token.id, by), false);
    assert.equal(await store.token(mine.secret), undefined);
    assert.deepEqual(await store.tokens(person), []);
    assert.deepEqual((await auditRows(person)).map((r) => r.action), ['token.create', 'token.revoke']);
  });
});

describe('one-time links', () => {
  it('works once, for its purpose only, and keeps only its hash', async () => {
    const secret = await store.createLink(person, 'invite', HOUR, by);
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!(await tableText('one_time_links')).includes(secret));
    assert.equal(await store.consumeLink(secret, 'reset'), undefined, 'wrong purpose');
    assert.equal(await store.consumeLink(secret, 'invite'), person);
    assert.equal(await store.consumeLink(secret, 'invite'), undefined, 'used');
    assert.equal(await store.consumeLink('unknown', 'invite'), undefined);
  });

  it('expires', async () => {
    const secret = await store.createLink(person, 'reset', HOUR, by);
    clock.advance(HOUR);
    assert.equal(await store.consumeLink(secret, 'reset'), undefined);
  });

  it('names its person without being used, while it is usable', async () => {
    const secret = await store.createLink(person, 'reset', HOUR, by);
    assert.equal(await store.linkPerson(secret, 'reset'), person);
    assert.equal(await store.linkPerson(secret, 'reset'), person, 'looking does not use it');
    assert.equal(await store.linkPerson(secret, 'invite'), undefined, 'wrong purpose');
    assert.equal(await store.consumeLink(secret, 'reset'), person);
    assert.equal(await store.linkPerson(secret, 'reset'), undefined, 'used');
    const later = await store.createLink(person, 'reset', HOUR, by);
    clock.advance(HOUR);
    assert.equal(await store.linkPerson(later, 'reset'), undefined, 'expired');
  });

  it('is replaced by a newer link of the same purpose, not by one of another', async () => {
    const invite = await store.createLink(person, 'invite', HOUR, by);
    const older = await store.createLink(person, 'reset', HOUR, by);
    const newer = await store.createLink(person, 'reset', HOUR, by);
    assert.equal(await store.consumeLink(older, 'reset'), undefined);
    assert.equal(await store.consumeLink(newer, 'reset'), person);
    assert.equal(await store.consumeLink(invite, 'invite'), person);
  });

  it('lets exactly one of many concurrent consumers win', async () => {
    for (let round = 0; round < 5; round++) {
      const secret = await store.createLink(person, 'reset', HOUR, by);
      const results = await Promise.all(Array.from({ length: 8 }, () => store.consumeLink(secret, 'reset')));
      assert.deepEqual(results.filter((r) => r !== undefined), [person], `round ${round}`);
    }
  });
});

describe('single sign-on flows', () => {
  const flow = { state: 'state-value', nonce: 'nonce-value', codeVerifier: 'verifier-value', returnTo: '/instances' };

  it('is finished once and keeps only the hash of its id', async () => {
    const id = await store.createSignInFlow(flow, 10 * MINUTE);
    assert.match(id, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!(await tableText('sign_in_flows')).includes(id), 'no flow id at rest');
    assert.equal(await store.consumeSignInFlow(`${id}x`), undefined);
    assert.deepEqual(await store.consumeSignInFlow(id), flow);
    assert.equal(await store.consumeSignInFlow(id), undefined, 'a second callback finds nothing');
  });

  it('expires, and expired flows are removed when the next one starts', async () => {
    const expired = await store.createSignInFlow(flow, 10 * MINUTE);
    const forgotten = await store.createSignInFlow(flow, 10 * MINUTE);
    clock.advance(10 * MINUTE);
    assert.equal(await store.consumeSignInFlow(expired), undefined, 'not live at its expiry');
    clock.advance(1);
    await store.createSignInFlow(flow, 10 * MINUTE);
    const { rows } = await db.pool.query('SELECT expires_at FROM otm.sign_in_flows WHERE expires_at < $1', [new Date(clock.now())]);
    assert.deepEqual(rows, [], 'the forgotten flow is gone');
    assert.equal(await store.consumeSignInFlow(forgotten), undefined);
  });

  it('lets exactly one of many concurrent callbacks finish it', async () => {
    const id = await store.createSignInFlow(flow, 10 * MINUTE);
    const results = await Promise.all(Array.from({ length: 8 }, () => store.consumeSignInFlow(id)));
    assert.equal(results.filter((result) => result !== undefined).length, 1);
  });
});

describe('passwords', () => {
  it('sets a password, checks it, and audits without the value', async () => {
    const password = 'staple battery horse correct';
    assert.equal(await store.hasPassword(person), false);
    await store.setPassword(person, password, by);
    assert.equal(await store.hasPassword(person), true);
    assert.equal(await store.checkPassword(person, password), true);
    assert.equal(await store.checkPassword(person, `${password}!`), false);
    assert.equal(await store.checkPassword(person.toUpperCase(), password), false);
    const { rows } = await db.pool.query('SELECT hash, updated_at, updated_by FROM otm.passwords WHERE person = $1', [person]);
    assert.match(rows[0].hash, /^\$argon2id\$/);
    assert.equal(rows[0].updated_at.getTime(), START);
    assert.equal(rows[0].updated_by, 'admin');
    const audit = await auditRows(person);
    assert.deepEqual(audit.map((r) => [r.actor, r.action, r.client_address, r.auth_method, r.details]),
      [['admin', 'password.set', '192.0.2.1', 'session', { revokedSessions: 0 }]]);
    const everything = (await db.pool.query('SELECT * FROM otm.audit_log')).rows.map((r) => JSON.stringify(r)).join('\n');
    assert.ok(!everything.includes(password));
  });

  it('refuses a password against the policy and stores nothing', async () => {
    await assert.rejects(store.setPassword(person, 'short', by), PasswordPolicyError);
    const longName = `${person}-long-name`;
    await assert.rejects(store.setPassword(longName, longName.toUpperCase(), by), /not be the name/);
    assert.equal(await store.hasPassword(person), false);
    assert.equal(await store.hasPassword(longName), false);
    assert.deepEqual(await auditRows(person), []);
  });

  it('signs the person out everywhere when the password changes, and no one else', async () => {
    await store.setPassword(person, 'the first long password', by);
    const a = await store.createSession(person, meta);
    const b = await store.createSession(person, meta);
    const other = await store.createSession(`${person}-other`, meta);
    const token = await store.createToken(person, { scope: 'read', expiresAt: null, label: '' }, by);
    await store.setPassword(person, 'the second long password', by);
    assert.equal(await store.session(a.secret), undefined);
    assert.equal(await store.session(b.secret), undefined);
    assert.ok(await store.session(other.secret));
    assert.ok(await store.token(token.secret), 'tokens are revoked separately');
    assert.equal(await store.checkPassword(person, 'the first long password'), false);
    assert.equal(await store.checkPassword(person, 'the second long password'), true);
    assert.deepEqual((await auditRows(person)).filter((r) => r.action === 'password.set').map((r) => r.details), [{ revokedSessions: 0 }, { revokedSessions: 2 }]);
  });

  it('answers false for an unknown person and for one without a password', async () => {
    assert.equal(await store.checkPassword('nobody-at-all', 'any long password here'), false);
    await store.createSession(person, meta);
    assert.equal(await store.checkPassword(person, 'any long password here'), false);
    assert.equal(await store.checkPassword(person, 'x'.repeat(100_000)), false);
  });

  it('hashes again, on a successful check, a password stored with older parameters', async () => {
    const { hash } = await import('@node-rs/argon2');
    const old = await hash('an old but long password', { algorithm: 2, memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await db.pool.query("INSERT INTO otm.passwords (person, hash, updated_at, updated_by) VALUES ($1, $2, now(), 'import')", [person, old]);
    assert.equal(await store.checkPassword(person, 'an old but long password'), true);
    const { rows } = await db.pool.query('SELECT hash FROM otm.passwords WHERE person = $1', [person]);
    assert.match(rows[0].hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await store.checkPassword(person, 'an old but long password'), true);
  });

  it('purges what ended more than 30 days ago and keeps what still works', async () => {
    await store.createSession(person, meta); // idle for a month: purged
    const revoked = await store.createSession(person, meta);
    await store.revokeSession(person, revoked.session.id, by);
    const token = await store.createToken(person, { scope: 'read', expiresAt: null, label: 'kept' }, by);
    await store.createToken(person, { scope: 'read', expiresAt: new Date(clock.now() + HOUR), label: 'gone' }, by);
    const link = await store.createLink(person, 'reset', HOUR, by);
    clock.advance(31 * 24 * HOUR);
    const fresh = await store.createSession(person, meta);
    const purged = await store.purgeEnded();
    assert.ok(purged.sessions >= 2 && purged.tokens >= 1 && purged.links >= 1, JSON.stringify(purged));
    const ids = async (table: string) => (await db.pool.query(`SELECT id FROM otm.${table} WHERE person = $1`, [person])).rows.map((r) => r.id as string).sort();
    assert.deepEqual(await ids('sessions'), [fresh.session.id]);
    assert.deepEqual(await ids('api_tokens'), [token.token.id]);
    assert.equal(await store.consumeLink(link, 'reset'), undefined);
  });
});
