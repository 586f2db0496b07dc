// The executor against the real driver and the Dokku simulator: what Dokku ends up holding after a plan
// runs, a plan run twice (a crash between the commands and the observation), a deploy lock, a database
// export verified on disk.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Executor } from '../../src/engine/executor.js';
import { TokenBucket } from '../../src/engine/token-bucket.js';
import { DokkuDriver } from '../../src/observed/driver.js';
import { LocalTransport } from '../../src/observed/local.js';
import { planned } from '../../src/reconcile/action.js';

const SIM = fileURLToPath(new URL('../dokku-sim/dokku', import.meta.url));
const SIM_MAIN = fileURLToPath(new URL('../../dist/test/dokku-sim/main.js', import.meta.url));

let root: string;
let driver: DokkuDriver;
let executor: Executor;

before(async () => {
  if (!existsSync(SIM_MAIN)) throw new Error(`the Dokku simulator is not built (${SIM_MAIN} is missing): run \`make build\``);
  root = await mkdtemp(join(tmpdir(), 'otm-executor-sim-'));
  const transport = new LocalTransport({ dokkuPath: SIM, env: { DOKKU_SIM_ROOT: root, DOKKU_SIM_VERSION: '0.38.27', DOKKU_SIM_DOCKER: '0' } });
  driver = new DokkuDriver({ host: 'sim', transport, timeoutMs: 60_000 });
  executor = new Executor({ runner: driver, bucket: new TokenBucket({ ratePerSecond: 100, burst: 100 }), concurrency: 2 });
});

after(async () => {
  await executor.shutdown(0);
  await driver.close();
  await rm(root, { recursive: true, force: true });
});

const app = 'exec-alice';
const service = 'exec-alice-db';
const createPlan = [
  planned({ cmd: 'apps:create', app }, 'the instance is declared'),
  planned({ cmd: 'service:create', plugin: 'postgres', service }, 'the instance needs a database'),
  planned({ cmd: 'service:link', plugin: 'postgres', service, app, restart: false }, 'the app uses the database'),
  planned({ cmd: 'config:set', app, pairs: [{ key: 'OTM_MANAGED', value: 'true' }, { key: 'OTREE_ADMIN_PASSWORD', value: 'pw-123' }], restart: false }, 'declared config'),
];

test('a plan leaves Dokku holding the app, its linked database and its config', async () => {
  const report = await executor.execute(createPlan);
  assert.equal(report.failure, undefined, report.failure?.error.message);
  assert.deepEqual(report.outcomes.map((o) => o.result), ['applied', 'applied', 'applied', 'applied']);
  await driver.run({ cmd: 'apps:exists', app });
  await driver.run({ cmd: 'service:linked', plugin: 'postgres', service, app });
  const config = JSON.parse((await driver.run({ cmd: 'config:export', app })).stdout) as Record<string, string>;
  assert.equal(config.OTREE_ADMIN_PASSWORD, 'pw-123');
  assert.match(config.DATABASE_URL ?? '', /^postgres:\/\//);
});

test('running the same plan again (a crash before the observation) stops at the create: an existing app is not proof of ownership', async () => {
  const report = await executor.execute(createPlan);
  assert.deepEqual([report.failure?.kind, report.failure?.retryable, report.failure?.index], ['AlreadyExists', false, 0]);
  const links = await executor.execute(createPlan.slice(2));
  assert.equal(links.failure, undefined, links.failure?.error.message);
  assert.deepEqual(links.outcomes.map((o) => o.result), ['already-done', 'applied'], 'a link already in place counts as done');
});

test('a held deploy lock stops the list with a retryable failure', async () => {
  await writeFile(join(root, 'faults.json'), JSON.stringify({ lockedApps: [app] }));
  try {
    const report = await executor.execute([
      planned({ cmd: 'git:from-image', app, image: 'otm-standin/otree:1' }, 'the declared image'),
      planned({ cmd: 'ps:restart', app }, 'after the deploy'),
    ]);
    assert.deepEqual([report.failure?.kind, report.failure?.retryable, report.failure?.index], ['DeployLocked', true, 0]);
    assert.equal(report.outcomes.length, 0);
  } finally {
    await rm(join(root, 'faults.json'), { force: true });
  }
});

test('an export lands verified under its final name before the next action runs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'otm-executor-sim-backup-'));
  try {
    const file = join(dir, `${service}.dump`);
    const report = await executor.execute([
      planned({ cmd: 'postgres:export', service }, 'back up before the destroy', { outputFile: file }),
      planned({ cmd: 'service:unlink', plugin: 'postgres', service, app, restart: false }, 'the database is removed', { requires: 'verified-backup' }),
    ]);
    assert.equal(report.failure, undefined, report.failure?.error.message);
    assert.equal((await readFile(file)).subarray(0, 5).toString('latin1'), 'PGDMP');
    assert.deepEqual(await readdir(dir), [`${service}.dump`]);
    await assert.rejects(driver.run({ cmd: 'service:linked', plugin: 'postgres', service, app }), /not linked/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
