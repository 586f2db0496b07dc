// Conditions, freeze windows and URLs: the pure helpers the engine builds status from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conditionsFor, phaseAfter } from '../../src/reconcile/conditions.js';
import type { Outcome } from '../../src/reconcile/conditions.js';
import { freezeEnd, isInFreezeWindow } from '../../src/reconcile/freeze.js';
import { doneGenerations } from '../../src/reconcile/config.js';
import { instanceUrls, participantUrls } from '../../src/reconcile/urls.js';
import { plan } from '../../src/reconcile/plan.js';
import type { Condition } from '../../src/engine/status.js';
import { NOW, input, instance, steadyApp } from './fixtures.js';

const base = instance();
const steady = steadyApp(base);
const applied: Outcome = { applied: true };
const summary = (conditions: Condition[]) => conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);

test('in sync: Ready, not reconciling, not stalled, not degraded', () => {
  const c = conditionsFor({ previous: [], plan: plan(input(base, steady)), outcome: applied, observed: steady, now: NOW });
  assert.deepEqual(summary(c), ['Ready=True/Running', 'Reconciling=False/InSync', 'Stalled=False/Progressing', 'Degraded=False/AsDeclared']);
  assert.ok(c.every((x) => x.lastTransitionTime === NOW.toISOString()));
});

test('lastTransitionTime stays while a status does not change, and moves when it flips', () => {
  const earlier = '2026-11-30T08:00:00.000Z';
  const previous: Condition[] = [
    { type: 'Ready', status: 'True', reason: 'Running', message: 'x', lastTransitionTime: earlier },
    { type: 'Reconciling', status: 'True', reason: 'ChangesApplied', message: 'x', lastTransitionTime: earlier },
  ];
  const c = conditionsFor({ previous, plan: plan(input(base, steady)), outcome: applied, now: NOW });
  assert.equal(c.find((x) => x.type === 'Ready')?.lastTransitionTime, earlier);
  assert.equal(c.find((x) => x.type === 'Reconciling')?.lastTransitionTime, NOW.toISOString());
});

test('changes applied: Reconciling until the next pass confirms them', () => {
  const p = plan(input(instance({ env: { SENTRY_DSN: 'new' } }), steady));
  assert.deepEqual(summary(conditionsFor({ previous: [], plan: p, outcome: applied, now: NOW })).slice(0, 2), ['Ready=True/Running', 'Reconciling=True/ChangesApplied']);
});

test('freeze window: Degraded says what waits until when', () => {
  const p = plan(input(instance({ env: { SENTRY_DSN: 'new' }, freezeWindows: [{ from: '2026-12-01T09:00:00Z', to: '2026-12-01T12:00:00Z' }] }), steady));
  const degraded = conditionsFor({ previous: [], plan: p, outcome: applied, now: NOW }).find((x) => x.type === 'Degraded');
  assert.deepEqual([degraded?.status, degraded?.reason, degraded?.message], ['True', 'FreezeWindow', '2 action(s) deferred until 2026-12-01T12:00:00.000Z']);
});

test('not managed: Stalled with the reason and what to do', () => {
  const p = plan(input(base, steadyApp(base, { config: {} })));
  const c = conditionsFor({ previous: [], plan: p, outcome: applied, now: NOW });
  assert.deepEqual(summary(c).slice(0, 3), ['Ready=False/NotManaged', 'Reconciling=False/InSync', 'Stalled=True/NotManaged']);
  assert.match(c[2]!.message, /set spec\.adopt: true/);
  assert.equal(phaseAfter(p, applied), 'Failed');
});

test('a failed action: Failed phase; Reconciling while retrying, Stalled when it needs a person', () => {
  const p = plan(input(instance({ env: { SENTRY_DSN: 'new' } }), steady));
  const retrying: Outcome = { applied: false, error: 'dokku config:set failed: exit 1', code: 'CommandFailed', retrying: true };
  assert.deepEqual(summary(conditionsFor({ previous: [], plan: p, outcome: retrying, now: NOW })), ['Ready=False/CommandFailed', 'Reconciling=True/Retrying', 'Stalled=False/Progressing', 'Degraded=False/AsDeclared']);
  const terminal: Outcome = { ...retrying, retrying: false };
  assert.equal(conditionsFor({ previous: [], plan: p, outcome: terminal, now: NOW })[2]?.status, 'True');
  assert.equal(phaseAfter(p, retrying), 'Failed');
});

