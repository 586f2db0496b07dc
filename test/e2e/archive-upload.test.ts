// Deploying without git: an .otreezip (a zip) and a tar uploaded to POST /api/v1/instances/:name/archive
// reach the simulator as `git:from-archive --archive-type <type> APP --` with the archive on stdin, the
// answer carries the build's output and outcome, and the instance's events say who deployed. Refusals
// (too large, a stranger, a read token, a declared source the controller deploys) run nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../../src/access/can.js';
import type { Daemon } from '../../src/engine/daemon.js';
import { registerApi } from '../../src/http/api.js';
import { ARCHIVE_LIMIT_BYTES } from '../../src/http/archive-api.js';
import { ApiError } from '../../src/http/errors.js';
import { createHttpServer, daemonDeps, errorResponse } from '../../src/http/server.js';
import type { FastifyError } from 'fastify';
import { Lab, settle } from './harness.js';
import type { Invocation } from '../dokku-sim/client.js';

const run = promisify(execFile);
const TOKEN = 'archive-upload-token-1a2b3c4d';

let lab: Lab;
let daemon: Daemon;
let http: FastifyInstance;
let people: FastifyInstance;
let url: string;
let zip: Buffer;
let tar: Buffer;
let pushApp: string;
let imageApp: string;

/** The shared API mounted for people: `x-test-person: name[:read]` says who asks. */
function peopleServer(): FastifyInstance {
  const app = Fastify();
  app.setErrorHandler((error, _request, reply) => {
    const failure = error instanceof ApiError ? error : errorResponse(error as FastifyError);
    return reply.code(failure.statusCode).send(failure.body());
  });
  registerApi(app, {
    ...daemonDeps(daemon, TOKEN),
    credentials: { bearer: 'test' },
    authenticate: async (request): Promise<Principal> => {
      const [name = 'nobody', scope] = String(request.headers['x-test-person'] ?? '').split(':');
      return { name, admin: false, scope: scope === 'read' ? 'read' : 'write', via: 'token' };
    },
  });
  return app;
}

const archiveCalls = async (app: string): Promise<Invocation[]> =>
  (await lab.invocations()).filter((i) => i.argv[0] === 'git:from-archive' && i.argv.includes(app));

before(async () => {
  lab = await Lab.create({ tag: 'upld' });
  const project = join(lab.work, 'project');
  await mkdir(project, { recursive: true });
  await writeFile(join(project, 'settings.py'), 'SESSION_CONFIGS = []\n');
  await writeFile(join(project, 'requirements.txt'), 'otree>=5\n');
  await run('zip', ['-qr', join(lab.work, 'project.otreezip'), '.'], { cwd: project });
  await run('tar', ['-cf', join(lab.work, 'project.tar'), '-C', project, '.']);
  zip = await readFile(join(lab.work, 'project.otreezip'));
  tar = await readFile(join(lab.work, 'project.tar'));
  pushApp = lab.app('push');
  imageApp = lab.app('image');
  await lab.declare(pushApp, { source: { push: {} } });
  await lab.declare(imageApp);
  daemon = await lab.startDaemon();
  await settle(daemon, [pushApp, imageApp], (s) => s.observedGeneration >= 1 && s.conditions.some((c) => c.type === 'Reconciling' && c.status === 'False'));
  http = createHttpServer(daemonDeps(daemon, TOKEN));
  url = await http.listen({ host: '127.0.0.1', port: 0 });
  people = peopleServer();
  await people.ready();
});

after(async () => {
  await http?.close();
  await people?.close();
  await daemon?.stop();
  await lab?.destroy();
});

