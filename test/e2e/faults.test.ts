// Faults: a host where one call in five fails and one command hangs. The hung command is killed at the
// host's command timeout (nothing outlives it), the failures are retried with backoff, and every
// instance converges all the same.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Daemon } from '../../src/engine/daemon.js';
import { setFaults } from '../dokku-sim/client.js';
import { waitFor } from '../support/services.js';
import { inSync, Lab, settle } from './harness.js';

const TIMEOUT_SECONDS = 10;

/** The simulator processes running for this root, with their command lines (read from /proc). */
async function simProcesses(root: string): Promise<Array<{ pid: string; cmd: string }>> {
  const found: Array<{ pid: string; cmd: string }> = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    try {
      const environ = await readFile(join('/proc', pid, 'environ'), 'utf8');
      if (!environ.split('\0').includes(`DOKKU_SIM_ROOT=${root}`)) continue;
      found.push({ pid, cmd: (await readFile(join('/proc', pid, 'cmdline'), 'utf8')).split('\0').join(' ') });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

describe('faults end to end', { timeout: 400_000 }, () => {
  let lab: Lab;
  let daemon: Daemon | undefined;
  const names: string[] = [];

  before(async () => {
    lab = await Lab.create({ tag: 'fault', commandTimeoutSeconds: TIMEOUT_SECONDS });
    for (let i = 1; i <= 4; i++) names.push(lab.app(i));
  });

  after(async () => {
    await daemon?.stop(2_000);
    await lab?.destroy();
  });

  it('converges with 20 % failed calls and a hanging deploy; the hung call is killed at its timeout', async () => {
    const hung = names[2]!;
    await setFaults(lab.sim.root, { failRate: 0.2, hang: `^git:from-image ${hung} ` });
    for (const name of names) await lab.declare(name, { env: { ROUND: '1' } });
    daemon = await lab.startDaemon();

    // The hanging deploy starts, is killed at the time limit, and is reported as a timeout (then retried).
    const timedOut = await waitFor(`${hung}'s deploy to time out`, async () => (await daemon!.status.events(hung, 100)).find((e) => e.reason === 'Timeout'), 240_000)
      .catch(async (err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(await daemon!.status.get(hung))}`); });
    assert.match(timedOut.message, new RegExp(`git:from-image ${hung}`));

    // The hang clears (failures go on): a deploy still hanging from before is killed at its time limit.
    await setFaults(lab.sim.root, { failRate: 0.2 });
    await waitFor('no hung deploy left', async () => ((await simProcesses(lab.sim.root)).some((p) => p.cmd.includes(`git:from-image ${hung}`)) ? undefined : true), 2 * TIMEOUT_SECONDS * 1000);
    await settle(daemon, names, (s) => inSync(s) && s.phase === 'Running', 240_000);

    const calls = await lab.invocations();
    assert.ok(calls.some((c) => c.exit !== 0), 'some calls failed');
    for (const call of calls) assert.ok(call.ms < TIMEOUT_SECONDS * 1000, `${call.argv.join(' ')} took ${call.ms} ms`);
    await setFaults(lab.sim.root, {});

    const state = await lab.state();
    for (const name of names) {
      assert.equal(state.apps[name]?.config.ROUND, '1');
      assert.deepEqual(state.services.postgres[`${name}-pg`]?.links, [name]);
      assert.equal(await lab.login(name), 200, `${name} answers`);
    }
    // Nothing was created twice: one app and one database per instance.
    const creates = calls.filter((c) => c.exit === 0 && c.mutating && ['apps:create', 'postgres:create'].includes(c.argv.find((a) => !a.startsWith('--'))!));
    assert.equal(creates.length, 2 * names.length);
  });
});
