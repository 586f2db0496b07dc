// Ownership is proven, never assumed, against the Dokku simulator: an app or a `<name>-pg` service is
// created by someone else after the daemon's last observation (so its cache still says the name is
// free), then an instance of that name is declared. The daemon's create meets "already exists"; the
// foreign objects must come out untouched and the instance's status must name the conflict.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Daemon } from '../../src/engine/daemon.js';
import type { InstanceStatus } from '../../src/engine/status.js';
import { waitFor } from '../support/services.js';
import { Lab, PASSWORD, settle } from './harness.js';

const stalled = (s: InstanceStatus | undefined): boolean => s?.conditions.some((c) => c.type === 'Stalled' && c.status === 'True') ?? false;
const condition = (s: InstanceStatus | undefined, type: string) => s?.conditions.find((c) => c.type === type && c.status === 'True');

describe('ownership end to end: names taken after the last observation', { timeout: 300_000 }, () => {
  let lab: Lab;
  let daemon: Daemon | undefined;

  before(async () => {
    lab = await Lab.create({ tag: 'own' });
    // Started with nothing declared: its first full observation sees neither of the names below.
    daemon = await lab.startDaemon();
  });

  after(async () => {
    await daemon?.stop(2_000);
    await lab?.destroy();
  });

  it('a foreign app created after the observation is not taken over: no marker, no config, the instance stalls with a conflict', async () => {
    const name = lab.app('app');
    assert.equal((await lab.sim.run(['apps:create', name])).code, 0);
    assert.equal((await lab.sim.run(['config:set', '--no-restart', name, 'SOMEONE_ELSES=secret'])).code, 0);
    const before = (await lab.state()).apps[name]!.config;
    await lab.declare(name);

    const status = await waitFor(`${name} to stall`, async () => {
      const s = await daemon!.status.get(name);
      return stalled(s) ? s : undefined;
    }, 60_000, 200);
    assert.equal(condition(status, 'Stalled')?.reason, 'AppConflict');
    assert.equal(condition(status, 'Conflict')?.reason, 'AppConflict');
    assert.match(status!.lastError?.message ?? '', new RegExp(`app ${name} already exists and otree-manager did not create it`));

    const state = await lab.state();
    assert.deepEqual(state.apps[name]!.config, before, 'the foreign app keeps exactly its own config');
    assert.equal(state.apps[name]!.config.OTM_MANAGED, undefined);
    assert.equal(Object.values(state.apps[name]!.config).includes(PASSWORD), false);
    assert.equal(state.services.postgres[`${name}-pg`], undefined, 'nothing was created for it');
    assert.equal(state.apps[name]!.deployed, false);
    assert.deepEqual(await daemon!.status.claims(name), [], 'no claim is left on the foreign app');

    // A later pass, now that the daemon sees the app, still refuses it.
    await daemon!.controller.resync(1);
    const [again] = await settle(daemon!, [name], stalled);
    assert.equal(condition(again, 'Stalled')?.reason, 'NotManaged');
    assert.deepEqual((await lab.state()).apps[name]!.config, before);
  });

  it('a foreign `<name>-pg` created after the observation is not linked and its credentials are not handed over', async () => {
    const name = lab.app('svc');
    const service = `${name}-pg`;
    assert.equal((await lab.sim.run(['postgres:create', service])).code, 0);
    await lab.declare(name);

    const status = await waitFor(`${name} to stall`, async () => {
      const s = await daemon!.status.get(name);
      return stalled(s) ? s : undefined;
    }, 60_000, 200);
    assert.equal(condition(status, 'Stalled')?.reason, 'ServiceConflict');
    assert.equal(condition(status, 'Conflict')?.reason, 'ServiceConflict');
    assert.match(status!.lastError?.message ?? '', new RegExp(`the postgres service ${service} already exists and otree-manager did not create it for instance ${name}`));

    let state = await lab.state();
    assert.deepEqual(state.services.postgres[service]?.links, [], 'the foreign database is linked to nothing');
    assert.equal(state.apps[name]?.config.DATABASE_URL, undefined, 'the app holds no credentials of it');
    assert.deepEqual((await daemon!.status.claims(name)).map((c) => `${c.kind}=${c.state}`), ['app=created'], 'the app the daemon did create stays claimed; the database is not');

    // A later pass sees the database and says why it is refused and how to proceed.
    await daemon!.controller.resync(1);
    const [again] = await settle(daemon!, [name], stalled);
    assert.equal(condition(again, 'Stalled')?.reason, 'ServiceConflict');
    assert.match(condition(again, 'Stalled')!.message, new RegExp(`^a PostgreSQL database named ${service} exists, but otree-manager did not create it for instance ${name}.*spec\\.adopt: true`));
    state = await lab.state();
    assert.deepEqual(state.services.postgres[service]?.links, []);
    assert.equal(state.apps[name]?.config.DATABASE_URL, undefined);
  });
});
