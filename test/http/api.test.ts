// The HTTP surface against a real daemon: the Dokku simulator (no containers), a private PostgreSQL
// database, a manifests directory, and real HTTP over 127.0.0.1. Every response body and the metrics
// are kept and searched for the secrets at the end.
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
import { createHttpServer, daemonDeps, routesOf } from '../../src/http/server.js';
import type { HttpDeps } from '../../src/http/server.js';
import type { ErrorBody } from '../../src/http/errors.js';
import type { Readiness } from '../../src/http/readiness.js';
import type { ListItem, ObjectView, PlanView } from '../../src/http/views.js';
import { parseConfig } from '../../src/manifest/index.js';
import type { ExperimenterSpec, OTreeInstanceSpec } from '../../src/manifest/index.js';
import { RESETDB_GENERATION_KEY, RESTART_GENERATION_KEY } from '../../src/reconcile/config.js';
import { newSimRoot, readInvocations, SIM_BIN } from '../dokku-sim/client.js';
import type { Invocation, SimRoot } from '../dokku-sim/client.js';
import { waitFor } from '../support/services.js';
import { createTestDatabase } from '../store/database.js';
import type { TestDatabase } from '../store/database.js';
import { parsePrometheusText } from './prom-text.js';

const TOKEN = 'test-token-4f1c2a9e8b7d6c5b';
const VALUE_SECRET = 'inline-secret-Zq81xPw';
const ENV_VALUE_SECRET = 'env-value-secret-Jm27qLs';
const ENV_SECRET = 'env-secret-Kd03mVr';
const PASSWORD_ENV = 'OTM_HTTP_TEST_ADMIN_PASSWORD';
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGEaT4vt3NAcu8+ICLYtT0vOxl5v7beL6875muzZG4N6 dana@lab';
const SECRETS = [VALUE_SECRET, ENV_SECRET, ENV_VALUE_SECRET, TOKEN];

const FILE_MANIFESTS = `apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: dana }
spec: { displayName: Dana Example, sshKeys: ["${SSH_KEY}"] }
---
apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: file-inst, labels: { course: econ101 } }
spec:
  owner: dana
  otree: { adminPassword: { fromEnv: ${PASSWORD_ENV} } }
`;

function rowInstance(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'otree-manager/v1',
    kind: 'OTreeInstance',
    metadata: { name, labels: { course: 'econ102' } },
    spec: { owner: 'dana', otree: { adminPassword: { value: VALUE_SECRET } }, env: { SENTRY_DSN: ENV_VALUE_SECRET }, ...overrides },
  };
}

/** Every response shape at once: each test reads the fields of the endpoint it called. */
type Body = ErrorBody & ObjectView & Readiness & { items: ListItem[]; plans: PlanView[] };

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: Body;
}

/** Every body the API sent back, searched for secrets at the end. */
const bodies: string[] = [];

let work: string;
let sim: SimRoot;
let db: TestDatabase;
let daemon: Daemon;
let app: FastifyInstance;
let base: string;

/** Sends the daemon's token unless `token` says otherwise (`null`: no Authorization header). */
async function call(method: string, path: string, options: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null && headers.authorization === undefined) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.raw !== undefined || options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = options.raw ?? JSON.stringify(options.body);
  }
  const response = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  bodies.push(text);
  const json = (response.headers.get('content-type') ?? '').startsWith('application/json') ? JSON.parse(text) as Body : {} as Body;
  return { status: response.status, headers: response.headers, text, json };
}

interface InstanceRow {
  spec: { otree: { adminPassword: { value?: string; secretRef?: string } }; restart: { generation: number }; resetDatabase: { generation: number }; env: Record<string, string> };
  generation: string;
  deleted_at: Date | null;
  updated_by: string;
}

async function rowOf(name: string): Promise<InstanceRow | undefined> {
  const { rows } = await db.pool.query<InstanceRow>('SELECT spec, generation, deleted_at, updated_by FROM otm.instances WHERE name = $1', [name]);
  return rows[0];
}

