// Crash safety: the daemon, as its own process, is killed with SIGKILL at random points while it
// converges, and started again each time. Whatever it was doing, the host ends as declared: nothing
// created twice, no database lost, and a requested database reset carried out for its generation, never
// after the app was started again (which would drop what participants wrote since).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Invocation } from '../dokku-sim/client.js';
import { requireDocker, waitFor } from '../support/services.js';
import { commandOf, inSync, Lab } from './harness.js';
import type { DaemonProcess } from './harness.js';

const KILLS = 4;

/** A random pause of 1 to 6 s: the kill lands somewhere in the middle of the work. */
const randomPause = (): Promise<void> => new Promise((r) => setTimeout(r, 1_000 + Math.floor(Math.random() * 5_000)));

describe('crash safety end to end', { timeout: 600_000 }, () => {
  let lab: Lab;
  let running: DaemonProcess | undefined;
  const names: string[] = [];

  before(async () => {
    lab = await Lab.create({ tag: 'crash' });
    for (let i = 1; i <= 3; i++) names.push(lab.app(i));
  });

  after(async () => {
    await running?.kill('SIGKILL');
    await lab?.destroy();
  });

  /** Starts the daemon, kills it `KILLS` times at random points, then lets it finish and stops it. */
  async function convergeThroughKills(done: (statuses: Awaited<ReturnType<Lab['statusFile']>>) => boolean): Promise<void> {
    for (let i = 0; i < KILLS; i++) {
      running = lab.spawnDaemon();
      await randomPause();
      await running.kill('SIGKILL');
    }
    running = lab.spawnDaemon();
    const daemon = running;
    // The kills may have left it converged already: this daemon must be up before it is judged and stopped.
    await daemon.started();
    await waitFor('convergence after the kills', async () => (done(await lab.statusFile()) ? true : undefined), 240_000, 500)
      .catch((err: Error) => { throw new Error(`${err.message}\n${daemon.output()}`); });
    assert.equal(await daemon.kill('SIGTERM'), 0, 'the daemon stops cleanly on SIGTERM');
    running = undefined;
  }

  it('converges from nothing through SIGKILLs with nothing duplicated', async () => {
    for (const name of names) await lab.declare(name);
    await convergeThroughKills((s) => names.every((n) => inSync(s[n]) && s[n]!.phase === 'Running'));

    const state = await lab.state();
    assert.deepEqual(Object.keys(state.apps).sort(), [...names].sort());
    assert.deepEqual(Object.keys(state.services.postgres).sort(), names.map((n) => `${n}-pg`).sort());
    const calls = await lab.invocations();
    const docker = await requireDocker();
    for (const name of names) {
      assert.deepEqual(state.services.postgres[`${name}-pg`]?.links, [name]);
      const created = calls.filter((c) => c.exit === 0 && ['apps:create', 'postgres:create'].includes(commandOf(c).split(' ')[0]!) && c.argv.some((a) => a === name || a === `${name}-pg`));
      assert.equal(created.length, 2, `${name}: one app and one database created`);
      const containers = await docker.listContainers({ all: true, filters: { label: [`com.dokku.app-name=${name}`] } });
      assert.equal(containers.length, 1, `${name} has exactly one container`);
      assert.equal(await lab.login(name), 200);
    }
  });

  it('runs a requested database reset for its generation through SIGKILLs, never after the app started again', async () => {
    const from = (await lab.invocations()).length;
    for (const name of names) await lab.declare(name, { resetDatabase: { generation: 1 } });
    // Each new process counts manifest generations afresh, so completion is read from the reset's own record.
    await convergeThroughKills((s) => names.every((n) => inSync(s[n]) && s[n]!.done.resetDatabase === 1 && s[n]!.phase === 'Running'));

    const calls = (await lab.invocations()).slice(from);
    const state = await lab.state();
    for (const name of names) {
      assert.equal(state.apps[name]?.config.OTM_RESETDB_GENERATION, '1');
      assert.ok(state.services.postgres[`${name}-pg`], `${name}-pg still exists`);
      assert.deepEqual(state.services.postgres[`${name}-pg`]?.links, [name]);
      const mine = calls.filter((c) => c.exit === 0 && c.argv.includes(name));
      const resets = indexesOf(mine, (c) => c.argv.includes('resetdb'));
      assert.ok(resets.length >= 1, `${name}: the reset ran`);
      const recorded = indexesOf(mine, (c) => c.argv.some((a) => a.startsWith('OTM_RESETDB_GENERATION=')))[0];
      assert.ok(recorded !== undefined && resets.every((i) => i < recorded), `${name}: no reset after its generation was recorded`);
      // Between the first reset and the record, nothing may have started the app (a repeat would drop new data).
      const started = indexesOf(mine, (c) => ['ps:start', 'ps:restart', 'ps:rebuild', 'git:from-image'].includes(commandOf(c).split(' ')[0]!));
      assert.ok(started.every((i) => i < resets[0]! || i > resets[resets.length - 1]!), `${name}: the app was not started between two resets: ${mine.map(commandOf).join(', ')}`);
      assert.equal(await lab.login(name), 200);
    }
  });
});

function indexesOf(calls: readonly Invocation[], match: (c: Invocation) => boolean): number[] {
  return calls.flatMap((c, i) => (match(c) ? [i] : []));
}
