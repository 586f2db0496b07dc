// The controller's error policy end to end: a reconcile that fails unexpectedly (here, the status
// store refuses a write) is logged with its stack, counted by kind, and retried with the key's
// backoff, so the change it carried still lands without waiting for the next full resync.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/engine/logger.js';
import type { Daemon } from '../../src/engine/daemon.js';
import { inSync, Lab, settle } from './harness.js';

describe('every reconcile error is logged, counted and retried', { timeout: 300_000 }, () => {
  let lab: Lab;
  let daemon: Daemon;
  const lines: string[] = [];

  before(async () => {
    lab = await Lab.create({ tag: 'err' });
    await lab.declare(lab.app(1));
    const destination = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } });
    daemon = await lab.startDaemon({ logger: createLogger({ level: 'warn', destination }) });
    await settle(daemon, [lab.app(1)]);
  });

  after(async () => {
    await daemon?.stop(2_000);
    await lab?.destroy();
  });

  it('a refused status write is an unexpected error: logged with its stack, counted, retried until the change lands', async () => {
    const name = lab.app(1);
    const store = daemon.status;
    const put = store.put.bind(store);
    let refusals = 1;
    store.put = async (status) => {
      if (status.name === name && refusals > 0) {
        refusals -= 1;
        throw new Error('the status store refused the write');
      }
      return put(status);
    };
    await lab.declare(name, { env: { ROUND: '2' } });
    await settle(daemon, [name], (s) => inSync(s, 2));
    assert.equal(refusals, 0, 'the write was refused once');
    const failure = lines.map((line) => JSON.parse(line) as { msg: string; key?: string; err?: { message: string; stack: string }; retry?: boolean })
      .find((entry) => entry.msg === 'reconcile failed unexpectedly');
    assert.ok(failure, lines.join(''));
    assert.equal(failure.key, `instance/${name}`);
    assert.equal(failure.err?.message, 'the status store refused the write');
    assert.match(failure.err?.stack ?? '', /error-policy\.test\.ts/);
    assert.equal(failure.retry, true);
    assert.match(await daemon.metrics.exposition(), /^otm_reconcile_errors_total\{kind="unexpected"\} 1$/m);
  });
});
