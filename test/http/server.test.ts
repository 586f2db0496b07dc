// The HTTP server on small fakes: readiness rules, error rendering, write checks that need no daemon,
// and startHttp listening for real on loopback.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Config } from '../../src/config.js';
import { TABLES, validateRow } from '../../src/desired/rows.js';
import { DesiredStore } from '../../src/desired/store.js';
import { Daemon } from '../../src/engine/daemon.js';
import { createLogger } from '../../src/engine/logger.js';
import { EngineMetrics } from '../../src/engine/metrics.js';
import type { DesiredRows } from '../../src/http/api.js';
import { readTokenFile } from '../../src/http/auth.js';
import { readinessChecker } from '../../src/http/readiness.js';
import type { ReadinessProbes } from '../../src/http/readiness.js';
import { createHttpServer, parseListen, startHttp } from '../../src/http/server.js';
import type { HttpDeps } from '../../src/http/server.js';
import { parseConfig, parseManifests } from '../../src/manifest/index.js';
import type { Kind } from '../../src/manifest/index.js';
import { emptyStatus } from './fakes.js';

const TOKEN = 'fake-token-0123456789abcdef';
const MANIFEST = {
  apiVersion: 'otree-manager/v1',
  kind: 'OTreeInstance',
  metadata: { name: 'api-inst' },
  spec: { owner: 'dana', otree: { adminPassword: { secretRef: 'adminPassword' } } },
};

interface Write {
  kind: Kind;
  name: string;
  spec: unknown;
  labels: Record<string, string>;
  author: string;
}

/** Desired rows kept in memory: what the API wrote, and who wrote it. */
function memoryRows(): DesiredRows & { writes: Write[] } {
  const writes: Write[] = [];
  return {
    writes,
    validate: (kind, name, spec, labels) => validateRow(TABLES[kind], name, spec, labels),
    async upsert(kind, name, spec, labels, by) {
      writes.push({ kind, name, spec, labels, author: by.actor });
      return { ok: true, generation: writes.length };
    },
    async softDelete() {
      return false;
    },
    async bumpGeneration(name) {
      throw new Error(`instance "${name}" has no live row in otm.instances: create it before asking for restart`);
    },
  };
}

