// The web interface in a real browser (Debian's Chromium through playwright-core) against the real
// system: otm web and the daemon on one PostgreSQL database, the daemon on the Dokku simulator with
// real containers. Each step checks the page and the state of the world: rows, the simulator's
// commands, the audit log.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import pino from 'pino';
import type { Daemon } from '../../src/engine/daemon.js';
import { loadConfig } from '../../src/config.js';
import { newKeyLine } from '../../src/desired/secret-store.js';
import { systemClock } from '../../src/engine/clock.js';
import { createLogger } from '../../src/engine/logger.js';
import { startHttp } from '../../src/http/server.js';
import { PeopleStore } from '../../src/web/people.js';
import { startWeb } from '../../src/web/process.js';
import type { WebHandle } from '../../src/web/process.js';
import { readInvocations } from '../dokku-sim/client.js';
import { Lab, settle } from '../e2e/harness.js';
import { createTestDatabase } from '../store/database.js';
import type { TestDatabase } from '../store/database.js';
import { STANDIN_IMAGE } from '../support/image.js';
import { waitFor } from '../support/services.js';
import { launchChromium, newContext, screenshot, seriousViolations } from '../support/chromium.js';

const run = promisify(execFile);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    }).on('error', reject);
  });
}

const PASSWORDS = { root: 'root pass phrase 1', alice: 'alice pass phrase 1', bob: 'bob pass phrase 11' } as const;

