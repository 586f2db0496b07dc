// Single sign-on against a real OpenID Connect provider (oidc-provider, with its development login
// and consent forms driven over HTTP), real PostgreSQL and a listening web server with the routes of
// src/web/oidc.ts: a browser signs in end to end, claims find the person (a verified e-mail or the
// subject), unknown people are provisioned or refused, admin groups make admin sessions, and every
// forged, replayed, foreign or expired callback is refused with nothing created.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import cookie from '@fastify/cookie';
import Fastify from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import Provider from 'oidc-provider';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { FakeClock, systemClock } from '../../src/engine/clock.js';
import type { Clock } from '../../src/engine/clock.js';
import type { Person, ProvisionedPerson, WebContext } from '../../src/web/context.js';
import { AttemptLimiter } from '../../src/web/limiter.js';
import { FLOW_COOKIE, registerOidcRoutes, SSO_LIMIT_RULES } from '../../src/web/oidc.js';
import { localReturnTo } from '../../src/web/return-to.js';
import { PeopleStore } from '../../src/web/people.js';
import type { Actor } from '../../src/web/people.js';
import { createRenderer } from '../../src/web/render.js';
import { Browser, setCookieLine } from '../support/browser.js';
import { useMigratedDatabase } from '../store/database.js';

const db = useMigratedDatabase();
const CLIENT_ID = 'otm';
const PUBLIC_CLIENT_ID = 'otm-public';
const CLIENT_SECRET = 'a-client-secret-of-the-test-provider-4f9c2e';
const SESSION_COOKIE = 'otm_session';

let work: string;
let secretFile: string;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

// ---- the identity provider -----------------------------------------------------------------------

/** What the provider says about each login (the name typed into its development login form). */
const accounts = new Map<string, Record<string, unknown>>();

function newProvider(issuer: string): Provider {
  // Native clients may redirect to any port of the loopback address (RFC 8252, 7.3), so one
  // registration serves every test's web server.
  const client = { application_type: 'native', redirect_uris: ['http://127.0.0.1/auth/oidc/callback'], response_types: ['code'], grant_types: ['authorization_code'] };
  return new Provider(issuer, {
    clients: [
      { ...client, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_post' },
      { ...client, client_id: PUBLIC_CLIENT_ID, token_endpoint_auth_method: 'none' },
    ],
    claims: { email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    // The claims in the ID token, as Dex and Keycloak send them (the ID token is what otm web reads).
    conformIdTokenClaims: false,
    cookies: { keys: ['a cookie key of the test provider'] },
    features: { devInteractions: { enabled: true } },
    findAccount: (_ctx, id) => {
      const claims = accounts.get(id);
      return claims && { accountId: id, claims: () => ({ sub: id, ...claims }) };
    },
  });
}

let issuer: string;
let providerServer: Server;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'otm-oidc-'));
  secretFile = join(work, 'client-secret');
  await writeFile(secretFile, `${CLIENT_SECRET}\n`, { mode: 0o600 });
  providerServer = createServer();
  issuer = await listen(providerServer);
  providerServer.on('request', newProvider(issuer).callback());
});

after(async () => {
  await close(providerServer);
  await rm(work, { recursive: true, force: true });
});

// ---- otm web ---------------------------------------------------------------------------------------

interface Web {
  url: string;
  people: Map<string, Person>;
  provisioned: { person: ProvisionedPerson; by: Actor }[];
  logs: string[];
  close(): Promise<void>;
}

interface WebOptions {
  oidc?: Record<string, unknown>;
  /** What the site's address is said to be (default: where it listens). */
  publicUrl?: string;
  people?: Person[];
  clock?: Clock;
}

let configSerial = 0;

