// The lab admins' pages of otm web over real HTTP against real PostgreSQL (and a real SMTP server), with
// browsers that keep cookies: an experimenter is refused every admin page and form; an admin invites a
// person (the row, the audit entries, the link that sets a password and signs them in; mailed through
// the relay, or shown once without one), changes role and quota, disables and enables (a disabled
// person's session stops at once), cannot disable or demote themselves, and people a manifest file
// declares are read-only; the audit log's filters (who, what, object, a time range in the lab's zone)
// and pages; the imprint's Markdown, rendered with HTML escaped, on the public page.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig, rowPolicyOptions } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import { PostgresDesiredSource } from '../../src/desired/postgres.js';
import { DesiredStore } from '../../src/desired/store.js';
import { FakeClock } from '../../src/engine/clock.js';
import { PgStatusStore } from '../../src/engine/status-pg.js';
import { parseManifests } from '../../src/manifest/index.js';
import { readAudit } from '../../src/store/audit.js';
import { AUDIT_PAGE_SIZE, registerAdminRoutes } from '../../src/web/admin.js';
import type { AdminDeps } from '../../src/web/admin.js';
import { registerLinkRoutes } from '../../src/web/links.js';
import { createMailer } from '../../src/web/mail.js';
import type { Mailer } from '../../src/web/mail.js';
import { PeopleStore } from '../../src/web/people.js';
import { createWebServer, SESSION_COOKIE } from '../../src/web/server.js';
import type { WebServer } from '../../src/web/server.js';
import { SitePageStore } from '../../src/web/site-pages.js';
import { adminText } from '../../src/web/text-admin.js';
import { Browser } from '../support/browser.js';
import { launchChromium, newContext, screenshot } from '../support/chromium.js';
import { decodedParts, startSmtpServer } from '../support/smtp.js';
import type { TestSmtpServer } from '../support/smtp.js';
import { useMigratedDatabase } from '../store/database.js';

const db = useMigratedDatabase();
const MINUTE = 60_000;
const PASSWORD = 'correct horse battery staple';
const PUBLIC_URL = 'https://otm.lab.example.org';
const START = Date.parse('2030-03-01T08:00:00Z');
const by = { actor: 'test', authMethod: 'local' };
/** Debian's Chromium, which playwright-core drives for the checks in a real browser. */
const CHROMIUM = process.env.OTM_TEST_CHROMIUM ?? '/usr/bin/chromium';

// root and carol are declared in a manifest file; alice and erin are rows, as a web UI writes people.
const FILE = `apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: root }
spec: { displayName: Lab Admin, role: admin, email: root@lab.example.org }
---
apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: carol }
spec: { displayName: Carol, email: carol@lab.example.org }
---
apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: carol-study }
spec: { owner: carol, otree: { adminPassword: { fromEnv: PW } } }
`;

let work: string;
let config: Config;
let clock: FakeClock;
let desired: DesiredStore;
let rows: PostgresDesiredSource;
let store: PeopleStore;
let server: WebServer;
let base: string;
let smtp: TestSmtpServer;
let mailer: Mailer;
let adminDeps: AdminDeps;

interface Page {
  status: number;
  text: string;
  location: string | null;
}

async function get(browser: Browser, url: string): Promise<Page> {
  const response = await browser.fetch(`${base}${url}`);
  return { status: response.status, text: await response.text(), location: response.headers.get('location') };
}

async function post(browser: Browser, url: string, form: Record<string, string>): Promise<Page> {
  const response = await browser.fetch(`${base}${url}`, { form });
  return { status: response.status, text: await response.text(), location: response.headers.get('location') };
}

function csrfIn(html: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(token, 'the page carries a CSRF token');
  return token;
}

/** Sends a form of `pageUrl` as a browser does: the CSRF token from that page, just loaded. */
async function submit(browser: Browser, pageUrl: string, action: string, form: Record<string, string> = {}): Promise<Page> {
  const page = await get(browser, pageUrl);
  assert.equal(page.status, 200, `${pageUrl} loads`);
  return post(browser, action, { _csrf: csrfIn(page.text), ...form });
}

async function signIn(name: string, password = PASSWORD): Promise<Browser> {
  const browser = new Browser();
  const page = await get(browser, '/sign-in');
  const answer = await post(browser, '/sign-in', { _csrf: csrfIn(page.text), name, password, returnTo: '/' });
  assert.equal(answer.status, 303, `${name} signs in`);
  return browser;
}

/** Whether the browser's session still works. */
async function signedInAs(browser: Browser): Promise<string | undefined> {
  const response = await browser.fetch(`${base}/api/v1/me`);
  const body = await response.json() as { name?: string };
  return response.status === 200 ? body.name : undefined;
}

