// Secrets through the HTTP API of a real daemon (Dokku simulator, private PostgreSQL, real HTTP): write
// only, encrypted at rest, inline values in an instance PUT moved into the store, reveal audited, and a
// password change that restarts the app exactly once and never resets its database.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../src/config.js';
import { newKeyLine } from '../../src/desired/secret-store.js';
import { Daemon } from '../../src/engine/daemon.js';
import { createLogger } from '../../src/engine/logger.js';
import type { InstanceStatus } from '../../src/engine/status.js';
import { createHttpServer, daemonDeps } from '../../src/http/server.js';
import { parseConfig } from '../../src/manifest/index.js';
import { RESETDB_GENERATION_KEY } from '../../src/reconcile/config.js';
import { newSimRoot, readInvocations, SIM_BIN } from '../dokku-sim/client.js';
import type { SimRoot } from '../dokku-sim/client.js';
import { inSync, restartsOf, settle } from '../e2e/harness.js';
import { waitFor } from '../support/services.js';
import { createTestDatabase } from '../store/database.js';
import type { TestDatabase } from '../store/database.js';

const TOKEN = 'secrets-test-token-7e2b9c4d1a';
const FIRST = 'first-password-Hq72mZp';
const SECOND = 'second-password-Lw58tRx';
const REST_KEY = 'rest-key-Pn41vBd';
const PASSWORD_ENV = 'OTM_SECRETS_TEST_PASSWORD';
const SECRETS = [FIRST, SECOND, REST_KEY, TOKEN];

const FILE_MANIFESTS = `apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: dana }
spec: { displayName: Dana }
---
apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: file-inst }
spec:
  owner: dana
  otree: { adminPassword: { fromEnv: ${PASSWORD_ENV} } }
`;

interface Reply {
  status: number;
  text: string;
  // Each test reads the fields of the endpoint it called.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** Every body the API sent back except the reveals', searched for secrets at the end. */
const bodies: string[] = [];
let work: string;
let sim: SimRoot;
let db: TestDatabase;
let daemon: Daemon;
let app: FastifyInstance;
let base: string;

async function call(method: string, path: string, options: { token?: string | null; body?: unknown; author?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token !== null) headers.authorization = `Bearer ${options.token ?? TOKEN}`;
  if (options.author) headers['x-otm-author'] = options.author;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
  const text = await response.text();
  if (!path.endsWith('/reveal')) bodies.push(text);
  return { status: response.status, text, json: text.startsWith('{') ? JSON.parse(text) : {} };
}

function instance(name: string, otree: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'otree-manager/v1', kind: 'OTreeInstance', metadata: { name }, spec: { owner: 'dana', otree } };
}

async function simConfig(appName: string, key: string): Promise<string> {
  return (await sim.run(['config:get', appName, key])).stdout.trim();
}

async function databaseText(): Promise<string> {
  const { rows } = await db.pool.query<{ dump: string }>(`SELECT concat_ws(' ',
      (SELECT string_agg(i::text, ' ') FROM otm.instances i), (SELECT string_agg(v::text, ' ') FROM otm.validation v),
      (SELECT string_agg(s::text, ' ') FROM otm.secrets s), (SELECT string_agg(a::text, ' ') FROM otm.audit_log a),
      (SELECT string_agg(e::text, ' ') FROM otm.instance_events e), (SELECT string_agg(t::text, ' ') FROM otm.instance_status t)) AS dump`);
  return rows[0]?.dump ?? '';
}

