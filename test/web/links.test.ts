// Invitations and password resets end to end: a real SMTP server receives the mails, real PostgreSQL
// holds the links, a Fastify app serves the pages over HTTP (inject), and a fake clock moves time for
// expiry and rate limits. Also `otm user invite` as an admin runs it, with and without a mail relay.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import pino from 'pino';
import type { Logger } from 'pino';
import { loadConfig } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import { FakeClock, systemClock } from '../../src/engine/clock.js';
import type { Person, WebContext } from '../../src/web/context.js';
import { AttemptLimiter } from '../../src/web/limiter.js';
import { RESET_LIMIT_RULES, registerLinkRoutes } from '../../src/web/links.js';
import type { LinkRoutes } from '../../src/web/links.js';
import { composeMessage, createMailer, durationInWords } from '../../src/web/mail.js';
import type { Mailer, SmtpConfig } from '../../src/web/mail.js';
import { PeopleStore } from '../../src/web/people.js';
import type { LinkPurpose } from '../../src/web/people.js';
import { createRenderer } from '../../src/web/render.js';
import { otm } from '../cli/support.js';
import { useMigratedDatabase } from '../store/database.js';
import { BOUNCING_DOMAIN, decodedParts, header, startSmtpServer } from '../support/smtp.js';
import type { ReceivedMail, TestSmtpServer } from '../support/smtp.js';

const db = useMigratedDatabase();
const PUBLIC_URL = 'https://otm.lab.example.org';
const START = Date.parse('2030-01-01T08:00:00Z');
const HOUR = 3_600_000;
const PASSWORD = 'correct horse battery staple';
const LINK = new RegExp(`${PUBLIC_URL.replaceAll('.', '\\.')}/(invite|reset)/([A-Za-z0-9_-]{43})`);

let smtp: TestSmtpServer;
let work: string;
let config: Config;
let clock: FakeClock;
let store: PeopleStore;
let mailer: Mailer;
const people = new Map<string, Person>();
/** Every line the app and the routes logged. */
const logLines: string[] = [];
/** Every link secret handed out, to prove that none was logged. */
const secrets = new Set<string>();

function declare(person: Partial<Person> & { name: string }): Person {
  const declared = { displayName: person.name, role: 'experimenter' as const, disabled: false, ...person };
  people.set(person.name, declared);
  return declared;
}

function smtpConfig(extra: Partial<SmtpConfig> = {}): SmtpConfig {
  return { host: '127.0.0.1', port: smtp.port, secure: 'none', from: 'Lab otree-manager <otm@lab.example.org>', ...extra };
}

function testLogger(): Logger {
  return pino({ level: 'info', serializers: { req: (req: FastifyRequest) => ({ method: req.method }) } },
    { write: (line: string) => logLines.push(line) });
}

function context(log: Logger): WebContext {
  const ctx: WebContext = {
    config,
    publicUrl: PUBLIC_URL,
    people: store,
    clock,
    log,
    person: (name) => people.get(name),
    peopleByEmail: (email) => [...people.values()].filter((p) => p.email?.toLowerCase() === email.toLowerCase()),
    async signIn(request, reply, person, options) {
      const { secret } = await store.createSession(person, { clientAddress: ctx.clientAddress(request), userAgent: request.headers['user-agent'] ?? '', method: options.method });
      reply.setCookie('otm_session', secret, { path: '/', httpOnly: true, sameSite: 'lax', secure: true });
    },
    provisionPerson: () => Promise.reject(new Error('not part of these tests')),
    clientAddress: (request) => request.ip,
    limiter: new AttemptLimiter(clock, RESET_LIMIT_RULES),
    render: (reply, view, data, statusCode = 200) => reply.code(statusCode).type('text/html; charset=utf-8').send(renderer.page(view, data)),
  };
  return ctx;
}

const renderer = createRenderer();