const invocations = (): Promise<Invocation[]> => readInvocations(sim.root);

async function simConfig(app: string, key: string): Promise<string> {
  const result = await sim.run(['config:get', app, key]);
  return result.stdout.trim();
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'otm-http-test-'));
  sim = await newSimRoot({ version: '0.38.27', docker: '0', prefix: 'otm-http-sim-' });
  db = await createTestDatabase();
  const manifestsDir = join(work, 'manifests');
  await mkdir(manifestsDir);
  await writeFile(join(manifestsDir, 'lab.yaml'), FILE_MANIFESTS);
  const tokenFile = join(work, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const keyFile = join(work, 'secret-key');
  await writeFile(keyFile, `${newKeyLine('k1')}\n`, { mode: 0o600 });
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
  }), 'http test configuration');
  assert.ok(config, JSON.stringify(issues));
  daemon = new Daemon({
    config: config as unknown as Config,
    logger: createLogger({ level: 'error' }),
    env: { ...process.env, [PASSWORD_ENV]: ENV_SECRET },
    dokkuEnv: sim.env,
    docker: 'off',
  });
  app = createHttpServer(daemonDeps(daemon, TOKEN));
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await app?.close();
  await daemon?.stop(2_000);
  await db?.drop();
  await sim?.destroy();
  await rm(work, { recursive: true, force: true });
});