const status = (name: string): Promise<InstanceStatus | undefined> => daemon.status.get(name);

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'otm-secrets-http-'));
  sim = await newSimRoot({ version: '0.38.27', docker: '0', prefix: 'otm-secrets-sim-' });
  db = await createTestDatabase();
  const manifestsDir = join(work, 'manifests');
  await mkdir(manifestsDir);
  await writeFile(join(manifestsDir, 'lab.yaml'), FILE_MANIFESTS);
  const tokenFile = join(work, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const keyFile = join(work, 'secret-key');
  await writeFile(keyFile, `${newKeyLine('k1')}\n`, { mode: 0o640 });
  const { config, issues } = parseConfig(JSON.stringify({
    hosts: [{ name: 'local', transport: { type: 'local', dokkuPath: SIM_BIN } }],
    manifestsDir,
    stateDir: join(work, 'state'),
    backupDir: join(work, 'backups'),
    postgresUrl: db.url,
    http: { listen: '127.0.0.1:0', tokenFile },
    secrets: { keyFile },
    queue: { concurrency: 2, mutationsPerSecond: 50, burst: 50, backoffBaseMs: 100, backoffMaxMs: 1000 },
    resync: { schedule: '0 0 0 1 1 *', jitterPercent: 0 },
    log: { level: 'error' },
  }), 'secrets test configuration');
  assert.ok(config, JSON.stringify(issues));
  daemon = new Daemon({
    config: config as unknown as Config,
    logger: createLogger({ level: 'error' }),
    env: { ...process.env, [PASSWORD_ENV]: 'file-instance-password' },
    dokkuEnv: sim.env,
    docker: 'off',
  });
  app = createHttpServer(daemonDeps(daemon, TOKEN));
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  await daemon.start();
});

after(async () => {
  await app?.close();
  await daemon?.stop(2_000);
  await db?.drop();
  await sim?.destroy();
  await rm(work, { recursive: true, force: true });
});

