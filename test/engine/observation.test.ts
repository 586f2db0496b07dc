// The host cache against the Dokku simulator: a shallow refresh reads the bulk reports only (no
// per-app or per-service reads for what it already knows), keeps every service link it knew, reads
// the services it has never seen, and leaves stale apps to a detailed read before they are planned.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HostCache } from '../../src/engine/observation.js';
import { OWNERSHIP_MARKER } from '../../src/manifest/index.js';
import { DokkuDriver } from '../../src/observed/driver.js';
import { LocalTransport } from '../../src/observed/local.js';
import { newSimRoot, readInvocations, SIM_BIN } from '../dokku-sim/client.js';
import type { SimRoot } from '../dokku-sim/client.js';

const SIM_MAIN = fileURLToPath(new URL('../../dist/test/dokku-sim/main.js', import.meta.url));
let sim: SimRoot;
let cache: HostCache;

async function callsDuring(work: () => Promise<unknown>): Promise<string[][]> {
  const before = (await readInvocations(sim.root)).length;
  await work();
  return (await readInvocations(sim.root)).slice(before).map((c) => c.argv);
}

async function setUp(argv: string[]): Promise<void> {
  const result = await sim.run(argv);
  assert.equal(result.code, 0, `${argv.join(' ')}: ${result.stderr}`);
}

before(async () => {
  if (!existsSync(SIM_MAIN)) throw new Error(`the Dokku simulator is not built (${SIM_MAIN} is missing): run \`make build\``);
  sim = await newSimRoot({ version: '0.38.27', prefix: 'otm-obs-cache-' });
  for (const app of ['obs-a', 'obs-b']) {
    await setUp(['apps:create', app]);
    await setUp(['postgres:create', `${app}-pg`]);
  }
  await setUp(['postgres:link', 'obs-a-pg', 'obs-a', '--no-restart']);
  cache = new HostCache({ driver: new DokkuDriver({ host: 'sim', transport: new LocalTransport({ dokkuPath: SIM_BIN, env: sim.env }) }) });
  await cache.refresh(true);
});

after(async () => {
  await sim?.destroy();
});

test('a shallow refresh of a known host makes only the bulk reads and keeps the service links', async () => {
  const calls = await callsDuring(() => cache.refresh(false));
  const commands = calls.map((argv) => argv.find((a) => !a.startsWith('--')));
  assert.deepEqual(commands.sort(), [
    'apps:list', 'apps:report', 'domains:report', 'letsencrypt:list', 'postgres:list', 'ps:report', 'redis:list',
    'resource:report', 'ssh-keys:list',
  ]);
  const host = cache.current();
  assert.deepEqual(host.apps.get('obs-a')?.links.postgres, ['obs-a-pg']);
  assert.deepEqual(host.apps.get('obs-b')?.links.postgres, []);
  assert.deepEqual(host.services.get('postgres/obs-a-pg')?.links, ['obs-a']);
  assert.equal(host.services.get('postgres/obs-b-pg')?.status, 'running');
});

test('a service created behind the cache is read in full; the ones it knew are not read again', async () => {
  await setUp(['postgres:create', 'obs-c-pg']);
  await setUp(['postgres:link', 'obs-c-pg', 'obs-b', '--no-restart']);
  const calls = await callsDuring(() => cache.refresh(false));
  assert.deepEqual(calls.filter((argv) => argv.includes('postgres:info')).map((argv) => argv.at(-1)), ['obs-c-pg']);
  assert.deepEqual(cache.current().services.get('postgres/obs-c-pg')?.links, ['obs-b']);
  assert.deepEqual(cache.current().apps.get('obs-b')?.links.postgres, ['obs-c-pg']);
});

test('an app marked stale stays stale through a shallow refresh and is read in detail when asked for', async () => {
  await setUp(['config:set', '--no-restart', 'obs-a', 'OBS_KEY=1']);
  cache.invalidate('obs-a');
  const shallow = await callsDuring(() => cache.refresh(false));
  assert.equal(shallow.some((argv) => argv.includes('config:export')), false);
  const detailed = await callsDuring(async () => {
    assert.equal((await cache.app('obs-a'))?.config['OBS_KEY'], '1');
  });
  assert.equal(detailed.some((argv) => argv.includes('config:export') && argv.includes('obs-a')), true);
  const again = await callsDuring(() => cache.app('obs-a'));
  assert.deepEqual(again, []);
});

test('a deep refresh reads every managed app\'s acl', async () => {
  for (const app of ['obs-a', 'obs-b']) await setUp(['config:set', '--no-restart', app, `${OWNERSHIP_MARKER}=true`]);
  await setUp(['acl:add', 'obs-b', 'obs-user']);
  await cache.refresh(true);
  const host = cache.current();
  assert.equal(host.plugins.acl, true);
  assert.deepEqual(host.acl.get('obs-a'), []);
  assert.deepEqual(host.acl.get('obs-b'), ['obs-user']);
});
