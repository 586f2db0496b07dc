// otm web over real HTTP against real PostgreSQL, with a fake clock: sign-in (cookie flags, the same
// answer for unknown names and wrong passwords, the rate limit), CSRF, sessions (idle and absolute
// expiry, revoke, a disabled person), personal tokens (scope, expiry, revoke), and the authorisation
// matrix: every /api/v1 route the server has × admin, owner, owner's read token, collaborator and
// stranger, with each cell's status code and, for reads, nothing of another person in the answer.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig, rowPolicyOptions } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import { PostgresDesiredSource } from '../../src/desired/postgres.js';
import { newKeyLine, openSecretStore } from '../../src/desired/secret-store.js';
import { DesiredStore } from '../../src/desired/store.js';
import { FakeClock } from '../../src/engine/clock.js';
import { PgStatusStore } from '../../src/engine/status-pg.js';
import type { PlanSource } from '../../src/http/api.js';
import { parseManifests } from '../../src/manifest/index.js';
import { readAudit } from '../../src/store/audit.js';
import { registerLinkRoutes } from '../../src/web/links.js';
import { PeopleStore } from '../../src/web/people.js';
import { createWebServer, SESSION_COOKIE } from '../../src/web/server.js';
import type { WebServer } from '../../src/web/server.js';
import { useMigratedDatabase } from '../store/database.js';

const db = useMigratedDatabase();
const MINUTE = 60_000;
const START = Date.parse('2030-03-01T08:00:00Z');
const PASSWORD = 'correct horse battery staple';
const by = { actor: 'test', authMethod: 'local' };

const people = (daveDisabled: boolean) => `apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: root }
spec: { displayName: Lab Admin, role: admin, email: root@lab.example.org }
---
apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: alice }
spec: { displayName: Alice, email: alice@lab.example.org }
---
apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: bob }
spec: { displayName: Bob, email: bob@lab.example.org }
---
apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: carol }
spec: { displayName: Carol, email: carol@lab.example.org }
---
apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: dave }
spec: { displayName: Dave, email: dave@lab.example.org, disabled: ${daveDisabled} }
---
apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: alice-file }
spec: { owner: alice, collaborators: [bob], otree: { adminPassword: { fromEnv: PW } } }
---
apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: carol-file }
spec: { owner: carol, otree: { adminPassword: { fromEnv: PW } } }
`;

const rowInstance = (name: string, owner: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'otree-manager/v1', kind: 'OTreeInstance', metadata: { name },
  spec: { owner, collaborators: ['bob'], otree: { adminPassword: { value: 'pw-of-the-instance-0' } }, env: { STUDY: 'w1' }, ...extra },
});

let work: string;
let config: Config;
let clock: FakeClock;
let desired: DesiredStore;
let rows: PostgresDesiredSource;
let store: PeopleStore;
let server: WebServer;
let base: string;
/** The server's dependencies but its configuration, for a second server with other settings. */
let depsBut: (config: Config) => Parameters<typeof createWebServer>[0];

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: () => Record<string, unknown>;
}

