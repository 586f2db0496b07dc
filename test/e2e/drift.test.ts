// Drift: changes made behind the daemon's back are put right. A `config:set` that restarts the app and a
// killed container are noticed from Docker events, long before the next resync (the schedule here is
// ten minutes); a `config:set --no-restart` changes nothing the Engine shows, so only a deep resync
// (every `deepResyncEvery` resyncs) finds it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireDocker, waitFor } from '../support/services.js';
import { settle, useConvergedLab } from './harness.js';

describe('drift end to end', { timeout: 300_000 }, () => {
  const world = useConvergedLab('drift', 2, (lab, name, i) => lab.declare(name, i === 1 ? { env: { ROUND: '1' } } : {}));

  it('restores a value changed by a restarting config:set, from Docker events alone', async () => {
    const { lab } = world;
    const [a] = world.names as [string, string];
    const resyncs = (await world.daemon.metrics.registry.getSingleMetricAsString('otm_last_full_resync_timestamp_seconds'));
    assert.equal((await lab.sim.run(['config:set', a, 'OTREE_AUTH_LEVEL=DEMO', 'ROUND=9'])).code, 0);
    await waitFor(`${a}'s config to be restored`, async () => {
      const config = (await lab.state()).apps[a]?.config;
      return config?.OTREE_AUTH_LEVEL === 'STUDY' && config.ROUND === '1' ? true : undefined;
    }, 60_000);
    await settle(world.daemon, [a]);
    const env = await lab.containerEnv(a);
    assert.equal(env.OTREE_AUTH_LEVEL, 'STUDY');
    assert.equal(env.ROUND, '1');
    // No resync ran in between: the Docker event did it.
    assert.equal(await world.daemon.metrics.registry.getSingleMetricAsString('otm_last_full_resync_timestamp_seconds'), resyncs);
  });

  it('restarts a killed container without waiting for the resync', async () => {
    const { lab } = world;
    const [a, b] = world.names as [string, string];
    const docker = await requireDocker();
    const [web] = await docker.listContainers({ filters: { label: [`com.dokku.app-name=${b}`, 'com.dokku.process-type=web'] } });
    assert.ok(web, `${b} has a running web container`);
    await docker.getContainer(web.Id).kill();
    await waitFor(`${b} to answer again`, async () => ((await lab.login(b)) === 200 ? true : undefined), 60_000);
    const running = await docker.listContainers({ filters: { label: [`com.dokku.app-name=${b}`, 'com.dokku.process-type=web'], status: ['running'] } });
    assert.equal(running.length, 1);
    await settle(world.daemon, [a, b]);
  });

  it('finds a --no-restart change only on a deep resync, and restores it', async () => {
    const { lab } = world;
    const [a, b] = world.names as [string, string];
    await world.daemon.stop(2_000);
    // A resync every second, every third one deep; started before the change, so its first look does not see it.
    world.daemon = await lab.startDaemon({ config: { ...lab.config, resync: { schedule: '* * * * * *', jitterPercent: 0 } }, deepResyncEvery: 3 });
    await settle(world.daemon, [a, b]);
    assert.equal((await lab.sim.run(['config:set', '--no-restart', a, 'ROUND=7'])).code, 0);
    await waitFor(`${a}'s ROUND to be restored`, async () => ((await lab.state()).apps[a]?.config.ROUND === '1' ? true : undefined), 60_000);
    await settle(world.daemon, [a, b]);
    assert.equal((await lab.containerEnv(a)).ROUND, '1');
  });
});
