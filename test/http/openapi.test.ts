// The OpenAPI documents both servers serve at /api/v1/openapi.json: valid OpenAPI 3 for a real
// validator, describing exactly the /api/v1 routes each server has (the daemon's without /api/v1/me,
// otm web's with it), and generated from response schemas that keep every field of an answer.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import pino from 'pino';
import type { Config } from '../../src/config.js';
import { TABLES, validateRow } from '../../src/desired/rows.js';
import { DesiredStore } from '../../src/desired/store.js';
import { FakeClock } from '../../src/engine/clock.js';
import { EngineMetrics } from '../../src/engine/metrics.js';
import type { InstanceEvent, InstanceStatus, StatusStore } from '../../src/engine/status.js';
import { OPENAPI_PATH as OPENAPI } from '../../src/http/openapi.js';
import { readinessChecker } from '../../src/http/readiness.js';
import { createHttpServer, routesOf } from '../../src/http/server.js';
import { parseConfig, parseManifests } from '../../src/manifest/index.js';
import { PeopleStore } from '../../src/web/people.js';
import { createWebServer, SESSION_COOKIE } from '../../src/web/server.js';
import type { WebServer } from '../../src/web/server.js';
import { useMigratedDatabase } from '../store/database.js';
import { emptyStatus } from './fakes.js';

const TOKEN = 'openapi-token-0123456789abcdef';
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  requestBody?: { content: Record<string, { schema: { required?: string[] } }> };
  responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
}

interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  tags: { name: string }[];
  security: Record<string, string[]>[];
  components: { securitySchemes: Record<string, { type: string; in?: string; name?: string; scheme?: string }> };
}

/** `METHOD /path/{param}` for every operation of the document. */
function operationsOf(document: Document): string[] {
  return Object.entries(document.paths)
    .flatMap(([url, item]) => Object.keys(item).filter((method) => METHODS.includes(method)).map((method) => `${method.toUpperCase()} ${url}`))
    .sort();
}

