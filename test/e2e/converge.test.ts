// From nothing to N declared instances, then edits with the least work, a foreign config key that
// survives, removals without prune (nothing touched) and with prune (deletionPolicy followed, unmanaged
// apps never touched). Against the Dokku simulator with real containers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import type { Daemon } from '../../src/engine/daemon.js';
import { requireDocker, waitFor } from '../support/services.js';
import { inSync, Lab, PASSWORD, restartsOf, settle } from './harness.js';

describe('convergence end to end', { timeout: 600_000 }, () => {
  let lab: Lab;
  let daemon: Daemon | undefined;
  const names: string[] = [];

  before(async () => {
    lab = await Lab.create({ tag: 'conv' });
    for (let i = 1; i <= 5; i++) names.push(lab.app(i));
  });

  after(async () => {
    await daemon?.stop(2_000);
    await lab?.destroy();
  });

  it('creates every declared instance from nothing: apps, databases, config, domains, answering containers', async () => {
    const [a, b, c, d, e] = names as [string, string, string, string, string];
    await lab.declare(a);
    await lab.declare(b, { domains: [`${b}.lab.example.org`], env: { SESSION_LABEL: 'week-1' } });
    await lab.declare(c, { otree: { authLevel: 'DEMO', production: false }, database: { deletionPolicy: 'Delete' } });
    await lab.declare(d, { otree: { version: '3' }, redis: true, processes: { web: 1, worker: 1 }, database: { deletionPolicy: 'Backup' } });
    await lab.declare(e, { database: { deletionPolicy: 'Retain' } });
    daemon = await lab.startDaemon();
    const statuses = await settle(daemon, names);
    assert.deepEqual(statuses.map((s) => s.phase), names.map(() => 'Running'));

    const state = await lab.state();
    for (const name of names) {
      const app = state.apps[name];
      assert.ok(app, `${name} exists`);
      assert.equal(app.config.OTM_MANAGED, 'true', `${name} carries the ownership marker`);
      assert.equal(app.config.OTREE_ADMIN_PASSWORD, PASSWORD);
      assert.ok(app.deployed && !app.stopped);
      assert.deepEqual(state.services.postgres[`${name}-pg`]?.links, [name], `${name}-pg is linked to ${name} only`);
      assert.equal(await lab.login(name), 200, `${name} answers GET /login`);
    }
    assert.equal(state.apps[b]!.domains.join(), `${b}.lab.example.org`);
    assert.equal(state.apps[b]!.config.SESSION_LABEL, 'week-1');
    assert.equal(state.apps[c]!.config.OTREE_AUTH_LEVEL, 'DEMO');
    assert.deepEqual(state.services.redis[`${d}-redis`]?.links, [d]);
    assert.equal(state.apps[d]!.scale.worker, 1);
    assert.equal(state.apps[d]!.containers['worker.1']?.state, 'running');

    // The containers run with the declared config (read from inside the web container).
    const env = await lab.containerEnv(b).catch(async (err: Error) => { throw new Error(`${err.message} ${JSON.stringify([(await lab.invocations()).filter((x) => x.argv.includes(b)).map((x) => `${x.ts} ${x.argv.join(' ')}`), await daemon!.status.events(b, 100), (await lab.state()).apps[b]], null, 1)}`); });
    assert.equal(env.SESSION_LABEL, 'week-1');
    assert.equal(env.OTREE_PRODUCTION, '1');
    assert.match(env.DATABASE_URL ?? '', /^postgres:\/\//);

    const docker = await requireDocker();
    for (const name of names) {
      const running = await docker.listContainers({ filters: { label: [`com.dokku.app-name=${name}`], status: ['running'] } });
      assert.equal(running.length, name === d ? 2 : 1, `${name} runs its declared processes`);
    }
  });

  it('plans nothing when nothing changed', async () => {
    const from = (await lab.invocations()).length;
    await daemon!.controller.resync(1);
    await settle(daemon!, names);
    assert.deepEqual(await lab.mutationsSince(from), []);
  });

  it('applies edits with the least work: one restart for config, none for domains, a scale for process counts', async () => {
    const [a, b, , d] = names as [string, string, string, string];
    // A key set by hand is not the manager's: it must survive every edit.
    assert.equal((await lab.sim.run(['config:set', '--no-restart', a, 'FOREIGN_KEY=kept'])).code, 0);
    const from = (await lab.invocations()).length;
    await lab.declare(a, { env: { SESSION_LABEL: 'week-2', ROUND: '3' } });
    await lab.declare(b, { domains: [`${b}.lab.example.org`, `${b}-2.lab.example.org`], env: { SESSION_LABEL: 'week-1' } });
    await lab.declare(d, { otree: { version: '3' }, redis: true, processes: { web: 1, worker: 2 }, database: { deletionPolicy: 'Backup' } });
    await settle(daemon!, names, (s) => inSync(s, [a, b, d].includes(s.name) ? 2 : 1));

    const calls = (await lab.invocations()).slice(from);
    assert.deepEqual(restartsOf(calls, a), [`ps:restart ${a}`], JSON.stringify([calls.filter((x) => x.argv.includes(a)).map((x) => `${x.ts} ${x.argv.join(' ')}`), await daemon!.status.events(a, 100)], null, 1));
    assert.deepEqual(restartsOf(calls, b), []);
    assert.deepEqual(restartsOf(calls, d), [`ps:scale ${d}`]);
    for (const other of names.filter((n) => ![a, b, d].includes(n))) assert.deepEqual(restartsOf(calls, other), [], `${other} was not touched`);

    const state = await lab.state();
    assert.equal(state.apps[a]!.config.ROUND, '3');
    assert.equal(state.apps[a]!.config.FOREIGN_KEY, 'kept');
    assert.deepEqual(state.apps[b]!.domains.sort(), [`${b}-2.lab.example.org`, `${b}.lab.example.org`]);
    assert.equal(state.apps[d]!.containers['worker.2']?.state, 'running');
    const env = await lab.containerEnv(a);
    assert.equal(env.ROUND, '3');
    assert.equal(env.FOREIGN_KEY, 'kept');

    // An env key removed from the manifest is unset; the foreign key still is not.
    await lab.declare(a, { env: { SESSION_LABEL: 'week-2' } });
    await settle(daemon!, [a], (s) => inSync(s, 3));
    const after = (await lab.state()).apps[a]!.config;
    assert.equal(after.ROUND, undefined);
    assert.equal(after.FOREIGN_KEY, 'kept');
  });

  it('leaves a removed instance alone without prune', async () => {
    const e = names[4]!;
    const from = (await lab.invocations()).length;
    await lab.undeclare(e);
    await waitFor(`${e} to be reported orphaned`, async () => ((await daemon!.status.get(e))?.phase === 'Orphaned' ? true : undefined), 30_000);
    await settle(daemon!, names.slice(0, 4));
    const state = await lab.state();
    assert.ok(state.apps[e]?.deployed, `${e} is still deployed`);
    assert.ok(state.services.postgres[`${e}-pg`], `${e}-pg is kept`);
    assert.deepEqual((await lab.mutationsSince(from)).filter((m) => m.includes(e)), []);
    assert.equal(await lab.login(e), 200);
  });

  it('with prune, removes by deletionPolicy and never touches an unmanaged app', async () => {
    const [, , c, d, e] = names as [string, string, string, string, string];
    const handmade = lab.app('handmade');
    assert.equal((await lab.sim.run(['apps:create', handmade])).code, 0);
    assert.equal((await lab.sim.run(['config:set', '--no-restart', handmade, 'OWNER=someone-else'])).code, 0);
    await daemon!.stop(2_000);
    daemon = await lab.startDaemon({ config: { ...lab.config, prune: true } });
    await lab.undeclare(c);
    await lab.undeclare(d);

    // Gone from Dokku, and the daemon done with them (their status is dropped once the app is destroyed).
    await waitFor('the removed instances to be gone', async () => {
      const state = await lab.state();
      const statuses = await Promise.all([c, d, e].map((n) => daemon!.status.get(n)));
      return [c, d, e].every((n) => !state.apps[n]) && statuses.every((s) => s === undefined) ? true : undefined;
    }, 90_000);
    await settle(daemon, names.slice(0, 2));
    const state = await lab.state();
    // Delete: the database is gone with the app.
    assert.equal(state.services.postgres[`${c}-pg`], undefined);
    // Backup: a verified export exists, then the services are gone.
    assert.equal(state.services.postgres[`${d}-pg`], undefined);
    assert.equal(state.services.redis[`${d}-redis`], undefined);
    const dumps = (await readdir(lab.config.backupDir)).filter((f) => f.startsWith(`${d}-pg-`) && f.endsWith('.dump'));
    assert.equal(dumps.length, 1, `one export of ${d}-pg in the backup directory`);
    // Retain (the instance removed earlier, pruned now): the database is kept, unlinked.
    assert.deepEqual(state.services.postgres[`${e}-pg`]?.links, []);
    // Not managed: untouched.
    assert.equal(state.apps[handmade]?.config.OWNER, 'someone-else');
    const touched = (await lab.invocations()).filter((i) => i.mutating && i.argv.includes(handmade) && !i.argv.includes('--no-restart'));
    assert.deepEqual(touched.map((i) => i.argv[0]), ['apps:create']);
    // The remaining instances still run.
    for (const name of names.slice(0, 2)) assert.equal(await lab.login(name), 200);
    const docker = await requireDocker();
    for (const gone of [c, d, e]) {
      assert.deepEqual(await docker.listContainers({ all: true, filters: { label: [`com.dokku.app-name=${gone}`] } }), [], `${gone} has no container left`);
    }
  });
});
