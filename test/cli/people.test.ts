// `otm user set-password` and `otm token create` as a user runs them, against a private database
// named by a configuration file: the password from stdin works, the token alone on stdout works with
// its scope, and names that are not declared Experimenters are refused.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { systemClock } from '../../src/engine/clock.js';
import { parseDuration, readPasswordLine } from '../../src/cli/commands/people.js';
import { PeopleStore, declaredExperimenter } from '../../src/web/people.js';
import { migrate } from '../../src/store/migrate.js';
import { createTestDatabase } from '../store/database.js';
import type { TestDatabase } from '../store/database.js';
import { otm } from './support.js';

let db: TestDatabase;
let work: string;
let configFile: string;
let store: PeopleStore;

const EXPERIMENTER = (name: string) => `apiVersion: otree-manager/v1
kind: Experimenter
metadata:
  name: ${name}
spec:
  displayName: ${name}
  role: admin
`;

before(async () => {
  db = await createTestDatabase();
  await migrate(db.pool);
  work = await mkdtemp(path.join(tmpdir(), 'otm-cli-people-'));
  await mkdir(path.join(work, 'manifests'));
  await writeFile(path.join(work, 'manifests', 'people.yaml'), EXPERIMENTER('ada'));
  configFile = path.join(work, 'config.yaml');
  await writeFile(configFile, `postgresUrl: ${db.url}\nmanifestsDir: manifests\nstateDir: state\nbackupDir: backups\n`);
  await db.pool.query(`INSERT INTO otm.experimenters (name, spec, labels, created_by, updated_by)
    VALUES ('rowan', $1, '{}', 'test', 'test')`, [{ displayName: 'Rowan', role: 'experimenter', sshKeys: [], quota: { instances: 1, webProcesses: 1 } }]);
  store = new PeopleStore({ pool: db.pool, clock: systemClock, idleTimeoutMs: 60_000, absoluteTimeoutMs: 3_600_000 });
});
after(async () => {
  await db.drop();
  await rm(work, { recursive: true, force: true });
});

describe('otm user set-password', () => {
  it('sets the password read from stdin for a person of the manifests', async () => {
    const run = await otm(['user', 'set-password', 'ada', '--config', configFile], { input: 'a long enough passphrase\n' });
    assert.equal(run.stderr, 'password set for ada\n');
    assert.equal(run.code, 0);
    assert.equal(run.stdout, '');
    assert.equal(await store.checkPassword('ada', 'a long enough passphrase'), true, 'the trailing newline is not part of it');
    const { rows } = await db.pool.query("SELECT auth_method FROM otm.audit_log WHERE action = 'password.set' AND object_name = 'ada'");
    assert.deepEqual(rows, [{ auth_method: 'local' }]);
  });

  it('sets it for a person of the rows, from a last line without a newline', async () => {
    const run = await otm(['user', 'set-password', 'rowan', '--config', configFile], { input: 'another long passphrase' });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await store.checkPassword('rowan', 'another long passphrase'), true);
  });

  it('refuses an undeclared name, an empty stdin and a password against the policy, storing nothing', async () => {
    const unknown = await otm(['user', 'set-password', 'mallory', '--config', configFile], { input: 'a long enough passphrase\n' });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /mallory is not a declared Experimenter/);
    const empty = await otm(['user', 'set-password', 'ada', '--config', configFile], { input: '' });
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /no password on stdin/);
    const short = await otm(['user', 'set-password', 'ada', '--config', configFile], { input: 'short\n' });
    assert.equal(short.code, 1);
    assert.match(short.stderr, /at least 12 characters/);
    assert.ok(!short.stderr.includes('short\n') && !short.stderr.includes(': short'));
    assert.equal(await store.hasPassword('mallory'), false);
    assert.equal(await store.checkPassword('ada', 'a long enough passphrase'), true, 'unchanged');
  });

  it('needs postgresUrl in the configuration', async () => {
    const bare = path.join(work, 'bare.yaml');
    await writeFile(bare, 'manifestsDir: manifests\n');
    const run = await otm(['user', 'set-password', 'ada', '--config', bare], { input: 'a long enough passphrase\n' });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /sets no postgresUrl/);
  });
});