function fakeDeps(overrides: Partial<HttpDeps> = {}): HttpDeps & { rowsWritten: Write[] } {
  const rows = memoryRows();
  return {
    desired: new DesiredStore(),
    status: () => emptyStatus(),
    plans: () => undefined,
    rows: () => rows,
    databaseConfigured: true,
    token: TOKEN,
    readiness: readinessChecker({ initialSyncDone: () => true, hosts: {}, isLeader: () => true }),
    metrics: new EngineMetrics({ version: 'test', processMetrics: false }),
    rowsWritten: rows.writes,
    ...overrides,
  };
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe('readiness', () => {
  const probes = (overrides: Partial<ReadinessProbes>): ReadinessProbes => ({
    initialSyncDone: () => true,
    hosts: { a: async () => 'ok', b: async () => 'ok' },
    database: async () => 'ok',
    isLeader: () => false,
    ...overrides,
  });

  test('a standby that has synced and reaches everything is ready, and says it is on standby', async () => {
    const app = createHttpServer(fakeDeps({ readiness: readinessChecker(probes({})) }));
    const reply = await app.inject({ method: 'GET', url: '/readyz', headers: auth });
    assert.equal(reply.statusCode, 200);
    assert.deepEqual(reply.json(), { ready: true, checks: { initialSync: 'ok', hosts: { a: 'ok', b: 'ok' }, database: 'ok', leader: 'standby' } });
  });

  test('an unreachable host or database makes it unready and names the failure', async () => {
    const failing = readinessChecker(probes({
      hosts: { a: async () => 'ok', b: async () => { throw new Error('ssh: connect to host b port 22: Connection refused\nmore detail'); } },
      database: async () => { throw new Error('ECONNREFUSED 127.0.0.1:5432'); },
    }));
    const app = createHttpServer(fakeDeps({ readiness: failing }));
    const reply = await app.inject({ method: 'GET', url: '/readyz', headers: auth });
    assert.equal(reply.statusCode, 503);
    assert.deepEqual(reply.json().checks.hosts, { a: 'ok', b: 'ssh: connect to host b port 22: Connection refused' });
    assert.equal(reply.json().checks.database, 'ECONNREFUSED 127.0.0.1:5432');
  });

  test('no database configured: no database check', async () => {
    const { database: _database, ...withoutDatabase } = probes({});
    const readiness = await readinessChecker(withoutDatabase)();
    assert.deepEqual(readiness.checks, { initialSync: 'ok', hosts: { a: 'ok', b: 'ok' }, leader: 'standby' });
  });

  test('concurrent requests share one round of probes', async () => {
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const check = readinessChecker(probes({ hosts: { a: async () => { calls++; await gate; } } }));
    const pending = [check(), check(), check()];
    release();
    const results = await Promise.all(pending);
    assert.equal(calls, 1);
    assert.ok(results.every((r) => r.ready));
    await check();
    assert.equal(calls, 2, 'a later request probes again');
  });
});

describe('requests and errors', () => {
  test('a failure inside a handler is a 500 with a generic message that leaks nothing', async () => {
    const app = createHttpServer(fakeDeps({ status: () => emptyStatus({ list: async () => { throw new Error('password=hunter2 in a driver error'); } }) }));
    const reply = await app.inject({ method: 'GET', url: '/api/v1/instances', headers: auth });
    assert.equal(reply.statusCode, 500);
    assert.equal(reply.json().error.code, 'Internal');
    assert.ok(!reply.body.includes('hunter2'));
  });

  test('a valid PUT is written with the author from X-Otm-Author and the spec as sent', async () => {
    const desired = new DesiredStore();
    desired.replaceSource('row:experimenters/dana', validateRow('experimenters', 'dana', { displayName: 'Dana', email: 'dana@lab.example.org' }, {}));
    const deps = fakeDeps({ desired });
    const app = createHttpServer(deps);
    const reply = await app.inject({ method: 'PUT', url: '/api/v1/instances/api-inst', payload: MANIFEST, headers: { ...auth, 'x-otm-author': 'dana@lab.example.org' } });
    assert.equal(reply.statusCode, 200, reply.body);
    assert.deepEqual(reply.json(), { name: 'api-inst', generation: 1 });
    assert.deepEqual(deps.rowsWritten, [{ kind: 'OTreeInstance', name: 'api-inst', spec: MANIFEST.spec, labels: {}, author: 'dana@lab.example.org' }]);
  });

  test('annotations, a bad author header and a non-object body are refused before anything is written', async () => {
    const deps = fakeDeps();
    const app = createHttpServer(deps);
    const annotated = await app.inject({ method: 'PUT', url: '/api/v1/instances/api-inst', headers: auth, payload: { ...MANIFEST, metadata: { name: 'api-inst', annotations: { note: 'x' } } } });
    assert.equal(annotated.statusCode, 400);
    assert.match(annotated.json().error.message, /annotations/);
    const author = await app.inject({ method: 'PUT', url: '/api/v1/instances/api-inst', headers: { ...auth, 'x-otm-author': 'dana; rm -rf' }, payload: MANIFEST });
    assert.equal(author.statusCode, 400);
    const list = await app.inject({ method: 'PUT', url: '/api/v1/instances/api-inst', headers: auth, payload: [MANIFEST] });
    assert.equal(list.statusCode, 400);
    assert.deepEqual(deps.rowsWritten, []);
  });

  test('a bump for an instance without a row is 404; an object held back in a file still conflicts and is shown with its issues', async () => {
    const desired = new DesiredStore();
    // A file whose instance fails validation: the daemon holds it back, but the file still owns the name.
    desired.replaceSource('broken.yaml', parseManifests('apiVersion: otree-manager/v1\nkind: OTreeInstance\nmetadata: { name: held-inst }\nspec: { owner: dana, processes: { web: -1 } }\n', 'broken.yaml'));
    const app = createHttpServer(fakeDeps({ desired }));
    const missing = await app.inject({ method: 'POST', url: '/api/v1/instances/api-inst/restart', headers: auth });
    assert.equal(missing.statusCode, 404);
    const held = await app.inject({ method: 'POST', url: '/api/v1/instances/held-inst/reset-database', headers: auth });
    assert.equal(held.statusCode, 409);
    assert.match(held.json().error.message, /broken\.yaml/);
    const view = await app.inject({ method: 'GET', url: '/api/v1/instances/held-inst', headers: auth });
    assert.equal(view.statusCode, 200, 'a rejected object is shown with its issues');
    assert.equal(view.json().object, null);
    assert.ok(view.json().issues.some((i: { path: string; severity: string }) => i.path === 'spec.processes.web' && i.severity === 'error'));
  });

  test('before the daemon has started, reads answer 503 NotReady', async () => {
    const app = createHttpServer(fakeDeps({ status: () => undefined }));
    for (const url of ['/api/v1/instances', '/api/v1/instances/api-inst', '/api/v1/plan', '/api/v1/plan/api-inst']) {
      const reply = await app.inject({ method: 'GET', url, headers: auth });
      assert.equal(reply.statusCode, 503, url);
      assert.equal(reply.json().error.code, 'NotReady');
    }
  });

  test('listen addresses', () => {
    assert.deepEqual(parseListen('127.0.0.1:9280'), { host: '127.0.0.1', port: 9280 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
    assert.throws(() => parseListen('127.0.0.1'), /host:port/);
    assert.throws(() => parseListen('127.0.0.1:70000'), /host:port/);
  });
});

describe('startHttp', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'otm-http-start-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const configWith = (http: Record<string, string>): Config => {
    const { config, issues } = parseConfig(JSON.stringify({ manifestsDir: join(work, 'manifests'), stateDir: join(work, 'state'), backupDir: join(work, 'backups'), http }), 'test');
    assert.ok(config, JSON.stringify(issues));
    return config as unknown as Config;
  };

  test('the token file: trimmed, and refused when missing or too short, naming the file', async () => {
    const file = join(work, 'token');
    await writeFile(file, `${TOKEN}\n`, { mode: 0o640 });
    assert.equal(await readTokenFile(file), TOKEN);
    await chmod(file, 0o644);
    await assert.rejects(readTokenFile(file), new RegExp(`${file} \\(http\\.tokenFile\\) is readable by every user of this machine \\(mode 0644\\).*chmod 0640`));
    await chmod(file, 0o600);
    await writeFile(file, 'short\n');
    await assert.rejects(readTokenFile(file), new RegExp(`${file}.*at least 16`));
    await assert.rejects(readTokenFile(join(work, 'missing')), /missing \(http\.tokenFile\): ENOENT/);
  });

  test('listens on http.listen, serves a daemon that is still starting, and closes', async () => {
    const tokenFile = join(work, 'api-token');
    await writeFile(tokenFile, TOKEN, { mode: 0o600 });
    const config = configWith({ listen: '127.0.0.1:0', tokenFile });
    const logger = createLogger({ level: 'error' });
    const daemon = new Daemon({ config, logger, docker: 'off' });
    const http = await startHttp(daemon, config, logger);
    try {
      assert.match(http.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${http.url}/healthz`);
      assert.equal(health.status, 200);
      const ready = await fetch(`${http.url}/readyz`, { headers: auth });
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as { checks: { initialSync: string } }).checks.initialSync, 'pending');
      const write = await fetch(`${http.url}/api/v1/instances/api-inst`, { method: 'DELETE' });
      assert.equal(write.status, 401);
    } finally {
      await http.close();
    }
    await assert.rejects(fetch(`${http.url}/healthz`));
    await assert.rejects(startHttp(daemon, configWith({ listen: '127.0.0.1:0', tokenFile: join(work, 'absent') }), logger), /absent \(http\.tokenFile\)/);
  });
});