async function row(name: string): Promise<{ spec: Record<string, unknown>; labels: Record<string, string> } | undefined> {
  const { rows: found } = await db.pool.query<{ spec: Record<string, unknown>; labels: Record<string, string> }>(
    'SELECT spec, labels FROM otm.experimenters WHERE name = $1 AND deleted_at IS NULL', [name]);
  return found[0];
}

async function auditOf(object: string, action: string): Promise<{ actor: string; auth_method: string | null; details: Record<string, unknown> }[]> {
  const { rows: found } = await db.pool.query('SELECT actor, auth_method, details FROM otm.audit_log WHERE object_name = $1 AND action = $2 ORDER BY id', [object, action]);
  return found;
}

async function untilDesired(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

/** The text as the page escapes it. */
const escaped = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll('\'', '&#39;');
const hasText = (html: string, text: string) => html.includes(escaped(text));
/** Asserts that the page says `text` (with a message of its own: assert's generated one can stall under tsx). */
function says(html: string, text: string): void {
  assert.ok(hasText(html, text), `the page says ${JSON.stringify(text)}`);
}
function contains(html: string, fragment: string): void {
  assert.ok(html.includes(fragment), `the page has ${JSON.stringify(fragment)}`);
}

/** The rows of the audit table: each entry's cells by column name. */
function auditRows(html: string): { id: number; at: string; actor: string; action: string; object: string; from: string; how: string; details: string }[] {
  const columns = adminText.audit.columns;
  return [...html.matchAll(/<tr data-entry="(\d+)">([\s\S]*?)<\/tr>/g)].map(([, id, cells]) => {
    const cell = (label: string) => {
      const found = new RegExp(`<td data-label="${escaped(label)}">([\\s\\S]*?)</td>`).exec(cells!)?.[1] ?? '';
      return found.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
    };
    return {
      id: Number(id), at: cell(columns.at), actor: cell(columns.actor), action: cell(columns.action), object: cell(columns.object),
      from: cell(columns.from), how: cell(columns.how), details: cell(columns.details),
    };
  });
}

/** The invitation link shown on a page, as a path of this server. */
function shownLink(html: string): string {
  const match = new RegExp(`<code id="invitation-link">${PUBLIC_URL.replaceAll('.', '\\.')}(/invite/[A-Za-z0-9_-]{43})</code>`).exec(html);
  assert.ok(match, 'the page shows the invitation link');
  return match[1]!;
}

/** Follows an invitation link as the invited person: chooses a password, which signs them in. */
async function acceptInvitation(linkPath: string, password: string): Promise<Browser> {
  const browser = new Browser();
  const form = await get(browser, linkPath);
  assert.equal(form.status, 200);
  const answer = await post(browser, linkPath, { _csrf: csrfIn(form.text), password, confirm: password });
  assert.equal(answer.status, 303, answer.text);
  assert.equal(answer.location, '/');
  return browser;
}

describe('the admin pages', () => {
  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'otm-admin-'));
    smtp = await startSmtpServer();
    const configFile = path.join(work, 'otm.yaml');
    await writeFile(configFile, [
      `postgresUrl: ${db.url}`, 'baseDomain: lab.example.org', `manifestsDir: ${work}`,
      `web: { publicUrl: "${PUBLIC_URL}", timeZone: Europe/Berlin, signInLimit: { perAccount: 20, perAddress: 500, windowMinutes: 15 } }`,
    ].join('\n'));
    ({ config } = await loadConfig({ path: configFile }));
    clock = new FakeClock(START);
    desired = new DesiredStore({ baseDomain: 'lab.example.org' });
    desired.apply([{ source: 'people.yaml', snapshot: parseManifests(FILE, 'people.yaml') }]);
    rows = new PostgresDesiredSource({ pool: db.pool, url: db.url, log: { info: () => undefined, warn: () => undefined }, policy: rowPolicyOptions(config), onChange: (updates) => desired.apply(updates) });
    await rows.start();
    assert.ok((await rows.upsert('Experimenter', 'alice', { displayName: 'Alice', email: 'alice@lab.example.org', quota: { instances: 2, webProcesses: 2 } }, { group: 'econ' }, by)).ok);
    assert.ok((await rows.upsert('Experimenter', 'erin', { displayName: 'Erin', email: 'erin@lab.example.org' }, {}, by)).ok);
    await untilDesired(() => desired.experimenter('alice') !== undefined && desired.experimenter('erin') !== undefined);
    store = new PeopleStore({ pool: db.pool, clock, idleTimeoutMs: 120 * MINUTE, absoluteTimeoutMs: 12 * 60 * MINUTE });
    for (const person of ['root', 'alice', 'carol']) await store.setPassword(person, PASSWORD, by);
    mailer = await createMailer({ host: '127.0.0.1', port: smtp.port, secure: 'none', from: 'Lab otree-manager <otm@lab.example.org>' }, PUBLIC_URL);
    const status = new PgStatusStore(db.pool);
    adminDeps = { audit: (query) => readAudit(db.pool, query), pages: new SitePageStore(db.pool, clock), mailer: undefined };
    server = createWebServer({
      config, people: store, clock, log: pino({ level: 'silent' }), desired,
      status: () => status, rows: () => rows, plans: () => undefined, audit: () => (query) => readAudit(db.pool, query),
      parts: [
        (app, ctx) => { registerLinkRoutes(app, ctx, undefined); },
        (app, ctx) => registerAdminRoutes(app, ctx, adminDeps),
      ],
    });
    base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await server?.app.close();
    await rows?.stop();
    mailer?.close();
    await smtp?.close();
    await rm(work, { recursive: true, force: true });
  });

  describe('who may use them', () => {
    const PAGES = ['/admin/people', '/admin/people/alice', '/admin/people/root', '/admin/audit', '/admin/pages/imprint', '/admin/pages/privacy'];
    const FORMS: [string, Record<string, string>][] = [
      ['/admin/people', { name: 'mallory', displayName: 'Mallory', role: 'experimenter' }],
      ['/admin/people/alice', { displayName: 'Alice', role: 'experimenter', instances: '99', webProcesses: '99' }],
      ['/admin/people/alice/disable', {}],
      ['/admin/people/alice/enable', {}],
      ['/admin/people/alice/invite', {}],
      ['/admin/pages/imprint', { text: 'defaced' }],
      ['/admin/pages/privacy', { text: 'defaced' }],
    ];

    test('without a session every admin page sends the browser to sign in', async () => {
      for (const url of PAGES) {
        const page = await get(new Browser(), url);
        assert.equal(page.status, 303, url);
        assert.equal(page.location, `/sign-in?returnTo=${encodeURIComponent(url)}`);
      }
    });

    test('an experimenter gets 403 on every admin page and form, and nothing changes', async () => {
      const alice = await signIn('alice');
      for (const url of PAGES) assert.equal((await get(alice, url)).status, 403, url);
      const csrf = (await (await alice.fetch(`${base}/api/v1/me`)).json() as { csrfToken: string }).csrfToken;
      const before = await row('alice');
      const auditBefore = (await db.pool.query('SELECT count(*)::int AS n FROM otm.audit_log')).rows[0].n as number;
      for (const [url, form] of FORMS) assert.equal((await post(alice, url, { _csrf: csrf, ...form })).status, 403, url);
      assert.deepEqual(await row('alice'), before);
      assert.equal(await row('mallory'), undefined);
      assert.equal(await adminDeps.pages.get('imprint'), undefined);
      assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM otm.audit_log')).rows[0].n, auditBefore, 'nothing was written');
      assert.equal(await signedInAs(alice), 'alice', 'the refusals did not touch her session');
    });

    test('a 403 is a page for a browser that asks for one', async () => {
      const alice = await signIn('alice');
      const cookie = `${SESSION_COOKIE}=${alice.cookie(SESSION_COOKIE)!}`;
      const response = await fetch(`${base}/admin/people`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' });
      assert.equal(response.status, 403);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
      says(await response.text(), adminText.forbidden);
    });
  });

  describe('people', () => {
    test('the list shows every declared person, where they are declared and how many instances they own; filters by role and status', async () => {
      const root = await signIn('root');
      const page = await get(root, '/admin/people');
      assert.equal(page.status, 200);
      for (const name of ['root', 'carol', 'alice', 'erin']) assert.ok(page.text.includes(`<tr data-person="${name}">`), name);
      const carol = /<tr data-person="carol">([\s\S]*?)<\/tr>/.exec(page.text)![1]!;
      assert.ok(carol.includes('<code>people.yaml</code>'), 'carol is declared by the file');
      assert.match(carol, /data-label="Instances">1</);
      contains(carol, 'carol@lab.example.org');
      const alice = /<tr data-person="alice">([\s\S]*?)<\/tr>/.exec(page.text)![1]!;
      contains(alice, adminText.people.database);
      says(alice, adminText.people.quota(2, 2));
      assert.match(page.text, /<caption>/);
      assert.match(page.text, /<th scope="col">/);

      const admins = await get(root, '/admin/people?role=admin');
      assert.ok(admins.text.includes('<tr data-person="root">') && !admins.text.includes('<tr data-person="alice">'), 'only admins');
      const experimenters = await get(root, '/admin/people?role=experimenter&status=active');
      assert.ok(!experimenters.text.includes('<tr data-person="root">') && experimenters.text.includes('<tr data-person="alice">'), 'only active experimenters');
      assert.ok(!(await get(root, '/admin/people?status=disabled')).text.includes('<tr data-person='), 'nobody is disabled yet');
      const nobody = await get(root, '/admin/people/nobody');
      assert.equal(nobody.status, 404);
    });

    test('an admin invites a person: the row has the fields, the audit has the entries, the link shown once sets the password and signs them in', async () => {
      const root = await signIn('root');
      const answer = await submit(root, '/admin/people', '/admin/people', {
        name: 'frank', displayName: 'Frank Castle', email: 'frank@lab.example.org', role: 'experimenter', instances: '4', webProcesses: '1',
      });
      assert.equal(answer.status, 200, answer.text);
      says(answer.text, adminText.link.noMail);
      const stored = await row('frank');
      assert.deepEqual(stored?.spec, { displayName: 'Frank Castle', email: 'frank@lab.example.org', role: 'experimenter', quota: { instances: 4, webProcesses: 1 } });
      const created = await auditOf('frank', 'desired.create');
      assert.equal(created.length, 1);
      assert.equal(created[0]!.actor, 'root');
      assert.equal(created[0]!.auth_method, 'session');
      assert.equal((await auditOf('frank', 'link.create'))[0]?.actor, 'root');
      assert.ok(desired.experimenter('frank'), 'the desired state shows frank before the page answers');

      const linkPath = shownLink(answer.text);
      assert.ok(!JSON.stringify((await db.pool.query("SELECT details FROM otm.audit_log WHERE object_name = 'frank'")).rows).includes(linkPath.slice(8)), 'the secret is in no audit entry');
      const frank = await acceptInvitation(linkPath, 'frank chooses a long passphrase');
      assert.equal(await signedInAs(frank), 'frank');
      assert.ok(await store.checkPassword('frank', 'frank chooses a long passphrase'));
      // The link works once.
      const late = new Browser();
      const again = await get(late, linkPath);
      const spent = await post(late, linkPath, { _csrf: csrfIn(again.text), password: 'another long passphrase', confirm: 'another long passphrase' });
      assert.equal(spent.status, 410);

      const list = await get(root, '/admin/people');
      contains(list.text, '<tr data-person="frank">');
    });

    test('an invitation is mailed through the relay when there is one', async () => {
      adminDeps.mailer = mailer;
      try {
        const root = await signIn('root');
        const answer = await submit(root, '/admin/people', '/admin/people', { name: 'gina', displayName: 'Gina', email: 'gina@lab.example.org', role: 'experimenter' });
        assert.equal(answer.status, 303, answer.text);
        assert.equal(answer.location, '/admin/people/gina?done=invited');
        const mail = await smtp.mailbox.next();
        assert.deepEqual(mail.to, ['gina@lab.example.org']);
        const text = decodedParts(mail.raw).get('text/plain') ?? '';
        const link = new RegExp(`${PUBLIC_URL.replaceAll('.', '\\.')}(/invite/[A-Za-z0-9_-]{43})`).exec(text)?.[1];
        assert.ok(link, text);
        const outcome = await get(root, answer.location);
        says(outcome.text, adminText.link.mailed('gina@lab.example.org'));
        assert.ok(!outcome.text.includes(link), 'a mailed link is not shown');
        assert.deepEqual((await row('gina'))?.spec.quota, {}, 'quota fields left empty take the defaults');
        const gina = await acceptInvitation(link, 'gina picks her own passphrase');
        assert.equal(await signedInAs(gina), 'gina');

        // A new invitation replaces the first (already used) one and is mailed too.
        const resent = await submit(root, '/admin/people/gina', '/admin/people/gina/invite');
        assert.equal(resent.status, 303);
        assert.equal(resent.location, '/admin/people/gina?done=mailed');
        assert.deepEqual((await smtp.mailbox.next()).to, ['gina@lab.example.org']);
      } finally {
        adminDeps.mailer = undefined;
      }
    });

    test('an invitation the schema or the row policy refuses is shown at its fields, and nothing is stored', async () => {
      const root = await signIn('root');
      const auditBefore = (await db.pool.query('SELECT count(*)::int AS n FROM otm.audit_log')).rows[0].n as number;
      const bad = await submit(root, '/admin/people', '/admin/people', { name: 'Bad Name', displayName: 'X', email: 'not-an-address', role: 'experimenter', instances: '-1', webProcesses: 'lots' });
      assert.equal(bad.status, 422);
      says(bad.text, adminText.fieldError(adminText.invite.webProcesses, adminText.invite.notNumber));
      const worse = await submit(root, '/admin/people', '/admin/people', { name: 'Bad Name', displayName: 'X', email: 'not-an-address', role: 'experimenter', instances: '-1' });
      assert.equal(worse.status, 422);
      assert.match(worse.text, /<p class="error" id="name-error">User name: must be a user name/);
      assert.match(worse.text, /<p class="error" id="email-error">E-mail address: must be a valid email/);
      assert.match(worse.text, /<p class="error" id="instances-error">Instances they may own: must be &gt;= 0/);
      assert.ok(worse.text.includes('value="not-an-address"'), 'the form keeps what was typed');
      const admin = await submit(root, '/admin/people', '/admin/people', { name: 'henry', displayName: 'Henry', role: 'admin' });
      assert.equal(admin.status, 422);
      assert.match(admin.text, /<p class="error" id="role-error">Role: a database row may not declare an admin; declare admins in a manifest file/);
      const taken = await submit(root, '/admin/people', '/admin/people', { name: 'carol', displayName: 'Another Carol', role: 'experimenter' });
      assert.equal(taken.status, 422);
      says(taken.text, adminText.invite.exists('carol'));
      assert.equal(await row('henry'), undefined);
      assert.equal(await row('carol'), undefined);
      assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM otm.audit_log')).rows[0].n, auditBefore, 'nothing was written, no link made');
    });

    test('role and quota change the row; the row policy\'s refusal of an admin row is shown at the role', async () => {
      const root = await signIn('root');
      const saved = await submit(root, '/admin/people/alice', '/admin/people/alice', { displayName: 'Alice Liddell', email: 'alice@lab.example.org', role: 'experimenter', instances: '5', webProcesses: '4' });
      assert.equal(saved.status, 303, saved.text);
      assert.equal(saved.location, '/admin/people/alice?done=saved');
      const stored = await row('alice');
      assert.deepEqual((stored?.spec as { quota: unknown }).quota, { instances: 5, webProcesses: 4 });
      assert.equal(stored?.spec.displayName, 'Alice Liddell');
      assert.deepEqual(stored?.labels, { group: 'econ' }, 'labels are kept');
      assert.equal((await auditOf('alice', 'desired.update')).at(-1)?.actor, 'root');
      const page = await get(root, saved.location!);
      says(page.text, adminText.outcome.saved('alice'));
      assert.ok(hasText(page.text, adminText.people.quota(5, 4)), 'the page shows the new quota');

      const promoted = await submit(root, '/admin/people/alice', '/admin/people/alice', { displayName: 'Alice Liddell', role: 'admin', instances: '5', webProcesses: '4' });
      assert.equal(promoted.status, 422);
      assert.match(promoted.text, /id="role-error">Role: a database row may not declare an admin/);
      assert.equal((await row('alice'))?.spec.role, 'experimenter');
    });

    test('people a manifest file declares are read-only here, and the page says where to change them', async () => {
      const root = await signIn('root');
      const page = await get(root, '/admin/people/carol');
      assert.equal(page.status, 200);
      says(page.text, adminText.person.declaredInFile('people.yaml'));
      assert.ok(!page.text.includes('action="/admin/people/carol#edit"') && !page.text.includes('/admin/people/carol/disable'), 'no form to change her');
      contains(page.text, 'href="/instances/carol-study"');
      const csrf = csrfIn(page.text);
      for (const [url, form] of [['/admin/people/carol', { displayName: 'C', role: 'experimenter', instances: '1', webProcesses: '1' }], ['/admin/people/carol/disable', {}]] as const) {
        const refused = await post(root, url, { _csrf: csrf, ...form });
        assert.equal(refused.status, 409, url);
        assert.match(refused.text, /declared by the manifest file people\.yaml; change or remove it there/);
      }
      assert.equal(await row('carol'), undefined);
      assert.equal(desired.experimenter('carol')?.declared.object.spec.disabled, false);
    });

    test('disabling ends the person\'s session at once; enabling lets them sign in again', async () => {
      const root = await signIn('root');
      const alice = await signIn('alice');
      assert.equal(await signedInAs(alice), 'alice');
      const disabled = await submit(root, '/admin/people/alice', '/admin/people/alice/disable');
      assert.equal(disabled.status, 303, disabled.text);
      assert.equal(disabled.location, '/admin/people/alice?done=disabled');
      assert.equal((await row('alice'))?.spec.disabled, true);
      await untilDesired(() => desired.experimenter('alice')?.declared.object.spec.disabled === true);
      assert.equal(await signedInAs(alice), undefined, 'her session stopped working');
      assert.equal((await get(alice, '/')).status, 303);
      assert.equal((await auditOf('alice', 'sessions.revoke')).at(-1)?.actor, 'root');
      const page = await get(root, '/admin/people?status=disabled');
      contains(page.text, '<tr data-person="alice">');
      const refused = new Browser();
      const form = await get(refused, '/sign-in');
      assert.equal((await post(refused, '/sign-in', { _csrf: csrfIn(form.text), name: 'alice', password: PASSWORD, returnTo: '/' })).status, 401);

      const enabled = await submit(root, '/admin/people/alice', '/admin/people/alice/enable');
      assert.equal(enabled.status, 303);
      assert.equal((await row('alice'))?.spec.disabled, false);
      await untilDesired(() => desired.experimenter('alice')?.declared.object.spec.disabled === false);
      assert.equal(await signedInAs(alice), undefined, 'the old session stays ended');
      assert.equal(await signedInAs(await signIn('alice')), 'alice');
    });

    test('an admin cannot disable or demote themselves', async () => {
      const root = await signIn('root');
      const page = await get(root, '/admin/people/root');
      assert.ok(!page.text.includes('/admin/people/root/disable'), 'no button to disable oneself');
      const csrf = csrfIn(page.text);
      const demoted = await post(root, '/admin/people/root', { _csrf: csrf, displayName: 'Lab Admin', role: 'experimenter', instances: '3', webProcesses: '3' });
      assert.equal(demoted.status, 409);
      says(demoted.text, adminText.person.selfDemote);
      const disabled = await post(root, '/admin/people/root/disable', { _csrf: csrf });
      assert.equal(disabled.status, 409);
      says(disabled.text, adminText.person.selfDisable);
      assert.equal(await signedInAs(root), 'root');

      // erin is a row and an admin by her identity provider's group: her own row is one she could change.
      const { secret } = await store.createSession('erin', { clientAddress: '127.0.0.1', userAgent: 'test', method: 'oidc', adminByGroup: true });
      let cookie = `${SESSION_COOKIE}=${secret}`;
      const me = await fetch(`${base}/api/v1/me`, { headers: { cookie } });
      const csrfCookie = me.headers.getSetCookie().map((line) => line.split(';')[0]!).find((pair) => pair.startsWith('_csrf='));
      cookie += `; ${csrfCookie!}`;
      const token = (await me.json() as { csrfToken: string }).csrfToken;
      const erinPage = await fetch(`${base}/admin/people/erin`, { headers: { cookie } });
      assert.equal(erinPage.status, 200);
      const erinHtml = await erinPage.text();
      assert.ok(hasText(erinHtml, adminText.person.selfDisable) && !erinHtml.includes('/admin/people/erin/disable'), 'the page says why there is no button');
      const own = await fetch(`${base}/admin/people/erin/disable`, {
        method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: token }), redirect: 'manual',
      });
      assert.equal(own.status, 409);
      says(await own.text(), adminText.person.selfDisable);
      assert.equal((await row('erin'))?.spec.disabled, undefined);
    });
  });

  describe('the audit log', () => {
    const entry = (at: string, actor: string, action: string, object: string, details: Record<string, unknown> = {}) =>
      db.pool.query(
        `INSERT INTO otm.audit_log (at, actor, action, object_kind, object_name, client_address, auth_method, details) VALUES ($1, $2, $3, $4, $5, '192.0.2.7', 'token', $6)`,
        [at, actor, action, object.includes('-') ? 'OTreeInstance' : 'person', object, JSON.stringify(details)]);

    before(async () => {
      await entry('2030-01-10T10:00:00Z', 'zed', 'token.create', 'zed', { token: 'id-1', scope: 'read' });
      await entry('2030-01-11T10:00:00Z', 'zed', 'token.revoke', 'zed', { token: 'id-1' });
      await entry('2030-01-12T10:00:00Z', 'yan', 'secret.reveal', 'zed-study', { password: 'hunter2-leaked-by-a-bug' });
    });

    test('newest first, with who, what, object, when (in the lab\'s zone), from where and how; never a secret', async () => {
      const root = await signIn('root');
      const page = await get(root, '/admin/audit');
      assert.equal(page.status, 200);
      const shown = auditRows(page.text);
      assert.ok(shown.length > 0, 'entries are shown');
      assert.deepEqual(shown.map((r) => r.id), [...shown.map((r) => r.id)].sort((a, b) => b - a), 'newest first');
      const ids = shown.map((r) => r.id);
      assert.equal(new Set(ids).size, ids.length);
      const yan = auditRows((await get(root, '/admin/audit?actor=yan')).text);
      assert.equal(yan.length, 1);
      assert.deepEqual({ ...yan[0], id: 0, details: '' }, {
        id: 0, at: '12 Jan 2030, 11:00', actor: 'yan', action: 'secret.reveal', object: 'zed-study (OTreeInstance)', from: '192.0.2.7', how: 'personal token', details: '',
      });
      assert.ok(!page.text.includes('hunter2') && yan[0]!.details.includes('[hidden]'), 'a secret value in the details is hidden');
      assert.match(page.text, /<time datetime="2030-01-12T11:00:00\+01:00">/);
      // The admins' own writes through the pages show how they were made.
      const rootEntries = auditRows((await get(root, '/admin/audit?actor=root&action=desired')).text);
      assert.ok(rootEntries.length > 0 && rootEntries.every((r) => r.how === 'signed-in browser' && r.actor === 'root' && r.action.startsWith('desired.')), JSON.stringify(rootEntries));
    });

    test('filters by who, what (an action or a family), object and a time range typed in the lab\'s zone', async () => {
      const root = await signIn('root');
      const actions = async (query: string) => auditRows((await get(root, `/admin/audit?${query}`)).text).map((r) => r.action);
      assert.deepEqual(await actions('actor=zed'), ['token.revoke', 'token.create']);
      assert.deepEqual(await actions('actor=zed&action=token.create'), ['token.create']);
      assert.deepEqual(await actions('actor=zed&action=token'), ['token.revoke', 'token.create']);
      assert.deepEqual(await actions('actor=zed&action=tok'), [], 'a family is a whole dotted prefix');
      assert.deepEqual(await actions('object=zed-study'), ['secret.reveal']);
      assert.deepEqual(await actions('object=zed'), ['token.revoke', 'token.create']);
      // 11:00 in Berlin is 10:00 UTC: a time read as UTC would find nothing here.
      assert.deepEqual(await actions('fromDate=2030-01-11&fromTime=11:00&toDate=2030-01-11&toTime=11:00'), ['token.revoke']);
      assert.deepEqual(await actions('fromDate=2030-01-11&fromTime=11:01&toDate=2030-01-11'), []);
      assert.deepEqual(await actions('fromDate=2030-01-10&toDate=2030-01-11'), ['token.revoke', 'token.create'], 'whole days without times');
      assert.deepEqual(await actions('fromDate=2030-01-01&toDate=2030-01-10'), ['token.create']);
      const invalid = await get(root, '/admin/audit?fromDate=11.01.2030&actor=zed');
      assert.equal(invalid.status, 400);
      says(invalid.text, adminText.audit.invalid.date);
      assert.equal(auditRows(invalid.text).length, 0);
      const backwards = await get(root, '/admin/audit?fromDate=2030-01-12&toDate=2030-01-10');
      assert.equal(backwards.status, 400);
      says(backwards.text, adminText.audit.invalid.order);
      assert.equal((await get(root, '/admin/audit?action=drop%20table')).status, 400);
    });

    test('pages: older entries a page at a time, and back to the newest', async () => {
      for (let i = 0; i < AUDIT_PAGE_SIZE + 7; i++) await entry(`2030-02-01T08:${String(i % 60).padStart(2, '0')}:00Z`, 'pager', 'token.create', 'pager', { n: i });
      const root = await signIn('root');
      const first = await get(root, '/admin/audit?actor=pager');
      const firstRows = auditRows(first.text);
      assert.equal(firstRows.length, AUDIT_PAGE_SIZE);
      const older = /<a href="([^"]+)" rel="next">/.exec(first.text)?.[1]?.replaceAll('&amp;', '&');
      assert.ok(older, 'a link to older entries');
      assert.ok(!first.text.includes(adminText.audit.newer), 'the first page has no newer link');
      const second = await get(root, older);
      const secondRows = auditRows(second.text);
      assert.equal(secondRows.length, 7);
      assert.ok(secondRows.every((r) => r.id < firstRows.at(-1)!.id && r.actor === 'pager'), 'the next page holds older entries of the same filter');
      assert.ok(!/rel="next"/.test(second.text), 'the last page has no older link');
      assert.ok(second.text.includes('href="/admin/audit?actor=pager"'), 'a link back to the newest');
    });
  });

  describe('imprint and privacy', () => {
    test('before anyone writes them, the public pages say the lab has not published one', async () => {
      for (const name of ['imprint', 'privacy'] as const) {
        const page = await get(new Browser(), `/${name}`);
        assert.equal(page.status, 200, name);
        says(page.text, adminText.pages.notPublished[name]);
      }
    });

    test('an admin writes the imprint in Markdown: rendered on the public page with HTML escaped, links rel="noopener", the change recorded', async () => {
      const root = await signIn('root');
      const markdown = [
        '# Imprint of the Econ Lab', '', 'Run by **Econ Lab**, Example University.', '',
        '<script>alert("owned")</script> <b onclick="x()">bold?</b>', '',
        'Contact: [our site](https://lab.example.org/contact) or https://uni.example.org', '',
        '[click](javascript:alert(1))',
      ].join('\r\n');
      const saved = await submit(root, '/admin/pages/imprint', '/admin/pages/imprint', { text: markdown });
      assert.equal(saved.status, 303, saved.text);
      assert.equal(saved.location, '/admin/pages/imprint?done=saved#preview');

      const editor = await get(root, saved.location!);
      says(editor.text, adminText.outcome.pageSaved);
      assert.ok(editor.text.includes('<strong>Econ Lab</strong>'), 'the preview shows the saved page');
      assert.ok(hasText(editor.text, adminText.pages.lastChanged('1 Mar 2030, 09:00', 'root')), 'who changed it when, in the lab\'s zone');
      assert.ok(editor.text.includes(escaped('Run by **Econ Lab**')), 'the textarea holds the Markdown');

      for (const page of [await get(new Browser(), '/imprint'), await get(await signIn('alice'), '/imprint')]) {
        assert.equal(page.status, 200);
        const body = page.text.slice(page.text.indexOf('<main'), page.text.indexOf('</main>'));
        contains(body, '<h1>Imprint of the Econ Lab</h1>');
        assert.equal((body.match(/<h1/g) ?? []).length, 1, 'one heading of the first level');
        contains(body, '<strong>Econ Lab</strong>');
        assert.ok(!body.includes('<script') && body.includes('&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;'), 'a script is text');
        assert.ok(!body.includes('<b onclick') && body.includes('&lt;b onclick'), 'HTML is text');
        contains(body, '<a href="https://lab.example.org/contact" rel="noopener">our site</a>');
        assert.ok(body.includes('<a href="https://uni.example.org" rel="noopener">https://uni.example.org</a>'), 'plain addresses become links');
        assert.ok(!body.includes('href="javascript:'), 'no javascript: link');
      }
      const stored = await adminDeps.pages.get('imprint');
      assert.equal(stored?.markdown, markdown.replaceAll('\r\n', '\n'));
      assert.equal(stored?.updatedBy, 'root');
      assert.equal(stored?.updatedAt.getTime(), START);
      const audited = await auditOf('imprint', 'page.update');
      assert.equal(audited.length, 1);
      assert.equal(audited[0]!.actor, 'root');
      assert.equal(audited[0]!.auth_method, 'session');
      assert.ok(hasText((await get(new Browser(), '/privacy')).text, adminText.pages.notPublished.privacy), 'the other page is untouched');
    });

    test('a text too long is refused at the field and nothing is stored', async () => {
      const root = await signIn('root');
      const before = await adminDeps.pages.get('privacy');
      const refused = await submit(root, '/admin/pages/privacy', '/admin/pages/privacy', { text: 'x'.repeat(50_001) });
      assert.equal(refused.status, 422);
      assert.match(refused.text, /<p class="error" role="alert" id="text-error">/);
      assert.deepEqual(await adminDeps.pages.get('privacy'), before);
    });
  });
  describe('in a real browser at 375 px', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium)` }, () => {
    test('every admin page and the public pages fit the width and have no accessibility violations (axe-core)', async () => {
      const root = await signIn('root');
      const axe = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
      const browser = await launchChromium();
      try {
        // The style sheet and the pages as served; only axe's own script needs the content policy lifted.
        const context = await newContext(browser, { width: 375 });
        await context.addCookies([{ name: SESSION_COOKIE, value: root.cookie(SESSION_COOKIE)!, url: base }]);
        const tab = await context.newPage();
        for (const url of ['/admin/people', '/admin/people/alice', '/admin/people/carol', '/admin/audit', '/admin/audit?actor=zed', '/admin/pages/imprint', '/imprint', '/privacy']) {
          const response = await tab.goto(`${base}${url}`);
          assert.equal(response?.status(), 200, url);
          const width = await tab.evaluate('document.documentElement.scrollWidth') as number;
          assert.ok(width <= 375, `${url} is ${width} px wide`);
          await tab.evaluate(axe);
          const violations = await tab.evaluate(async () => {
            const result = await (globalThis as unknown as { axe: { run(): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe.run();
            return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
          });
          assert.deepEqual(violations, [], url);
          if (url === '/admin/people' || url === '/admin/audit') await screenshot(tab, `admin${url.replaceAll('/', '-').replace('-admin', '')}-375`);
        }
      } finally {
        await browser.close();
      }
    });
  });
});
