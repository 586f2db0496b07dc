import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, reconcileLogger, REDACTED } from '../../src/engine/logger.js';

const SECRET = 'hunter2-s3cret';

/** A destination that keeps every line. */
function capture(): { lines: string[]; write(line: string): void; parsed(): Array<Record<string, unknown>> } {
  const lines: string[] = [];
  return { lines, write: (line) => { lines.push(line); }, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('secrets in the usual shapes never reach the output', () => {
  const out = capture();
  const log = createLogger({ level: 'trace', destination: out });
  log.info({ password: SECRET }, 'top level');
  log.info({ spec: { otree: { adminPassword: { value: SECRET } } } }, 'a manifest');
  log.info({ instance: { spec: { otree: { adminPassword: SECRET } } } }, 'deeper manifest');
  log.info({ env: { SENTRY_DSN: SECRET, OTHER: SECRET } }, 'env map');
  log.info({ desired: { env: { X: SECRET } } }, 'nested env map');
  log.info({ config: { stateDir: '/x', database: { password: SECRET } } }, 'daemon config');
  log.info({ observed: { config: { DATABASE_URL: `postgres://u:${SECRET}@h/db` } } }, 'observed app config');
  log.info({ action: { command: { cmd: 'config:set', pairs: [{ key: 'OTREE_ADMIN_PASSWORD', value: SECRET }] } } }, 'an action');
  log.info({ actions: [{ command: { pairs: [{ key: 'K', value: SECRET }] } }] }, 'a plan');
  log.info({ rendered: { argv: ['config:set', '--encoded', `K=${Buffer.from(SECRET).toString('base64')}`] } }, 'argv');
  log.debug({ DATABASE_URL: `postgres://u:${SECRET}@h/db`, secret: SECRET, token: SECRET }, 'loose fields');
  log.child({ env: { K: SECRET } }).warn('child bindings');
  reconcileLogger(log, 'alice', 'r1').error({ err: Object.assign(new Error('boom'), { config: { K: SECRET } }) }, 'an error');
  assert.equal(out.lines.length, 13);
  const text = out.lines.join('');
  assert.equal(text.includes(SECRET), false, `a secret leaked:\n${out.lines.filter((l) => l.includes(SECRET)).join('')}`);
  assert.equal(text.includes(Buffer.from(SECRET).toString('base64')), false, 'base64 of a secret leaked');
  assert.equal(text.split(REDACTED).length - 1 >= 13, true, 'the fields are there, censored');
});

test('harmless fields, levels and the reconcile child bindings are kept', () => {
  const out = capture();
  const log = createLogger({ level: 'info', destination: out });
  const child = reconcileLogger(log, 'alice-public-goods', 'r-42');
  child.debug('hidden at info level');
  child.info({ display: 'dokku config:set --encoded --no-restart alice OTREE_ADMIN_PASSWORD=********', phase: 'Running' }, 'ran');
  const [line] = out.parsed();
  assert.equal(out.lines.length, 1);
  assert.equal(line?.instance, 'alice-public-goods');
  assert.equal(line?.reconcileId, 'r-42');
  assert.equal(line?.phase, 'Running');
  assert.equal(line?.name, 'otree-manager');
  assert.match(String(line?.display), /OTREE_ADMIN_PASSWORD=\*{8}/);
  assert.equal(line?.msg, 'ran');
});

test('an unknown level is refused with a message naming the setting', () => {
  assert.throws(() => createLogger({ level: 'verbose', destination: capture() }), /log level "verbose".*logLevel/);
});