async function linkApp(routeMailer: Mailer | undefined): Promise<{ app: FastifyInstance; links: LinkRoutes }> {
  const log = testLogger();
  // Typed as the base logger, as a server hands its routes an app.
  const app = Fastify({ loggerInstance: log as FastifyBaseLogger });
  await app.register(cookie);
  await app.register(formbody);
  const links = registerLinkRoutes(app, context(log), routeMailer);
  await app.ready();
  return { app, links };
}

/** The link of a received mail, checked to be in both the text and the HTML part. */
function linkOf(mail: ReceivedMail): { purpose: LinkPurpose; secret: string; text: string } {
  const parts = decodedParts(mail.raw);
  const text = parts.get('text/plain') ?? '';
  const match = LINK.exec(text);
  assert.ok(match, `a link in the text part:\n${text}`);
  assert.ok(parts.get('text/html')?.includes(`href="${match[0]}"`), 'the same link in the HTML part');
  secrets.add(match[2]!);
  return { purpose: match[1] as LinkPurpose, secret: match[2]!, text };
}

const form = (fields: Record<string, string>) => ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() });

async function auditRows(person: string, action: string): Promise<{ actor: string; client_address: string | null; auth_method: string | null }[]> {
  const { rows } = await db.pool.query('SELECT actor, client_address, auth_method FROM otm.audit_log WHERE object_name = $1 AND action = $2 ORDER BY id', [person, action]);
  return rows;
}

let app: FastifyInstance;
let links: LinkRoutes;

before(async () => {
  smtp = await startSmtpServer();
  work = await mkdtemp(path.join(tmpdir(), 'otm-links-'));
  ({ config } = await loadConfig({ env: {}, cwd: work }));
  mailer = await createMailer(smtpConfig(), PUBLIC_URL);
});
after(async () => {
  mailer.close();
  await smtp.close();
  await rm(work, { recursive: true, force: true });
});
beforeEach(async () => {
  await app?.close();
  clock = new FakeClock(START);
  store = new PeopleStore({ pool: db.pool, clock, idleTimeoutMs: 2 * HOUR, absoluteTimeoutMs: 12 * HOUR });
  ({ app, links } = await linkApp(mailer));
  assert.equal(smtp.mailbox.unread, 0, 'every mail of the previous test was looked at');
});
after(async () => {
  await app.close();
  const logged = logLines.join('');
  assert.ok(secrets.size > 0);
  for (const secret of secrets) assert.ok(!logged.includes(secret), 'no link secret in the logs');
  assert.ok(!logged.includes(PASSWORD), 'no password in the logs');
});

/** Sends an invitation the way `otm user invite` does, and returns the link from the mail that arrives. */
async function invite(person: Person): Promise<{ secret: string; text: string; mail: ReceivedMail }> {
  const validForMs = config.web.links.inviteHours * HOUR;
  const secret = await store.createLink(person.name, 'invite', validForMs, { actor: 'admin', authMethod: 'local' });
  await mailer.sendLink('invite', { name: person.name, displayName: person.displayName, email: person.email! }, secret, validForMs);
  const mail = await smtp.mailbox.next();
  const link = linkOf(mail);
  assert.equal(link.secret, secret);
  return { ...link, mail };
}

