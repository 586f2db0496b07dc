// The simulator as a shared host: concurrent callers lose no update, faults are injected from the
// environment and from faults.json, and every call is recorded in the invocation log.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { newSimRoot, readInvocations, countInvocations, readSimState, setFaults, SIM_BIN } from './client.js';
import type { SimRoot } from './client.js';
import { waitFor } from '../support/services.js';

const roots: SimRoot[] = [];
async function host(): Promise<SimRoot> {
  const sim = await newSimRoot({ globalDomain: 'example.com' });
  roots.push(sim);
  return sim;
}

after(async () => {
  await Promise.all(roots.map((r) => r.destroy()));
});

describe('concurrency', () => {
  it('parallel processes creating apps and setting config on one app lose no update', async () => {
    const sim = await host();
    await sim.run(['apps:create', 'shared']);
    const n = 10;
    const results = await Promise.all([
      ...Array.from({ length: n }, (_, i) => sim.run(['--quiet', 'apps:create', `app-${i}`])),
      ...Array.from({ length: n }, (_, i) => sim.run(['--quiet', 'config:set', '--no-restart', 'shared', `KEY_${i}=${i}`])),
    ]);
    assert.deepEqual(results.map((r) => r.code), Array(2 * n).fill(0), results.map((r) => r.stderr).join(''));
    const state = await readSimState(sim.root);
    for (let i = 0; i < n; i++) {
      assert.ok(state.apps[`app-${i}`], `app-${i} exists`);
      assert.equal(state.apps.shared!.config[`KEY_${i}`], String(i));
    }
    const listed = (await sim.run(['--quiet', 'apps:list'])).stdout.trim().split('\n');
    assert.equal(listed.length, n + 1);
  });
});

describe('invocation log', () => {
  it('records argv, exit code, duration and whether the call changes state', async () => {
    const sim = await host();
    await sim.run(['apps:create', 'myapp']);
    await sim.run(['apps:exists', 'ghost']);
    await sim.run(['--quiet', 'ps:scale', 'myapp']);
    await sim.run(['ps:scale', 'myapp', 'web=2']);
    const calls = await readInvocations(sim.root);
    assert.deepEqual(calls.map((c) => [c.argv, c.exit, c.mutating]), [
      [['apps:create', 'myapp'], 0, true],
      [['apps:exists', 'ghost'], 20, false],
      [['--quiet', 'ps:scale', 'myapp'], 0, false],
      [['ps:scale', 'myapp', 'web=2'], 0, true],
    ]);
    assert.ok(calls.every((c) => typeof c.ms === 'number' && c.ms >= 0 && !Number.isNaN(Date.parse(c.ts))));
    assert.equal(await countInvocations(sim.root, 'ps:scale'), 2);
  });
});

describe('faults', () => {
  it('a failure rate of 1 fails every call before it changes anything; faults.json is re-read per call', async () => {
    const sim = await host();
    await setFaults(sim.root, { failRate: 1 });
    const failed = await sim.run(['apps:create', 'myapp']);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /Simulated transient failure/);
    await setFaults(sim.root, {});
    assert.equal((await sim.run(['apps:exists', 'myapp'])).code, 20, 'the failed call created nothing');
    const viaEnv = await sim.run(['apps:create', 'myapp'], { env: { DOKKU_SIM_FAIL_RATE: '1', DOKKU_SIM_FAIL_EXIT: '255' } });
    assert.equal(viaEnv.code, 255);
  });

  it('added latency shows in the recorded duration', async () => {
    const sim = await host();
    await sim.run(['version'], { env: { DOKKU_SIM_LATENCY_MS: '300' } });
    const [call] = await readInvocations(sim.root);
    assert.ok(call!.ms >= 300, `recorded ${call!.ms} ms`);
  });

  it('a hang never answers (the caller must time out); other calls still work', async () => {
    const sim = await host();
    await setFaults(sim.root, { hang: '^apps:report' });
    const child = spawn(SIM_BIN, ['apps:report'], { env: { ...process.env, ...sim.env }, stdio: 'ignore' });
    let exited = false;
    child.on('exit', () => { exited = true; });
    try {
      await sim.run(['apps:create', 'myapp']);
      await waitFor('the call after the hung one to be logged', async () => ((await countInvocations(sim.root, 'apps:create')) === 1 ? true : undefined));
      assert.equal(exited, false, 'the hung call is still waiting');
      assert.equal(await countInvocations(sim.root, 'apps:report'), 0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a deploy lock held by a build that never ends blocks deploys of that app', async () => {
    const sim = await host();
    await sim.run(['apps:create', 'myapp']);
    await setFaults(sim.root, { lockedApps: ['myapp'] });
    const blocked = await sim.run(['git:from-image', 'myapp', 'otm-standin/otree:1']);
    assert.equal(blocked.code, 1);
    assert.match(blocked.stderr, /myapp currently has a deploy lock in place\. Exiting\.\.\./);
    assert.equal((await sim.run(['apps:locked', 'myapp'])).code, 0);
    await setFaults(sim.root, {});
    assert.equal((await sim.run(['git:from-image', 'myapp', 'otm-standin/otree:1'])).code, 0);
  });
});