/** A web server with the single sign-on routes and a WebContext of its own, listening on a free port. */
async function startWeb(options: WebOptions = {}): Promise<Web> {
  const configFile = join(work, `config-${++configSerial}.yaml`);
  await writeFile(configFile, JSON.stringify({
    web: { oidc: { issuer, clientId: CLIENT_ID, clientSecretFile: secretFile, allowInsecureHttp: true, scopes: ['openid', 'email', 'profile', 'groups'], ...options.oidc } },
  }));
  const { config } = await loadConfig({ path: configFile });
  const clock = options.clock ?? systemClock;
  const people = new Map((options.people ?? []).map((person) => [person.name, person]));
  const provisioned: Web['provisioned'] = [];
  const logs: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const store = new PeopleStore({ pool: db.pool, clock, idleTimeoutMs: 3_600_000, absoluteTimeoutMs: 12 * 3_600_000 });
  const renderer = createRenderer();

  const server = createServer();
  const url = await listen(server);
  const ctx: WebContext = {
    config, publicUrl: options.publicUrl ?? url, people: store, clock, log,
    person: (name) => people.get(name),
    peopleByEmail: (email) => [...people.values()].filter((person) => person.email?.toLowerCase() === email.toLowerCase()),
    signIn: async (request, reply, person, signInOptions) => {
      const { secret } = await store.createSession(person, {
        clientAddress: request.ip, userAgent: request.headers['user-agent'] ?? '', method: signInOptions.method, adminByGroup: signInOptions.adminByGroup ?? false,
      });
      reply.setCookie(SESSION_COOKIE, secret, { path: '/', httpOnly: true, sameSite: 'lax' });
    },
    provisionPerson: async (person, by) => {
      provisioned.push({ person, by });
      people.set(person.name, { name: person.name, displayName: person.displayName, email: person.email, role: 'experimenter', disabled: false });
    },
    clientAddress: (request) => request.ip,
    limiter: new AttemptLimiter(clock, SSO_LIMIT_RULES),
    render: (reply, view, data, statusCode = 200) => reply.code(statusCode).type('text/html; charset=utf-8').send(renderer.page(view, data)),
  };
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    serverFactory: (handler: (request: IncomingMessage, response: ServerResponse) => void) => server.on('request', handler),
  });
  try {
    await app.register(cookie);
    await registerOidcRoutes(app, ctx);
    await app.ready();
  } catch (err) {
    await app.close();
    await close(server);
    throw err;
  }
  return {
    url, people, provisioned, logs,
    close: async () => {
      await app.close();
      await close(server);
    },
  };
}

/** Runs `work` with a web server of these options, closed afterwards. */
async function withWeb(options: WebOptions, work: (web: Web) => Promise<void>): Promise<void> {
  const web = await startWeb(options);
  try {
    await work(web);
  } finally {
    await web.close();
  }
}

const person = (name: string, extra: Partial<Person> = {}): Person => ({ name, displayName: name, role: 'experimenter', disabled: false, ...extra });

let loginSerial = 0;

/** A login at the provider with these claims (beside sub, which is the login). */
function account(claims: Record<string, unknown>, login = `login${++loginSerial}`): string {
  accounts.set(login, claims);
  return login;
}

interface ProviderRound {
  /** The authorization request otm web sent the browser to. */
  authorization: URL;
  /** Where the provider sent the browser back to (not visited yet). */
  callback: string;
}

/**
 * Starts a sign-in at otm web and goes through the provider's login and consent forms as `login`
 * (a browser already signed in at the provider goes straight through), stopping at the redirect
 * back to otm web. With `decline`, the person cancels at the provider's first form.
 */
async function throughProvider(browser: Browser, web: Web, login: string, options: { returnTo?: string; decline?: boolean } = {}): Promise<ProviderRound> {
  const { returnTo, decline = false } = options;
  const start = await browser.fetch(`${web.url}/auth/oidc/start${returnTo !== undefined ? `?returnTo=${encodeURIComponent(returnTo)}` : ''}`);
  assert.equal(start.status, 302, await start.text());
  const authorization = new URL(start.headers.get('location')!);
  let location = authorization.href;
  for (let step = 0; step < 12; step++) {
    if (location.startsWith(`${web.url}/auth/oidc/callback`)) return { authorization, callback: location };
    const response = await browser.fetch(location);
    let next = response;
    if (response.status === 200) {
      const html = await response.text();
      const action = /<form[^>]* action="([^"]+)"/.exec(html)?.[1];
      const prompt = /name="prompt" value="([a-z]+)"/.exec(html)?.[1];
      assert.ok(action && prompt, `a form of the provider: ${html.slice(0, 500)}`);
      const submit = new URL(action, location).href;
      if (decline) next = await browser.fetch(`${submit}/abort`);
      else next = await browser.fetch(submit, { form: prompt === 'login' ? { prompt, login, password: 'any' } : { prompt } });
    }
    assert.ok(next.status >= 300 && next.status < 400, `a redirect from the provider, not ${next.status}: ${await next.text()}`);
    location = new URL(next.headers.get('location')!, location).href;
  }
  throw new Error('the provider never redirected back to otm web');
}

