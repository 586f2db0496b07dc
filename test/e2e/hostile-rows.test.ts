// Desired state from rows is untrusted: rows written as an attacker would, straight into PostgreSQL and
// through the API, against a real daemon, PostgreSQL and the Dokku simulator. Afterwards the world is
// checked: no secret of the daemon in any app's config, the foreign app untouched, no Dokku command run
// with a hostile argument, every row reported with its code, and a well-behaved row converged beside them.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../src/config.js';
import { newKeyLine } from '../../src/desired/secret-store.js';
import { Daemon } from '../../src/engine/daemon.js';
import { createLogger } from '../../src/engine/logger.js';
import { createHttpServer, daemonDeps } from '../../src/http/server.js';
import { parseConfig } from '../../src/manifest/index.js';
import { newSimRoot, readInvocations, readSimState, SIM_BIN } from '../dokku-sim/client.js';
import type { SimRoot } from '../dokku-sim/client.js';
import { waitFor } from '../support/services.js';
import { createTestDatabase } from '../store/database.js';
import type { TestDatabase } from '../store/database.js';

const TOKEN = 'hostile-rows-token-5e4d3c2b1a';
const KEY_CONTENT = 'PRIVATE-KEY-of-the-daemon-9f8e7d';
const ENV_CONTENT = 'daemon-env-secret-6c5b4a';
const BASE_DOMAIN = 'lab.example.org';
const PUBLIC_HOST = 'otm.lab.example.org';

let work: string;
let sim: SimRoot;
let db: TestDatabase;
let daemon: Daemon;
let app: FastifyInstance;
let keyFile: string;
/** Invocations the test itself made before the daemon started. */
let setupCalls: number;
/** The foreign app's config as its owner left it. */
let foreignConfig: unknown;

const spec = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  owner: 'mallory', otree: { adminPassword: { value: 'mallory-own-password' } }, source: { image: { ref: 'otm-standin/otree:1' } }, ...extra,
});

/** What a lab's own UI (or an attacker with the database password) writes, bypassing the API. */
async function insertRow(name: string, rowSpec: unknown): Promise<void> {
  await db.pool.query('INSERT INTO otm.instances (name, spec, created_by, updated_by) VALUES ($1, $2, $3, $3)', [name, JSON.stringify(rowSpec), 'ui']);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'otm-hostile-'));
  sim = await newSimRoot({ version: '0.38.27', docker: '0', prefix: 'otm-hostile-sim-' });
  db = await createTestDatabase();
  keyFile = join(work, 'id_ed25519');
  await writeFile(keyFile, `${KEY_CONTENT}\n`, { mode: 0o600 });
  const manifestsDir = join(work, 'manifests');
  await mkdir(manifestsDir);
  const tokenFile = join(work, 'token');
  await writeFile(tokenFile, TOKEN, { mode: 0o600 });
  const secretKeyFile = join(work, 'secret-key');
  await writeFile(secretKeyFile, `${newKeyLine('k1')}\n`, { mode: 0o600 });
  const { config, issues } = parseConfig(JSON.stringify({
    hosts: [{ name: 'local', transport: { type: 'local', dokkuPath: SIM_BIN } }],
    manifestsDir, stateDir: join(work, 'state'), backupDir: join(work, 'backups'),
    postgresUrl: db.url, baseDomain: BASE_DOMAIN, secrets: { keyFile: secretKeyFile },
    http: { listen: '127.0.0.1:0', tokenFile, publicHost: PUBLIC_HOST },
    prune: true,
    queue: { concurrency: 2, mutationsPerSecond: 50, burst: 50, backoffBaseMs: 100, backoffMaxMs: 1000 },
    resync: { schedule: '0 0 0 1 1 *', jitterPercent: 0 },
    log: { level: 'error' },
  }), 'hostile rows configuration');
  assert.ok(config, JSON.stringify(issues));
  // A foreign app someone else runs on the same host, which a row will try to adopt.
  assert.equal((await sim.run(['apps:create', 'foreign-app'])).code, 0);
  assert.equal((await sim.run(['config:set', '--no-restart', 'foreign-app', 'OWNER=someone-else'])).code, 0);
  setupCalls = (await readInvocations(sim.root)).length;
  foreignConfig = (await readSimState(sim.root)).apps['foreign-app']?.config;
  daemon = new Daemon({
    config: config as unknown as Config,
    logger: createLogger({ level: 'error' }),
    env: { ...process.env, DAEMON_SECRET: ENV_CONTENT },
    dokkuEnv: sim.env,
    docker: 'off',
  });
  await daemon.start();
  app = createHttpServer(daemonDeps(daemon, TOKEN));
  await db.pool.query(`INSERT INTO otm.experimenters (name, spec, created_by, updated_by) VALUES ('mallory', '{"displayName": "Mallory", "quota": {"instances": 20, "webProcesses": 20}}', 'ui', 'ui')`);
});