describe('invitation links', () => {
  it('arrive by mail, open a form without being spent, and set the password and sign in once', async () => {
    const ada = declare({ name: 'ada', displayName: 'Ada <Lovelace>', email: 'ada@example.org' });
    const { secret, text, mail } = await invite(ada);
    assert.deepEqual(mail.to, ['ada@example.org']);
    assert.equal(mail.from, 'otm@lab.example.org');
    assert.equal(header(mail.raw, 'Subject'), 'Your otree-manager account');
    assert.match(text, /Hello Ada <Lovelace>,/);
    assert.match(text, /Your user name is ada\./);
    assert.match(text, /expires in 3 days/);
    assert.ok(decodedParts(mail.raw).get('text/html')?.includes('Hello Ada &lt;Lovelace&gt;,'), 'HTML-escaped in the HTML part');

    for (let i = 0; i < 2; i++) {
      const page = await app.inject({ method: 'GET', url: `/invite/${secret}` });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<form class="stack" method="post">/);
      assert.match(page.body, /name="password"[^>]*minlength="12"/);
      assert.match(page.body, /name="confirm"/);
      assert.match(page.body, /At least 12 characters/);
      assert.equal(page.headers['referrer-policy'], 'no-referrer');
      assert.equal(page.headers['cache-control'], 'no-store');
    }

    const set = await app.inject({ method: 'POST', url: `/invite/${secret}`, remoteAddress: '192.0.2.10', ...form({ password: PASSWORD, confirm: PASSWORD }) });
    assert.equal(set.statusCode, 303);
    assert.equal(set.headers.location, '/');
    const sessionCookie = set.cookies.find((c) => c.name === 'otm_session');
    assert.ok(sessionCookie, 'signed in');
    const session = await store.session(sessionCookie.value);
    assert.equal(session?.person, 'ada');
    assert.equal(session?.method, 'invite');
    assert.equal(session?.clientAddress, '192.0.2.10');
    assert.equal(await store.checkPassword('ada', PASSWORD), true);
    assert.deepEqual(await auditRows('ada', 'password.set'), [{ actor: 'ada', client_address: '192.0.2.10', auth_method: 'invite' }]);

    const again = await app.inject({ method: 'POST', url: `/invite/${secret}`, ...form({ password: 'another long passphrase', confirm: 'another long passphrase' }) });
    assert.equal(again.statusCode, 410);
    assert.match(again.body, /this link has expired or was already used; ask for a new one/);
    assert.equal(again.cookies.length, 0);
    assert.equal(await store.checkPassword('ada', PASSWORD), true, 'unchanged by the second use');
  });

  it('expire after web.links.inviteHours', async () => {
    const bo = declare({ name: 'bo', email: 'bo@example.org' });
    const { secret } = await invite(bo);
    clock.advance(config.web.links.inviteHours * HOUR + 1);
    assert.equal((await app.inject({ method: 'GET', url: `/invite/${secret}` })).statusCode, 200, 'the form is always shown');
    const late = await app.inject({ method: 'POST', url: `/invite/${secret}`, ...form({ password: PASSWORD, confirm: PASSWORD }) });
    assert.equal(late.statusCode, 410);
    assert.equal(await store.hasPassword('bo'), false);
  });

  it('keep working after a form that differs or breaks the policy', async () => {
    const cy = declare({ name: 'cy', email: 'cy@example.org' });
    const { secret } = await invite(cy);
    const attempts: [Record<string, string>, RegExp][] = [
      [{ password: PASSWORD, confirm: `${PASSWORD}!` }, /the two passwords differ/],
      [{ password: 'short', confirm: 'short' }, /a password needs at least 12 characters/],
      [{ password: 'cy', confirm: 'cy' }, /at least 12 characters/],
      [{ password: '' }, /at least 12 characters/],
    ];
    for (const [fields, error] of attempts) {
      const refused = await app.inject({ method: 'POST', url: `/invite/${secret}`, ...form(fields) });
      assert.equal(refused.statusCode, 400, JSON.stringify(fields));
      assert.match(refused.body, error);
      assert.match(refused.body, /name="password"/, 'the form again');
    }
    assert.equal(await store.hasPassword('cy'), false);
    const set = await app.inject({ method: 'POST', url: `/invite/${secret}`, ...form({ password: PASSWORD, confirm: PASSWORD }) });
    assert.equal(set.statusCode, 303);
    assert.equal(await store.checkPassword('cy', PASSWORD), true);
  });

  it('refuse a disabled or removed person, an unknown secret and the wrong purpose, alike', async () => {
    const dee = declare({ name: 'dee', email: 'dee@example.org' });
    const { secret } = await invite(dee);
    people.set('dee', { ...dee, disabled: true });
    const disabled = await app.inject({ method: 'POST', url: `/invite/${secret}`, ...form({ password: PASSWORD, confirm: PASSWORD }) });
    assert.equal(disabled.statusCode, 410);
    assert.equal(disabled.cookies.length, 0);
    assert.equal(await store.hasPassword('dee'), false);
    people.set('dee', dee);
    const enabledAgain = await app.inject({ method: 'POST', url: `/invite/${secret}`, ...form({ password: PASSWORD, confirm: PASSWORD }) });
    assert.equal(enabledAgain.statusCode, 410, 'the refused link is spent');

    const eve = declare({ name: 'eve', email: 'eve@example.org' });
    const second = await invite(eve);
    people.delete('eve');
    const removed = await app.inject({ method: 'POST', url: `/invite/${second.secret}`, ...form({ password: PASSWORD, confirm: PASSWORD }) });
    const wrongPurpose = await app.inject({ method: 'POST', url: `/reset/${(await invite(dee)).secret}`, ...form({ password: PASSWORD, confirm: PASSWORD }) });
    const unknown = await app.inject({ method: 'POST', url: `/invite/${'A'.repeat(43)}`, ...form({ password: PASSWORD, confirm: PASSWORD }) });
    const malformed = await app.inject({ method: 'POST', url: '/invite/not-a-secret', ...form({ password: PASSWORD, confirm: PASSWORD }) });
    for (const answer of [removed, wrongPurpose, unknown, malformed]) {
      assert.equal(answer.statusCode, 410);
      assert.equal(answer.body, disabled.body, 'the same page whatever the reason');
    }
    assert.equal(await store.hasPassword('eve'), false);
    assert.equal(await store.hasPassword('dee'), false);
  });
});