/** The /api/v1 routes a server has, written as the document writes them. */
function apiRoutes(routes: readonly { method: string; url: string }[]): string[] {
  return routes.filter((r) => r.url.startsWith('/api/v1/')).map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`).sort();
}

async function assertValid(document: Document): Promise<void> {
  const validator = new Validator();
  // A copy: resolving the references replaces them in the validated object.
  const result = await validator.validate(structuredClone(document) as unknown as Record<string, unknown>);
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2));
  assert.match(validator.version, /^3\./);
  assert.doesNotThrow(() => validator.resolveRefs(), 'every $ref resolves');
}

/** What every operation of either server has: an id, a summary, a listed tag, and its answers. */
function assertOperationsDescribed(document: Document): void {
  const ids = new Set<string>();
  const tags = new Set(document.tags.map((t) => t.name));
  for (const [url, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const where = `${method.toUpperCase()} ${url}`;
      assert.ok(operation.operationId && !ids.has(operation.operationId), `${where}: a unique operationId`);
      ids.add(operation.operationId);
      assert.ok(operation.summary, `${where}: a summary`);
      assert.ok(operation.tags?.length && operation.tags.every((t) => tags.has(t)), `${where}: tags the document lists`);
      assert.ok(operation.responses['200']?.content?.['application/json'], `${where}: a 200 answer`);
      assert.ok(operation.responses['401'], `${where}: a 401 answer`);
      for (const [status, response] of Object.entries(operation.responses)) {
        if (status === '200') continue;
        assert.equal(response.content?.['application/json']?.schema.$ref, '#/components/schemas/ApiError', `${where} ${status}: the shared error`);
      }
    }
  }
}

function daemonServer(status: StatusStore = emptyStatus()) {
  const desired = new DesiredStore();
  desired.replaceSource('row:experimenters/dana', validateRow('experimenters', 'dana', { displayName: 'Dana' }, {}));
  return createHttpServer({
    desired,
    status: () => status,
    plans: () => undefined,
    rows: () => ({
      validate: (kind, name, spec, labels) => validateRow(TABLES[kind], name, spec, labels),
      upsert: async () => ({ ok: true, generation: 1 }),
      softDelete: async () => false,
      bumpGeneration: async () => 1,
    }),
    databaseConfigured: true,
    token: TOKEN,
    readiness: readinessChecker({ initialSyncDone: () => true, hosts: {}, isLeader: () => true }),
    metrics: new EngineMetrics({ version: 'test', processMetrics: false }),
  });
}

describe('the daemon\'s OpenAPI document', () => {
  const app = daemonServer();
  let document: Document;

  before(async () => {
    const reply = await app.inject({ method: 'GET', url: OPENAPI, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(reply.statusCode, 200, reply.body);
    document = reply.json();
  });
  after(() => app.close());

  test('is refused without the token, like every /api/v1 route', async () => {
    const reply = await app.inject({ method: 'GET', url: OPENAPI });
    assert.equal(reply.statusCode, 401);
    assert.equal(reply.json().error.code, 'Unauthorized');
  });

  test('is valid OpenAPI 3 and describes every operation', async () => {
    await assertValid(document);
    assertOperationsDescribed(document);
  });

  test('lists exactly the /api/v1 routes the daemon serves: none of /api/v1/me', () => {
    const served = apiRoutes(routesOf(app));
    assert.ok(served.length >= 18, `only ${served.length} routes`);
    assert.deepEqual(operationsOf(document), served);
    assert.ok(served.includes(`GET ${OPENAPI}`));
    assert.ok(!served.some((r) => r.includes('/api/v1/me')));
    assert.ok(!document.tags.some((t) => t.name === 'me'), 'no tag without operations');
  });

  test('the admin token is the only credential', () => {
    const { securitySchemes } = document.components;
    assert.deepEqual(Object.keys(securitySchemes), ['bearerToken']);
    assert.deepEqual([securitySchemes.bearerToken?.type, securitySchemes.bearerToken?.scheme], ['http', 'bearer']);
    assert.deepEqual(document.security, [{ bearerToken: [] }]);
  });

  test('a manifest body is documented yet checked by the API itself: a list gets its own 400 message', async () => {
    const body = document.paths['/api/v1/instances/{name}']?.put?.requestBody?.content['application/json']?.schema;
    assert.deepEqual(body?.required, ['apiVersion', 'kind', 'metadata', 'spec']);
    const reply = await app.inject({ method: 'PUT', url: '/api/v1/instances/api-inst', headers: { authorization: `Bearer ${TOKEN}` }, payload: [] });
    assert.equal(reply.statusCode, 400);
    assert.match(reply.json().error.message, /^send the whole manifest as a JSON object/);
  });

  test('answers keep every field of an open shape (a status), named in its schema or not', async () => {
    const status: InstanceStatus = {
      name: 'orphan-inst', host: 'local', phase: 'Orphaned', observedGeneration: 3,
      conditions: [{ type: 'Ready', status: 'False', reason: 'Orphaned', message: 'declared nowhere', lastTransitionTime: '2030-01-01T00:00:00Z' }],
      urls: ['https://orphan-inst.lab.example.org'], lastError: { message: 'm', code: 'C', at: '2030-01-01T00:00:00Z' },
      deferred: [{ action: 'dokku ps:restart orphan-inst', reason: 'FreezeWindow', until: '2030-01-02T00:00:00Z' }],
      done: { resetDatabase: 1, restart: 2 }, notes: ['n'], deletionPolicy: 'Retain', lastSyncedAt: '2030-01-01T00:00:00Z', updatedAt: '2030-01-01T00:00:01Z',
    };
    const events: InstanceEvent[] = [{ instance: 'orphan-inst', at: '2030-01-01T00:00:00.000Z', type: 'Warning', reason: 'Orphaned', message: 'declared nowhere' }];
    const withStatus = daemonServer(emptyStatus({ get: async () => status, list: async () => [status], events: async () => events }));
    try {
      const headers = { authorization: `Bearer ${TOKEN}` };
      const list = await withStatus.inject({ method: 'GET', url: '/api/v1/instances', headers });
      assert.deepEqual(list.json(), { items: [{ name: 'orphan-inst', source: null, generation: null, spec: null, labels: {}, status }] });
      const one = await withStatus.inject({ method: 'GET', url: '/api/v1/instances/orphan-inst', headers });
      assert.deepEqual(one.json(), { name: 'orphan-inst', source: null, generation: null, object: null, issues: [], status, events });
    } finally {
      await withStatus.close();
    }
  });
});

describe('otm web\'s OpenAPI document', () => {
  const db = useMigratedDatabase();
  let work: string;
  let server: WebServer;
  let token: string;
  let document: Document;

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'otm-openapi-'));
    const { config, issues } = parseConfig(JSON.stringify({
      manifestsDir: work, stateDir: work, backupDir: work, postgresUrl: db.url, web: { publicUrl: 'https://otm.lab.example.org' },
    }), 'openapi test configuration');
    assert.ok(config, JSON.stringify(issues));
    const clock = new FakeClock(Date.parse('2030-03-01T08:00:00Z'));
    const desired = new DesiredStore();
    desired.replaceSource('people.yaml', parseManifests('apiVersion: otree-manager/v1\nkind: Experimenter\nmetadata: { name: alice }\nspec: { displayName: Alice }\n', 'people.yaml'));
    const people = new PeopleStore({ pool: db.pool, clock, idleTimeoutMs: 3_600_000, absoluteTimeoutMs: 43_200_000 });
    token = (await people.createToken('alice', { scope: 'read', expiresAt: null, label: 'openapi' }, { actor: 'test', authMethod: 'local' })).secret;
    server = createWebServer({
      config: config as unknown as Config, people, clock, log: pino({ level: 'silent' }), desired,
      status: () => undefined, rows: () => undefined, plans: () => undefined,
    });
    const reply = await server.app.inject({ method: 'GET', url: OPENAPI, headers: { authorization: `Bearer ${token}` } });
    assert.equal(reply.statusCode, 200, reply.body);
    document = reply.json();
  });
  after(async () => {
    await server?.app.close();
    await rm(work, { recursive: true, force: true });
  });

  test('is refused without a session or a token', async () => {
    assert.equal((await server.app.inject({ method: 'GET', url: OPENAPI })).statusCode, 401);
  });

  test('is valid OpenAPI 3 and describes every operation', async () => {
    await assertValid(document);
    assertOperationsDescribed(document);
  });

  test('lists exactly the /api/v1 routes otm web serves, its own /api/v1/me routes included', () => {
    const served = apiRoutes(server.routes);
    assert.deepEqual(operationsOf(document), served);
    for (const own of ['GET /api/v1/me', 'GET /api/v1/me/sessions', 'DELETE /api/v1/me/sessions/{id}', 'GET /api/v1/me/tokens', 'POST /api/v1/me/tokens', 'DELETE /api/v1/me/tokens/{id}']) {
      assert.ok(served.includes(own), own);
    }
    assert.ok(document.tags.some((t) => t.name === 'me'));
  });

  test('a personal token or the session cookie will do', () => {
    const { bearerToken, sessionCookie } = document.components.securitySchemes;
    assert.equal(bearerToken?.scheme, 'bearer');
    assert.deepEqual({ type: sessionCookie?.type, in: sessionCookie?.in, name: sessionCookie?.name }, { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE });
    assert.deepEqual(document.security, [{ bearerToken: [] }, { sessionCookie: [] }]);
  });
});