after(async () => {
  await app?.close();
  await daemon?.stop(2_000);
  await db?.drop();
  await sim?.destroy();
  await rm(work, { recursive: true, force: true });
});

/** Each hostile row, the field it is refused on and the code. */
const hostile = (): Array<[string, Record<string, unknown>, string, string]> => [
  ['steal-key', spec({ otree: { adminPassword: { fromFile: keyFile } } }), 'spec.otree.adminPassword.fromFile', 'ROW_SECRET_SOURCE'],
  ['steal-env', spec({ otree: { adminPassword: { value: 'x' }, restKey: { fromEnv: 'DAEMON_SECRET' } } }), 'spec.otree.restKey.fromEnv', 'ROW_SECRET_SOURCE'],
  ['foreign-app', spec({ adopt: true }), 'spec.adopt', 'ROW_ADOPT'],
  ['local-sync', spec({ source: { git: { url: '/home/dokku/other-app', ref: 'main' } } }), 'spec.source.git.url', 'ROW_GIT_URL'],
  ['gopher-archive', spec({ source: { archive: { path: 'gopher://evil.example/x.tar' } } }), 'spec.source.archive.path', 'ROW_ARCHIVE_PATH'],
  ['flag-ref', spec({ source: { git: { url: 'https://github.com/lab/x.git', ref: '--trace' } } }), 'spec.source.git.ref', 'ARGUMENT_INVALID'],
  ['flag-image', spec({ source: { image: { ref: '--force' } } }), 'spec.source.image.ref', 'ARGUMENT_INVALID'],
  ['token-url', spec({ source: { git: { url: 'https://ghp_secret123@github.com/lab/x.git', ref: 'main' } } }), 'spec.source.git.url', 'ROW_GIT_CREDENTIALS'],
  ['manager-domain', spec({ domains: [PUBLIC_HOST] }), 'spec.domains[0]', 'ROW_DOMAIN_RESERVED'],
  ['bank-domain', spec({ domains: ['login.bank.example.com'] }), 'spec.domains[0]', 'ROW_DOMAIN_NOT_ALLOWED'],
  ['proto-env', JSON.parse('{"owner": "mallory", "otree": {"adminPassword": {"value": "x"}}, "env": {"__proto__": "polluted"}}') as Record<string, unknown>, 'spec.env.__proto__', 'ENV_KEY_INVALID'],
];

test('hostile rows are refused by the API with their code and change nothing', async () => {
  for (const [name, rowSpec, path, code] of hostile()) {
    const body = { apiVersion: 'otree-manager/v1', kind: 'OTreeInstance', metadata: { name }, spec: rowSpec };
    const reply = await app.inject({ method: 'PUT', url: `/api/v1/instances/${name}`, headers: { authorization: `Bearer ${TOKEN}` }, payload: body });
    // __proto__ never survives fastify's body parser: it is refused before the schema sees it.
    assert.ok(reply.statusCode === 422 || (name === 'proto-env' && reply.statusCode === 400), `${name}: ${reply.statusCode} ${reply.body}`);
    if (reply.statusCode === 422) assert.ok(reply.json().error.issues.some((i: { path: string; code: string }) => i.path === path && i.code === code), `${name}: ${reply.body}`);
    assert.ok(!reply.body.includes(KEY_CONTENT) && !reply.body.includes('ghp_secret123'));
  }
  const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM otm.instances');
  assert.equal(rows[0].n, 0, 'nothing was written');
});

