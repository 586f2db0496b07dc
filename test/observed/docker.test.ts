// The Docker observer against a real Engine: containers labelled the way Dokku labels them, made from the
// stand-in image. Every container carries this run's label so parallel runs never see each other's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { DockerObserver, JsonLineDecoder, type ContainerEvent } from '../../src/observed/docker.js';
import { requireDocker, waitFor } from '../support/services.js';
import { ensureStandinImage, STANDIN_IMAGE, STANDIN_PROCFILE } from '../support/image.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

const RUN = randomUUID().slice(0, 8);
const RUN_LABEL = 'otm.test.docker-observer';

interface DokkuContainer {
  app: string;
  processType?: string;
  containerType?: string;
  env?: Record<string, string>;
  cmd?: string[];
  restartPolicy?: Docker.HostRestartPolicy;
  healthcheck?: Docker.HealthConfig;
}

/** Creates and starts a container the way Dokku's docker-local scheduler labels one. */
async function runDokkuContainer(docker: Docker, spec: DokkuContainer): Promise<Docker.Container> {
  const processType = spec.processType ?? 'web';
  const container = await docker.createContainer({
    name: `otm-dkr-${RUN}-${spec.app}.${processType}.${randomUUID().slice(0, 4)}`,
    Image: STANDIN_IMAGE,
    Cmd: spec.cmd ?? STANDIN_PROCFILE.web,
    // PID 1 ignores SIGTERM: stop (and Engine shutdown) would wait the default 10 s.
    StopTimeout: 1,
    Env: Object.entries({ PORT: '5000', DYNO: `${processType}.1`, ...spec.env }).map(([k, v]) => `${k}=${v}`),
    Labels: {
      'com.dokku.app-name': spec.app,
      'com.dokku.process-type': processType,
      'com.dokku.container-type': spec.containerType ?? 'deploy',
      'com.dokku.dyno': `${processType}.1`,
      [RUN_LABEL]: RUN,
    },
    ...(spec.healthcheck ? { Healthcheck: spec.healthcheck } : {}),
    HostConfig: { NetworkMode: 'none', ...(spec.restartPolicy ? { RestartPolicy: spec.restartPolicy } : {}) },
  });
  await container.start();
  return container;
}

async function removeRunContainers(docker: Docker): Promise<void> {
  const mine = await docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${RUN}`] } });
  await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

function observerFor(docker: Docker): DockerObserver {
  return new DockerObserver({ docker, labelFilter: { [RUN_LABEL]: RUN }, reconnectBackoff: { baseMs: 50, capMs: 500 } });
}

/**
 * A second dockerd of our own, so the test can stop and start an Engine without touching the shared one:
 * its own socket, data root, exec root (hence its own containerd), no bridge and no iptables rules.
 */
async function startPrivateEngine(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'otm-dockerd-'));
  const socket = join(dir, 'docker.sock');
  await writeFile(join(dir, 'daemon.json'), '{}');
  let daemon: ChildProcess | undefined;
  const client = new Docker({ socketPath: socket });

  const start = async (): Promise<void> => {
    const log = await open(join(dir, 'dockerd.log'), 'a');
    daemon = spawn('dockerd', [
      '--host', `unix://${socket}`, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'),
      '--pidfile', join(dir, 'dockerd.pid'), '--config-file', join(dir, 'daemon.json'),
      '--bridge', 'none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--shutdown-timeout', '1',
    ], { stdio: ['ignore', log.fd, log.fd] });
    daemon.once('exit', () => { void log.close(); });
    await waitFor('the private dockerd to answer', () => client.ping().then(() => true));
  };
  const stop = async (): Promise<void> => {
    const running = daemon;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  const loadImage = async (image: string): Promise<void> => {
    const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'inherit'] });
    const load = spawn('docker', ['-H', `unix://${socket}`, 'load'], { stdio: ['pipe', 'ignore', 'inherit'] });
    save.stdout!.pipe(load.stdin!);
    const code = await new Promise((resolve) => load.once('exit', resolve));
    assert.equal(code, 0, `loading ${image} into the private dockerd`);
  };

  t.after(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });
  await start();
  return { client: () => client, start, stop, loadImage };
}

const ms = (n: number): number => n * 1_000_000;

