// The driver against the Dokku simulator, as Dokku 0.35 and as 0.38.27: every catalogue command, every
// error class, both report generations, and observe()'s bulk reads (a constant number of Dokku calls
// however many apps there are).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DokkuDriver } from '../../src/observed/driver.js';
import type { CommandEvent } from '../../src/observed/driver.js';
import { DokkuError } from '../../src/observed/errors.js';
import type { DokkuErrorKind } from '../../src/observed/errors.js';
import { LocalTransport } from '../../src/observed/local.js';
import type { DokkuCommand } from '../../src/reconcile/commands.js';
import { parseConfigExport, parseSshKeys } from '../../src/observed/parse/lists.js';

const SIM = fileURLToPath(new URL('../dokku-sim/dokku', import.meta.url));
const SIM_MAIN = fileURLToPath(new URL('../../dist/test/dokku-sim/main.js', import.meta.url));
const IMAGE = 'otm-standin/otree:1';

interface SimHost {
  root: string;
  driver: DokkuDriver;
  events: CommandEvent[];
  /** Dokku invocations recorded by the simulator so far. */
  invocations(): Promise<Array<{ argv: string[]; exit: number }>>;
  faults(faults: Record<string, unknown> | undefined): Promise<void>;
}

async function simHost(version: string, env: Record<string, string> = {}): Promise<SimHost> {
  if (!existsSync(SIM_MAIN)) throw new Error(`the Dokku simulator is not built (${SIM_MAIN} is missing): run \`make build\``);
  const root = await mkdtemp(join(tmpdir(), 'otm-driver-'));
  const events: CommandEvent[] = [];
  const transport = new LocalTransport({
    dokkuPath: SIM,
    env: { DOKKU_SIM_ROOT: root, DOKKU_SIM_VERSION: version, DOKKU_SIM_DOCKER: '0', ...env },
  });
  const driver = new DokkuDriver({ host: `sim-${version}`, transport, timeoutMs: 60_000, onCommand: (e) => events.push(e) });
  return {
    root,
    driver,
    events,
    async invocations() {
      const log = join(root, 'invocations.jsonl');
      if (!existsSync(log)) return [];
      return (await readFile(log, 'utf8')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { argv: string[]; exit: number });
    },
    async faults(faults) {
      const file = join(root, 'faults.json');
      if (faults) await writeFile(file, JSON.stringify(faults));
      else await rm(file, { force: true });
    },
  };
}

