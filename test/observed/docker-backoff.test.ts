// The reconnect policy of the Docker event stream, with an Engine that refuses connections and a clock
// moved by hand: delays double up to the cap, and stop() ends a wait at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { DockerObserver } from '../../src/observed/docker.js';
import { FakeClock } from '../../src/engine/clock.js';
import { waitFor } from '../support/services.js';

test('a refused event stream is retried with doubling delays up to the cap', async () => {
  let attempts = 0;
  const refusing = {
    getEvents: async () => {
      attempts++;
      throw Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), { code: 'ECONNREFUSED' });
    },
  } as unknown as Docker;
  const clock = new FakeClock();
  const observer = new DockerObserver({ docker: refusing, clock, reconnectBackoff: { baseMs: 100, capMs: 400, jitter: 0 } });
  const delays: number[] = [];
  const errors: string[] = [];
  const subscription = observer.subscribe(() => undefined, {
    onDisconnect: (err, retryInMs) => {
      delays.push(retryInMs);
      errors.push(err?.message ?? '');
    },
  });

  for (let attempt = 1; attempt <= 5; attempt++) {
    await waitFor(`attempt ${attempt} to fail`, () => (delays.length === attempt && clock.pendingTimers() === 1 ? true : undefined), 5000, 5);
    clock.advance(delays.at(-1)!);
  }
  await waitFor('the sixth attempt', () => (attempts === 6 ? true : undefined), 5000, 5);
  assert.deepEqual(delays.slice(0, 5), [100, 200, 400, 400, 400]);
  assert.match(errors[0]!, /ECONNREFUSED/);

  await waitFor('the sixth wait', () => (clock.pendingTimers() === 1 ? true : undefined), 5000, 5);
  await subscription.stop();
  assert.equal(clock.pendingTimers(), 0, 'stop() cancels the pending retry');
  assert.equal(attempts, 6);
});
