// The profile page of otm web over real HTTP against real PostgreSQL, with browsers that keep cookies:
// ssh keys added and removed (the stored row and its audit entry; fingerprints as `ssh-keygen -lf`
// prints them; garbage, private keys and duplicates refused at the field with nothing stored; a person
// declared in a file sees their keys read-only), the narrow profile rule through the API, personal
// tokens (one works, then does not), sessions (listed, this one marked, signed out one or all others)
// and the password (the wrong current one refused and counted, the new one works, other sessions end).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
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
import { PeopleStore } from '../../src/web/people.js';
import { registerProfileRoutes } from '../../src/web/profile.js';
import { createWebServer, SESSION_COOKIE } from '../../src/web/server.js';
import type { WebServer } from '../../src/web/server.js';
import { Browser } from '../support/browser.js';
import { useMigratedDatabase } from '../store/database.js';

const run = promisify(execFile);
const db = useMigratedDatabase();
const MINUTE = 60_000;
const PASSWORD = 'correct horse battery staple';
const by = { actor: 'test', authMethod: 'local' };

// root and carol are declared in a manifest file; alice, bob and erin are rows (as a web UI writes people).
const FILE = `apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: root }
spec: { displayName: Lab Admin, role: admin }
---
apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: carol }
spec: { displayName: Carol, sshKeys: [CAROL_KEY] }
`;

let work: string;
let config: Config;
let clock: FakeClock;
let desired: DesiredStore;
let rows: PostgresDesiredSource;
let store: PeopleStore;
let server: WebServer;
let base: string;
/** Public key lines made by ssh-keygen, and its own `-lf` fingerprints of them. */
const keys: Record<'ed25519' | 'ecdsa' | 'rsa' | 'bob' | 'carol', { line: string; fingerprint: string; bits: string; privateKey: string }> = {} as never;

async function makeKey(name: string, type: string, bits?: number): Promise<{ line: string; fingerprint: string; bits: string; privateKey: string }> {
  const file = path.join(work, `id_${name}`);
  await run('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', `${name}@laptop`, '-f', file]);
  const [printedBits = '', fingerprint = ''] = (await run('ssh-keygen', ['-l', '-f', `${file}.pub`])).stdout.trim().split(' ');
  return { line: (await readFile(`${file}.pub`, 'utf8')).trim(), fingerprint, bits: printedBits, privateKey: await readFile(file, 'utf8') };
}

interface Page {
  status: number;
  text: string;
  location: string | null;
}

async function get(browser: Browser, url: string): Promise<Page> {
  const response = await browser.fetch(`${base}${url}`);
  return { status: response.status, text: await response.text(), location: response.headers.get('location') };
}

function csrfIn(html: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(token, 'the page carries a CSRF token');
  return token;
}

/** Sends a form of the profile page as a browser does: the CSRF token from the page just loaded. */
async function submit(browser: Browser, action: string, form: Record<string, string> = {}): Promise<Page> {
  const page = await get(browser, '/profile');
  assert.equal(page.status, 200);
  const response = await browser.fetch(`${base}${action}`, { form: { _csrf: csrfIn(page.text), ...form } });
  return { status: response.status, text: await response.text(), location: response.headers.get('location') };
}

async function signIn(name: string, password = PASSWORD): Promise<Browser> {
  const browser = new Browser();
  const page = await get(browser, '/sign-in');
  const answer = await browser.fetch(`${base}/sign-in`, { form: { _csrf: csrfIn(page.text), name, password, returnTo: '/profile' } });
  assert.equal(answer.status, 303, `${name} signs in`);
  return browser;
}

/** Whether the browser's session still works. */
async function signedIn(browser: Browser): Promise<boolean> {
  const response = await browser.fetch(`${base}/api/v1/me`);
  await response.body?.cancel();
  return response.status === 200;
}

async function row(name: string): Promise<{ sshKeys: string[]; displayName: string; generation: number }> {
  const { rows: found } = await db.pool.query<{ spec: { sshKeys?: string[]; displayName: string }; generation: string }>(
    'SELECT spec, generation FROM otm.experimenters WHERE name = $1', [name]);
  assert.ok(found[0], `${name} has a row`);
  return { sshKeys: found[0].spec.sshKeys ?? [], displayName: found[0].spec.displayName, generation: Number(found[0].generation) };
}