test('stopped, waiting for a push, crashed processes', () => {
  const stopped = plan(input(instance({ expiresAt: '2026-11-01T00:00:00Z' }), steadyApp(base, { status: 'stopped' })));
  assert.deepEqual(conditionsFor({ previous: [], plan: stopped, outcome: applied, now: NOW })[0], { type: 'Ready', status: 'False', reason: 'Stopped', message: 'expired at 2026-11-01T00:00:00Z: stopped, nothing deleted', lastTransitionTime: NOW.toISOString() });
  const pending = plan(input(instance({ source: { push: {} } }), undefined));
  assert.equal(conditionsFor({ previous: [], plan: pending, outcome: applied, now: NOW })[0]?.message, 'waiting for git push to dokku@dokku.lab.example.org:alice-pgg');
  const crashed = steadyApp(base, { containers: [{ id: 'c1', app: 'alice-pgg', processType: 'web', dyno: 'web.1', state: 'exited', restartCount: 3, exitCode: 137, oomKilled: true, env: {} }] });
  const c = conditionsFor({ previous: [], plan: plan(input(base, crashed)), outcome: applied, observed: crashed, now: NOW });
  assert.deepEqual(summary(c), ['Ready=False/ProcessesNotRunning', 'Reconciling=False/InSync', 'Stalled=False/Progressing', 'Degraded=True/ProcessesNotRunning']);
  assert.equal(c[0]?.message, 'web.1 was killed for lack of memory');
});

test('freeze windows: [from, to), overlapping and back-to-back windows count as one', () => {
  const w = [{ from: '2026-12-01T09:00:00Z', to: '2026-12-01T10:00:00Z' }, { from: '2026-12-01T10:00:00Z', to: '2026-12-01T11:00:00Z' }, { from: '2026-12-01T10:30:00Z', to: '2026-12-01T11:30:00Z' }, { from: '2026-12-02T09:00:00Z', to: '2026-12-02T10:00:00Z' }];
  assert.equal(isInFreezeWindow(w, new Date('2026-12-01T08:59:59Z')), false);
  assert.equal(freezeEnd(w, new Date('2026-12-01T09:00:00Z'))?.toISOString(), '2026-12-01T11:30:00.000Z');
  assert.equal(freezeEnd(w, new Date('2026-12-01T11:29:59Z'))?.toISOString(), '2026-12-01T11:30:00.000Z');
  assert.equal(isInFreezeWindow(w, new Date('2026-12-01T11:30:00Z')), false);
  assert.equal(isInFreezeWindow([{ from: 'not a time', to: '2026-12-01T10:00:00Z' }], NOW), false);
});

test('URLs: declared domains or the default vhost; https once a certificate is active', () => {
  assert.deepEqual(instanceUrls(base, 'lab.example.org'), ['http://pgg.lab.example.org']);
  assert.deepEqual(instanceUrls(instance({ domains: [] }), 'lab.example.org'), ['http://alice-pgg.lab.example.org']);
  assert.deepEqual(instanceUrls(instance({ domains: [] }), undefined), []);
  const tls = instance({ tls: { letsencrypt: true } });
  assert.deepEqual(instanceUrls(tls, undefined, steadyApp(tls)), ['https://pgg.lab.example.org']);
  assert.deepEqual(participantUrls('https://pgg.lab.example.org/', { name: 'lab', displayName: 'Lab', participantLabels: ['seat01', 'a b'] }), [
    { label: 'seat01', url: 'https://pgg.lab.example.org/room/lab?participant_label=seat01' },
    { label: 'a b', url: 'https://pgg.lab.example.org/room/lab?participant_label=a%20b' },
  ]);
});

test('done generations come from the app config, 0 when never recorded', () => {
  assert.deepEqual(doneGenerations({ OTM_RESETDB_GENERATION: '3', OTM_RESETDB_PENDING: '4' }), { resetDatabase: 3, restart: 0 });
});
