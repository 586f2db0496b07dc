// The otm web process as `otm web` starts it: configuration, PostgreSQL, the manifest files, the rows
// it writes itself, and plans asked of the daemon's API with the service token.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { PeopleStore } from '../../src/web/people.js';
import { startWeb } from '../../src/web/process.js';
import type { WebHandle } from '../../src/web/process.js';
import { systemClock } from '../../src/engine/clock.js';
import { useMigratedDatabase } from '../store/database.js';

const db = useMigratedDatabase();
const SERVICE_TOKEN = 'service-token-0123456789abcdef';
const PASSWORD = 'the admin pass phrase';

describe('otm web, the process', () => {
  let work: string;
  let web: WebHandle;
  const daemon = Fastify();
  const daemonSaw: string[] = [];

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'otm-web-process-'));
    await writeFile(path.join(work, 'lab.yaml'), `apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: root }
spec: { displayName: Admin, role: admin }
`);
    daemon.get<{ Params: { name: string } }>('/api/v1/plan/:name', async (request) => {
      daemonSaw.push(request.headers.authorization ?? '');
      return { plans: [{ name: request.params.name, host: 'local', phase: 'Pending', actions: [{ command: 'dokku apps:create x', reason: 'missing', mutating: true, disruptive: false }], deferred: [], notes: [] }] };
    });
    const daemonUrl = await daemon.listen({ host: '127.0.0.1', port: 0 });
    const tokenFile = path.join(work, 'daemon-token');
    await writeFile(tokenFile, `${SERVICE_TOKEN}\n`, { mode: 0o600 });
    await writeFile(path.join(work, 'otm.yaml'), [
      `postgresUrl: ${db.url}`, 'manifestsDir: .',
      `web: { listen: "127.0.0.1:0", daemon: { url: "${daemonUrl}", tokenFile: daemon-token },`,
      // A provider that is down: otm web starts anyway and says so at sign-in.
      '  oidc: { issuer: "http://127.0.0.1:9/", clientId: otm, allowInsecureHttp: true, displayName: University login } }',
    ].join('\n'));
    const { config } = await loadConfig({ path: path.join(work, 'otm.yaml') });
    const people = new PeopleStore({ pool: db.pool, clock: systemClock, idleTimeoutMs: 3_600_000, absoluteTimeoutMs: 7_200_000 });
    await people.setPassword('root', PASSWORD, { actor: 'test', authMethod: 'local' });
    web = await startWeb({ config, logger: pino({ level: 'silent' }) });
  });

  after(async () => {
    await web?.close();
    await daemon.close();
    await rm(work, { recursive: true, force: true });
  });

  test('single sign-on is offered, and a provider that is down is a clear 503, not a dead process', async () => {
    const page = await (await fetch(`${web.url}/sign-in`)).text();
    assert.match(page, /Sign in with University login/);
    const start = await fetch(`${web.url}/auth/oidc/start`, { redirect: 'manual' });
    assert.equal(start.status, 503);
    assert.equal((await fetch(`${web.url}/healthz`)).status, 200);
  });

  test('an admin declared in a file signs in, writes rows that otm web then holds, and gets plans from the daemon', async () => {
    const signIn = await fetch(`${web.url}/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'root', password: PASSWORD }) });
    assert.equal(signIn.status, 200);
    const cookie = signIn.headers.getSetCookie()[0]!.split(';')[0]!;
    const call = (method: string, url: string, body?: unknown) => fetch(`${web.url}${url}`, {
      method, headers: { cookie, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const person = await call('PUT', '/api/v1/experimenters/alice', { apiVersion: 'otree-manager/v1', kind: 'Experimenter', metadata: { name: 'alice' }, spec: { displayName: 'Alice' } });
    assert.equal(person.status, 200, await person.text());
    let instance: Response;
    // The new person reaches otm web's desired state through the database's notification; until then
    // the owner is unknown and the instance is refused.
    do {
      instance = await call('PUT', '/api/v1/instances/alice-pgg', { apiVersion: 'otree-manager/v1', kind: 'OTreeInstance', metadata: { name: 'alice-pgg' }, spec: { owner: 'alice', otree: { adminPassword: { secretRef: 'adminPassword' } } } });
    } while (instance.status === 422);
    assert.equal(instance.status, 200, await instance.text());
    let plan: Response;
    do plan = await call('GET', '/api/v1/plan/alice-pgg'); while (plan.status === 404);
    const body = await plan.json() as { plans: { name: string; actions: unknown[] }[] };
    assert.equal(body.plans[0]?.name, 'alice-pgg');
    assert.equal(body.plans[0]?.actions.length, 1);
    assert.deepEqual(daemonSaw, [`Bearer ${SERVICE_TOKEN}`]);
  });
});