async function untilDesired(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

const hasText = (html: string, text: string) => html.includes(text.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('\'', '&#39;').replaceAll('<', '&lt;'));

describe('the profile page', () => {
  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'otm-profile-'));
    keys.ed25519 = await makeKey('ed25519', 'ed25519');
    keys.ecdsa = await makeKey('ecdsa', 'ecdsa', 384);
    keys.rsa = await makeKey('rsa', 'rsa', 3072);
    keys.bob = await makeKey('bob', 'ed25519');
    keys.carol = await makeKey('carol', 'ed25519');
    const configFile = path.join(work, 'otm.yaml');
    await writeFile(configFile, [
      `postgresUrl: ${db.url}`, 'baseDomain: lab.example.org', `manifestsDir: ${work}`,
      'web: { publicUrl: "http://127.0.0.1:9281", signInLimit: { perAccount: 3, perAddress: 100, windowMinutes: 15 } }',
    ].join('\n'));
    ({ config } = await loadConfig({ path: configFile }));
    clock = new FakeClock(Date.parse('2030-03-01T08:00:00Z'));
    desired = new DesiredStore({ baseDomain: 'lab.example.org' });
    desired.apply([{ source: 'people.yaml', snapshot: parseManifests(FILE.replace('CAROL_KEY', JSON.stringify(keys.carol.line)), 'people.yaml') }]);
    rows = new PostgresDesiredSource({ pool: db.pool, url: db.url, log: { info: () => undefined, warn: () => undefined }, policy: rowPolicyOptions(config), onChange: (updates) => desired.apply(updates) });
    await rows.start();
    for (const [name, spec] of [
      ['alice', { displayName: 'Alice', email: 'alice@lab.example.org', quota: { instances: 2, webProcesses: 2 } }],
      ['bob', { displayName: 'Bob', sshKeys: [keys.bob.line] }],
      ['erin', { displayName: 'Erin', email: 'erin@lab.example.org' }],
    ] as const) {
      assert.ok((await rows.upsert('Experimenter', name, spec, { group: 'econ' }, by)).ok);
    }
    await untilDesired(() => ['alice', 'bob', 'erin'].every((name) => desired.experimenter(name) !== undefined));
    store = new PeopleStore({ pool: db.pool, clock, idleTimeoutMs: 120 * MINUTE, absoluteTimeoutMs: 12 * 60 * MINUTE });
    // erin signs in with single sign-on only: no password.
    for (const person of ['root', 'alice', 'bob', 'carol']) await store.setPassword(person, PASSWORD, by);
    const status = new PgStatusStore(db.pool);
    server = createWebServer({
      config, people: store, clock, log: pino({ level: 'silent' }), desired,
      status: () => status, rows: () => rows, plans: () => undefined, audit: () => (query) => readAudit(db.pool, query),
      parts: [registerProfileRoutes],
    });
    base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await server?.app.close();
    await rows?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('without a session the page sends the browser to sign in', async () => {
    const page = await get(new Browser(), '/profile');
    assert.equal(page.status, 303);
    assert.equal(page.location, '/sign-in?returnTo=%2Fprofile');
  });

  test('there is no profile of anyone else: the page shows only the signed-in person\'s keys, tokens and sessions', async () => {
    const bobToken = await store.createToken('bob', { scope: 'read', expiresAt: null, label: 'bob-only-label' }, by);
    const alice = await signIn('alice');
    for (const url of ['/profile/bob', '/profile?name=bob', '/profile?person=bob']) {
      const page = await get(alice, url);
      assert.ok(!page.text.includes(keys.bob.fingerprint) && !page.text.includes('bob-only-label'), url);
      assert.ok(page.status === 404 || page.text.includes('You sign in as alice.'), url);
    }
    assert.equal(await store.revokeToken('bob', bobToken.token.id, by), true);
  });

  describe('ssh keys', () => {
    test('adding ed25519, ecdsa and rsa keys stores them in the person\'s row, audited, listed with ssh-keygen\'s fingerprints', async () => {
      const alice = await signIn('alice');
      const empty = await get(alice, '/profile');
      assert.ok(hasText(empty.text, 'No keys yet'));
      for (const kind of ['ed25519', 'ecdsa', 'rsa'] as const) {
        const before = await row('alice');
        // Pasted as people paste: with the file's line end and some space around.
        const added = await submit(alice, '/profile/keys', { key: `  ${keys[kind].line}\r\n` });
        assert.equal(added.status, 303, added.text);
        assert.equal(added.location, '/profile?done=keyAdded#keys');
        const after = await row('alice');
        assert.deepEqual(after.sshKeys, [...before.sshKeys, keys[kind].line]);
        assert.equal(after.generation, before.generation + 1);
      }
      const stored = await row('alice');
      assert.equal(stored.displayName, 'Alice');
      const { rows: spec } = await db.pool.query<{ spec: Record<string, unknown>; labels: Record<string, string> }>("SELECT spec, labels FROM otm.experimenters WHERE name = 'alice'");
      assert.equal(spec[0]!.spec.email, 'alice@lab.example.org', 'nothing else of alice changed');
      assert.deepEqual(spec[0]!.spec.quota, { instances: 2, webProcesses: 2 });
      assert.deepEqual(spec[0]!.labels, { group: 'econ' });

      const entries = (await readAudit(db.pool, { objectName: 'alice', limit: 10 })).filter((e) => e.action === 'desired.update');
      assert.equal(entries.length, 3);
      assert.equal(entries[0]!.actor, 'alice');
      assert.equal(entries[0]!.authMethod, 'session');
      assert.equal(entries[0]!.objectKind, 'Experimenter');
      assert.deepEqual((entries[0]!.details.after as { sshKeys: string[] }).sshKeys, stored.sshKeys);

      const page = await get(alice, '/profile?done=keyAdded');
      assert.ok(hasText(page.text, 'The key is added.'), 'the outcome is shown');
      for (const kind of ['ed25519', 'ecdsa', 'rsa'] as const) {
        assert.ok(page.text.includes(`<code class="fingerprint">${keys[kind].fingerprint}</code>`), `${kind}: ${keys[kind].fingerprint} as ssh-keygen -lf prints it`);
        assert.ok(page.text.includes(`${kind}@laptop`), `${kind}: its comment`);
      }
      assert.match(page.text, new RegExp(`ED25519 ${keys.ed25519.bits}<`));
      assert.match(page.text, new RegExp(`ECDSA ${keys.ecdsa.bits}<`));
      assert.match(page.text, new RegExp(`RSA ${keys.rsa.bits}<`));
    });

    test('garbage, a private key, a DSA key, options, two keys, a duplicate and another person\'s key are refused at the field; nothing is stored', async () => {
      const alice = await signIn('alice');
      const before = await row('alice');
      const auditBefore = (await readAudit(db.pool, { objectName: 'alice', limit: 100 })).length;
      const [type = '', data = ''] = keys.ed25519.line.split(' ');
      const cases: Array<[string, string, number, string]> = [
        ['garbage', 'hello world', 422, 'That is not an OpenSSH public key'],
        ['an empty paste', '   ', 422, 'Paste a public key first.'],
        ['a private key', keys.rsa.privateKey, 422, 'That is a private key. Never paste it anywhere'],
        ['a PuTTY private key', 'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n', 422, 'That is a PuTTY private key'],
        ['a DSA key', 'ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7gB00b/JmYLdrmVClpJ+f6AR7ECLCT7up1/63xhv4O1fnxqimFQ8E+4P208UewwI1VBNaFpEy9nXzrith1yrv8iIDGZ3RSAHHAAAAFQCXYFCPFSMLzLKSuYKi64QL8Fgc9Q== x', 422, 'DSA keys are no longer accepted'],
        ['a key with authorized_keys options', `no-pty,no-port-forwarding ${keys.ed25519.line}`, 422, 'Remove the options in front of the key type'],
        ['two keys', `${keys.ecdsa.line}\n${keys.bob.line}`, 422, 'Paste one key at a time.'],
        ['damaged key data', `${type} ${data.slice(0, 20)}!!${data.slice(20)}`, 422, 'is damaged'],
        ['a truncated key', `${type} ${data.slice(0, 40)}`, 422, 'The key is not accepted: the key data is truncated.'],
        ['a key of one type labelled as another', `ssh-rsa ${data}`, 422, 'The key is not accepted: the key data is a ssh-ed25519 key but the line says ssh-rsa.'],
        ['a weak RSA key', (await makeKey('weak', 'rsa', 1024)).line, 422, 'The key is not accepted: the RSA key has 1024 bits; use at least 2048 (or an ed25519 key).'],
        ['a key already on the profile, under another comment', `${type} ${data} another-comment`, 409, 'That key is already on your profile.'],
        ['bob\'s key', keys.bob.line, 409, 'already on another person\'s profile'],
        ['carol\'s key (declared in a file)', keys.carol.line, 409, 'already on another person\'s profile'],
      ];
      for (const [what, key, status, message] of cases) {
        const answer = await submit(alice, '/profile/keys', { key });
        assert.equal(answer.status, status, what);
        assert.ok(hasText(answer.text, message), `${what}: ${message}\n${/role="alert"[^\n]*/.exec(answer.text)?.[0]}`);
        assert.match(answer.text, /<p class="notice bad" role="alert" id="keys-error"><strong>Public key:<\/strong>/, `${what}: the error names the field`);
        assert.match(answer.text, /<textarea id="key" name="key"[^>]* aria-invalid="true" aria-describedby="key-help keys-error"/, `${what}: the field is marked`);
        const refilled = /<textarea id="key"[^>]*>([^<]*)<\/textarea>/.exec(answer.text)?.[1];
        if (what === 'a private key' || what === 'a PuTTY private key') assert.equal(refilled, '', `${what} is not sent back`);
        else assert.notEqual(refilled, '', `${what} is sent back to be corrected`);
      }
      assert.deepEqual(await row('alice'), before, 'the row is unchanged');
      assert.equal((await readAudit(db.pool, { objectName: 'alice', limit: 100 })).length, auditBefore, 'nothing was audited');
    });

    test('a key in PuTTYgen\'s public-key format is converted to the OpenSSH line', async () => {
      const bob = await signIn('bob');
      const fresh = await makeKey('bob-putty', 'ed25519');
      // What PuTTYgen saves as the public key (RFC 4716), as ssh-keygen -e writes it.
      const rfc4716 = (await run('ssh-keygen', ['-e', '-f', path.join(work, 'id_bob-putty.pub')])).stdout;
      assert.match(rfc4716, /^---- BEGIN SSH2 PUBLIC KEY ----\nComment: /);
      const added = await submit(bob, '/profile/keys', { key: rfc4716 });
      assert.equal(added.status, 303, added.text);
      const [type, data] = fresh.line.split(' ');
      const stored = (await row('bob')).sshKeys;
      assert.equal(stored.length, 2);
      assert.match(stored[1]!, new RegExp(`^${type} ${data!.replaceAll('+', '\\+')}( |$)`));
    });

    test('removing a key takes it out of the row, audited; an unknown fingerprint is refused', async () => {
      const alice = await signIn('alice');
      const before = await row('alice');
      const removed = await submit(alice, '/profile/keys/remove', { fingerprint: keys.ecdsa.fingerprint });
      assert.equal(removed.status, 303, removed.text);
      assert.equal(removed.location, '/profile?done=keyRemoved#keys');
      assert.deepEqual((await row('alice')).sshKeys, before.sshKeys.filter((line) => line !== keys.ecdsa.line));
      const [entry] = await readAudit(db.pool, { objectName: 'alice', limit: 1 });
      assert.equal(entry!.action, 'desired.update');
      assert.equal(entry!.actor, 'alice');
      assert.equal((entry!.details.before as { sshKeys: string[] }).sshKeys.length, 3);
      assert.equal((entry!.details.after as { sshKeys: string[] }).sshKeys.length, 2);
      const page = await get(alice, removed.location!);
      assert.ok(!page.text.includes(keys.ecdsa.fingerprint), 'the page no longer lists it');

      const again = await submit(alice, '/profile/keys/remove', { fingerprint: keys.ecdsa.fingerprint });
      assert.equal(again.status, 404);
      assert.ok(hasText(again.text, 'That key is not on your profile (any more).'));
      assert.equal((await row('alice')).sshKeys.length, 2);
    });

    test('the display name is the person\'s to change, and only trimmed text', async () => {
      const alice = await signIn('alice');
      const empty = await submit(alice, '/profile/name', { displayName: '   ' });
      assert.equal(empty.status, 422);
      assert.match(empty.text, /<strong>Display name:<\/strong> Give a display name\./);
      const saved = await submit(alice, '/profile/name', { displayName: '  Alice   Example ' });
      assert.equal(saved.status, 303);
      assert.equal((await row('alice')).displayName, 'Alice Example');
      const page = await get(alice, '/profile');
      assert.ok(page.text.includes('value="Alice Example"'));
    });

    test('a person declared in a manifest file sees their keys, managed by the admin in the file; a write is refused', async () => {
      const carol = await signIn('carol');
      const page = await get(carol, '/profile');
      assert.ok(page.text.includes(keys.carol.fingerprint));
      assert.ok(hasText(page.text, 'Your keys are managed by the lab admin in the manifest file people.yaml'));
      assert.ok(!page.text.includes('action="/profile/keys"'), 'no form to add one');
      assert.ok(!page.text.includes('action="/profile/keys/remove"'), 'nor to remove one');
      const refused = await submit(carol, '/profile/keys/remove', { fingerprint: keys.carol.fingerprint });
      assert.equal(refused.status, 409);
      assert.ok(hasText(refused.text, 'managed by the lab admin in the manifest file people.yaml'));
      const { rowCount } = await db.pool.query("SELECT 1 FROM otm.experimenters WHERE name = 'carol'");
      assert.equal(rowCount, 0, 'no row was made for carol');
    });

    test('through the API a person changes their own keys and name only; another person is not there', async () => {
      const alice = await signIn('alice');
      const created = await submit(alice, '/profile/tokens', { label: 'api test', scope: 'write', expires: '7' });
      const token = /<code id="new-token" class="secret">([^<]+)<\/code>/.exec(created.text)?.[1];
      assert.ok(token);
      const call = async (method: string, url: string, body?: unknown) => {
        const response = await fetch(`${base}${url}`, {
          method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
        });
        return { status: response.status, json: await response.json() as { object?: { spec: Record<string, unknown>; metadata: { labels: Record<string, string> } }; error?: { message: string; issues?: { path: string }[] } } };
      };
      const mine = (await call('GET', '/api/v1/experimenters/alice')).json.object!;
      const document = (spec: Record<string, unknown>, labels = mine.metadata.labels) => ({ apiVersion: 'otree-manager/v1', kind: 'Experimenter', metadata: { name: 'alice', labels }, spec });
      const before = await row('alice');
      const grab = await call('PUT', '/api/v1/experimenters/alice', document({ ...mine.spec, role: 'experimenter', quota: { instances: 50, webProcesses: 50 }, disabled: false }, {}));
      assert.equal(grab.status, 403);
      assert.deepEqual(grab.json.error!.issues!.map((i) => i.path), ['spec.quota', 'metadata.labels']);
      assert.deepEqual(await row('alice'), before, 'nothing was written');
      const renamed = await call('PUT', '/api/v1/experimenters/alice', document({ ...mine.spec, displayName: 'A. Example', sshKeys: [] }));
      assert.equal(renamed.status, 200);
      assert.deepEqual((await row('alice')).sshKeys, []);
      assert.equal((await call('PUT', '/api/v1/experimenters/bob', { ...document({ displayName: 'Bob' }), metadata: { name: 'bob' } })).status, 404);
      assert.equal((await row('bob')).displayName, 'Bob');
      // Back as it was for the tests that follow.
      assert.equal((await call('PUT', '/api/v1/experimenters/alice', document({ ...mine.spec }))).status, 200);
      await untilDesired(() => desired.experimenter('alice')?.declared.object.spec.sshKeys.length === before.sshKeys.length);
    });
  });

  describe('personal tokens', () => {
    test('a token made on the page is shown once, works, is listed, and stops working when revoked', async () => {
      const alice = await signIn('alice');
      const created = await submit(alice, '/profile/tokens', { label: 'nightly deploy', scope: 'read', expires: '30' });
      assert.equal(created.status, 201);
      const token = /<code id="new-token" class="secret">([^<]+)<\/code>/.exec(created.text)?.[1] ?? '';
      assert.ok(token.startsWith('otm_'), 'the token is on the page');
      assert.ok(hasText(created.text, 'it is shown only this once'));
      const me = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(me.status, 200);
      assert.deepEqual(await me.json(), { name: 'alice', displayName: 'Alice Example', role: 'experimenter', email: 'alice@lab.example.org', via: 'token', scope: 'read' });

      const page = await get(alice, '/profile');
      assert.ok(!page.text.includes(token), 'the token is never shown again');
      const listed = (await store.tokens('alice')).find((t) => t.label === 'nightly deploy');
      assert.ok(listed);
      assert.equal(listed.expiresAt?.getTime(), clock.now() + 30 * 86_400_000);
      assert.ok(page.text.includes(`action="/profile/tokens/${listed.id}/revoke"`));
      assert.ok(page.text.includes('<td data-label="Label">nightly deploy</td>'));
      assert.ok(page.text.includes('<td data-label="Scope">read</td>'));
      assert.ok(page.text.includes('<td data-label="Expires"><time datetime="2030-03-31T08:00:00Z">31 Mar 2030, 08:00</time></td>'));

      const revoked = await submit(alice, `/profile/tokens/${listed.id}/revoke`);
      assert.equal(revoked.status, 303);
      assert.equal(revoked.location, '/profile?done=tokenRevoked#tokens');
      assert.equal((await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status, 401);
      const actions = (await readAudit(db.pool, { objectName: 'alice', limit: 5 })).map((e) => e.action);
      assert.deepEqual(actions.slice(0, 2), ['token.revoke', 'token.create']);
    });

    test('a form with a missing label or an expiry not offered is refused at its field; another person\'s token cannot be revoked', async () => {
      const alice = await signIn('alice');
      const before = (await store.tokens('alice')).length;
      const noLabel = await submit(alice, '/profile/tokens', { label: ' ', scope: 'write', expires: '90' });
      assert.equal(noLabel.status, 422);
      assert.match(noLabel.text, /<strong>Label:<\/strong> Give the token a label/);
      assert.match(noLabel.text, /name="label"[^>]*aria-invalid="true"/);
      const forever = await submit(alice, '/profile/tokens', { label: 'x', scope: 'write', expires: '100000' });
      assert.equal(forever.status, 422);
      assert.match(forever.text, /<strong>Expires after:<\/strong>/);
      assert.equal((await store.tokens('alice')).length, before);

      const { secret, token } = await store.createToken('bob', { scope: 'read', expiresAt: null, label: 'bob\'s' }, by);
      const refused = await submit(alice, `/profile/tokens/${token.id}/revoke`);
      assert.equal(refused.status, 404);
      assert.ok(hasText(refused.text, 'That token is not one of yours, or it is already revoked.'));
      assert.equal((await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } })).status, 200, 'bob\'s token still works');
    });
  });

  describe('sessions', () => {
    test('the list marks this browser; one session or all others are signed out; another person\'s are out of reach', async () => {
      await store.revokeSessions('bob', by);
      const laptop = await signIn('bob');
      const phone = await signIn('bob');
      const tablet = await signIn('bob');
      const ids = (await store.sessions('bob')).map((s) => s.id);
      assert.equal(ids.length, 3);
      const page = await get(laptop, '/profile');
      assert.equal(page.text.match(/<tr class="current" aria-current="true">/g)?.length, 1);
      assert.equal(page.text.match(/action="\/profile\/sessions\/[0-9a-f-]+\/revoke"/g)?.length, 2, 'this session has no sign-out button in the list');
      assert.ok(page.text.includes('otm-test-browser'));

      const phoneSession = await store.session(phone.cookie(SESSION_COOKIE)!);
      const one = await submit(laptop, `/profile/sessions/${phoneSession!.id}/revoke`);
      assert.equal(one.status, 303);
      assert.equal(one.location, '/profile?done=sessionRevoked#sessions');
      assert.equal(await signedIn(phone), false);
      assert.equal(await signedIn(tablet), true);

      const alice = await signIn('alice');
      const tabletSession = await store.session(tablet.cookie(SESSION_COOKIE)!);
      const foreign = await submit(alice, `/profile/sessions/${tabletSession!.id}/revoke`);
      assert.equal(foreign.status, 404);
      assert.equal(await signedIn(tablet), true, 'alice cannot sign bob out');

      const others = await submit(laptop, '/profile/sessions/revoke-others');
      assert.equal(others.status, 303);
      assert.equal(others.location, '/profile?done=othersRevoked&n=1#sessions');
      assert.equal(await signedIn(tablet), false);
      assert.equal(await signedIn(laptop), true);
      const after = await get(laptop, others.location!);
      assert.ok(hasText(after.text, '1 other session is signed out.'));
      assert.ok(hasText(after.text, 'You are signed in nowhere else.'));
      const [entry] = await readAudit(db.pool, { objectName: 'bob', limit: 1 });
      assert.equal(entry!.action, 'sessions.revoke');
      assert.deepEqual(entry!.details, { revoked: 1, kept: (await store.session(laptop.cookie(SESSION_COOKIE)!))!.id });
    });
  });

  describe('password', () => {
    test('a wrong current password is refused and counts against the sign-in limit; mismatch and policy are named', async () => {
      const carol = await signIn('carol');
      const form = { current: PASSWORD, password: 'a brand new passphrase', confirm: 'a brand new passphrase' };
      const mismatch = await submit(carol, '/profile/password', { ...form, confirm: 'something else entirely' });
      assert.equal(mismatch.status, 422);
      assert.match(mismatch.text, /<strong>The new password again:<\/strong> The two new passwords differ/);
      const short = await submit(carol, '/profile/password', { ...form, password: 'short', confirm: 'short' });
      assert.equal(short.status, 422);
      assert.match(short.text, /<strong>New password:<\/strong> a password needs at least 12 characters/);
      for (let i = 0; i < 3; i++) {
        const wrong = await submit(carol, '/profile/password', { ...form, current: 'not the password' });
        assert.equal(wrong.status, 403);
        assert.match(wrong.text, /<strong>Current password:<\/strong> The current password is wrong; nothing was changed\./);
        assert.match(wrong.text, /name="current"[^>]*aria-invalid="true"/);
      }
      const limited = await submit(carol, '/profile/password', form);
      assert.equal(limited.status, 429, 'the account\'s limit is reached, even with the right password');
      assert.ok(hasText(limited.text, 'Too many wrong passwords; try again in 15 minutes.'));
      const signInLimited = await fetch(`${base}/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'carol', password: PASSWORD }) });
      assert.equal(signInLimited.status, 429, 'the sign-in form counts the same failures');
      assert.equal(await store.checkPassword('carol', PASSWORD), true, 'the password is unchanged');
      clock.advance(16 * MINUTE);
    });

    test('a change signs out every other session, keeps this browser signed in, and the new password works', async () => {
      const here = await signIn('alice');
      const elsewhere = await signIn('alice');
      const others = (await store.sessions('alice')).length - 1;
      const changed = await submit(here, '/profile/password', { current: PASSWORD, password: 'alice has a new phrase now', confirm: 'alice has a new phrase now' });
      assert.equal(changed.status, 303, changed.text);
      assert.equal(changed.location, `/profile?done=passwordChanged&n=${others}#password`);
      assert.equal(await signedIn(elsewhere), false, 'the other session ended');
      assert.equal(await signedIn(here), true, 'this browser goes on, with a new session');
      assert.equal((await store.sessions('alice')).length, 1);
      const page = await get(here, changed.location!);
      assert.ok(hasText(page.text, `Your password is changed. ${others} other session${others === 1 ? ' was' : 's were'} signed out.`));
      assert.equal(await store.checkPassword('alice', PASSWORD), false, 'the old password no longer works');
      const signInOld = await fetch(`${base}/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'alice', password: PASSWORD }) });
      assert.equal(signInOld.status, 401);
      await signIn('alice', 'alice has a new phrase now');
      const [entry] = (await readAudit(db.pool, { objectName: 'alice', limit: 5 })).filter((e) => e.action === 'password.set');
      assert.equal(entry!.actor, 'alice');
      assert.equal(entry!.authMethod, 'session');
    });

    test('someone who signs in only with single sign-on sees that instead of the form', async () => {
      const { secret } = await store.createSession('erin', { clientAddress: '127.0.0.1', userAgent: 'test', method: 'oidc' });
      const response = await fetch(`${base}/profile`, { headers: { cookie: `${SESSION_COOKIE}=${secret}` } });
      const text = await response.text();
      assert.equal(response.status, 200);
      assert.ok(hasText(text, 'You sign in with single sign-on; you have no password here to change.'));
      assert.ok(!text.includes('action="/profile/password"'));
      assert.ok(text.includes('<td data-label="How">single sign-on</td>'));
    });
  });
});
