// Freeze windows and expiry against the real clock: a change that needs a restart waits while the
// instance is inside a declared window (status says what waits and until when), then applies with one
// restart once the window ends; past expiresAt the instance is stopped and nothing is deleted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireDocker, waitFor } from '../support/services.js';
import { inSync, restartsOf, settle, useConvergedLab } from './harness.js';

/** RFC 3339 without milliseconds, `seconds` from now. */
const inSeconds = (seconds: number): string => new Date(Math.floor(Date.now() / 1000) * 1000 + seconds * 1000).toISOString().replace('.000Z', 'Z');

describe('freeze windows and expiry end to end', { timeout: 300_000 }, () => {
  const world = useConvergedLab('frz', 2, (lab, name, i) => lab.declare(name, i === 1 ? { env: { ROUND: '1' } } : {}));

  it('defers a restarting change inside a window and applies it with one restart when the window ends', async () => {
    const { lab } = world;
    const [a] = world.names as [string, string];
    const from = (await lab.invocations()).length;
    const until = inSeconds(45);
    await lab.declare(a, { env: { ROUND: '2' }, freezeWindows: [{ from: inSeconds(-3600), to: until }] });
    const deferred = await waitFor(`${a} to report the deferred change`, async () => {
      const s = await world.daemon.status.get(a);
      return s && s.observedGeneration >= 2 && s.deferred.length > 0 ? s : undefined;
    }, 60_000);
    assert.ok(deferred.deferred.every((d) => d.until === until || Date.parse(d.until) === Date.parse(until)), JSON.stringify(deferred.deferred));
    assert.ok(deferred.conditions.some((c) => c.type === 'Degraded' && c.status === 'True'), 'Degraded says what waits');
    assert.equal(deferred.phase, 'Running');
    // Inside the window: the app runs on, with the old value.
    assert.equal((await lab.state()).apps[a]?.config.ROUND, '1');
    assert.deepEqual(restartsOf((await lab.invocations()).slice(from), a), []);
    assert.ok(Date.now() < Date.parse(until), 'the window was still open when checked');

    await waitFor(`${a}'s change to apply after the window`, async () => ((await lab.state()).apps[a]?.config.ROUND === '2' ? true : undefined), 90_000);
    await settle(world.daemon, [a], (s) => inSync(s, 2) && s.deferred.length === 0);
    assert.ok(Date.now() >= Date.parse(until));
    const calls = (await lab.invocations()).slice(from);
    assert.deepEqual(restartsOf(calls, a), [`ps:restart ${a}`]);
    for (const call of calls.filter((c) => c.mutating && c.argv.includes(a))) {
      assert.ok(Date.parse(call.ts) >= Date.parse(until), `${call.argv.join(' ')} ran at ${call.ts}, inside the window`);
    }
    assert.equal((await lab.containerEnv(a)).ROUND, '2');
  });

  it('stops an instance past expiresAt and deletes nothing', async () => {
    const { lab } = world;
    const [a, b] = world.names as [string, string];
    const expiresAt = inSeconds(8);
    await lab.declare(b, { expiresAt });
    await waitFor(`${b} to stop after ${expiresAt}`, async () => ((await world.daemon.status.get(b))?.phase === 'Stopped' ? true : undefined), 90_000);
    await settle(world.daemon, [b], (s) => inSync(s, 2));
    const status = await world.daemon.status.get(b);
    assert.ok(status!.notes?.some((n) => n.includes('expired')), JSON.stringify(status!.notes));
    const stop = (await lab.invocations()).find((c) => c.mutating && c.argv[0] === 'ps:stop' && c.argv.includes(b));
    assert.ok(stop && Date.parse(stop.ts) >= Date.parse(expiresAt), 'stopped only after the expiry');
    const state = await lab.state();
    assert.ok(state.apps[b]?.stopped, `${b} is stopped`);
    assert.deepEqual(state.services.postgres[`${b}-pg`]?.links, [b], 'its database is kept and linked');
    const docker = await requireDocker();
    assert.deepEqual(await docker.listContainers({ filters: { label: [`com.dokku.app-name=${b}`], status: ['running'] } }), []);
    // The other instance is untouched.
    assert.equal(await lab.login(a), 200);
  });
});