test('DockerObserver on the shared Engine', async (t) => {
  const docker = await requireDocker();
  await ensureStandinImage();
  t.after(() => removeRunContainers(docker));
  const observer = observerFor(docker);
  const events: ContainerEvent[] = [];
  const subscription = observer.subscribe((_app, event) => events.push(event));
  t.after(() => subscription.stop());
  await subscription.ready;
  const seen = (app: string, action: string, after = 0): Promise<ContainerEvent> =>
    waitFor(`a ${action} event for ${app}`, () => events.slice(after).find((e) => e.app === app && e.action === action));

  await t.test('lists deployed containers with their state and real environment, ignoring run containers', async () => {
    const app = `${RUN}-env`;
    await runDokkuContainer(docker, { app, env: { OTREE_PRODUCTION: '1', DATABASE_URL: 'postgres://u:p@db/x' } });
    await runDokkuContainer(docker, { app, processType: 'worker', cmd: STANDIN_PROCFILE.worker });
    await runDokkuContainer(docker, { app, processType: 'run', containerType: 'run', cmd: STANDIN_PROCFILE.worker });

    const containers = (await observer.listContainers(app)).get(app) ?? [];
    assert.deepEqual(containers.map((c) => [c.processType, c.dyno, c.state]), [['web', 'web.1', 'running'], ['worker', 'worker.1', 'running']]);
    const web = containers[0]!;
    assert.equal(web.env.OTREE_PRODUCTION, '1');
    assert.equal(web.env.DATABASE_URL, 'postgres://u:p@db/x');
    assert.equal(web.env.PORT, '5000');
    assert.equal(web.restartCount, 0);
    assert.ok(web.startedAt, 'a running container has a start time');
    assert.equal(web.health, undefined, 'no healthcheck, no health');

    const all = await observer.listContainers();
    assert.deepEqual((all.get(app) ?? []).map((c) => c.id), containers.map((c) => c.id), 'listing every app finds the same containers');
  });

  await t.test('sees a container start, die when killed, and restart', async () => {
    const app = `${RUN}-life`;
    const container = await runDokkuContainer(docker, { app });
    const started = await seen(app, 'start');
    assert.equal(started.containerId, container.id);
    assert.equal(started.processType, 'web');
    assert.equal(started.dyno, 'web.1');

    await container.kill();
    const died = await seen(app, 'die');
    assert.equal(died.exitCode, 137);
    const dead = (await observer.listContainers(app)).get(app)!;
    assert.deepEqual(dead.map((c) => [c.state, c.exitCode]), [['exited', 137]]);

    const before = events.length;
    await container.restart({ t: 0 });
    await seen(app, 'restart', before);
    await seen(app, 'start', before);
    const [again] = (await observer.listContainers(app)).get(app)!;
    assert.equal(again!.state, 'running');
    assert.notEqual(again!.startedAt, dead[0]!.startedAt, 'the restart started it anew');

    await container.remove({ force: true });
    await seen(app, 'destroy');
    assert.equal((await observer.listContainers(app)).get(app), undefined);
  });

  await t.test('reports restart count and exit code of a crashing process', async () => {
    const app = `${RUN}-crash`;
    await runDokkuContainer(docker, { app, cmd: ['/bin/sh', '-c', 'exit 3'], restartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } });
    const final = await waitFor('the container to give up after two restarts', async () => {
      const [c] = (await observer.listContainers(app)).get(app) ?? [];
      return c && c.restartCount === 2 && c.state === 'exited' ? c : undefined;
    });
    assert.equal(final.exitCode, 3);
    assert.equal(final.oomKilled, false);
    const dies = events.filter((e) => e.app === app && e.action === 'die');
    assert.ok(dies.length >= 1 && dies.every((e) => e.exitCode === 3), 'each crash is a die event with exit code 3');
  });

  await t.test('reports health from a healthcheck and its health_status event', async () => {
    const app = `${RUN}-health`;
    await runDokkuContainer(docker, { app, healthcheck: { Test: ['CMD', '/bin/true'], Interval: ms(200), Timeout: ms(1000), Retries: 1 } });
    await seen(app, 'health_status: healthy');
    const [c] = (await observer.listContainers(app)).get(app)!;
    assert.equal(c!.health, 'healthy');
  });
});

test('the event stream reconnects after the Engine restarts', async (t) => {
  await ensureStandinImage();
  const engine = await startPrivateEngine(t);
  await engine.loadImage(STANDIN_IMAGE);
  const docker = engine.client();
  const observer = observerFor(docker);
  const events: ContainerEvent[] = [];
  let reconnects = 0;
  const disconnects: number[] = [];
  const subscription = observer.subscribe((_app, event) => events.push(event), {
    onReconnect: () => { reconnects++; },
    onDisconnect: (_err, retryInMs) => { disconnects.push(retryInMs); },
  });
  t.after(() => subscription.stop());
  await subscription.ready;

  await runDokkuContainer(docker, { app: `${RUN}-before`, cmd: STANDIN_PROCFILE.worker });
  await waitFor('the start event before the restart', () => events.find((e) => e.app === `${RUN}-before` && e.action === 'start'));

  await engine.stop();
  await waitFor('the observer to notice the Engine is gone', () => (disconnects.length > 0 ? true : undefined));
  await engine.start();
  await waitFor('the observer to reconnect', () => (reconnects === 1 ? true : undefined));
  assert.ok(disconnects.length >= 1);
  assert.ok(disconnects.every((delay) => delay >= 45 && delay <= 500), `retry delays stay between the base and the cap: ${disconnects}`);

  await runDokkuContainer(docker, { app: `${RUN}-after`, cmd: STANDIN_PROCFILE.worker });
  const after = await waitFor('a start event after the restart', () => events.find((e) => e.app === `${RUN}-after` && e.action === 'start'));
  assert.equal(after.processType, 'web');
  assert.equal(reconnects, 1, 'one break, one reconnect');
});

test('JsonLineDecoder reassembles events split across chunks', () => {
  const decoder = new JsonLineDecoder();
  const invalid: string[] = [];
  const onInvalid = (line: string): void => { invalid.push(line); };
  const bytes = Buffer.from('{"Action":"start","name":"ä"}\n{"Action":"die"}\nnot json\n{"Act');
  const cut = bytes.indexOf(0xa4); // in the middle of the two bytes of ä
  assert.deepEqual(decoder.push(bytes.subarray(0, cut), onInvalid), []);
  assert.deepEqual(decoder.push(bytes.subarray(cut), onInvalid), [{ Action: 'start', name: 'ä' }, { Action: 'die' }]);
  assert.deepEqual(decoder.push('ion":"oom"}\n', onInvalid), [{ Action: 'oom' }]);
  assert.deepEqual(invalid, ['not json']);
});