describe('the web interface in Chromium', () => {
  let db: TestDatabase;
  let lab: Lab;
  let daemon: Daemon;
  let web: WebHandle;
  let daemonHttp: { close(): Promise<void> };
  let browser: Browser;
  let alice: Page;
  let mine: string;
  /** alice's instance with source push: waits for code until she uploads an archive. */
  let pushed: string;
  let theirs: string;

  /** Commands that restart the app's processes: ps:restart, and a config:set without --no-restart. */
  const restarting = async (app: string) => (await readInvocations(lab.sim.root)).filter((c) => c.argv.includes(app)
    && (c.argv.includes('ps:restart') || (c.argv.includes('config:set') && !c.argv.includes('--no-restart'))));
  const resets = async (app: string) => (await readInvocations(lab.sim.root)).filter((c) => c.argv[0] === 'run' && c.argv.includes(app) && c.argv.includes('resetdb'));
  const row = async (name: string) => (await db.pool.query('SELECT spec FROM otm.instances WHERE name = $1 AND deleted_at IS NULL', [name])).rows[0]?.spec;

  const signIn = async (name: keyof typeof PASSWORDS, width?: number): Promise<Page> => {
    const context = await newContext(browser, width !== undefined ? { width } : {});
    const page = await context.newPage();
    await page.goto(`${web.url}/`);
    assert.match(page.url(), /\/sign-in\?returnTo=%2F$/);
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Password').fill(PASSWORDS[name]);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${web.url}/`, { waitUntil: 'domcontentloaded', timeout: 10_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\nat ${page.url()}:\n${(await page.content()).slice(0, 3000)}`);
    });
    return page;
  };

  before(async () => {
    db = await createTestDatabase();
    // The public URL is the origin forms are checked against: a port of its own, known before start.
    const port = await freePort();
    const daemonPort = await freePort();
    lab = await Lab.create({ tag: 'web', postgresUrl: db.url, globalDomain: 'lab.example.org', extra: {
      baseDomain: 'lab.example.org', secrets: { keyFile: 'secret-key' },
      // The daemon's loopback API, which otm web asks (with the service token) about hosts and plans.
      http: { listen: `127.0.0.1:${daemonPort}`, tokenFile: 'daemon-token' }, web: { listen: `127.0.0.1:${port}`, timeZone: 'Europe/Berlin' } } });
    await writeFile(join(lab.work, 'secret-key'), `${newKeyLine('k1')}\n`, { mode: 0o600 });
    await writeFile(join(lab.work, 'daemon-token'), `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
    await writeFile(join(lab.manifestsDir, 'people.yaml'), ['root: admin', 'alice: experimenter', 'bob: experimenter'].map((line) => {
      const [name, role] = line.split(': ');
      return `apiVersion: otree-manager/v1\nkind: Experimenter\nmetadata: { name: ${name} }\nspec: { displayName: ${name![0]!.toUpperCase()}${name!.slice(1)}, role: ${role}, quota: { instances: 3, webProcesses: 3 } }\n`;
    }).join('---\n'));
    const { config } = await loadConfig({ path: lab.configFile });
    web = await startWeb({ config, logger: pino({ level: 'warn' }) });
    const people = new PeopleStore({ pool: db.pool, clock: systemClock, idleTimeoutMs: 3_600_000, absoluteTimeoutMs: 7_200_000 });
    for (const [name, password] of Object.entries(PASSWORDS)) await people.setPassword(name, password, { actor: 'test', authMethod: 'local' });
    daemon = await lab.startDaemon({ config });
    daemonHttp = await startHttp(daemon, config, createLogger({ level: 'error' }));
    browser = await launchChromium();

    // The admin declares one instance for alice and one for bob through otm web's API, as a lab's script would.
    mine = lab.app('alice');
    theirs = lab.app('bob');
    pushed = lab.app('push');
    const rootPage = await signIn('root');
    for (const [name, owner, push] of [[mine, 'alice', false], [theirs, 'bob', false], [pushed, 'alice', true]] as const) {
      const answer = await rootPage.evaluate(async ({ name, owner, image, push }) => {
        const response = await fetch(`/api/v1/instances/${name}`, {
          method: 'PUT', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ apiVersion: 'otree-manager/v1', kind: 'OTreeInstance', metadata: { name }, spec: { owner, otree: { adminPassword: { value: 'first password' } }, source: push ? { push: {} } : { image: { ref: image } } } }),
        });
        return { status: response.status, body: await response.text() };
      }, { name, owner, image: STANDIN_IMAGE, push });
      assert.equal(answer.status, 200, answer.body);
    }
    await rootPage.context().close();
    alice = await signIn('alice');
  });

  after(async () => {
    await browser?.close();
    await web?.close();
    await daemonHttp?.close();
    await daemon?.stop(5_000);
    await lab?.destroy();
    await db?.drop();
  });

  test('the go/no-go check turns the readiness line green as the instance becomes ready, without a reload', async () => {
    await alice.goto(`${web.url}/instances/${mine}`);
    await alice.evaluate(() => { (globalThis as unknown as { otmMarker: number }).otmMarker = 1; });
    await alice.locator('li.ok[data-check="ready"]').waitFor({ timeout: 180_000 });
    assert.equal(await alice.evaluate(() => (globalThis as unknown as { otmMarker?: number }).otmMarker), 1, 'the page was not reloaded');
    assert.equal(await alice.locator('li.ok[data-check="password"]').count(), 1);
    assert.equal(await alice.locator('li.bad[data-check="freeze"]').count(), 1);
    await alice.goto(`${web.url}/`);
  });

  test('an experimenter sees only their own instances, and the dashboard turns Running without a reload', async () => {
    await assert.doesNotReject(alice.getByRole('link', { name: mine, exact: true }).waitFor());
    assert.equal(await alice.getByRole('link', { name: theirs, exact: true }).count(), 0);
    // The page was rendered once; the badge changes over the live stream.
    const row = alice.locator(`tr[data-live="row:${mine}"]`);
    await row.getByText('Running', { exact: true }).waitFor({ timeout: 180_000 });
    assert.equal((await daemon.status.get(mine))?.phase, 'Running');
    assert.deepEqual(await seriousViolations(alice), []);
    await screenshot(alice, 'dashboard');

    const other = await alice.goto(`${web.url}/instances/${theirs}`);
    assert.equal(other?.status(), 404);
    await alice.getByRole('heading', { name: 'Not found' }).waitFor();
  });

  test('restart: one click, one restart, and the page says when it is done', async () => {
    await alice.goto(`${web.url}/instances/${mine}`);
    await alice.getByText(/^Running since/).waitFor();
    assert.deepEqual(await seriousViolations(alice), []);
    await screenshot(alice, 'instance');
    const before = (await restarting(mine)).length;
    await alice.getByRole('button', { name: 'Restart', exact: true }).click();
    await alice.getByText('Restart requested', { exact: false }).first().waitFor();
    await alice.getByText(/^Restarted at/).waitFor({ timeout: 60_000 });
    assert.equal((await restarting(mine)).length, before + 1);
    assert.equal((await row(mine)).restart.generation, 1);
    const audit = await db.pool.query("SELECT actor FROM otm.audit_log WHERE object_name = $1 AND action = 'instance.restart'", [mine]);
    assert.deepEqual(audit.rows.map((r) => r.actor), ['alice']);
  });

  test('a new oTree admin password restarts the instance once and never resets its database', async () => {
    const restarts = (await restarting(mine)).length;
    const resetsBefore = (await resets(mine)).length;
    await alice.getByLabel('New password').fill('a new admin password');
    await alice.getByRole('button', { name: 'Set password' }).click();
    await alice.getByText('The new oTree admin password is stored').waitFor();
    // The app has the new password once its restarting command is logged and the controller is in sync again.
    await waitFor('the new password in the app', async () => ((await lab.containerEnv(mine)).OTREE_ADMIN_PASSWORD === 'a new admin password'
      && (await restarting(mine)).length > restarts ? true : undefined), 60_000);
    await settle(daemon, [mine], (s) => s.conditions.some((c) => c.type === 'Reconciling' && c.status === 'False'));
    const after = (await restarting(mine)).length;
    assert.equal(after - restarts, 1, 'exactly one restarting command (the config:set of the password)');
    assert.equal((await resets(mine)).length, resetsBefore);
    await alice.getByRole('button', { name: 'Show the password' }).click();
    await alice.getByText('a new admin password', { exact: true }).waitFor();
    const reveal = await db.pool.query("SELECT count(*)::int AS n FROM otm.audit_log WHERE object_name LIKE $1 AND action LIKE '%reveal%' AND actor = 'alice'", [`${mine}/%`]);
    assert.equal(reveal.rows[0].n, 1);
  });

  test('reset: the button stays off until the name is typed, and the database is reset once', async () => {
    await alice.goto(`${web.url}/instances/${mine}`);
    const button = alice.getByRole('button', { name: 'Reset the database' });
    assert.equal(await button.isDisabled(), true);
    await alice.getByLabel(`Type ${mine} to confirm`).fill(mine.slice(0, -1));
    assert.equal(await button.isDisabled(), true);
    await alice.getByLabel(`Type ${mine} to confirm`).fill(mine);
    await button.click();
    await alice.getByText(/^Database reset at/).waitFor({ timeout: 60_000 });
    assert.equal((await resets(mine)).length, 1);
  });

  test('a freeze window holds a restart back, and the page says until when', async () => {
    await alice.goto(`${web.url}/instances/${mine}`);
    const now = new Date();
    const berlin = (d: Date) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Berlin', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(d);
    const part = (parts: Intl.DateTimeFormatPart[], type: string) => parts.find((p) => p.type === type)!.value;
    const start = berlin(new Date(now.getTime() - 60_000));
    const end = berlin(new Date(now.getTime() + 2 * 3_600_000));
    // The form takes one day: a window that would cross midnight in Berlin ends at 23:59.
    const to = part(start, 'day') === part(end, 'day') ? `${part(end, 'hour')}:${part(end, 'minute')}` : '23:59';
    await alice.getByLabel('Date', { exact: true }).fill(`${part(start, 'year')}-${part(start, 'month')}-${part(start, 'day')}`);
    await alice.getByLabel('From', { exact: true }).fill(`${part(start, 'hour')}:${part(start, 'minute')}`);
    await alice.getByLabel('To', { exact: true }).fill(to);
    await alice.getByRole('button', { name: 'Add window' }).click();
    await alice.getByText('on now').waitFor();
    assert.equal((await row(mine)).freezeWindows.length, 1);
    const before = (await restarting(mine)).length;
    await alice.getByRole('button', { name: 'Restart', exact: true }).click();
    await alice.getByText(/^The restart waits for the end of the freeze window at/).first().waitFor({ timeout: 60_000 });
    assert.equal((await restarting(mine)).length, before);
    await screenshot(alice, 'instance-frozen');
  });

  test('rooms: labels are checked as oTree does, and the app gets them', async () => {
    await alice.goto(`${web.url}/instances/${mine}`);
    await alice.getByLabel('Room name').fill('lab');
    await alice.getByLabel('Participant labels, one per line').fill('seat01\nseat02\nseat-3');
    await alice.getByRole('button', { name: 'Add room' }).click();
    await alice.getByText('These labels have characters oTree does not accept: seat-3.').waitFor();
    assert.deepEqual((await row(mine)).rooms ?? [], []);
    await alice.getByLabel('Participant labels, one per line').fill('seat01\nseat02\nseat02\nseat03');
    await alice.getByRole('button', { name: 'Add room' }).click();
    await alice.getByText('3 seats').waitFor({ timeout: 10_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${await alice.locator('[role=alert]').allTextContents()}`);
    });
    assert.deepEqual((await row(mine)).rooms, [{ name: 'lab', displayName: 'lab', participantLabels: ['seat01', 'seat02', 'seat03'] }]);
    assert.equal(await alice.locator('li.ok[data-check="rooms"]').count(), 1);
    assert.equal(await alice.locator('li.ok[data-check="freeze"]').count(), 1, 'the window added before covers the next hours');
    // The rooms reach the app with a restart, which the freeze window holds back.
    await alice.getByText(/^Applying the new settings waits for the end of the freeze window/).first().waitFor({ timeout: 60_000 });
  });

  test('the lobby: the grid shows the seats, and "I am ready" sends the participant to the oTree room with their label', async () => {
    await alice.goto(`${web.url}/instances/${mine}`);
    await alice.locator('li.ok[data-check="lobby"]').waitFor({ timeout: 10_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${await alice.locator('[data-check]').allTextContents()} / ${JSON.stringify(await daemon.status.get(mine))}`);
    });
    const participant = await (await newContext(browser)).newPage();
    // The instance's domain does not resolve here: the oTree server's answer is played by the test.
    const otree: string[] = [];
    await participant.route(`http://${mine}.lab.example.org/**`, (route) => {
      otree.push(route.request().url());
      return route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>oTree room</title><p>Waiting for the session to start</p>' });
    });
    await participant.goto(`${web.url}/lobby/${mine}/lab`);
    for (const label of ['seat01', 'seat02', 'seat03']) await participant.getByRole('link', { name: new RegExp(label) }).waitFor();
    assert.deepEqual(await seriousViolations(participant), []);
    await screenshot(participant, 'lobby-grid');
    await participant.getByRole('link', { name: /seat02/ }).click();
    assert.deepEqual(await seriousViolations(participant), []);
    await screenshot(participant, 'lobby-seat');
    await participant.getByRole('button', { name: 'I am ready' }).click();
    await participant.waitForURL(/\/room\/lab\//);
    assert.deepEqual(otree, [`http://${mine}.lab.example.org/room/lab/?participant_label=seat02`]);
    const seats = await db.pool.query('SELECT label, state FROM otm.lobby_seats WHERE instance = $1 ORDER BY label', [mine]);
    assert.deepEqual(seats.rows, [{ label: 'seat02', state: 'ready' }]);
    await participant.context().close();
  });

  test('a lab admin creates an instance with the form (a bad field is named, nothing is written, then it is created) and invites a person; the audit page shows both', async () => {
    const admin = await signIn('root');
    await admin.getByRole('link', { name: 'New instance' }).click();
    assert.deepEqual(await seriousViolations(admin), []);
    const made = lab.app('made');
    await admin.getByLabel('Name', { exact: true }).fill(made);
    await admin.getByLabel('Owner').selectOption('bob');
    await admin.getByLabel('a container image').check();
    await admin.getByLabel('Image reference').fill(STANDIN_IMAGE);
    await admin.getByLabel('Web processes').fill('2');
    await admin.getByRole('button', { name: 'Create the instance' }).click();
    await admin.locator('#web-error').waitFor();
    assert.equal(await row(made), undefined, 'nothing was written');
    await screenshot(admin, 'instance-form-error');
    await admin.getByLabel('Web processes').fill('1');
    await admin.getByRole('button', { name: 'Create the instance' }).click();
    await admin.waitForURL(new RegExp(`/instances/${made}\\?done=created`));
    assert.equal((await row(made)).owner, 'bob');
    await admin.getByText(/^Running since/).waitFor({ timeout: 180_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\nthe page: ${await admin.locator('[data-live^="status:"]').textContent()}\nthe status: ${JSON.stringify(await daemon.status.get(made))}`);
    });
    const audit = await db.pool.query("SELECT actor FROM otm.audit_log WHERE object_name = $1 AND action = 'desired.create'", [made]);
    assert.deepEqual(audit.rows.map((r) => r.actor), ['root']);
    // The audit page shows it too, filtered by the object.
    await admin.goto(`${web.url}/admin/audit?object=${made}`);
    await admin.getByText('desired.create').first().waitFor();
    assert.ok((await admin.locator('main').textContent())?.includes(made));

    // And a person: invited without mail, so the link is shown to pass on; the audit page shows that too.
    await admin.goto(`${web.url}/admin/people`);
    await admin.getByLabel('User name').fill('dora');
    await admin.getByLabel('Display name').fill('Dora');
    await admin.getByRole('button', { name: 'Invite', exact: true }).click();
    assert.match(await admin.locator('#invitation-link').textContent() ?? '', /\/invite\//);
    const person = await db.pool.query('SELECT spec FROM otm.experimenters WHERE name = $1 AND deleted_at IS NULL', ['dora']);
    assert.equal(person.rows[0]?.spec.displayName, 'Dora');
    await admin.goto(`${web.url}/admin/audit?object=dora`);
    await admin.getByText('desired.create').first().waitFor();
    await admin.context().close();
  });

  test('deploy without git: an uploaded archive is built and deployed, and the page shows the outcome', async () => {
    await alice.goto(`${web.url}/instances/${pushed}`);
    await alice.getByText('Waiting for your first git push (or an uploaded archive)').first().waitFor({ timeout: 180_000 });
    assert.equal(await alice.locator('#git-remote').textContent(), `dokku@127.0.0.1:${pushed}`);
    const project = join(lab.work, 'project');
    await mkdir(project, { recursive: true });
    await writeFile(join(project, 'settings.py'), 'SESSION_CONFIGS = []\n');
    const archive = join(lab.work, 'project.tar');
    await run('tar', ['-cf', archive, '-C', project, '.']);
    await alice.locator('input[type=file][name=archive]').setInputFiles(archive);
    await alice.getByRole('button', { name: 'Upload and deploy' }).click();
    await alice.getByText('Deployed.', { exact: true }).waitFor({ timeout: 180_000 });
    const builds = (await readInvocations(lab.sim.root)).filter((c) => c.argv.includes('git:from-archive') && c.argv.includes(pushed));
    assert.deepEqual(builds.map((c) => c.argv.filter((a) => a !== '--quiet')), [['git:from-archive', '--archive-type', 'tar', pushed, '--']]);
    await alice.getByText(/^Running since/).waitFor({ timeout: 180_000 });
    const audit = await db.pool.query("SELECT actor, details FROM otm.audit_log WHERE object_name = $1 AND action = 'instance.archive.upload'", [pushed]);
    assert.deepEqual(audit.rows.map((r) => r.actor), ['alice']);
    await screenshot(alice, 'instance-uploaded');
  });

  test('a lab admin sees the Dokku hosts as the daemon does: answering, its version and plugins, its apps', async () => {
    const admin = await signIn('root');
    await admin.goto(`${web.url}/admin/hosts`);
    const hostRow = admin.getByRole('row', { name: /local/ });
    await hostRow.getByText('yes').waitFor();
    assert.match(await hostRow.textContent() ?? '', /0\.38\.27/);
    const observed = daemon.hosts[0]!.current();
    assert.equal((await hostRow.locator('td[data-label="Apps"]').textContent())?.trim(), String(observed.apps.size));
    assert.deepEqual(await seriousViolations(admin), []);
    await screenshot(admin, 'hosts');
    const forbidden = await alice.goto(`${web.url}/admin/hosts`);
    assert.equal(forbidden?.status(), 403);
    await admin.context().close();
  });

  test('every other page has no serious or critical accessibility problem either', async () => {
    const visitor = await (await newContext(browser)).newPage();
    await visitor.goto(`${web.url}/sign-in`);
    assert.deepEqual(await seriousViolations(visitor), [], '/sign-in');
    await screenshot(visitor, 'sign-in');
    await visitor.context().close();
    const admin = await signIn('root');
    for (const path of ['/profile', `/instances/${mine}/edit`, `/lobby/${mine}/lab/cards`, '/admin/hosts', '/instances/new', '/admin/people', '/admin/audit', '/imprint', '/privacy']) {
      const answer = await admin.goto(`${web.url}${path}`);
      assert.equal(answer?.status(), 200, path);
      assert.deepEqual(await seriousViolations(admin), [], path);
      await screenshot(admin, path.slice(1).replaceAll('/', '-'));
    }
    await admin.context().close();
  });

  test('at 375 px the pages have no horizontal scroll and no serious accessibility problem', async () => {
    const phone = await signIn('alice', 375);
    for (const [path, name] of [['/', 'dashboard-375'], [`/instances/${mine}`, 'instance-375']] as const) {
      await phone.goto(`${web.url}${path}`);
      await screenshot(phone, name);
      const overflow = await phone.evaluate(() => {
        const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
        return root.scrollWidth - root.clientWidth;
      });
      assert.equal(overflow, 0, `${path} scrolls sideways by ${overflow} px`);
      assert.deepEqual(await seriousViolations(phone), []);
    }
    await phone.context().close();
  });
});
