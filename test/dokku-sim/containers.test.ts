// Deployed apps run as real containers on the shared Docker Engine: labelled like Dokku's, reachable
// on 127.0.0.1, recreated with the new environment on config changes, stopped, started and removed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { newSimRoot, readSimState, webPort } from './client.js';
import type { SimRoot, SimResult } from './client.js';
import { ensureStandinImage } from '../support/image.js';
import { requireDocker, waitFor } from '../support/services.js';
import { ROOT_LABEL } from './containers.js';
import { rootIdOf } from './state.js';

async function ok(sim: SimRoot, argv: string[]): Promise<SimResult> {
  const r = await sim.run(argv);
  assert.equal(r.code, 0, `dokku ${argv.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r;
}

async function get(port: number, path: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

describe('containers', () => {
  let sim: SimRoot;
  const containersOf = async (app: string) => {
    const docker = await requireDocker();
    return docker.listContainers({ all: true, filters: { label: [`${ROOT_LABEL}=${rootIdOf(sim.root)}`, `com.dokku.app-name=${app}`] } });
  };

  before(async () => {
    await ensureStandinImage();
    sim = await newSimRoot({ docker: '1', prefix: 'otm-sim-containers-' });
  });
  after(async () => {
    await sim.destroy();
  });

  it('a deployed app answers /login on 127.0.0.1 with its config in the environment', async () => {
    await ok(sim, ['apps:create', 'myapp']);
    await ok(sim, ['config:set', '--no-restart', 'myapp', 'OTREE_PRODUCTION=1', 'SECRET_TOKEN=first']);
    await ok(sim, ['git:from-image', 'myapp', 'otm-standin/otree:1']);
    const port = (await webPort(sim.root, 'myapp'))!;
    assert.ok(port > 0);
    const login = await waitFor('GET /login', () => get(port, '/login'));
    assert.equal(login.status, 200);
    const env = await waitFor('GET /cgi-bin/env', () => get(port, '/cgi-bin/env'));
    assert.match(env.body, /^SECRET_TOKEN=first$/m);
    assert.match(env.body, /^PORT=5000$/m);
    assert.match(env.body, /^DYNO=web\.1$/m);
    const [web] = await containersOf('myapp');
    assert.equal(web!.Labels['com.dokku.process-type'], 'web');
    assert.equal(web!.Labels['com.dokku.container-type'], 'deploy');
    assert.equal(web!.Labels['com.dokku.dyno'], 'web.1');
    assert.equal(web!.State, 'running');
  });

  it('config:set recreates the container with the new value', async () => {
    const before = (await readSimState(sim.root)).apps.myapp!.containers['web.1']!.id;
    await ok(sim, ['config:set', 'myapp', 'SECRET_TOKEN=second']);
    const after = (await readSimState(sim.root)).apps.myapp!.containers['web.1']!.id;
    assert.notEqual(after, before);
    const port = (await webPort(sim.root, 'myapp'))!;
    const env = await waitFor('the new environment', async () => {
      const r = await get(port, '/cgi-bin/env');
      return r && /^SECRET_TOKEN=second$/m.test(r.body) ? r : undefined;
    });
    assert.doesNotMatch(env.body, /SECRET_TOKEN=first/);
    assert.deepEqual((await containersOf('myapp')).map((c) => c.Id), [after]);
  });

  it('ps:scale adds a worker, ps:stop stops every container, ps:start brings them back', async () => {
    await ok(sim, ['ps:scale', 'myapp', 'worker=1']);
    assert.deepEqual((await containersOf('myapp')).map((c) => c.Labels['com.dokku.dyno']).sort(), ['web.1', 'worker.1']);
    await ok(sim, ['ps:stop', 'myapp']);
    assert.deepEqual((await containersOf('myapp')).map((c) => c.State), ['exited', 'exited']);
    assert.equal((await ok(sim, ['ps:report', 'myapp', '--running'])).stdout, 'false\n');
    await ok(sim, ['ps:start', 'myapp']);
    assert.deepEqual((await containersOf('myapp')).map((c) => c.State), ['running', 'running']);
    assert.equal((await ok(sim, ['ps:report', 'myapp', '--running'])).stdout, 'true\n');
  });

  it('run starts a one-off container and returns its exit status', async () => {
    const reset = await ok(sim, ['run', '--no-tty', 'myapp', 'otree', 'resetdb', '--noinput']);
    assert.equal(reset.stderr, 'Database engine: sqlite\nCreated new tables and columns.\n');
    const failed = await sim.run(['run', '--no-tty', 'myapp', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    assert.deepEqual([failed.code, failed.stdout, failed.stderr], [7, 'out\n', 'err\n']);
    const env = await ok(sim, ['run', 'myapp', 'env']);
    assert.match(env.stdout, /^SECRET_TOKEN=second$/m);
    assert.deepEqual((await containersOf('myapp')).map((c) => c.Labels['com.dokku.dyno']).sort(), ['web.1', 'worker.1'], 'one-off containers are removed');
  });

  it('a missing image fails like a failed pull and leaves the app as it was', async () => {
    const r = await sim.run(['git:from-image', 'myapp', 'otm-missing/never:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, / ! {5}Failed to pull image: otm-missing\/never:1\n$/);
    const report = JSON.parse((await ok(sim, ['apps:report', 'myapp', '--format', 'json'])).stdout) as Record<string, string>;
    assert.equal(report['app-deploy-source-metadata'], 'otm-standin/otree:1');
  });

  it('apps:destroy removes every container of the app', async () => {
    await ok(sim, ['--force', 'apps:destroy', 'myapp']);
    assert.deepEqual(await containersOf('myapp'), []);
  });
});