test('hostile rows written straight into PostgreSQL are reported and never applied; a good row converges', async () => {
  for (const [name, rowSpec] of hostile()) await insertRow(name, rowSpec);
  await insertRow('good-study', spec({ domains: [`good.${BASE_DOMAIN}`] }));

  for (const [name, , path, code] of hostile()) {
    await waitFor(`${name} refused with ${code}`, async () => {
      const { rows } = await db.pool.query<{ valid: boolean; issues: { path: string; code: string }[] }>(`SELECT valid, issues FROM otm.validation WHERE kind = 'instances' AND name = $1`, [name]);
      return rows[0] && !rows[0].valid && rows[0].issues.some((i) => i.path === path && i.code === code) ? true : undefined;
    });
  }
  await waitFor('good-study running', async () => ((await daemon.status.get('good-study'))?.phase === 'Running' ? true : undefined), 60_000);
  // Ask for a plan of everything too: nothing in it may carry a hostile value or a secret.
  const plans = await app.inject({ method: 'GET', url: '/api/v1/plan', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(plans.statusCode, 200);

  const state = await readSimState(sim.root);
  const configs = JSON.stringify(Object.values(state.apps).map((a) => a.config));
  assert.ok(!configs.includes(KEY_CONTENT), 'the daemon\'s key is in no app\'s config');
  assert.ok(!configs.includes(ENV_CONTENT), 'the daemon\'s environment is in no app\'s config');
  assert.deepEqual(Object.keys(state.apps).sort(), ['foreign-app', 'good-study'], 'only the good row made an app');
  assert.deepEqual(state.apps['foreign-app']?.config, foreignConfig, 'the foreign app is untouched');
  assert.equal((foreignConfig as Record<string, string>).OWNER, 'someone-else');

  const invocations = (await readInvocations(sim.root)).slice(setupCalls);
  const names = hostile().map(([name]) => name);
  for (const call of invocations.filter((i) => i.mutating)) {
    assert.ok(!call.argv.some((word) => names.includes(word)), `no change was made for a hostile row: ${call.argv.join(' ')}`);
  }
  const argv = invocations.flatMap((i) => i.argv);
  for (const word of ['--trace', '/home/dokku/other-app', 'gopher://evil.example/x.tar', 'ghp_secret123', PUBLIC_HOST, 'login.bank.example.com']) {
    assert.ok(!argv.some((a) => a.includes(word)), `no Dokku command carried ${word}`);
  }
  assert.ok(!plans.body.includes(KEY_CONTENT) && !plans.body.includes('ghp_secret123'));
});

test('the API refuses what only fits nowhere else either (owner, quota, domains) before it stores a secret or a row', async () => {
  await db.pool.query(`INSERT INTO otm.experimenters (name, spec, created_by, updated_by) VALUES ('tiny', '{"displayName": "Tiny", "quota": {"instances": 1, "webProcesses": 1}}', 'ui', 'ui')`);
  await waitFor('tiny declared', async () => (daemon.desired.experimenter('tiny') ? true : undefined));
  const put = (name: string, rowSpec: Record<string, unknown>) => app.inject({
    method: 'PUT', url: `/api/v1/instances/${name}`, headers: { authorization: `Bearer ${TOKEN}` },
    payload: { apiVersion: 'otree-manager/v1', kind: 'OTreeInstance', metadata: { name }, spec: rowSpec },
  });
  const refusedWith = async (name: string, rowSpec: Record<string, unknown>, path: string, code: string) => {
    const reply = await put(name, rowSpec);
    assert.equal(reply.statusCode, 422, `${name}: ${reply.body}`);
    assert.ok(reply.json().error.issues.some((i: { path: string; code: string }) => i.path === path && i.code === code), `${name}: ${reply.body}`);
  };

  await refusedWith('ghost-study', spec({ owner: 'ghost' }), 'spec.owner', 'ROW_OWNER_UNDECLARED');
  await refusedWith('copycat', spec({ domains: [`good.${BASE_DOMAIN}`] }), 'spec.domains[0]', 'DOMAIN_DUPLICATE');
  await refusedWith('squatter', spec({ domains: [`good-study.${BASE_DOMAIN}`] }), 'spec.domains[0]', 'ROW_DOMAIN_RESERVED');
  assert.equal((await put('tiny-one', spec({ owner: 'tiny' }))).statusCode, 200);
  await waitFor('tiny-one declared', async () => (daemon.desired.instance('tiny-one') ? true : undefined));
  await refusedWith('tiny-two', spec({ owner: 'tiny' }), 'spec.owner', 'ROW_QUOTA_EXCEEDED');

  const refused = ['ghost-study', 'copycat', 'squatter', 'tiny-two'];
  const { rows } = await db.pool.query('SELECT name FROM otm.instances WHERE name = ANY($1)', [refused]);
  assert.deepEqual(rows, [], 'no refused row was written');
  const secrets = await db.pool.query('SELECT DISTINCT instance FROM otm.secrets ORDER BY instance');
  assert.deepEqual(secrets.rows.map((r: { instance: string }) => r.instance), ['tiny-one'], 'only the accepted instance\'s inline password was stored');
});