describe('secrets through the API', () => {
  test('every secret route needs the bearer token', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/v1/instances/pw-inst/secrets'],
      ['PUT', '/api/v1/instances/pw-inst/secrets/adminPassword', { value: FIRST }],
      ['DELETE', '/api/v1/instances/pw-inst/secrets/adminPassword'],
      ['POST', '/api/v1/instances/pw-inst/secrets/adminPassword/reveal'],
    ];
    for (const [method, path, body] of routes) {
      for (const token of [null, 'wrong-token-00000000000']) {
        const reply = await call(method, path, { token, ...(body !== undefined ? { body } : {}) });
        assert.equal(reply.status, 401, `${method} ${path}`);
      }
    }
    assert.equal(Number((await db.pool.query('SELECT count(*) AS n FROM otm.secrets')).rows[0].n), 0);
  });

  test('an instance PUT with inline values stores them encrypted and writes secretRefs into the row', async () => {
    const put = await call('PUT', '/api/v1/instances/pw-inst', {
      body: instance('pw-inst', { adminPassword: { value: FIRST }, restKey: { value: REST_KEY } }), author: 'dana@lab.example.org',
    });
    assert.equal(put.status, 200, put.text);
    const { rows } = await db.pool.query('SELECT spec FROM otm.instances WHERE name = $1', ['pw-inst']);
    assert.deepEqual(rows[0].spec.otree, { adminPassword: { secretRef: 'adminPassword' }, restKey: { secretRef: 'restKey' } });
    const stored = await db.pool.query('SELECT name, updated_by FROM otm.secrets WHERE instance = $1 ORDER BY name', ['pw-inst']);
    assert.deepEqual(stored.rows, [{ name: 'adminPassword', updated_by: 'dana@lab.example.org' }, { name: 'restKey', updated_by: 'dana@lab.example.org' }]);

    // The daemon resolves them from the store: the app gets the values.
    await settle(daemon, ['pw-inst']);
    assert.equal(await simConfig('pw-inst', 'OTREE_ADMIN_PASSWORD'), FIRST);
    assert.equal(await simConfig('pw-inst', 'OTREE_REST_KEY'), REST_KEY);
    // Reads show the reference, never a value.
    const view = await call('GET', '/api/v1/instances/pw-inst');
    assert.deepEqual(view.json.object.spec.otree.adminPassword, { secretRef: 'adminPassword' });
    const listed = await call('GET', '/api/v1/instances/pw-inst/secrets');
    assert.deepEqual(listed.json.items.map((i: { secret: string }) => i.secret), ['adminPassword', 'restKey']);

    // At rest: no plaintext anywhere in the manager's tables.
    const text = await databaseText();
    for (const secret of [FIRST, REST_KEY]) assert.ok(!text.includes(secret), 'plaintext in the database');
  });

  test('fromFile and fromEnv in an API body are refused with 422 naming the field; nothing is written', async () => {
    for (const ref of [{ fromFile: '/etc/otree-manager/ssh/id_ed25519' }, { fromEnv: 'OTM_DATABASE_PASSWORD' }]) {
      const reply = await call('PUT', '/api/v1/instances/hostile', { body: instance('hostile', { adminPassword: { value: FIRST }, restKey: ref }) });
      assert.equal(reply.status, 422, reply.text);
      assert.equal(reply.json.error.code, 'Invalid');
      assert.deepEqual(reply.json.error.issues.map((i: { path: string; code: string }) => [i.path, i.code]), [[`spec.otree.restKey.${Object.keys(ref)[0]}`, 'ROW_SECRET_SOURCE']]);
    }
    assert.equal((await db.pool.query("SELECT count(*) AS n FROM otm.instances WHERE name = 'hostile'")).rows[0].n, '0');
    assert.equal((await db.pool.query("SELECT count(*) AS n FROM otm.secrets WHERE instance = 'hostile'")).rows[0].n, '0');
  });

  test('a password changed through the API restarts the app exactly once and never resets its database', async () => {
    // Deployed, so that a restart means something.
    assert.equal((await sim.run(['git:from-image', 'pw-inst', 'otm-standin/otree:1'])).code, 0);
    daemon.controller.appChanged('local', 'pw-inst');
    await settle(daemon, ['pw-inst'], (s) => inSync(s) && s.phase === 'Running');
    const from = (await readInvocations(sim.root)).length;
    const done = (await status('pw-inst'))!.done;
    const resetGeneration = await simConfig('pw-inst', RESETDB_GENERATION_KEY);

    const put = await call('PUT', '/api/v1/instances/pw-inst/secrets/adminPassword', { body: { value: SECOND }, author: 'dana' });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(Object.keys(put.json).sort(), ['name', 'secret', 'updatedAt']);
    assert.equal(put.json.name, 'pw-inst');
    assert.equal(put.json.secret, 'adminPassword');
    assert.ok(!Number.isNaN(Date.parse(put.json.updatedAt)));

    // The change reaches the daemon through the notification alone (the row did not change).
    await waitFor('the new password on the app', async () => ((await simConfig('pw-inst', 'OTREE_ADMIN_PASSWORD')) === SECOND ? true : undefined), 30_000);
    await settle(daemon, ['pw-inst'], (s) => inSync(s) && s.phase === 'Running');
    // A further full pass finds nothing to do.
    await daemon.controller.resync(1);
    await settle(daemon, ['pw-inst'], (s) => inSync(s) && s.phase === 'Running');

    const calls = (await readInvocations(sim.root)).slice(from);
    assert.equal(restartsOf(calls, 'pw-inst').length, 1, JSON.stringify(calls.filter((c) => c.mutating).map((c) => c.argv.slice(0, 3))));
    assert.equal(calls.filter((c) => c.argv.some((a) => a.includes('resetdb'))).length, 0, 'no database reset');
    assert.deepEqual((await status('pw-inst'))!.done, done);
    assert.equal(await simConfig('pw-inst', RESETDB_GENERATION_KEY), resetGeneration);
  });

  test('generate makes a strong random secret; reveal answers it and is audited; delete is audited too', async () => {
    const put = await call('PUT', '/api/v1/instances/pw-inst/secrets/restKey', { body: { generate: true }, author: 'erin' });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.value, undefined);
    const reveal = await call('POST', '/api/v1/instances/pw-inst/secrets/restKey/reveal', { author: 'erin' });
    assert.equal(reveal.status, 200, reveal.text);
    const generated = reveal.json.value as string;
    assert.match(generated, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!bodies.some((body) => body.includes(generated)), 'the generated value only in the reveal');
    await waitFor('the generated key on the app', async () => ((await simConfig('pw-inst', 'OTREE_REST_KEY')) === generated ? true : undefined), 30_000);

    // Another secret name, stored but not used by the spec: reveal and delete.
    assert.equal((await call('PUT', '/api/v1/instances/pw-inst/secrets/spare', { body: { value: FIRST } })).status, 200);
    assert.equal((await call('DELETE', '/api/v1/instances/pw-inst/secrets/spare')).status, 200);
    assert.equal((await call('DELETE', '/api/v1/instances/pw-inst/secrets/spare')).status, 404);
    assert.equal((await call('POST', '/api/v1/instances/pw-inst/secrets/spare/reveal')).status, 404);

    const { rows } = await db.pool.query(`SELECT actor, action, object_name, client_address, auth_method, details FROM otm.audit_log
      WHERE object_kind = 'secret' ORDER BY id`);
    const summary = rows.map((r) => `${r.actor} ${r.action} ${r.object_name} ${r.auth_method}`);
    assert.deepEqual(summary, [
      'dana@lab.example.org secret.set pw-inst/adminPassword admin-token',
      'dana@lab.example.org secret.set pw-inst/restKey admin-token',
      'dana secret.set pw-inst/adminPassword admin-token',
      'erin secret.set pw-inst/restKey admin-token',
      'erin secret.reveal pw-inst/restKey admin-token',
      'api secret.set pw-inst/spare admin-token',
      'api secret.delete pw-inst/spare admin-token',
    ]);
    assert.ok(rows.every((r) => r.client_address === '127.0.0.1'));
    assert.equal(rows[3].details.generated, true);
    assert.ok(!JSON.stringify(rows).includes(generated));
  });

  test('bad bodies, manifest-file instances and a secretRef that is not set get clear answers', async () => {
    for (const body of [{}, { value: '' }, { value: 7 }, { generate: false }, { value: FIRST, generate: true }]) {
      const reply = await call('PUT', '/api/v1/instances/pw-inst/secrets/adminPassword', { body });
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.ok(!reply.text.includes(FIRST));
    }
    assert.equal((await call('PUT', '/api/v1/instances/pw-inst/secrets/9bad', { body: { value: FIRST } })).status, 400);
    for (const [method, path, body] of [
      ['PUT', '/api/v1/instances/file-inst/secrets/adminPassword', { value: FIRST }],
      ['POST', '/api/v1/instances/file-inst/secrets/adminPassword/reveal'],
      ['DELETE', '/api/v1/instances/file-inst/secrets/adminPassword'],
    ] as const) {
      const reply = await call(method, path, body ? { body } : {});
      assert.equal(reply.status, 409, `${method} ${path}`);
      assert.match(reply.json.error.message, /lab\.yaml/);
    }

    const put = await call('PUT', '/api/v1/instances/unset-inst', { body: instance('unset-inst', { adminPassword: { secretRef: 'adminPassword' } }) });
    assert.equal(put.status, 200, put.text);
    const failed = await waitFor('the missing secret to be reported', async () => {
      const s = await status('unset-inst');
      return s?.lastError ? s : undefined;
    }, 30_000);
    assert.match(JSON.stringify(failed.lastError), /the secret adminPassword of instance unset-inst is not set yet; set it with PUT \/api\/v1\/instances\/unset-inst\/secrets\/adminPassword/);
    // Setting it is enough: the notification brings the instance back.
    assert.equal((await call('PUT', '/api/v1/instances/unset-inst/secrets/adminPassword', { body: { generate: true } })).status, 200);
    await settle(daemon, ['unset-inst']);
    assert.equal((await simConfig('unset-inst', 'OTREE_ADMIN_PASSWORD')).length, 43);
  });

  test('no response other than a reveal carried a secret', () => {
    for (const body of bodies) for (const secret of SECRETS) assert.ok(!body.includes(secret), `a response contains a secret: ${body.slice(0, 200)}`);
  });
});