/** A request with an optional cookie jar (name=value pairs), JSON or form body, bearer token. */
async function call(method: string, url: string, options: { jar?: Map<string, string>; json?: unknown; form?: Record<string, string>; token?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.jar && options.jar.size > 0) headers.cookie = [...options.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  }
  const response = await fetch(`${base}${url}`, { method, headers, body, redirect: 'manual' });
  for (const cookie of response.headers.getSetCookie()) {
    const [pair] = cookie.split(';');
    const [name, ...value] = pair!.split('=');
    if (options.jar) {
      if (/Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(cookie)) options.jar.delete(name!);
      else options.jar.set(name!, value.join('='));
    }
  }
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** Signs in through the HTML form as a browser does (CSRF token from the page); returns the jar. */
async function signIn(name: string, password = PASSWORD): Promise<{ jar: Map<string, string>; answer: Answer }> {
  const jar = new Map<string, string>();
  const page = await call('GET', '/sign-in', { jar });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
  assert.ok(csrf, 'the sign-in page carries a CSRF token');
  const answer = await call('POST', '/sign-in', { jar, form: { _csrf: csrf, name, password, returnTo: '/' } });
  return { jar, answer };
}

async function csrfOf(jar: Map<string, string>): Promise<string> {
  return (await call('GET', '/api/v1/me', { jar })).json().csrfToken as string;
}

/** Waits until the row source has handed the store what was written (NOTIFY is asynchronous). */
async function untilDesired(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

describe('otm web', () => {
  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'otm-web-'));
    const keyFile = path.join(work, 'secret-key');
    await writeFile(keyFile, `${newKeyLine('k1')}\n`, { mode: 0o600 });
    const configFile = path.join(work, 'otm.yaml');
    await writeFile(configFile, [
      `postgresUrl: ${db.url}`, 'baseDomain: lab.example.org', `manifestsDir: ${work}`,
      'secrets: { keyFile: secret-key }',
      'web: { publicUrl: "https://otm.lab.example.org", signInLimit: { perAccount: 3, perAddress: 50, windowMinutes: 15 } }',
    ].join('\n'));
    ({ config } = await loadConfig({ path: configFile }));
    clock = new FakeClock(START);
    desired = new DesiredStore({ baseDomain: 'lab.example.org' });
    desired.apply([{ source: 'people.yaml', snapshot: parseManifests(people(false), 'people.yaml') }]);
    rows = new PostgresDesiredSource({ pool: db.pool, url: db.url, log: { info: () => undefined, warn: () => undefined }, policy: rowPolicyOptions(config), onChange: (updates) => desired.apply(updates) });
    await rows.start();
    store = new PeopleStore({ pool: db.pool, clock, idleTimeoutMs: 120 * MINUTE, absoluteTimeoutMs: 12 * 60 * MINUTE });
    for (const person of ['root', 'alice', 'bob', 'carol', 'dave']) await store.setPassword(person, PASSWORD, by);
    const secrets = await openSecretStore(db.pool, keyFile);
    const status = new PgStatusStore(db.pool);
    const plans: PlanSource = {
      names: async () => desired.instances().map((s) => s.declared.object.metadata.name),
      planFor: async (name) => ({ name, host: 'local', phase: 'Running', actions: [], deferred: [], notes: [] }),
    };
    depsBut = (other) => ({
      config: other, people: store, clock, log: pino({ level: 'silent' }), desired,
      status: () => status, rows: () => rows, secrets: () => secrets, plans: () => plans, audit: () => (query) => readAudit(db.pool, query),
      parts: [(app, ctx) => { registerLinkRoutes(app, ctx, undefined); }],
    });
    server = createWebServer(depsBut(config));
    base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await server?.app.close();
    await rows?.stop();
    await rm(work, { recursive: true, force: true });
  });

  describe('signing in', () => {
    test('the form signs in with an HttpOnly, Secure, SameSite=Lax session cookie and redirects', async () => {
      const { jar, answer } = await signIn('alice');
      assert.equal(answer.status, 303);
      assert.equal(answer.headers.get('location'), '/');
      const cookie = answer.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
      assert.ok(cookie);
      assert.match(cookie, /; HttpOnly/);
      assert.match(cookie, /; Secure/);
      assert.match(cookie, /; SameSite=Lax/);
      const me = (await call('GET', '/api/v1/me', { jar })).json();
      assert.equal(me.name, 'alice');
      assert.equal(me.via, 'session');
      const { rows: sessions } = await db.pool.query("SELECT auth_method FROM otm.sessions WHERE person = 'alice'");
      assert.ok(sessions.some((row) => row.auth_method === 'password'));
    });

    test('an unknown name, a wrong password and a disabled person get the same answer', async () => {
      const answers = await Promise.all([
        call('POST', '/sign-in', { json: { name: 'nobody', password: PASSWORD } }),
        call('POST', '/sign-in', { json: { name: 'bob', password: 'wrong password here' } }),
      ]);
      desired.apply([{ source: 'people.yaml', snapshot: parseManifests(people(true), 'people.yaml') }]);
      answers.push(await call('POST', '/sign-in', { json: { name: 'dave', password: PASSWORD } }));
      desired.apply([{ source: 'people.yaml', snapshot: parseManifests(people(false), 'people.yaml') }]);
      assert.deepEqual(answers.map((a) => a.status), [401, 401, 401]);
      assert.equal(new Set(answers.map((a) => a.text)).size, 1, answers.map((a) => a.text).join('\n'));
    });

    test('failed sign-ins for one account are limited: 429 with Retry-After, even with the right password, until the window passes', async () => {
      for (let i = 0; i < 3; i++) assert.equal((await call('POST', '/sign-in', { json: { name: 'carol', password: 'not her password' } })).status, 401);
      const limited = await call('POST', '/sign-in', { json: { name: 'carol', password: PASSWORD } });
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
      clock.advance(16 * MINUTE);
      assert.equal((await call('POST', '/sign-in', { json: { name: 'carol', password: PASSWORD } })).status, 200);
    });

    test('a form without the CSRF token, or from another origin, is refused and changes nothing', async () => {
      const { jar } = await signIn('bob');
      const missing = await call('POST', '/sign-out', { jar, form: {} });
      assert.equal(missing.status, 403);
      const foreign = await call('POST', '/api/v1/instances/alice-file/restart', { jar, headers: { origin: 'https://pgg.lab.example.org' } });
      assert.equal(foreign.status, 403);
      assert.equal((await call('GET', '/api/v1/me', { jar })).status, 200, 'still signed in');
      const signedOut = await call('POST', '/sign-out', { jar, form: { _csrf: await csrfOf(jar) } });
      assert.equal(signedOut.status, 303);
      assert.equal((await call('GET', '/api/v1/me', { jar })).status, 401);
    });

    test('a reset link\'s form works with the CSRF token its page carries, and not without', async () => {
    const secret = await store.createLink('carol', 'reset', 60 * MINUTE, by);
    const jar = new Map<string, string>();
    const page = await call('GET', `/reset/${secret}`, { jar });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
    assert.ok(csrf);
    const form = { password: 'carol\'s brand new phrase', confirm: 'carol\'s brand new phrase' };
    assert.equal((await call('POST', `/reset/${secret}`, { jar, form })).status, 403);
    const done = await call('POST', `/reset/${secret}`, { jar, form: { ...form, _csrf: csrf } });
    assert.equal(done.status, 303);
    assert.equal(await store.checkPassword('carol', form.password), true);
    await store.setPassword('carol', PASSWORD, by);
  });

  test('pages carry a content security policy without inline script', async () => {
      const page = await call('GET', '/sign-in');
      const csp = page.headers.get('content-security-policy') ?? '';
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline/);
      assert.equal(page.headers.get('x-frame-options'), 'SAMEORIGIN');
      assert.ok(page.headers.get('strict-transport-security'));
    });
  });

  describe('sessions', () => {
    test('idle and absolute timeouts end a session', async () => {
      const { jar } = await signIn('bob');
      clock.advance(119 * MINUTE);
      assert.equal((await call('GET', '/api/v1/me', { jar })).status, 200);
      clock.advance(121 * MINUTE);
      assert.equal((await call('GET', '/api/v1/me', { jar })).status, 401, 'idle too long');
      const busy = (await signIn('bob')).jar;
      for (let hour = 0; hour < 12; hour++) {
        assert.equal((await call('GET', '/api/v1/me', { jar: busy })).status, 200, `hour ${hour}`);
        clock.advance(60 * MINUTE);
      }
      assert.equal((await call('GET', '/api/v1/me', { jar: busy })).status, 401, 'past the absolute timeout');
    });

    test('a person sees and revokes their own sessions; a disabled person is out at once', async () => {
      const first = (await signIn('dave')).jar;
      const second = (await signIn('dave')).jar;
      const list = (await call('GET', '/api/v1/me/sessions', { jar: first })).json().items as { id: string; current: boolean }[];
      assert.equal(list.length, 2);
      const other = list.find((s) => !s.current)!;
      assert.equal((await call('DELETE', `/api/v1/me/sessions/${other.id}`, { jar: first, json: {} })).status, 200);
      assert.equal((await call('GET', '/api/v1/me', { jar: second })).status, 401);
      assert.equal((await call('DELETE', `/api/v1/me/sessions/${other.id}`, { jar: (await signIn('carol')).jar, json: {} })).status, 404, 'not someone else\'s');
      desired.apply([{ source: 'people.yaml', snapshot: parseManifests(people(true), 'people.yaml') }]);
      assert.equal((await call('GET', '/api/v1/me', { jar: first })).status, 401);
      desired.apply([{ source: 'people.yaml', snapshot: parseManifests(people(false), 'people.yaml') }]);
    });
  });

  describe('personal tokens', () => {
    test('a read token reads and cannot write; an expired or revoked token is refused', async () => {
      const { jar } = await signIn('alice');
      const created = (await call('POST', '/api/v1/me/tokens', { jar, json: { label: 'laptop', scope: 'read', expiresInDays: 1 } })).json();
      const token = created.token as string;
      assert.match(token, /^otm_/);
      assert.equal((await call('GET', '/api/v1/instances/alice-file', { token })).status, 200);
      assert.equal((await call('POST', '/api/v1/instances/alice-file/restart', { token })).status, 403);
      assert.equal((await call('POST', '/api/v1/me/tokens', { token, json: { label: 'more' } })).status, 403, 'a read token mints no tokens');
      const listed = JSON.stringify((await call('GET', '/api/v1/me/tokens', { jar })).json());
      assert.ok(!listed.includes(token), 'the token is shown once, at creation');
      clock.advance(25 * 60 * MINUTE);
      assert.equal((await call('GET', '/api/v1/me', { token })).status, 401, 'expired');
      const again = (await signIn('alice')).jar;
      const second = (await call('POST', '/api/v1/me/tokens', { jar: again, json: { label: 'ci', scope: 'write', expiresInDays: null } })).json();
      assert.equal((await call('GET', '/api/v1/me', { token: second.token as string })).status, 200);
      assert.equal((await call('DELETE', `/api/v1/me/tokens/${second.id as string}`, { jar: again, json: {} })).status, 200);
      assert.equal((await call('GET', '/api/v1/me', { token: second.token as string })).status, 401, 'revoked');
    });
  });

  describe('the authorisation matrix', () => {
    type Role = 'admin' | 'owner' | 'ownerRead' | 'collaborator' | 'stranger';
    const ROLES: Role[] = ['admin', 'owner', 'ownerRead', 'collaborator', 'stranger'];
    const credentials = new Map<Role, { jar?: Map<string, string>; token?: string }>();

    before(async () => {
      const admin = (await signIn('root')).jar;
      credentials.set('admin', { jar: admin });
      const owner = (await signIn('alice')).jar;
      credentials.set('owner', { jar: owner });
      const read = (await call('POST', '/api/v1/me/tokens', { jar: owner, json: { label: 'read', scope: 'read' } })).json();
      credentials.set('ownerRead', { token: read.token as string });
      credentials.set('collaborator', { jar: (await signIn('bob')).jar });
      credentials.set('stranger', { jar: (await signIn('carol')).jar });
      const created = await call('PUT', '/api/v1/instances/alice-row', { jar: admin, json: rowInstance('alice-row', 'alice') });
      assert.equal(created.status, 200, created.text);
      await untilDesired(() => desired.instance('alice-row') !== undefined);
      assert.equal((await call('PUT', '/api/v1/instances/alice-row/secrets/spare', { jar: admin, json: { value: 'spare-secret-value' } })).status, 200);
    });

    const as = (role: Role) => credentials.get(role)!;
    const allow = (codes: Partial<Record<Role, number>>, otherwise: number): Record<Role, number> =>
      Object.fromEntries(ROLES.map((role) => [role, codes[role] ?? otherwise])) as Record<Role, number>;
    const READ = allow({ admin: 200, owner: 200, ownerRead: 200, collaborator: 200 }, 404);
    const RUN = allow({ admin: 200, owner: 200, ownerRead: 403, collaborator: 200 }, 404);
    const OWN = allow({ admin: 200, owner: 200, ownerRead: 403, collaborator: 403 }, 404);

    /** Every /api/v1 route of the instance, with the answer each role gets; destructive ones last. */
    const cells: Array<{ method: string; url: string; route: string; body?: unknown; expected: Record<Role, number> }> = [
      { method: 'GET', url: '/api/v1/instances/alice-row', route: '/api/v1/instances/:name', expected: READ },
      { method: 'GET', url: '/api/v1/plan/alice-row', route: '/api/v1/plan/:name', expected: READ },
      { method: 'GET', url: '/api/v1/instances/alice-row/secrets', route: '/api/v1/instances/:name/secrets', expected: { ...OWN, ownerRead: 200 } },
      { method: 'POST', url: '/api/v1/instances/alice-row/restart', route: '/api/v1/instances/:name/restart', body: {}, expected: RUN },
      { method: 'POST', url: '/api/v1/instances/alice-row/reset-database', route: '/api/v1/instances/:name/reset-database', body: {}, expected: RUN },
      { method: 'PUT', url: '/api/v1/instances/alice-row', route: '/api/v1/instances/:name', body: rowInstance('alice-row', 'alice', { env: { STUDY: 'w2' } }), expected: RUN },
      { method: 'PUT', url: '/api/v1/instances/alice-row/secrets/spare', route: '/api/v1/instances/:name/secrets/:secret', body: { generate: true }, expected: OWN },
      { method: 'POST', url: '/api/v1/instances/alice-row/secrets/spare/reveal', route: '/api/v1/instances/:name/secrets/:secret/reveal', body: {}, expected: OWN },
      { method: 'DELETE', url: '/api/v1/instances/alice-row/secrets/spare', route: '/api/v1/instances/:name/secrets/:secret', body: {}, expected: allow({ admin: 404, owner: 200, ownerRead: 403, collaborator: 403 }, 404) },
      { method: 'DELETE', url: '/api/v1/instances/alice-row', route: '/api/v1/instances/:name', body: {}, expected: allow({ admin: 404, owner: 200, ownerRead: 403, collaborator: 403 }, 404) },
    ];

    test('every cell: instance routes by role (the least privileged role asks first, so writes never hide a refusal)', async () => {
      const order: Role[] = ['stranger', 'ownerRead', 'collaborator', 'owner', 'admin'];
      for (const cell of cells) {
        for (const role of order) {
          const answer = await call(cell.method, cell.url, { ...as(role), ...(cell.body !== undefined ? { json: cell.body } : {}) });
          assert.equal(answer.status, cell.expected[role], `${cell.method} ${cell.url} as ${role}: ${answer.text}`);
          if (cell.method === 'PUT' && cell.url === '/api/v1/instances/alice-row' && answer.status === 200) {
            await untilDesired(() => desired.instance('alice-row')?.declared.object.spec.env.STUDY === 'w2');
          }
        }
      }
    });

    test('lists show each person only what they may see, and nobody else\'s e-mail address', async () => {
      const names = async (role: Role) => ((await call('GET', '/api/v1/instances', as(role))).json().items as { name: string }[]).map((i) => i.name);
      assert.deepEqual(await names('admin'), ['alice-file', 'carol-file']);
      assert.deepEqual(await names('owner'), ['alice-file']);
      assert.deepEqual(await names('collaborator'), ['alice-file']);
      assert.deepEqual(await names('stranger'), ['carol-file']);
      const people = await call('GET', '/api/v1/experimenters', as('owner'));
      assert.deepEqual((people.json().items as { name: string }[]).map((i) => i.name), ['alice']);
      for (const other of ['root@', 'bob@', 'carol@', 'dave@']) assert.ok(!people.text.includes(other), other);
      assert.equal((await call('GET', '/api/v1/experimenters/bob', as('owner'))).status, 404);
      const plans = (await call('GET', '/api/v1/plan', as('stranger'))).json().plans as { name: string }[];
      assert.deepEqual(plans.map((p) => p.name), ['carol-file']);
    });

    test('people are declared by admins only, never as admins in a row; experimenters cannot create instances without self-service', async () => {
      const person = { apiVersion: 'otree-manager/v1', kind: 'Experimenter', metadata: { name: 'erin' }, spec: { displayName: 'Erin' } };
      assert.equal((await call('PUT', '/api/v1/experimenters/erin', { ...as('owner'), json: person })).status, 403);
      const adminRow = await call('PUT', '/api/v1/experimenters/erin', { ...as('admin'), json: { ...person, spec: { displayName: 'Erin', role: 'admin' } } });
      assert.equal(adminRow.status, 422);
      assert.match(adminRow.text, /ROW_ADMIN_ROLE/);
      assert.equal((await call('PUT', '/api/v1/experimenters/erin', { ...as('admin'), json: person })).status, 200);
      await untilDesired(() => desired.experimenter('erin') !== undefined);
      assert.equal((await call('DELETE', '/api/v1/experimenters/erin', { ...as('owner'), json: {} })).status, 404);
      assert.equal((await call('DELETE', '/api/v1/experimenters/erin', { ...as('admin'), json: {} })).status, 200);
      const own = await call('PUT', '/api/v1/instances/alice-new', { ...as('owner'), json: rowInstance('alice-new', 'alice') });
      assert.equal(own.status, 403);
      assert.match(own.text, /only a lab admin creates instances/);
    });

    test('an owner cannot move their instance or hand it to someone else', async () => {
      const created = await call('PUT', '/api/v1/instances/alice-two', { ...as('admin'), json: rowInstance('alice-two', 'alice') });
      assert.equal(created.status, 200, created.text);
      await untilDesired(() => desired.instance('alice-two') !== undefined);
      const bigger = await call('PUT', '/api/v1/instances/alice-two', { ...as('owner'), json: rowInstance('alice-two', 'alice', { processes: { web: 1, worker: 2 } }) });
      assert.equal(bigger.status, 403);
      assert.match(bigger.text, /spec\.processes/);
      const given = await call('PUT', '/api/v1/instances/alice-two', { ...as('owner'), json: rowInstance('alice-two', 'bob') });
      assert.equal(given.status, 403);
      assert.match(given.text, /spec\.owner/);
      assert.equal(desired.instance('alice-two')?.declared.object.spec.owner, 'alice');
      const password = await call('PUT', '/api/v1/instances/alice-two', { ...as('collaborator'), json: rowInstance('alice-two', 'alice', { otree: { adminPassword: { value: 'bobs-own-password-1' } } }) });
      assert.equal(password.status, 403, 'a collaborator cannot change the admin password inline either');
      const resent = await call('PUT', '/api/v1/instances/alice-two', { ...as('collaborator'), json: rowInstance('alice-two', 'alice', { env: { STUDY: 'w3' } }) });
      assert.equal(resent.status, 200, `the same secret sent back is no change: ${resent.text}`);
    });

    test('every write is in the audit log: who, how, from where, with the spec before and after masked', async () => {
      const { rows: entries } = await db.pool.query<{ actor: string; action: string; auth_method: string; client_address: string; details: Record<string, unknown> }>(
        "SELECT actor, action, auth_method, client_address, details FROM otm.audit_log WHERE object_name = 'alice-row' ORDER BY id");
      const summary = entries.map((e) => `${e.actor} ${e.action} ${e.auth_method}`);
      for (const line of ['root desired.create session', 'alice instance.restart session', 'bob instance.resetDatabase session', 'alice desired.update session', 'alice desired.delete session']) {
        assert.ok(summary.includes(line), `${line} in ${summary.join(', ')}`);
      }
      assert.ok(entries.every((e) => e.client_address === '127.0.0.1'));
      const text = JSON.stringify(entries);
      for (const secret of ['pw-of-the-instance-0', 'spare-secret-value', 'w1', 'w2']) assert.ok(!text.includes(secret), secret);
      const update = entries.find((e) => e.action === 'desired.update')!;
      assert.deepEqual((update.details.after as { env: unknown }).env, { STUDY: '********' });
    });

    test('with self-service on, experimenters create instances of their own, within their quota and the default placement', async () => {
    const file = path.join(work, 'self-service.yaml');
    await writeFile(file, [`postgresUrl: ${db.url}`, 'baseDomain: lab.example.org', `manifestsDir: ${work}`, 'secrets: { keyFile: secret-key }', 'web: { selfService: true }'].join('\n'));
    const self = createWebServer(depsBut((await loadConfig({ path: file })).config));
    const selfBase = await self.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const signIn = await fetch(`${selfBase}/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'carol', password: PASSWORD }) });
      const cookie = signIn.headers.getSetCookie()[0]!.split(';')[0]!;
      const put = (name: string, owner: string, extra: Record<string, unknown> = {}) => fetch(`${selfBase}/api/v1/instances/${name}`, {
        method: 'PUT', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ ...rowInstance(name, owner, extra), spec: { ...rowInstance(name, owner, extra).spec, collaborators: [] } }),
      });
      assert.equal((await put('carol-bob', 'bob')).status, 403, 'not for someone else');
      assert.equal((await put('carol-big', 'carol', { processes: { web: 1, worker: 2 } })).status, 403, 'not beyond the default placement');
      // Carol owns carol-file (a manifest) and may own three: two more, then the quota refuses.
      for (const name of ['carol-one', 'carol-two']) {
        const created = await put(name, 'carol');
        assert.equal(created.status, 200, await created.text());
        await untilDesired(() => desired.instance(name) !== undefined);
      }
      const over = await put('carol-three', 'carol');
      assert.equal(over.status, 422);
      assert.match(await over.text(), /ROW_QUOTA_EXCEEDED/);
    } finally {
      await self.app.close();
    }
  });

  test('the audit log through the API: admins read everyone\'s entries, people only their own', async () => {
    const actors = async (role: Role, query = '') => {
      const answer = await call('GET', `/api/v1/audit${query}`, as(role));
      assert.equal(answer.status, 200, answer.text);
      return new Set((answer.json().items as { actor: string }[]).map((e) => e.actor));
    };
    assert.deepEqual([...await actors('owner')], ['alice']);
    assert.deepEqual([...await actors('ownerRead')], ['alice']);
    assert.ok((await actors('admin')).size > 1);
    assert.deepEqual([...await actors('admin', '?user=bob')], ['bob']);
    assert.equal((await call('GET', '/api/v1/audit?user=bob', as('owner'))).status, 403);
    const page = (await call('GET', '/api/v1/audit?object=alice-row&limit=2', as('admin'))).json();
    assert.equal((page.items as unknown[]).length, 2);
    const next = (await call('GET', page.next as string, as('admin'))).json();
    assert.ok((next.items as { id: number }[]).every((e) => e.id < (page.items as { id: number }[])[1]!.id));
  });

  test('the hosts are an admin\'s business; an upload asks the deploy right before anything is read', async () => {
      for (const role of ['owner', 'ownerRead', 'collaborator', 'stranger'] as const) {
        assert.equal((await call('GET', '/api/v1/hosts', as(role))).status, 403, role);
      }
      // No daemon behind this server: the admin is told the hosts cannot be listed yet.
      assert.equal((await call('GET', '/api/v1/hosts', as('admin'))).status, 503);
      const upload = (role: Role) => call('POST', '/api/v1/instances/alice-file/archive?type=tar', { ...as(role), json: {} });
      assert.equal((await upload('stranger')).status, 404);
      assert.equal((await upload('ownerRead')).status, 403);
    });

  test('the matrix covers every /api/v1 route the server has', () => {
      const covered = new Set([
        ...cells.map((c) => `${c.method} ${c.route}`),
        'GET /api/v1/hosts', 'POST /api/v1/instances/:name/archive',
        'GET /api/v1/audit', 'GET /api/v1/instances', 'GET /api/v1/experimenters', 'GET /api/v1/experimenters/:name', 'GET /api/v1/plan',
        'PUT /api/v1/experimenters/:name', 'DELETE /api/v1/experimenters/:name',
        'GET /api/v1/me', 'GET /api/v1/me/sessions', 'DELETE /api/v1/me/sessions/:id', 'GET /api/v1/me/tokens', 'POST /api/v1/me/tokens', 'DELETE /api/v1/me/tokens/:id',
        // The same document for everyone who may call the API (test/http/openapi.test.ts).
        'GET /api/v1/openapi.json',
      ]);
      const served = server.routes.filter((r) => r.url.startsWith('/api/v1')).map((r) => `${r.method} ${r.url}`);
      assert.deepEqual(served.filter((r) => !covered.has(r)), []);
    });
  });
});