describe('the HTTP surface of a real daemon', () => {
  test('health always answers; readiness is false before start, with the reasons, and true after', async () => {
    const health = await call('GET', '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: 'ok' });

    const anonymous = await call('GET', '/readyz', { token: null });
    assert.equal(anonymous.status, 503);
    assert.deepEqual(anonymous.json, { ready: false }, 'without the token only the verdict');
    const starting = await call('GET', '/readyz');
    assert.equal(starting.status, 503);
    assert.equal(starting.json.ready, false);
    assert.equal(starting.json.checks.initialSync, 'pending');
    assert.match(starting.json.checks.hosts.local ?? '', /not observed yet/);
    assert.match(starting.json.checks.database ?? '', /not connected yet/);
    assert.equal(starting.json.checks.leader, 'standby');
    assert.equal((await call('GET', '/api/v1/instances')).json.error.code, 'NotReady');

    await daemon.start();
    const ready = await call('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json, { ready: true, checks: { initialSync: 'ok', hosts: { local: 'ok' }, database: 'ok', leader: 'leader' } });
  });

  test('every route of the API, reads included, and the status page need the token: none and a wrong one get 401', async () => {
    const routes = routesOf(app).filter((r) => r.url.startsWith('/api/v1/') || r.url === '/');
    assert.ok(routes.length >= 12, `only ${routes.length} routes were found`);
    for (const { method, url } of routes) {
      const path = url.replace(':name', 'file-inst').replace(':secret', 'adminPassword');
      for (const token of [null, 'wrong-token-0000000000']) {
        const reply = await call(method, path, { token, ...(method === 'PUT' ? { body: {} } : {}) });
        assert.equal(reply.status, 401, `${method} ${url} with ${token ?? 'no token'}`);
        assert.doesNotMatch(reply.text, /file-inst|dana|econ101/, `${method} ${url} tells nothing of the lab`);
      }
    }
  });

  test('every write needs the bearer token: none and a wrong one get 401 and change nothing', async () => {
    const writes: [string, string, unknown?][] = [
      ['PUT', '/api/v1/instances/auth-inst', rowInstance('auth-inst')],
      ['PUT', '/api/v1/experimenters/erin', { apiVersion: 'otree-manager/v1', kind: 'Experimenter', metadata: { name: 'erin' }, spec: { displayName: 'Erin' } }],
      ['DELETE', '/api/v1/instances/auth-inst'],
      ['DELETE', '/api/v1/experimenters/erin'],
      ['POST', '/api/v1/instances/auth-inst/reset-database'],
      ['POST', '/api/v1/instances/auth-inst/restart'],
    ];
    for (const [method, path, body] of writes) {
      for (const token of [null, 'wrong-token-0000000000']) {
        const reply = await call(method, path, { token, ...(body !== undefined ? { body } : {}) });
        assert.equal(reply.status, 401, `${method} ${path} with ${token ?? 'no token'}`);
        assert.equal(reply.json.error.code, 'Unauthorized');
        assert.match(reply.json.error.message, /Authorization: Bearer/);
      }
    }
    const basic = await call('PUT', '/api/v1/instances/auth-inst', { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}x`).toString('base64')}` }, body: rowInstance('auth-inst') });
    assert.equal(basic.status, 401);
    const { rows } = await db.pool.query('SELECT (SELECT count(*) FROM otm.instances) + (SELECT count(*) FROM otm.experimenters) AS n');
    assert.equal(Number(rows[0].n), 0);
  });

  test('an invalid manifest is refused with 422 and our issue list; malformed requests with 4xx JSON', async () => {
    const invalid = await call('PUT', '/api/v1/instances/bad-inst', {
      token: TOKEN,
      body: rowInstance('bad-inst', { processes: { web: 2 }, state: 'paused' }),
    });
    assert.equal(invalid.status, 422);
    assert.equal(invalid.json.error.code, 'Invalid');
    const issues = invalid.json.error.issues ?? [];
    const paths = issues.map((i: { path: string }) => i.path);
    assert.ok(paths.includes('spec.state'), invalid.text);
    assert.ok(paths.includes('spec.processes.web'), invalid.text);
    for (const issue of issues) {
      assert.match(issue.code, /^[A-Z0-9_]+$/);
      assert.ok(issue.message.length > 0);
    }

    const mismatch = await call('PUT', '/api/v1/instances/other-name', { token: TOKEN, body: rowInstance('bad-inst') });
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.json.error.message, /differs from "other-name"/);

    const wrongKind = await call('PUT', '/api/v1/experimenters/bad-inst', { token: TOKEN, body: rowInstance('bad-inst') });
    assert.equal(wrongKind.status, 400);

    const brokenJson = await call('PUT', '/api/v1/instances/bad-inst', { token: TOKEN, raw: `{"spec": {"otree": ${VALUE_SECRET}` });
    assert.equal(brokenJson.status, 400);
    assert.equal(brokenJson.json.error.code, 'BadRequest');

    const tooLarge = await call('PUT', '/api/v1/instances/bad-inst', { token: TOKEN, raw: JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }) });
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.json.error.code, 'PayloadTooLarge');

    const yaml = await call('PUT', '/api/v1/instances/bad-inst', { token: TOKEN, raw: 'kind: OTreeInstance', headers: { 'content-type': 'application/yaml' } });
    assert.equal(yaml.status, 415);

    const badName = await call('GET', '/api/v1/instances/Bad_Name!');
    assert.equal(badName.status, 400);
    const unknown = await call('GET', '/api/v1/nothing-here');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, 'NotFound');

    assert.equal(await rowOf('bad-inst'), undefined);
  });

  test('objects declared by a manifest file cannot be written through the API', async () => {
    const put = await call('PUT', '/api/v1/instances/file-inst', { token: TOKEN, body: rowInstance('file-inst') });
    assert.equal(put.status, 409);
    assert.equal(put.json.error.code, 'Conflict');
    assert.match(put.json.error.message, /lab\.yaml/);
    assert.equal((await call('DELETE', '/api/v1/instances/file-inst', { token: TOKEN })).status, 409);
    assert.equal((await call('POST', '/api/v1/instances/file-inst/restart', { token: TOKEN })).status, 409);
    assert.equal((await call('PUT', '/api/v1/experimenters/dana', {
      token: TOKEN, body: { apiVersion: 'otree-manager/v1', kind: 'Experimenter', metadata: { name: 'dana' }, spec: { displayName: 'Dana' } },
    })).status, 409);
    assert.equal(await rowOf('file-inst'), undefined);
  });

  test('an instance created through the API becomes a row, reaches the daemon and is listed with its status', async () => {
    const created = await call('PUT', '/api/v1/instances/row-inst', { token: TOKEN, body: rowInstance('row-inst'), headers: { 'x-otm-author': 'dana@lab.example.org' } });
    assert.equal(created.status, 200, created.text);
    assert.deepEqual(created.json, { name: 'row-inst', generation: 1 });
    const row = await rowOf('row-inst');
    assert.equal(row?.updated_by, 'dana@lab.example.org');
    // The inline value is stored encrypted; the row only names it.
    assert.deepEqual(row?.spec.otree.adminPassword, { secretRef: 'adminPassword' });

    const view = await waitFor('row-inst to be reconciled', async () => {
      const reply = await call('GET', '/api/v1/instances/row-inst');
      return reply.json.status?.observedGeneration === 1 && reply.json.status.conditions.some((c: { type: string; status: string }) => c.type === 'Reconciling' && c.status === 'False') ? reply.json : undefined;
    }, 30_000);
    assert.equal(view.source, 'row:instances/row-inst');
    assert.deepEqual((view.object?.spec as OTreeInstanceSpec).otree.adminPassword, { secretRef: 'adminPassword' });
    assert.ok((view.events ?? []).length > 0);
    assert.equal(await simConfig('row-inst', 'OTM_MANAGED'), 'true');

    const list = await call('GET', '/api/v1/instances');
    const names = list.json.items.map((i: { name: string }) => i.name);
    assert.deepEqual(names, ['file-inst', 'row-inst']);
    const fileItem = list.json.items.find((i: { name: string }) => i.name === 'file-inst');
    assert.equal(fileItem?.source, 'lab.yaml');
    assert.deepEqual((fileItem?.spec as OTreeInstanceSpec).otree.adminPassword, { fromEnv: PASSWORD_ENV });
    assert.deepEqual(fileItem?.labels, { course: 'econ101' });

    const experimenters = await call('GET', '/api/v1/experimenters');
    assert.deepEqual(experimenters.json.items.map((i: { name: string }) => i.name), ['dana']);
    assert.equal(((await call('GET', '/api/v1/experimenters/dana')).json.object?.spec as ExperimenterSpec).displayName, 'Dana Example');
    assert.equal((await call('GET', '/api/v1/experimenters/nobody')).status, 404);
    assert.equal((await call('GET', '/api/v1/instances/nobody')).status, 404);

    const updated = await call('PUT', '/api/v1/instances/row-inst', { token: TOKEN, body: rowInstance('row-inst', { env: { STUDY: 'week48' } }) });
    assert.deepEqual(updated.json, { name: 'row-inst', generation: 2 });
    await waitFor('the change to be reconciled', async () => {
      const status = (await call('GET', '/api/v1/instances/row-inst')).json.status;
      return status?.observedGeneration === 2 && status.conditions.some((c: { type: string; status: string }) => c.type === 'Reconciling' && c.status === 'False') ? true : undefined;
    }, 30_000);
    assert.equal(await simConfig('row-inst', 'STUDY'), 'week48');
  });

  test('reset-database and restart bump the row generation and the daemon carries them out', async () => {
    // The experimenter pushes: a reset and a restart only mean something for a deployed app.
    assert.equal((await sim.run(['git:from-image', 'row-inst', 'otm-standin/otree:1'])).code, 0);
    daemon.controller.appChanged('local', 'row-inst');
    await waitFor('row-inst to run', async () => ((await call('GET', '/api/v1/instances/row-inst')).json.status?.phase === 'Running' ? true : undefined), 30_000);
    const before = await invocations();

    const restart = await call('POST', '/api/v1/instances/row-inst/restart', { token: TOKEN });
    assert.equal(restart.status, 200, restart.text);
    assert.deepEqual(restart.json, { name: 'row-inst', generation: 1 });
    const reset = await call('POST', '/api/v1/instances/row-inst/reset-database', { token: TOKEN });
    assert.deepEqual(reset.json, { name: 'row-inst', generation: 1 });
    const row = await rowOf('row-inst');
    assert.equal(row?.spec.restart.generation, 1);
    assert.equal(row?.spec.resetDatabase.generation, 1);
    assert.equal(row?.spec.env.STUDY, 'week48', 'a bump keeps the rest of the spec');

    const done = await waitFor('the daemon to carry out both', async () => {
      const status = (await call('GET', '/api/v1/instances/row-inst')).json.status;
      return status?.done.restart === 1 && status.done.resetDatabase === 1 ? status.done : undefined;
    }, 60_000);
    assert.deepEqual(done, { resetDatabase: 1, restart: 1 });
    const ran = (await invocations()).slice(before.length).map((i) => i.argv);
    assert.equal(ran.filter((argv) => argv.includes('resetdb')).length, 1, JSON.stringify(ran));
    assert.equal(await simConfig('row-inst', RESTART_GENERATION_KEY), '1');
    assert.equal(await simConfig('row-inst', RESETDB_GENERATION_KEY), '1');

    assert.equal((await call('POST', '/api/v1/instances/nobody/restart', { token: TOKEN })).status, 404);
  });

  test('plan answers for all instances and for one in the `otm plan -o json` shape, and changes nothing', async () => {
    await waitFor('everything to be converged and the daemon idle', async () => {
      const plans = (await call('GET', '/api/v1/plan')).json.plans;
      return daemon.queue.len() === 0 && plans.every((p) => p.actions.length === 0) ? true : undefined;
    }, 30_000);
    const before = (await invocations()).filter((i) => i.mutating).length;
    const all = await call('GET', '/api/v1/plan');
    assert.equal(all.status, 200);
    assert.deepEqual(all.json.plans.map((p: { name: string }) => p.name), ['file-inst', 'row-inst']);
    for (const plan of all.json.plans) {
      assert.deepEqual(Object.keys(plan).sort(), ['actions', 'deferred', 'host', 'name', 'notes', 'phase']);
      assert.equal(plan.host, 'local');
      assert.deepEqual(plan.actions, [], `${plan.name} is converged: ${JSON.stringify(plan)}`);
    }
    const one = await call('GET', '/api/v1/plan/row-inst');
    assert.equal(one.json.plans.length, 1);
    assert.equal(one.json.plans[0]?.phase, 'Running');
    assert.equal((await invocations()).filter((i) => i.mutating).length, before, 'planning ran a mutating command');
    assert.equal((await call('GET', '/api/v1/plan/nobody')).status, 404);
  });

  test('delete soft-deletes the row; the instance is then listed as orphaned (no source) with its status', async () => {
    const deleted = await call('DELETE', '/api/v1/instances/row-inst', { token: TOKEN });
    assert.equal(deleted.status, 200);
    assert.ok((await rowOf('row-inst'))?.deleted_at instanceof Date);
    assert.equal((await call('DELETE', '/api/v1/instances/row-inst', { token: TOKEN })).status, 404);
    const orphan = await waitFor('row-inst to lose its declaration', async () => {
      const list = await call('GET', '/api/v1/instances');
      const item = list.json.items.find((i: { name: string }) => i.name === 'row-inst');
      return item && item.source === null ? item : undefined;
    }, 30_000);
    assert.equal(orphan.spec, null);
    assert.equal(orphan.status?.name, 'row-inst');
    assert.equal((await call('GET', '/api/v1/instances/row-inst')).json.object, null);
  });

  test('metrics: the exposition parses strictly and has every otm_ series, with bounded labels', async () => {
    const reply = await call('GET', '/metrics');
    assert.equal(reply.status, 200);
    assert.match(reply.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusText(reply.text);
    const expected: Record<string, string> = {
      otm_reconcile_total: 'counter',
      otm_reconcile_duration_seconds: 'histogram',
      otm_workqueue_depth: 'gauge',
      otm_workqueue_adds_total: 'counter',
      otm_workqueue_retries_total: 'counter',
      otm_workqueue_queue_duration_seconds: 'histogram',
      otm_workqueue_longest_running_processor_seconds: 'gauge',
      otm_dokku_commands_total: 'counter',
      otm_dokku_command_duration_seconds: 'histogram',
      otm_instances: 'gauge',
      otm_drift_detected_total: 'counter',
      otm_deferred_actions: 'gauge',
      otm_leader: 'gauge',
      otm_last_full_resync_timestamp_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) {
      const family = families.get(name);
      assert.ok(family, `${name} is missing`);
      assert.equal(family.type, type, name);
      assert.ok(family.samples.length > 0, `${name} has no samples`);
      assert.ok(family.help && family.help.length > 0, `${name} has no help`);
    }
    const value = (name: string, labels: Record<string, string> = {}) =>
      families.get(name)?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    assert.equal(value('otm_leader'), 1);
    assert.ok(value('otm_reconcile_total', { result: 'success' })! > 0);
    assert.ok(value('otm_last_full_resync_timestamp_seconds')! > 1_600_000_000);
    assert.ok(value('otm_dokku_commands_total', { command: 'config:set', outcome: 'success' })! > 0);
    assert.equal(value('otm_instances', { phase: 'Orphaned' }) !== undefined, true);
    for (const family of families.values()) {
      if (!family.name.startsWith('otm_')) continue;
      for (const sample of family.samples) {
        for (const [label, labelValue] of Object.entries(sample.labels)) {
          assert.match(labelValue, /^[A-Za-z0-9_.:+-]{0,64}$/, `${sample.name}{${label}} carries an unbounded value`);
        }
      }
    }
  });

  test('the API is refused without a token file (403), writes without a database (409)', async () => {
    const deps = daemonDeps(daemon, undefined);
    const noToken = createHttpServer(deps);
    const noDatabase = createHttpServer({ ...daemonDeps(daemon, TOKEN), databaseConfigured: false } satisfies HttpDeps);
    try {
      const refused = await noToken.inject({ method: 'PUT', url: '/api/v1/instances/x-inst', payload: rowInstance('x-inst') });
      bodies.push(refused.body);
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.json().error.code, 'ApiDisabled');
      const read = await noToken.inject({ method: 'GET', url: '/api/v1/instances' });
      assert.equal(read.statusCode, 403);
      const restart = await noToken.inject({ method: 'POST', url: '/api/v1/instances/x-inst/restart', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(restart.statusCode, 403);

      const noDb = await noDatabase.inject({ method: 'PUT', url: '/api/v1/instances/x-inst', payload: rowInstance('x-inst'), headers: { authorization: `Bearer ${TOKEN}` } });
      bodies.push(noDb.body);
      assert.equal(noDb.statusCode, 409);
      assert.deepEqual(noDb.json(), { error: { code: 'NoDatabase', message: 'desired state can only be written when postgresUrl is configured; edit the manifest files instead' } });
      assert.equal(await rowOf('x-inst'), undefined);
    } finally {
      await noToken.close();
      await noDatabase.close();
    }
  });

  test('no secret appears in any response or in the metrics', async () => {
    await call('GET', '/metrics');
    await call('GET', '/api/v1/instances/file-inst');
    await call('GET', '/api/v1/plan');
    assert.ok(bodies.length > 40, `only ${bodies.length} responses were checked`);
    for (const body of bodies) for (const secret of SECRETS) assert.ok(!body.includes(secret), `a response contains ${secret}: ${body.slice(0, 200)}`);
  });
});
