// The instance in words: what the pages say for each status, at a fixed time in the lab's zone.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InstanceEvent, InstanceStatus } from '../../src/engine/status.js';
import { validateRow } from '../../src/desired/rows.js';
import type { OTreeInstanceSpec } from '../../src/manifest/types.js';
import { summarize } from '../../src/web/instance-view.js';
import { en } from '../../src/web/text.js';
import { LabTime } from '../../src/web/time.js';

const NOW = new Date('2026-12-03T10:30:00Z');
const time = new LabTime('Europe/Berlin');

function spec(overrides: Partial<OTreeInstanceSpec> = {}): OTreeInstanceSpec {
  const parsed = validateRow('instances', 'exp', { owner: 'alice', otree: { adminPassword: { secretRef: 'adminPassword' } } }, {}, {});
  const object = parsed.objects[0]!.object;
  assert.equal(object.kind, 'OTreeInstance');
  return { ...(object.spec as OTreeInstanceSpec), ...overrides };
}

function status(overrides: Partial<InstanceStatus> = {}): InstanceStatus {
  return {
    name: 'exp', host: 'local', phase: 'Running', observedGeneration: 1, urls: ['http://exp.lab.example.org'], deferred: [],
    done: { resetDatabase: 0, restart: 0 }, updatedAt: NOW.toISOString(), lastSyncedAt: '2026-12-03T10:29:00Z',
    conditions: [
      { type: 'Ready', status: 'True', reason: 'Running', message: 'running as declared', lastTransitionTime: '2026-12-03T08:05:00Z' },
      { type: 'Degraded', status: 'False', reason: 'AsDeclared', message: 'nothing held back', lastTransitionTime: '2026-12-03T08:05:00Z' },
    ],
    ...overrides,
  };
}

const summary = (input: { spec?: OTreeInstanceSpec; generation?: number; status?: InstanceStatus | null; events?: InstanceEvent[] }) =>
  summarize({ name: 'exp', now: NOW, text: en, time, ...input });

describe('an instance in words', () => {
  test('running: since when, in the lab\'s time zone, and when it was last checked', () => {
    const s = summary({ spec: spec(), generation: 1, status: status() });
    assert.equal(s.headline, 'Running since 09:05');
    assert.equal(s.tone, 'ok');
    assert.equal(s.lastCheckedText, 'Last checked 11:29');
    assert.deepEqual(s.outcomes, []);
    assert.deepEqual(s.attention, []);
  });

  test('not seen yet, and waiting for the first push', () => {
    assert.equal(summary({ spec: spec(), status: null }).headline, en.status.unknown);
    const pending = summary({ spec: spec(), generation: 1, status: status({ phase: 'Pending', conditions: [{ type: 'Ready', status: 'False', reason: 'AwaitingDeploy', message: 'waiting for a git push', lastTransitionTime: NOW.toISOString() }] }) });
    assert.equal(pending.headline, en.status.awaitingPush);
    assert.deepEqual(pending.attention, [], 'waiting for code is not a problem');
  });

  test('a restart: requested, then held back by a freeze window (said once), then done', () => {
    assert.deepEqual(summary({ spec: spec({ restart: { generation: 1 } }), generation: 2, status: status({ observedGeneration: 2 }) }).outcomes,
      [{ tone: 'busy', text: en.outcome.restartRequested }]);
    const held = summary({
      spec: spec({ restart: { generation: 1 } }), generation: 2,
      status: status({
        observedGeneration: 2,
        deferred: [{ action: 'dokku config:set exp OTM_RESTART_GENERATION=1', reason: 'freeze window', until: '2026-12-03T11:00:00Z' }],
        conditions: [...status().conditions.filter((c) => c.type !== 'Degraded'), { type: 'Degraded', status: 'True', reason: 'FreezeWindow', message: '1 action(s) deferred', lastTransitionTime: NOW.toISOString() }],
      }),
    });
    assert.deepEqual(held.outcomes, [{ tone: 'warn', text: 'The restart waits for the end of the freeze window at 12:00' }]);
    assert.deepEqual(held.deferred, [], 'the held-back restart is said once');
    assert.deepEqual(held.attention, [], 'a freeze window is no trouble');
    const done = summary({
      spec: spec({ restart: { generation: 1 } }), generation: 2, status: status({ observedGeneration: 2, done: { restart: 1, resetDatabase: 0 } }),
      events: [{ instance: 'exp', at: '2026-12-03T10:15:00Z', type: 'Normal', reason: 'Applied', message: 'dokku config:set exp OTM_RESTART_GENERATION=1 (restart generation 1 requested)' }],
    });
    assert.deepEqual(done.outcomes, [{ tone: 'ok', text: 'Restarted at 11:15.' }]);
  });

  test('a change not yet applied, a stop under way, and a failure in words', () => {
    assert.deepEqual(summary({ spec: spec(), generation: 3, status: status() }).outcomes, [{ tone: 'busy', text: en.outcome.changeApplying(3) }]);
    assert.deepEqual(summary({ spec: spec({ state: 'stopped' }), generation: 1, status: status() }).outcomes, [{ tone: 'busy', text: en.outcome.stopRequested }]);
    const failed = summary({ spec: spec(), generation: 1, status: status({ phase: 'Failed', lastError: { message: 'the build failed', code: 'CommandFailed', at: NOW.toISOString() } }) });
    assert.equal(failed.headline, 'Failed: the build failed');
    assert.equal(failed.tone, 'bad');
  });
});