test('an .otreezip uploaded by an admin is deployed through git:from-archive on stdin', async () => {
  const response = await fetch(`${url}/api/v1/instances/${pushApp}/archive`, {
    method: 'POST', body: zip,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/zip', 'x-otm-author': 'alice' },
  });
  const body = await response.json() as Record<string, unknown> & { output: { stdout: string[]; stderr: string[] } };
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.equal(body.success, true, JSON.stringify(body));
  assert.equal(body.exitCode, 0);
  assert.equal(body.archiveType, 'zip');
  assert.equal(body.bytes, zip.length);
  assert.match(String(body.sha256), /^[0-9a-f]{64}$/);
  assert.ok(body.output.stdout.some((l) => /Fetching tar file from stdin/.test(l)), body.output.stdout.join('\n'));
  const calls = await archiveCalls(pushApp);
  assert.deepEqual(calls.map((c) => c.argv), [['git:from-archive', '--archive-type', 'zip', pushApp, '--']]);
  assert.equal(calls[0]!.exit, 0);
  const state = await lab.state();
  assert.equal(state.apps[pushApp]?.deploySource, 'zip');
  const events = await daemon.status.events(pushApp, 20);
  assert.ok(events.some((e) => e.reason === 'Deployed' && /alice/.test(e.message)), JSON.stringify(events));
});

test('a tar is deployed too; the same archive again is a failed build with its output, not an error', async () => {
  const first = await http.inject({ method: 'POST', url: `/api/v1/instances/${pushApp}/archive?type=tar`, payload: tar, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' } });
  assert.equal(first.statusCode, 200, first.body);
  assert.equal(first.json().success, true, first.body);
  assert.equal((await lab.state()).apps[pushApp]?.deploySource, 'tar');
  const again = await http.inject({ method: 'POST', url: `/api/v1/instances/${pushApp}/archive`, payload: tar, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-tar' } });
  assert.equal(again.statusCode, 200, again.body);
  assert.equal(again.json().success, false);
  assert.equal(again.json().failure, 'NoChanges');
  assert.equal(again.json().exitCode, 1);
  const events = await daemon.status.events(pushApp, 20);
  assert.ok(events.some((e) => e.reason === 'DeployFailed'), JSON.stringify(events));
});

test('refusals run nothing: too large, no length, unknown type, a declared image source, a stranger, a read token', async () => {
  const before = (await lab.invocations()).length;
  const admin = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/zip' };
  const large = await fetch(`${url}/api/v1/instances/${pushApp}/archive`, {
    method: 'POST', body: Buffer.alloc(ARCHIVE_LIMIT_BYTES + 1), headers: admin,
  });
  assert.equal(large.status, 413);
  assert.match((await large.json() as { error: { message: string } }).error.message, /64 MiB/);

  const untyped = await http.inject({ method: 'POST', url: `/api/v1/instances/${pushApp}/archive`, payload: zip, headers: { ...admin, 'content-type': 'application/octet-stream' } });
  assert.equal(untyped.statusCode, 415);
  const image = await http.inject({ method: 'POST', url: `/api/v1/instances/${imageApp}/archive`, payload: zip, headers: admin });
  assert.equal(image.statusCode, 409);
  assert.match(image.json().error.message, /declared source \(image\)/);

  const stranger = await people.inject({ method: 'POST', url: `/api/v1/instances/${pushApp}/archive`, payload: zip, headers: { 'x-test-person': 'bob', 'content-type': 'application/zip' } });
  assert.equal(stranger.statusCode, 404, stranger.body);
  const reader = await people.inject({ method: 'POST', url: `/api/v1/instances/${pushApp}/archive`, payload: zip, headers: { 'x-test-person': 'alice:read', 'content-type': 'application/zip' } });
  assert.equal(reader.statusCode, 403, reader.body);
  assert.deepEqual((await lab.invocations()).slice(before).filter((i) => i.argv[0] === 'git:from-archive'), []);

  // The owner with a write credential may.
  const owner = await people.inject({ method: 'POST', url: `/api/v1/instances/${pushApp}/archive`, payload: zip, headers: { 'x-test-person': 'alice', 'content-type': 'application/zip' } });
  assert.equal(owner.statusCode, 200, owner.body);
});