async function failure(kind: DokkuErrorKind, promise: Promise<unknown>): Promise<DokkuError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof DokkuError, `expected a DokkuError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    return err;
  }
  assert.fail(`expected a ${kind} failure, but the command succeeded`);
}

const HOSTILE: Record<string, string> = {
  SPACES: 'a b',
  QUOTE: "it's",
  DOUBLE: '"',
  SUBSHELL: '$(touch /tmp/otm-driver-pwned)',
  SEMI: ';',
  BACKTICK: '`id`',
  MULTILINE: 'line1\nline2',
  UNICODE: 'ünïcödé ✓ 🎉',
  EMPTY: '',
};

// The two releases run side by side: each has its own simulated host.
describe('driver against the simulator', { concurrency: true }, () => {
for (const version of ['0.35.16', '0.38.27']) {
  // Within one release the steps build on each other: in order.
  describe(`as Dokku ${version}`, { concurrency: 1 }, () => {
    let sim: SimHost;
    const app = 'otm-drv-a';

    before(async () => {
      sim = await simHost(version);
    });

    after(async () => {
      await sim.driver.close();
      await rm(sim.root, { recursive: true, force: true });
    });

    test('version is read once and parsed', async () => {
      const v = await sim.driver.version();
      assert.equal(`${v.major}.${v.minor}.${v.patch}`, version);
      await sim.driver.version();
      await sim.driver.capabilities();
      assert.equal((await sim.invocations()).filter((i) => i.argv.includes('version')).length, 1);
    });

    test('apps and config: create, hostile values round-trip through --encoded, unset, usage errors', async () => {
      await sim.driver.run({ cmd: 'apps:create', app });
      await sim.driver.run({ cmd: 'apps:exists', app });
      await failure('AlreadyExists', sim.driver.run({ cmd: 'apps:create', app }));
      await failure('AppMissing', sim.driver.run({ cmd: 'apps:exists', app: 'otm-drv-missing' }));
      await failure('Usage', sim.driver.run({ cmd: 'apps:create', app: 'Bad_Name' }));
      const pairs = Object.entries(HOSTILE).map(([key, value]) => ({ key, value }));
      await sim.driver.run({ cmd: 'config:set', app, pairs, restart: false });
      const observed = await sim.driver.observeApp(app);
      for (const [key, value] of Object.entries(HOSTILE)) assert.equal(observed?.config[key], value, key);
      assert.equal(existsSync('/tmp/otm-driver-pwned'), false);
      await sim.driver.run({ cmd: 'config:unset', app, keys: ['SEMI'], restart: false });
      assert.equal('SEMI' in parseConfigExport((await sim.driver.run({ cmd: 'config:export', app })).stdout), false);
      await failure('AppMissing', sim.driver.run({ cmd: 'config:export', app: 'otm-drv-missing' }));
    });

    test('scale, domains and resources as observeApp sees them', async () => {
      await sim.driver.run({ cmd: 'ps:scale', app, scale: { web: 1, worker: 2 }, skipDeploy: true });
      await sim.driver.run({ cmd: 'domains:set', app, domains: ['a.lab.example.org', 'b.lab.example.org'] });
      await sim.driver.run({ cmd: 'resource:limit', app, memory: '512m', cpu: '1' });
      let a = await sim.driver.observeApp(app);
      assert.deepEqual(a?.scale, { web: 1, worker: 2 });
      assert.deepEqual(a?.domains, ['a.lab.example.org', 'b.lab.example.org']);
      assert.equal(a?.vhostsEnabled, true);
      assert.deepEqual(a?.resources, { memory: '512m', cpu: '1' });
      await sim.driver.run({ cmd: 'domains:remove', app, domains: ['a.lab.example.org'] });
      assert.match((await sim.driver.run({ cmd: 'domains:report', app })).stdout, /Domains app vhosts: +b\.lab\.example\.org *$/m);
      await sim.driver.run({ cmd: 'domains:clear', app });
      await sim.driver.run({ cmd: 'resource:limit-clear', app });
      a = await sim.driver.observeApp(app);
      assert.deepEqual(a?.domains, [], 'domains:clear leaves no domains on every version');
      assert.deepEqual(a?.resources, {});
    });

    test('services: create, info, link, linked, links, app-links, unlink, destroy and their errors', async () => {
      const plugins = ['postgres', 'redis'] as const;
      for (const plugin of plugins) {
        const service = `otm-drv-${plugin}`;
        await sim.driver.run({ cmd: 'service:create', plugin, service });
        await failure('AlreadyExists', sim.driver.run({ cmd: 'service:create', plugin, service }));
        await sim.driver.run({ cmd: 'service:exists', plugin, service });
        await sim.driver.run({ cmd: 'service:link', plugin, service, app, restart: false });
        await failure('AlreadyLinked', sim.driver.run({ cmd: 'service:link', plugin, service, app, restart: false }));
        await sim.driver.run({ cmd: 'service:linked', plugin, service, app });
        assert.deepEqual((await sim.driver.observeService(plugin, service))?.links, [app]);
        assert.match((await sim.driver.run({ cmd: 'service:links', plugin, service })).stdout, new RegExp(`^${app}$`, 'm'));
      }
      assert.deepEqual((await sim.driver.observeApp(app))?.links, { postgres: ['otm-drv-postgres'], redis: ['otm-drv-redis'] });
      for (const plugin of plugins) {
        const service = `otm-drv-${plugin}`;
        await failure('Usage', sim.driver.run({ cmd: 'service:destroy', plugin, service }));
        await sim.driver.run({ cmd: 'service:unlink', plugin, service, app, restart: false });
        await failure('NotLinked', sim.driver.run({ cmd: 'service:unlink', plugin, service, app, restart: false }));
        await sim.driver.run({ cmd: 'service:destroy', plugin, service });
        await failure('ServiceMissing', sim.driver.run({ cmd: 'service:info', plugin, service }));
        assert.equal(await sim.driver.observeService(plugin, service), undefined);
      }
    });

    test('deploys: from an image, no changes, lifecycle, rebuild, run, export, lock and timeouts', async () => {
      await sim.driver.run({ cmd: 'git:from-image', app, image: IMAGE });
      let a = await sim.driver.observeApp(app);
      assert.equal(a?.deployed, true);
      assert.equal(a?.deploySource, 'docker-image');
      assert.equal(a?.deploySourceMetadata, IMAGE);
      await failure('NoChanges', sim.driver.run({ cmd: 'git:from-image', app, image: IMAGE }));
      assert.match((await sim.driver.run({ cmd: 'git:report', app, json: (await sim.driver.capabilities()).jsonReport.git })).stdout, /otm-standin\/otree:1/);
      await sim.driver.run({ cmd: 'ps:stop', app });
      a = await sim.driver.observeApp(app);
      assert.equal(a?.stoppedByUser, true);
      assert.equal(a?.status, 'stopped');
      await sim.driver.run({ cmd: 'ps:start', app });
      assert.match((await sim.driver.run({ cmd: 'ps:report', app })).stdout, /Restore: +true/);
      await sim.driver.run({ cmd: 'ps:restart', app });
      await sim.driver.run({ cmd: 'ps:restart', app, process: 'web' });
      await sim.driver.run({ cmd: 'ps:rebuild', app });
      await sim.driver.run({ cmd: 'run', app, command: ['otree', 'resetdb', '--noinput'] });
      const exit3 = await failure('Unknown', sim.driver.run({ cmd: 'run', app, command: ['sh', '-c', 'exit 3'] }));
      assert.equal(exit3.exitCode, 3, 'the container command\'s exit status passes through');
      await failure('Unknown', sim.driver.run({ cmd: 'apps:locked', app }));

      await sim.driver.run({ cmd: 'service:create', plugin: 'postgres', service: 'otm-drv-db' });
      const dump = join(sim.root, 'dump.pgc');
      const exported = await sim.driver.run({ cmd: 'postgres:export', service: 'otm-drv-db' }, { outputFile: dump });
      assert.equal(exported.stdout, '');
      assert.ok((await stat(dump)).size > 0, 'the export landed in the file');
      await sim.driver.run({ cmd: 'service:destroy', plugin: 'postgres', service: 'otm-drv-db' });

      await sim.faults({ lockedApps: [app] });
      await failure('DeployLocked', sim.driver.run({ cmd: 'ps:rebuild', app }));
      await sim.driver.run({ cmd: 'apps:locked', app });
      await sim.faults({ hang: 'ps:report' });
      const timedOut = await failure('Timeout', sim.driver.run({ cmd: 'ps:report', app }, { timeoutMs: 1500 }));
      assert.equal(timedOut.retryable, true);
      await sim.faults({ failRate: 1 });
      const unknown = await failure('Unknown', sim.driver.run({ cmd: 'apps:list' }));
      assert.equal(unknown.retryable, true);
      assert.match(unknown.dokkuMessage, /Simulated transient failure/);
      await sim.faults(undefined);
    });

    test('letsencrypt, ssh keys and acl', async () => {
      await sim.driver.run({ cmd: 'domains:set', app, domains: ['tls.lab.example.org'] });
      await sim.driver.run({ cmd: 'letsencrypt:enable', app });
      assert.equal((await sim.driver.observeApp(app))?.letsencrypt.active, true);
      assert.equal((await sim.driver.observe({ detail: () => false })).apps.get(app)?.letsencrypt.active, true);
      await sim.driver.run({ cmd: 'letsencrypt:disable', app });
      assert.equal((await sim.driver.run({ cmd: 'letsencrypt:active', app })).stdout.trim(), 'false');

      const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice';
      const keys = async () => parseSshKeys((await sim.driver.run({ cmd: 'ssh-keys:list' })).stdout);
      await sim.driver.run({ cmd: 'ssh-keys:add', name: 'otm-alice', key });
      assert.equal((await keys()).get('otm-alice')?.length, 1);
      await sim.driver.run({ cmd: 'ssh-keys:remove', name: 'otm-alice' });
      // Like sshcommand, the listing fails once the last key is gone; observe() reads that as no keys.
      const none = await failure('Unknown', keys());
      assert.match(none.dokkuMessage, /No public keys found/);
      assert.equal((await sim.driver.observe({ detail: () => false })).sshKeys.size, 0);

      await sim.driver.run({ cmd: 'acl:add', app, user: 'otm-alice' });
      await failure('AlreadyExists', sim.driver.run({ cmd: 'acl:add', app, user: 'otm-alice' }));
      assert.deepEqual(await sim.driver.observeAcl(app), ['otm-alice']);
      await sim.driver.run({ cmd: 'acl:remove', app, user: 'otm-alice' });
      assert.deepEqual(await sim.driver.observeAcl(app), []);
    });

    test('observe reads every app in bulk: the number of Dokku calls does not grow with the apps', async () => {
      const before = await sim.invocations();
      await sim.driver.observe({ detail: () => false });
      const oneApp = (await sim.invocations()).length - before.length;
      for (const name of ['otm-drv-b', 'otm-drv-c', 'otm-drv-d']) await sim.driver.run({ cmd: 'apps:create', app: name });
      const middle = (await sim.invocations()).length;
      const host = await sim.driver.observe({ detail: () => false });
      assert.equal((await sim.invocations()).length - middle, oneApp, 'same number of calls for 1 and 4 apps');
      assert.deepEqual([...host.apps.keys()].sort(), [app, 'otm-drv-b', 'otm-drv-c', 'otm-drv-d']);
      assert.equal(host.apps.get('otm-drv-b')?.partial, true);
      assert.equal(host.apps.get(app)?.deploySource, 'docker-image');
      assert.equal(host.apps.get(app)?.deployed, true);
      assert.equal(host.apps.get('otm-drv-b')?.deployed, false);
      assert.deepEqual(host.plugins, { postgres: true, redis: true, letsencrypt: true, acl: false });

      const beforeDetail = (await sim.invocations()).length;
      const detailed = await sim.driver.observe({ detail: (name) => name === app });
      assert.equal((await sim.invocations()).length - beforeDetail, oneApp + 2, 'config and scale for the one app asked for');
      assert.equal(detailed.apps.get(app)?.partial, undefined);
      assert.equal(detailed.apps.get(app)?.config['QUOTE'], "it's");
      assert.deepEqual(detailed.apps.get(app)?.scale, { web: 1, worker: 2 });
      assert.ok(sim.events.every((e) => e.host === `sim-${version}` && e.durationMs >= 0));
    });

    test('a host without the optional plugins: observed as absent, their commands are PluginMissing', async () => {
      const bare = await simHost(version, { DOKKU_SIM_PLUGINS: '' });
      try {
        await bare.driver.run({ cmd: 'apps:create', app });
        const host = await bare.driver.observe();
        assert.deepEqual(host.plugins, { postgres: false, redis: false, letsencrypt: false, acl: false });
        assert.deepEqual(host.apps.get(app)?.links, { postgres: [], redis: [] });
        const missing: DokkuCommand[] = [
          { cmd: 'service:create', plugin: 'postgres', service: 'x' },
          { cmd: 'letsencrypt:enable', app },
          { cmd: 'acl:add', app, user: 'u' },
        ];
        for (const command of missing) await failure('PluginMissing', bare.driver.run(command));
      } finally {
        await rm(bare.root, { recursive: true, force: true });
      }
    });

    test('apps:destroy, then the app is gone for observe and observeApp', async () => {
      await sim.driver.run({ cmd: 'apps:destroy', app: 'otm-drv-d' });
      await failure('AppMissing', sim.driver.run({ cmd: 'apps:destroy', app: 'otm-drv-d' }));
      assert.equal(await sim.driver.observeApp('otm-drv-d'), undefined);
      assert.equal((await sim.driver.observe()).apps.has('otm-drv-d'), false);
    });
  });
}
});