/** Signs in all the way: the provider, then the callback. */
async function signIn(browser: Browser, web: Web, login: string, returnTo?: string): Promise<{ round: ProviderRound; response: Response }> {
  const round = await throughProvider(browser, web, login, { returnTo });
  return { round, response: await browser.fetch(round.callback) };
}

interface SessionRow { person: string; auth_method: string; admin_by_group: boolean }

async function sessionsOf(name: string): Promise<SessionRow[]> {
  const { rows } = await db.pool.query<SessionRow>('SELECT person, auth_method, admin_by_group FROM otm.sessions WHERE person = $1', [name]);
  return rows;
}

async function assertRefused(response: Response, status: number, message: RegExp): Promise<void> {
  const html = await response.text();
  assert.equal(response.status, status, html);
  assert.match(response.headers.get('content-type') ?? '', /text\/html/);
  assert.match(html, message);
}

const NOT_COMPLETED = /sign-in could not be completed; start again/;

// ---- the tests -------------------------------------------------------------------------------------

describe('signing in end to end', () => {
  it('finds the person by a verified e-mail (any case), starts an oidc session and goes back where the person was', async () => {
    await withWeb({ people: [person('alice', { email: 'Alice@Lab.example' })] }, async (web) => {
      const browser = new Browser();
      const login = account({ email: 'alice@lab.EXAMPLE', email_verified: true, name: 'Alice' });
      const round = await throughProvider(browser, web, login, { returnTo: '/instances?sort=name' });

      const flowCookie = browser.cookie(FLOW_COOKIE);
      assert.ok(flowCookie, 'the flow cookie was set');
      const { searchParams: sent } = round.authorization;
      assert.equal(sent.get('code_challenge_method'), 'S256');
      assert.match(sent.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
      assert.equal(sent.get('redirect_uri'), `${web.url}/auth/oidc/callback`);
      assert.equal(sent.get('scope'), 'openid email profile groups');
      assert.ok(sent.get('state') && sent.get('nonce'));
      assert.ok(!sent.has('code_verifier'), 'the verifier stays with otm web');
      const { rows: flows } = await db.pool.query('SELECT state, nonce, return_to FROM otm.sign_in_flows WHERE state = $1', [sent.get('state')]);
      assert.deepEqual(flows, [{ state: sent.get('state'), nonce: sent.get('nonce'), return_to: '/instances?sort=name' }]);

      const response = await browser.fetch(round.callback);
      assert.equal(response.status, 303, await response.text());
      assert.equal(response.headers.get('location'), '/instances?sort=name');
      assert.deepEqual(await sessionsOf('alice'), [{ person: 'alice', auth_method: 'oidc', admin_by_group: false }]);
      assert.ok(browser.cookie(SESSION_COOKIE), 'the session cookie is set');
      assert.equal(browser.cookie(FLOW_COOKIE), undefined, 'the flow cookie is removed');
      assert.equal((await db.pool.query('SELECT 1 FROM otm.sign_in_flows WHERE state = $1', [sent.get('state')])).rowCount, 0, 'the flow is finished');

      const code = new URL(round.callback).searchParams.get('code');
      assert.ok(code);
      const logged = web.logs.join('\n');
      assert.match(logged, /signed in with single sign-on/);
      assert.match(logged, /\/auth\/oidc\/callback/, 'the callback is in the request log');
      for (const secret of [code, sent.get('state')!, sent.get('nonce')!, CLIENT_SECRET, flowCookie, browser.cookie(SESSION_COOKIE)!]) {
        assert.ok(!logged.includes(secret), 'no code, state, nonce, client secret or cookie in the log');
      }
    });
  });

  it('sets the flow cookie HttpOnly, SameSite=Lax, for /auth/oidc and ten minutes, Secure on an https site', async () => {
    await withWeb({}, async (web) => {
      const start = await new Browser().fetch(`${web.url}/auth/oidc/start`);
      const line = setCookieLine(start, FLOW_COOKIE) ?? '';
      assert.match(line, /; Max-Age=600(;|$)/);
      assert.match(line, /; Path=\/auth\/oidc(;|$)/);
      assert.match(line, /; HttpOnly(;|$)/);
      assert.match(line, /; SameSite=Lax(;|$)/);
      assert.doesNotMatch(line, /Secure/, 'not Secure on an http site');
    });
    await withWeb({ publicUrl: 'https://otm.lab.example' }, async (web) => {
      const start = await new Browser().fetch(`${web.url}/auth/oidc/start`);
      assert.match(setCookieLine(start, FLOW_COOKIE) ?? '', /; Secure(;|$)/, 'Secure on an https site');
      assert.equal(new URL(start.headers.get('location')!).searchParams.get('redirect_uri'), 'https://otm.lab.example/auth/oidc/callback');
    });
  });

  it('works as a public client (no client secret, PKCE only)', async () => {
    await withWeb({ oidc: { clientId: PUBLIC_CLIENT_ID, clientSecretFile: undefined }, people: [person('pat', { email: 'pat@lab.example' })] }, async (web) => {
      const { response } = await signIn(new Browser(), web, account({ email: 'pat@lab.example', email_verified: true }));
      assert.equal(response.status, 303, await response.text());
      assert.equal(response.headers.get('location'), '/');
      assert.equal((await sessionsOf('pat')).length, 1);
    });
  });
});

describe('finding the person', () => {
  it('refuses an e-mail address the provider has not verified, and provisions nobody for it', async () => {
    await withWeb({ people: [person('bert', { email: 'bert@lab.example' })], oidc: { provision: { enabled: true } } }, async (web) => {
      const { response } = await signIn(new Browser(), web, account({ email: 'bert@lab.example', email_verified: false }));
      await assertRefused(response, 403, /the e-mail address bert@lab\.example is not verified/);
      assert.deepEqual(await sessionsOf('bert'), []);
      assert.deepEqual(web.provisioned, []);
    });
  });

  it('with matchClaim sub, finds the person named by the subject whatever the e-mail says', async () => {
    await withWeb({ people: [person('carol', { email: 'carol@lab.example' })], oidc: { matchClaim: 'sub' } }, async (web) => {
      const { response } = await signIn(new Browser(), web, account({ email: 'someone@else.example', email_verified: false }, 'carol'));
      assert.equal(response.status, 303, await response.text());
      assert.deepEqual(await sessionsOf('carol'), [{ person: 'carol', auth_method: 'oidc', admin_by_group: false }]);
    });
  });

  it('refuses a disabled person', async () => {
    await withWeb({ people: [person('dora', { email: 'dora@lab.example', disabled: true })] }, async (web) => {
      const { response } = await signIn(new Browser(), web, account({ email: 'dora@lab.example', email_verified: true }));
      await assertRefused(response, 403, /the account dora is disabled; ask the lab&#39;s admin/);
      assert.deepEqual(await sessionsOf('dora'), []);
    });
  });

  it('refuses an address several people share, and provisions no third one for it', async () => {
    const shared = [person('ed', { email: 'lab@lab.example' }), person('eva', { email: 'Lab@lab.example' })];
    await withWeb({ people: shared, oidc: { provision: { enabled: true } } }, async (web) => {
      const { response } = await signIn(new Browser(), web, account({ email: 'lab@lab.example', email_verified: true }));
      await assertRefused(response, 403, /several accounts have the address lab@lab.example/);
      assert.deepEqual(web.provisioned, []);
      assert.deepEqual([...await sessionsOf('ed'), ...await sessionsOf('eva')], []);
    });
  });

  it('without provisioning, refuses someone nobody declared and creates nothing', async () => {
    await withWeb({}, async (web) => {
      const { response } = await signIn(new Browser(), web, account({ email: 'eve@lab.example', email_verified: true }));
      await assertRefused(response, 403, /no account for eve@lab\.example; ask the lab&#39;s admin/);
      assert.deepEqual(web.provisioned, []);
      assert.deepEqual([...web.people.keys()], []);
      assert.equal((await db.pool.query("SELECT 1 FROM otm.sessions WHERE person LIKE 'eve%'")).rowCount, 0);
    });
  });

  it('with provisioning, creates an experimenter named after the e-mail, with the configured quota, audited as the new person', async () => {
    const quota = { instances: 2, webProcesses: 4 };
    await withWeb({ people: [person('frank', { email: 'frank@lab.example' })], oidc: { provision: { enabled: true, quota } } }, async (web) => {
      const { response } = await signIn(new Browser(), web, account({ email: 'Frank@Elsewhere.example', email_verified: true, name: 'Frank Other' }));
      assert.equal(response.status, 303, await response.text());
      assert.deepEqual(web.provisioned, [{
        person: { name: 'frank2', displayName: 'Frank Other', email: 'Frank@Elsewhere.example', quota },
        by: { actor: 'frank2', authMethod: 'oidc', clientAddress: '127.0.0.1' },
      }]);
      assert.equal(web.people.get('frank2')?.role, 'experimenter');
      assert.deepEqual(await sessionsOf('frank2'), [{ person: 'frank2', auth_method: 'oidc', admin_by_group: false }]);
      assert.deepEqual(await sessionsOf('frank'), [], 'the declared frank is someone else');

      const { response: again } = await signIn(new Browser(), web, account({ email: 'José.Martín+otm@lab.example', email_verified: true }));
      assert.equal(again.status, 303);
      assert.equal(web.provisioned[1]?.person.name, 'jose-martin-otm');
      assert.equal(web.provisioned[1]?.person.displayName, 'jose-martin-otm', 'without a name claim, the name');
    });
  });

  it('with provisioning and matchClaim sub, names the new person exactly by the subject, so the next sign-in finds them', async () => {
    await withWeb({ oidc: { matchClaim: 'sub', provision: { enabled: true } } }, async (web) => {
      const login = account({ email: 'gina@lab.example', email_verified: true, name: 'Gina' }, 'gina');
      assert.equal((await signIn(new Browser(), web, login)).response.status, 303);
      assert.equal((await signIn(new Browser(), web, login)).response.status, 303);
      assert.deepEqual(web.provisioned.map(({ person: p }) => p.name), ['gina'], 'provisioned once');
      assert.equal((await sessionsOf('gina')).length, 2);

      const { response } = await signIn(new Browser(), web, account({ email: 'hal@lab.example', email_verified: true }, 'Hal.9000'));
      await assertRefused(response, 403, /no account for Hal\.9000/);
      assert.equal(web.provisioned.length, 1, 'a subject that is no user name is not provisioned');
    });
  });
});

describe('admin groups', () => {
  it('makes the session an admin session when the group claim holds a configured group', async () => {
    const people = [person('ida', { email: 'ida@lab.example' }), person('jon', { email: 'jon@lab.example' })];
    await withWeb({ people, oidc: { adminGroups: { values: ['otm-admins'] } } }, async (web) => {
      await signIn(new Browser(), web, account({ email: 'ida@lab.example', email_verified: true, groups: ['staff', 'otm-admins'] }));
      await signIn(new Browser(), web, account({ email: 'jon@lab.example', email_verified: true, groups: ['staff'] }));
      assert.deepEqual(await sessionsOf('ida'), [{ person: 'ida', auth_method: 'oidc', admin_by_group: true }]);
      assert.deepEqual(await sessionsOf('jon'), [{ person: 'jon', auth_method: 'oidc', admin_by_group: false }]);
    });
  });

  it('reads a claim of another name holding a single value', async () => {
    await withWeb({ people: [person('kim', { email: 'kim@lab.example' })], oidc: { adminGroups: { claim: 'name', values: ['Lab Admin'] } } }, async (web) => {
      await signIn(new Browser(), web, account({ email: 'kim@lab.example', email_verified: true, name: 'Lab Admin' }));
      assert.deepEqual(await sessionsOf('kim'), [{ person: 'kim', auth_method: 'oidc', admin_by_group: true }]);
    });
  });
});

describe('refused callbacks', () => {
  it('refuses a tampered state, without asking the provider for tokens, and the flow is over', async () => {
    await withWeb({ people: [person('lea', { email: 'lea@lab.example' })] }, async (web) => {
      const browser = new Browser();
      const { callback } = await throughProvider(browser, web, account({ email: 'lea@lab.example', email_verified: true }));
      const tampered = new URL(callback);
      tampered.searchParams.set('state', `${tampered.searchParams.get('state')}x`);
      const copy = browser.copy();
      await assertRefused(await browser.fetch(tampered.href), 400, NOT_COMPLETED);
      await assertRefused(await copy.fetch(callback), 400, NOT_COMPLETED);
      assert.deepEqual(await sessionsOf('lea'), []);
    });
  });

  it('refuses a callback used twice, even with the flow cookie copied', async () => {
    await withWeb({ people: [person('max', { email: 'max@lab.example' })] }, async (web) => {
      const browser = new Browser();
      const { callback } = await throughProvider(browser, web, account({ email: 'max@lab.example', email_verified: true }));
      const copy = browser.copy();
      assert.equal((await browser.fetch(callback)).status, 303);
      await assertRefused(await copy.fetch(callback), 400, NOT_COMPLETED);
      await assertRefused(await browser.fetch(callback), 400, NOT_COMPLETED);
      assert.equal((await sessionsOf('max')).length, 1);
    });
  });

  it('refuses a callback in a browser that did not start it, and the one that did can still finish', async () => {
    await withWeb({ people: [person('nina', { email: 'nina@lab.example' })] }, async (web) => {
      const victim = new Browser();
      const { callback } = await throughProvider(victim, web, account({ email: 'nina@lab.example', email_verified: true }));
      const attacker = new Browser();
      assert.equal((await attacker.fetch(`${web.url}/auth/oidc/start`)).status, 302, 'the attacker has a flow of their own');
      await assertRefused(await attacker.fetch(callback), 400, NOT_COMPLETED);
      await assertRefused(await new Browser().fetch(callback), 400, NOT_COMPLETED);
      assert.deepEqual(await sessionsOf('nina'), []);
      assert.equal(attacker.cookie(SESSION_COOKIE), undefined);
      assert.equal((await victim.fetch(callback)).status, 303);
      assert.equal((await sessionsOf('nina')).length, 1);
    });
  });

  it('refuses an ID token whose nonce is not the flow\'s', async () => {
    await withWeb({ people: [person('olaf', { email: 'olaf@lab.example' })] }, async (web) => {
      const browser = new Browser();
      const { authorization, callback } = await throughProvider(browser, web, account({ email: 'olaf@lab.example', email_verified: true }));
      // The provider signed the nonce it was sent; the flow now expects another, as for an ID token
      // issued to some other sign-in.
      const changed = await db.pool.query("UPDATE otm.sign_in_flows SET nonce = 'another-nonce-value' WHERE state = $1", [authorization.searchParams.get('state')]);
      assert.equal(changed.rowCount, 1);
      await assertRefused(await browser.fetch(callback), 400, NOT_COMPLETED);
      assert.deepEqual(await sessionsOf('olaf'), []);
      assert.match(web.logs.join('\n'), /"code":"OAUTH_JWT_CLAIM_COMPARISON_FAILED"/);
    });
  });

  it('refuses a flow older than ten minutes by the web server\'s clock', async () => {
    const clock = new FakeClock(Date.now());
    await withWeb({ clock, people: [person('pia', { email: 'pia@lab.example' })] }, async (web) => {
      const browser = new Browser();
      const { callback } = await throughProvider(browser, web, account({ email: 'pia@lab.example', email_verified: true }));
      clock.advance(10 * 60_000);
      await assertRefused(await browser.fetch(callback), 400, NOT_COMPLETED);
      assert.deepEqual(await sessionsOf('pia'), []);
    });
  });

  it('refuses a sign-in the person declined at the provider, logging the OAuth error code', async () => {
    await withWeb({ people: [person('quin', { email: 'quin@lab.example' })] }, async (web) => {
      const browser = new Browser();
      const { callback } = await throughProvider(browser, web, account({ email: 'quin@lab.example', email_verified: true }), { decline: true });
      assert.equal(new URL(callback).searchParams.get('error'), 'access_denied');
      await assertRefused(await browser.fetch(callback), 400, NOT_COMPLETED);
      assert.match(web.logs.join('\n'), /"oauthError":"access_denied"/);
      assert.deepEqual(await sessionsOf('quin'), []);
    });
  });
});

describe('where the browser goes afterwards', () => {
  it('lands on / for a return address off the site', async () => {
    await withWeb({ people: [person('rosa', { email: 'rosa@lab.example' })] }, async (web) => {
      const browser = new Browser();
      const login = account({ email: 'rosa@lab.example', email_verified: true });
      for (const returnTo of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)', '/\r\nSet-Cookie:x=y', 'evil.example']) {
        const { response } = await signIn(browser, web, login, returnTo);
        assert.equal(response.status, 303, returnTo);
        assert.equal(response.headers.get('location'), '/', returnTo);
      }
    });
  });

  it('keeps a local path with its query', () => {
    assert.equal(localReturnTo('/instances/alice-pgg?tab=logs#end'), '/instances/alice-pgg?tab=logs#end');
    assert.equal(localReturnTo(undefined), '/');
    assert.equal(localReturnTo(['/a', '/b']), '/');
    assert.equal(localReturnTo(`/${'a'.repeat(5000)}`), '/');
  });
});

describe('the provider and the configuration', () => {
  it('starts while the provider is down, answers 503 then, and signs in once it is up', async () => {
    const lateServer = createServer();
    const lateIssuer = await listen(lateServer);
    let up = false;
    const lateProvider = newProvider(lateIssuer).callback();
    lateServer.on('request', (request: IncomingMessage, response: ServerResponse) => {
      if (up) lateProvider(request, response);
      else response.writeHead(503).end('starting');
    });
    try {
      await withWeb({ oidc: { issuer: lateIssuer }, people: [person('sam', { email: 'sam@lab.example' })] }, async (web) => {
        const browser = new Browser();
        await assertRefused(await browser.fetch(`${web.url}/auth/oidc/start`), 503, /single sign-on cannot be reached at the moment/);
        assert.equal(browser.cookie(FLOW_COOKIE), undefined, 'no flow started');
        up = true;
        const { response } = await signIn(browser, web, account({ email: 'sam@lab.example', email_verified: true }));
        assert.equal(response.status, 303);
        assert.equal((await sessionsOf('sam')).length, 1);
      });
    } finally {
      await close(lateServer);
    }
  });

  it('limits the sign-ins one address starts (each stores a flow): 429 with Retry-After, until the window passes', async () => {
    const clock = new FakeClock(Date.now());
    await withWeb({ clock }, async (web) => {
      const { limit, windowMs } = SSO_LIMIT_RULES['sso-address'];
      for (let i = 0; i < limit; i++) assert.equal((await new Browser().fetch(`${web.url}/auth/oidc/start`)).status, 302, `start ${i}`);
      const limited = await new Browser().fetch(`${web.url}/auth/oidc/start`);
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
      clock.advance(windowMs);
      assert.equal((await new Browser().fetch(`${web.url}/auth/oidc/start`)).status, 302);
    });
  });

  it('answers 503 when nothing listens at the issuer', async () => {
    const gone = createServer();
    const goneIssuer = await listen(gone);
    await close(gone);
    await withWeb({ oidc: { issuer: goneIssuer } }, async (web) => {
      await assertRefused(await new Browser().fetch(`${web.url}/auth/oidc/start`), 503, /cannot be reached/);
      assert.match(web.logs.join('\n'), /"code":"ECONNREFUSED"/);
    });
  });

  it('refuses a client secret file every user may read, naming the file', async () => {
    const readable = join(work, 'readable-secret');
    await writeFile(readable, CLIENT_SECRET);
    await chmod(readable, 0o644);
    await assert.rejects(startWeb({ oidc: { clientSecretFile: readable } }),
      new RegExp(`${readable} \\(web\\.oidc\\.clientSecretFile\\) is readable by every user of this machine \\(mode 0644\\)`));
    await assert.rejects(startWeb({ oidc: { clientSecretFile: join(work, 'missing') } }), /missing \(web\.oidc\.clientSecretFile\): ENOENT/);
  });

  it('refuses a plain http issuer unless allowInsecureHttp says so', async () => {
    await assert.rejects(startWeb({ oidc: { allowInsecureHttp: false } }), /web\.oidc\.issuer http:\/\/127\.0\.0\.1:\d+ is plain http/);
  });
});
