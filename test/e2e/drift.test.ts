// Drift: changes made behind the daemon's back are put right. A `config:set` that restarts the app and a
// killed container are noticed from Docker events, long before the next resync (the schedule here is
// ten minutes); a `config:set --no-restart` changes nothing the Engine shows, so only a deep resync
// (every `deepResyncEvery` resyncs) finds it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Daemon } from '../../src/engine/daemon.js';
import { requireDocker, waitFor } from '../support/services.js';
import { Lab, settle } from './harness.js';

describe('drift end to end', { timeout: 300_000 }, () => {
  let lab: Lab;
  let daemon: Daemon | undefined;
  let a: string;
  let b: string;

  before(async () => {
    lab = await Lab.create({ tag: 'drift' });
    a = lab.app(1);
    b = lab.app(2);
    await lab.declare(a, { env: { ROUND: '1' } });
    await lab.declare(b);
    daemon = await lab.startDaemon();
    await settle(daemon, [a, b]);
  });

  after(async () => {
    await daemon?.stop(2_000);
    await lab?.destroy();
  });

  it('restores a value changed by a restarting config:set, from Docker events alone', async () => {
    const resyncs = (await daemon!.metrics.registry.getSingleMetricAsString('otm_last_full_resync_timestamp_seconds'));
    assert.equal((await lab.sim.run(['config:set', a, 'OTREE_AUTH_LEVEL=DEMO', 'ROUND=9'])).code, 0);
    await waitFor(`${a}'s config to be restored`, async () => {
      const config = (await lab.state()).apps[a]?.config;
      return config?.OTREE_AUTH_LEVEL === 'STUDY' && config.ROUND === '1' ? true : undefined;
    }, 60_000);
    await settle(daemon!, [a]);
    const env = await lab.containerEnv(a);
    assert.equal(env.OTREE_AUTH_LEVEL, 'STUDY');
    assert.equal(env.ROUND, '1');
    // No resync ran in between: the Docker event did it.
    assert.equal(await daemon!.metrics.registry.getSingleMetricAsString('otm_last_full_resync_timestamp_seconds'), resyncs);
  });

  it('restarts a killed container without waiting for the resync', async () => {
    const docker = await requireDocker();
    const [web] = await docker.listContainers({ filters: { label: [`com.dokku.app-name=${b}`, 'com.dokku.process-type=web'] } });
    assert.ok(web, `${b} has a running web container`);
    await docker.getContainer(web.Id).kill();
    await waitFor(`${b} to answer again`, async () => ((await lab.login(b)) === 200 ? true : undefined), 60_000);
    const running = await docker.listContainers({ filters: { label: [`com.dokku.app-name=${b}`, 'com.dokku.process-type=web'], status: ['running'] } });
    assert.equal(running.length, 1);
    await settle(daemon!, [a, b]);
  });

  it('finds a --no-restart change only on a deep resync, and restores it', async () => {
    await daemon!.stop(2_000);
    // A resync every second, every third one deep; started before the change, so its first look does not see it.
    daemon = await lab.startDaemon({ config: { ...lab.config, resync: { schedule: '* * * * * *', jitterPercent: 0 } }, deepResyncEvery: 3 });
    await settle(daemon, [a, b]);
    assert.equal((await lab.sim.run(['config:set', '--no-restart', a, 'ROUND=7'])).code, 0);
    await waitFor(`${a}'s ROUND to be restored`, async () => ((await lab.state()).apps[a]?.config.ROUND === '1' ? true : undefined), 60_000);
    await settle(daemon, [a, b]);
    assert.equal((await lab.containerEnv(a)).ROUND, '1');
  });
});
