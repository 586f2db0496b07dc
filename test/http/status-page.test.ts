// The status page lists every instance with its phase and readiness, escapes what it shows, says
// when the daemon has no status yet, and shows nothing without the API token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { registerStatusPage } from '../../src/http/status-page.js';
import type { InstanceStatus, StatusStore } from '../../src/engine/status.js';

function status(name: string, phase: InstanceStatus['phase'], ready: 'True' | 'False', message: string): InstanceStatus {
  return {
    name, host: 'local', phase, observedGeneration: 1, deferred: [], urls: [`https://${name}.lab.example.org`],
    conditions: [{ type: 'Ready', status: ready, reason: ready === 'True' ? 'Running' : 'AwaitingDeploy', message, lastTransitionTime: '2026-11-25T10:00:00.000Z' }],
    done: { resetDatabase: 0, restart: 0 }, updatedAt: '2026-11-25T10:00:00.000Z',
  };
}

function storeOf(statuses: InstanceStatus[]): StatusStore {
  return {
    get: async (n) => statuses.find((s) => s.name === n), list: async () => statuses, put: async () => {}, remove: async () => {},
    record: async () => {}, events: async () => [], close: async () => {},
    claims: async () => [], putClaim: async () => {}, dropClaim: async () => {}, dropClaims: async () => {},
  };
}

const TOKEN = 'status-page-token-8a7b6c5d';
/** What a browser sends after its HTTP Basic prompt: any user name, the token as password. */
const BASIC = { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` };

test('GET / without the token asks for it and shows no instance', async () => {
  const app = Fastify();
  registerStatusPage(app, () => storeOf([status('alice-pgg', 'Running', 'True', 'running as declared')]), TOKEN);
  for (const headers of [{}, { authorization: `Basic ${Buffer.from('admin:wrong-token-123456').toString('base64')}` }, { authorization: 'Bearer nope' }]) {
    const res = await app.inject({ method: 'GET', url: '/', headers });
    assert.equal(res.statusCode, 401);
    assert.match(res.headers['www-authenticate'] as string, /^Basic realm="otree-manager"/);
    assert.doesNotMatch(res.body, /alice-pgg/);
  }
  const bearer = await app.inject({ method: 'GET', url: '/', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(bearer.statusCode, 200);
  assert.match(bearer.body, /alice-pgg/);
  await app.close();
});

test('GET / lists the instances as escaped HTML', async () => {
  const app = Fastify();
  registerStatusPage(app, () => storeOf([
    status('econ101-lab1', 'Pending', 'False', 'waiting for <git push>'),
    status('alice-pgg', 'Running', 'True', 'running as declared'),
  ]), TOKEN);
  const res = await app.inject({ method: 'GET', url: '/', headers: BASIC });
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /^text\/html/);
  assert.match(res.body, /2 instance\(s\)/);
  assert.ok(res.body.indexOf('alice-pgg') < res.body.indexOf('econ101-lab1'), 'sorted by name');
  assert.match(res.body, /<td>Running<\/td><td>True Running<\/td>/);
  assert.match(res.body, /waiting for &lt;git push&gt;/);
  assert.doesNotMatch(res.body, /<git push>/);
  await app.close();
});

test('GET / before the daemon has a status store says it is starting', async () => {
  const app = Fastify();
  registerStatusPage(app, () => undefined, TOKEN);
  const res = await app.inject({ method: 'GET', url: '/', headers: BASIC });
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /starting: no status yet/);
  await app.close();
});
