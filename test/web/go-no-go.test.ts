// The go/no-go list before a session: each line green or red, at a fixed time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateRow } from '../../src/desired/rows.js';
import type { InstanceStatus } from '../../src/engine/status.js';
import type { OTreeInstanceSpec } from '../../src/manifest/types.js';
import { goNoGo } from '../../src/web/go-no-go.js';
import { en } from '../../src/web/text.js';
import { LabTime } from '../../src/web/time.js';

const NOW = new Date('2026-12-03T08:00:00Z');
const time = new LabTime('Europe/Berlin');

function spec(raw: Record<string, unknown> = {}): OTreeInstanceSpec {
  const object = validateRow('instances', 'exp', { owner: 'alice', otree: { adminPassword: { secretRef: 'adminPassword' } }, ...raw }, {}, {}).objects[0]!.object;
  assert.equal(object.kind, 'OTreeInstance');
  return object.spec as OTreeInstanceSpec;
}

const readyStatus = { conditions: [{ type: 'Ready', status: 'True', reason: 'Running', message: '', lastTransitionTime: NOW.toISOString() }] } as unknown as InstanceStatus;
const failing = (checks: ReturnType<typeof goNoGo>) => checks.filter((c) => !c.ok).map((c) => c.id);

test('a fresh instance that is not running yet: everything but the defaults is to do', () => {
  const checks = goNoGo({ spec: spec(), status: null, passwordSet: false, now: NOW, time, text: en.goNoGo });
  assert.deepEqual(failing(checks), ['ready', 'password', 'backup', 'freeze', 'rooms', 'lobby']);
  assert.equal(checks.find((c) => c.id === 'freeze')!.text, en.goNoGo.freeze.fix);
});

test('ready for a session: running, password, a window over the next hour, labelled rooms, a fresh backup, the lobby answering', () => {
  const checks = goNoGo({
    spec: spec({ freezeWindows: [{ from: '2026-12-03T07:30:00Z', to: '2026-12-03T10:00:00Z' }], rooms: [{ name: 'lab', displayName: 'Lab', participantLabels: ['s1', 's2'] }] }),
    status: readyStatus, passwordSet: true, lastBackupAt: new Date('2026-12-03T03:00:00Z'), lobbyAnswers: true, now: NOW, time, text: en.goNoGo,
  });
  assert.deepEqual(failing(checks), []);
  assert.equal(checks.find((c) => c.id === 'freeze')!.text, 'A freeze window protects the instance until 11:00.');
  assert.equal(checks.find((c) => c.id === 'backup')!.text, 'The newest backup is from 04:00.');
});

test('what turns a line red: DEMO, production off, two web processes on oTree 5, a window that ends too soon, an old backup, the lobby off', () => {
  // The schema refuses two web processes for oTree 5; a spec from before that rule (or a file an admin forced) may have them.
  const twoWeb = { ...spec({
      otree: { adminPassword: { secretRef: 'adminPassword' }, authLevel: 'DEMO', production: false },
      freezeWindows: [{ from: '2026-12-03T07:30:00Z', to: '2026-12-03T08:30:00Z' }], rooms: [{ name: 'lab', displayName: 'Lab', participantLabels: ['s1'] }],
    }), processes: { web: 2, worker: 0 } };
  const checks = goNoGo({
    spec: twoWeb,
    status: readyStatus, passwordSet: true, lastBackupAt: new Date('2026-12-01T03:00:00Z'), now: NOW, time, text: en.goNoGo,
  });
  assert.deepEqual(failing(checks), ['production', 'authLevel', 'processes', 'backup', 'freeze', 'lobby']);
  assert.equal(checks.find((c) => c.id === 'lobby')!.text, en.goNoGo.lobby.off);
});