describe('password reset', () => {
  const ask = (account: string, remoteAddress = '198.51.100.1') =>
    app.inject({ method: 'POST', url: '/forgot-password', remoteAddress, ...form({ account }) });

  it('mails a reset link to a person found by name or e-mail, and the link sets a new password', async () => {
    declare({ name: 'fay', displayName: 'Fay', email: 'Fay@Example.org' });
    await store.setPassword('fay', 'the old long passphrase', { actor: 'admin', authMethod: 'local' });
    const page = await app.inject({ method: 'GET', url: '/forgot-password' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /name="account"/);

    const sent: string[] = [];
    for (const account of ['fay', 'fay@example.ORG']) {
      const answer = await ask(account, '198.51.100.2');
      assert.equal(answer.statusCode, 200);
      assert.match(answer.body, /if the account exists and has an e-mail address, a link is on its way/);
      const mail = await smtp.mailbox.next();
      assert.deepEqual(mail.to, ['Fay@example.org'], 'the domain lowercased, the local part kept');
      assert.equal(header(mail.raw, 'Subject'), 'Reset your otree-manager password');
      const link = linkOf(mail);
      assert.equal(link.purpose, 'reset');
      assert.match(link.text, /expires in 1 hour\./);
      assert.equal(await store.linkPerson(link.secret, 'reset'), 'fay');
      sent.push(link.secret);
    }
    await links.settled();
    assert.equal(await store.linkPerson(sent[0]!, 'reset'), undefined, 'the newer link replaced the first');
    const set = await app.inject({ method: 'POST', url: `/reset/${sent[1]}`, ...form({ password: PASSWORD, confirm: PASSWORD }) });
    assert.equal(set.statusCode, 303);
    const session = await store.session(set.cookies.find((c) => c.name === 'otm_session')!.value);
    assert.equal(session?.method, 'reset');
    assert.equal(await store.checkPassword('fay', PASSWORD), true);
    assert.equal(await store.checkPassword('fay', 'the old long passphrase'), false);
    const created = await auditRows('fay', 'link.create');
    assert.deepEqual(created, [
      { actor: 'anonymous', client_address: '198.51.100.2', auth_method: 'none' },
      { actor: 'anonymous', client_address: '198.51.100.2', auth_method: 'none' },
    ]);
    assert.deepEqual((await auditRows('fay', 'password.set')).at(-1), { actor: 'fay', client_address: '127.0.0.1', auth_method: 'reset' });
  });

  it('answers alike for an unknown, a disabled and a mail-less person, and sends them nothing', async () => {
    declare({ name: 'gus', email: 'gus@example.org' });
    declare({ name: 'hal', email: 'hal@example.org', disabled: true });
    declare({ name: 'ivy' });
    const known = await ask('gus', '198.51.100.3');
    await smtp.mailbox.next();
    for (const account of ['nobody', 'nobody@example.org', 'hal', 'hal@example.org', 'ivy', '']) {
      const answer = await ask(account, '198.51.100.3');
      assert.equal(answer.statusCode, known.statusCode, account);
      assert.equal(answer.headers['content-type'], known.headers['content-type']);
      assert.equal(answer.body, known.body, `the same answer for ${JSON.stringify(account)}`);
    }
    await links.settled();
    assert.equal(smtp.mailbox.unread, 0, 'no mail');
    const { rows } = await db.pool.query("SELECT person FROM otm.one_time_links WHERE person IN ('hal', 'ivy', 'nobody')");
    assert.deepEqual(rows, [], 'no link');
  });

  it('answers alike when the relay refuses the mail, and logs why without the link', async () => {
    declare({ name: 'jo', email: `jo@${BOUNCING_DOMAIN}` });
    const before = logLines.length;
    const answer = await ask('jo', '198.51.100.4');
    assert.equal(answer.statusCode, 200);
    assert.match(answer.body, /a link is on its way/);
    await links.settled();
    const logged = logLines.slice(before).map((line) => JSON.parse(line) as { msg: string; person?: string; error?: string });
    const failure = logged.find((entry) => entry.msg === 'could not send the password-reset link');
    assert.equal(failure?.person, 'jo');
    assert.match(failure?.error ?? '', new RegExp(`^cannot send mail through 127\\.0\\.0\\.1:${smtp.port} \\(web\\.smtp\\.host\\): EENVELOPE, answering "550 no such mailbox here"; check web\\.smtp\\.from`));
    const { rows } = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM otm.one_time_links WHERE person = 'jo'");
    assert.equal(rows[0]!.n, 1, 'the link was made; only the mail failed');
  });

  it('limits requests per account and per address with 429 and Retry-After, known or not', async () => {
    declare({ name: 'kai', email: 'kai@example.org' });
    const perAccount = RESET_LIMIT_RULES['reset-account'].limit;
    for (const account of ['kai', 'unknown-kai']) {
      for (let i = 0; i < perAccount; i++) {
        // The name and the e-mail address count as one account.
        const name = account === 'kai' && i % 2 === 1 ? 'kai@example.org' : account;
        assert.equal((await ask(name, `203.0.113.${i}`)).statusCode, 200);
      }
      const refused = await ask(account, '203.0.113.99');
      assert.equal(refused.statusCode, 429, account);
      assert.equal(refused.headers['retry-after'], String(RESET_LIMIT_RULES['reset-account'].windowMs / 1000));
      assert.match(refused.body, /too many password-reset requests/);
    }
    for (let i = 0; i < perAccount; i++) linkOf(await smtp.mailbox.next());
    await links.settled();
    assert.equal(smtp.mailbox.unread, 0, 'the refused request sent nothing');

    const perAddress = RESET_LIMIT_RULES['reset-address'].limit;
    for (let i = 0; i < perAddress; i++) assert.equal((await ask(`someone${i}`, '203.0.113.200')).statusCode, 200);
    const flooded = await ask('someone-else', '203.0.113.200');
    assert.equal(flooded.statusCode, 429);
    assert.ok(Number(flooded.headers['retry-after']) > 0);
    clock.advance(RESET_LIMIT_RULES['reset-address'].windowMs);
    assert.equal((await ask('someone-else', '203.0.113.200')).statusCode, 200, 'allowed again once the window has passed');
    assert.equal((await ask('kai', '203.0.113.201')).statusCode, 200);
    linkOf(await smtp.mailbox.next());
  });
});

describe('the mailer', () => {
  it('words durations and escapes HTML', () => {
    assert.equal(durationInWords(72 * HOUR), '3 days');
    assert.equal(durationInWords(HOUR), '1 hour');
    assert.equal(durationInWords(36 * HOUR), '36 hours');
    assert.equal(durationInWords(90 * 60_000), '90 minutes');
    assert.equal(durationInWords(5 * 60_000), '5 minutes');
    const message = composeMessage('reset', { name: 'x', displayName: '<b>"x"</b>', email: 'x@example.org' }, 'https://a.example/reset/s?a=1&b=2', HOUR);
    assert.ok(message.html.includes('&lt;b&gt;&quot;x&quot;&lt;/b&gt;'));
    assert.ok(message.html.includes('href="https://a.example/reset/s?a=1&amp;b=2"'));
    assert.ok(message.text.includes('Hello <b>"x"</b>,'));
  });

  it('logs in with web.smtp.user and the password file, and refuses a password file others may read', async () => {
    const file = path.join(work, 'smtp-password');
    await writeFile(file, 's3cret relay password\n', { mode: 0o600 });
    const authenticated = await createMailer(smtpConfig({ user: 'otm', passwordFile: file }), PUBLIC_URL);
    try {
      await authenticated.sendLink('invite', { name: 'mo', displayName: 'Mo', email: 'mo@example.org' }, 'S'.repeat(43), HOUR);
    } finally {
      authenticated.close();
    }
    assert.deepEqual(smtp.logins.at(-1), { username: 'otm', password: 's3cret relay password' });
    assert.match(linkOf(await smtp.mailbox.next()).text, new RegExp(`${PUBLIC_URL}/invite/${'S'.repeat(43)}`));

    await chmod(file, 0o644);
    await assert.rejects(createMailer(smtpConfig({ user: 'otm', passwordFile: file }), PUBLIC_URL),
      new RegExp(`the mail relay password file ${file} \\(web\\.smtp\\.passwordFile\\) is readable by every user of this machine \\(mode 0644\\)`));
    await assert.rejects(createMailer(smtpConfig({ user: 'otm' }), PUBLIC_URL), /web\.smtp\.user and web\.smtp\.passwordFile go together/);
    await assert.rejects(createMailer(smtpConfig({ user: 'otm', passwordFile: path.join(work, 'missing') }), PUBLIC_URL), /missing \(web\.smtp\.passwordFile\): ENOENT/);
  });

  it('names the relay, not the credentials, when it cannot be reached', async () => {
    const file = path.join(work, 'smtp-password-2');
    await writeFile(file, 'another relay password\n', { mode: 0o600 });
    const closedPort = await startSmtpServer();
    const port = closedPort.port;
    await closedPort.close();
    const unreachable = await createMailer({ ...smtpConfig({ user: 'otm', passwordFile: file }), port }, PUBLIC_URL);
    try {
      const error = await unreachable.sendLink('reset', { name: 'mo', displayName: 'Mo', email: 'mo@example.org' }, 'U'.repeat(43), HOUR).then(() => undefined, (e: Error) => e);
      assert.equal(error?.name, 'MailError');
      assert.match(error!.message, new RegExp(`^cannot send mail through 127\\.0\\.0\\.1:${port} \\(web\\.smtp\\.host\\): \\w+.*ECONNREFUSED.*; check web\\.smtp\\.host and web\\.smtp\\.port`));
      assert.ok(!error!.message.includes('another relay password') && !error!.message.includes('U'.repeat(43)));
    } finally {
      unreachable.close();
    }
  });
});

describe('otm user invite', () => {
  let configFile: string;
  let bareConfigFile: string;
  const realStore = () => new PeopleStore({ pool: db.pool, clock: systemClock, idleTimeoutMs: HOUR, absoluteTimeoutMs: HOUR });

  before(async () => {
    await mkdir(path.join(work, 'manifests'));
    await writeFile(path.join(work, 'manifests', 'people.yaml'), [
      'apiVersion: otree-manager/v1\nkind: Experimenter\nmetadata:\n  name: nia\nspec:\n  displayName: Nia\n  email: nia@example.org\n  role: experimenter\n',
      'apiVersion: otree-manager/v1\nkind: Experimenter\nmetadata:\n  name: oli\nspec:\n  displayName: Oli\n  role: experimenter\n',
    ].join('---\n'));
    const base = `postgresUrl: ${db.url}\nmanifestsDir: manifests\nstateDir: state\nbackupDir: backups\n`;
    configFile = path.join(work, 'config.yaml');
    await writeFile(configFile, `${base}web:\n  publicUrl: ${PUBLIC_URL}\n  links: { inviteHours: 24 }\n`
      + `  smtp: { host: 127.0.0.1, port: ${smtp.port}, secure: none, from: "Lab <otm@lab.example.org>" }\n`);
    bareConfigFile = path.join(work, 'bare.yaml');
    await writeFile(bareConfigFile, `${base}web:\n  publicUrl: ${PUBLIC_URL}\n`);
  });

  it('mails the invitation through web.smtp and the link works', async () => {
    const run = await otm(['user', 'invite', 'nia', '--config', configFile]);
    assert.equal(run.stderr, 'invitation sent to nia@example.org\n');
    assert.equal(run.code, 0);
    assert.equal(run.stdout, '');
    const mail = await smtp.mailbox.next();
    assert.deepEqual(mail.to, ['nia@example.org']);
    const link = linkOf(mail);
    assert.equal(link.purpose, 'invite');
    assert.match(link.text, /Hello Nia,/);
    assert.match(link.text, /expires in 1 day\./);
    assert.equal(await realStore().consumeLink(link.secret, 'invite'), 'nia');
    const { rows } = await db.pool.query("SELECT auth_method, details->>'purpose' AS purpose FROM otm.audit_log WHERE action = 'link.create' AND object_name = 'nia'");
    assert.deepEqual(rows, [{ auth_method: 'local', purpose: 'invite' }]);
  });

  it('prints the link alone on stdout without a mail relay', async () => {
    const run = await otm(['user', 'invite', 'nia', '--config', bareConfigFile]);
    assert.equal(run.code, 0, run.stderr);
    const match = new RegExp(`^${LINK.source}\\n$`).exec(run.stdout);
    assert.ok(match, run.stdout);
    secrets.add(match[2]!);
    assert.match(run.stderr, /^no mail relay is configured \(web\.smtp\): pass this link on to nia <nia@example\.org> yourself; it works once, within 72 hours\n$/);
    assert.ok(!run.stderr.includes(match[2]!));
    assert.equal(smtp.mailbox.unread, 0);
    assert.equal(await realStore().consumeLink(match[2]!, 'invite'), 'nia');
  });

  it('refuses a person without spec.email and an undeclared name, making no link', async () => {
    const noEmail = await otm(['user', 'invite', 'oli', '--config', configFile]);
    assert.equal(noEmail.code, 1);
    assert.match(noEmail.stderr, /oli has no spec\.email/);
    const unknown = await otm(['user', 'invite', 'pat', '--config', configFile]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /pat is not a declared Experimenter/);
    const { rows } = await db.pool.query("SELECT person FROM otm.one_time_links WHERE person IN ('oli', 'pat')");
    assert.deepEqual(rows, []);
    assert.equal(smtp.mailbox.unread, 0);
  });
});