describe('otm token create', () => {
  it('prints only the token on stdout, and the token works with its scope', async () => {
    const run = await otm(['token', 'create', '--user', 'ada', '--scope', 'write', '--expires', '30d', '--label', 'ci', '--config', configFile]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^otm_[A-Za-z0-9_-]{43}\n$/);
    assert.match(run.stderr, /^token [0-9a-f-]{36} for ada: scope write, expires \S+, label "ci"; it is shown only now\n$/);
    assert.ok(!run.stderr.includes(run.stdout.trim()));
    const token = await store.token(run.stdout.trim());
    assert.equal(token?.person, 'ada');
    assert.equal(token?.scope, 'write');
    assert.equal(token?.label, 'ci');
    const days = (token!.expiresAt!.getTime() - token!.createdAt.getTime()) / 86_400_000;
    assert.ok(Math.abs(days - 30) < 0.01, `expires 30 days after creation, not ${days}`);
  });

  it('defaults to read for 90 days, allows never, and refuses an undeclared person', async () => {
    const plain = await otm(['token', 'create', '--user', 'rowan', '--config', configFile]);
    assert.equal(plain.code, 0, plain.stderr);
    const token = await store.token(plain.stdout.trim());
    assert.equal(token?.scope, 'read');
    assert.equal(Math.round((token!.expiresAt!.getTime() - token!.createdAt.getTime()) / 86_400_000), 90);
    const never = await otm(['token', 'create', '--user', 'rowan', '--expires', 'never', '--config', configFile]);
    assert.equal(never.code, 0, never.stderr);
    assert.equal((await store.token(never.stdout.trim()))?.expiresAt, null);
    const unknown = await otm(['token', 'create', '--user', 'mallory', '--config', configFile]);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stdout, '');
    const badScope = await otm(['token', 'create', '--user', 'ada', '--scope', 'admin', '--config', configFile]);
    assert.equal(badScope.code, 2);
    const badExpiry = await otm(['token', 'create', '--user', 'ada', '--expires', '3 weeks', '--config', configFile]);
    assert.equal(badExpiry.code, 1);
    assert.match(badExpiry.stderr, /is not a duration/);
  });
});

describe('helpers', () => {
  it('parses durations', () => {
    assert.equal(parseDuration('90m'), 90 * 60_000);
    assert.equal(parseDuration('12h'), 12 * 3_600_000);
    assert.equal(parseDuration('30d'), 30 * 86_400_000);
    assert.equal(parseDuration('never'), null);
    for (const bad of ['0d', '30', 'd', '1w', '-1d', '1.5h', '']) assert.throws(() => parseDuration(bad), /not a duration/, bad);
  });

  it('reads one line of stdin', async () => {
    assert.equal(await readPasswordLine(['pass', 'word\r\n']), 'password');
    await assert.rejects(readPasswordLine(['one\ntwo\n']), /more than one line/);
    await assert.rejects(readPasswordLine(['\n']), /no password on stdin/);
    await assert.rejects(readPasswordLine(['x'.repeat(9000)]), /more than 8192 bytes/);
  });

  it('finds people in the manifests and in valid rows, not deleted or invalid rows', async () => {
    const { config } = await loadConfig({ path: configFile });
    const found = async (name: string) => (await declaredExperimenter(config, db.pool, name))?.spec.displayName;
    assert.equal(await found('ada'), 'ada');
    assert.equal(await found('rowan'), 'Rowan');
    assert.equal(await found('mallory'), undefined);
    await db.pool.query(`INSERT INTO otm.experimenters (name, spec, labels, created_by, updated_by, deleted_at)
      VALUES ('gone', $1, '{}', 'test', 'test', now())`, [{ displayName: 'Gone', role: 'experimenter' }]);
    assert.equal(await found('gone'), undefined);
    await db.pool.query(`INSERT INTO otm.experimenters (name, spec, labels, created_by, updated_by)
      VALUES ('broken', '{}', '{}', 'test', 'test')`);
    assert.equal(await found('broken'), undefined);
  });
});
