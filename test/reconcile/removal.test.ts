// Table tests for planRemoval(): what happens to an instance that is no longer declared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRemoval } from '../../src/reconcile/removal.js';
import type { RemovalInput } from '../../src/reconcile/removal.js';
import { NOW, displays, instance, servicesFor, steadyApp } from './fixtures.js';

const APP = 'alice-pgg';
const withRedis = instance({ redis: true });
const app = steadyApp(withRedis);
const removal = (extra: Partial<RemovalInput>): RemovalInput => ({
  name: APP, observed: app, services: servicesFor(withRedis), deletionPolicy: 'Backup', prune: true, now: NOW, backupDir: '/var/backups/otm/', ...extra,
});

const DESTROY_ALL = [
  `dokku postgres:unlink ${APP}-pg ${APP} --no-restart`,
  `dokku --force postgres:destroy ${APP}-pg`,
  `dokku redis:unlink ${APP}-redis ${APP} --no-restart`,
  `dokku --force redis:destroy ${APP}-redis`,
  `dokku --quiet --force apps:destroy ${APP}`,
];

const cases: Array<{ name: string; input: RemovalInput; actions: string[]; phase: string; notes?: string[] }> = [
  {
    name: 'prune off: reported orphaned, nothing touched',
    input: removal({ prune: false }),
    actions: [],
    phase: 'Orphaned',
    notes: [`instance ${APP} is no longer declared; its app is kept because pruning is off (enable prune to remove it)`],
  },
  {
    name: 'not managed: never touched, even with prune',
    input: removal({ observed: steadyApp(withRedis, { config: { DATABASE_URL: 'postgres://x' } }) }),
    actions: [],
    phase: 'Orphaned',
    notes: [`app ${APP} is not declared and not managed by otree-manager; it is never modified or removed`],
  },
  {
    name: 'Retain: unlink, destroy the app, keep both services',
    input: removal({ deletionPolicy: 'Retain' }),
    actions: [`dokku postgres:unlink ${APP}-pg ${APP} --no-restart`, `dokku redis:unlink ${APP}-redis ${APP} --no-restart`, `dokku --quiet --force apps:destroy ${APP}`],
    phase: 'Deleting',
    notes: [`deletionPolicy Retain: postgres service ${APP}-pg is kept`, `deletionPolicy Retain: redis service ${APP}-redis is kept`],
  },
  {
    name: 'unknown policy counts as Retain',
    input: removal({ deletionPolicy: undefined }),
    actions: [`dokku postgres:unlink ${APP}-pg ${APP} --no-restart`, `dokku redis:unlink ${APP}-redis ${APP} --no-restart`, `dokku --quiet --force apps:destroy ${APP}`],
    phase: 'Deleting',
  },
  {
    name: 'Backup: export first, then unlink and destroy services, the app last',
    input: removal({}),
    actions: [`dokku postgres:export ${APP}-pg`, ...DESTROY_ALL],
    phase: 'Deleting',
  },
  {
    name: 'Delete: no export',
    input: removal({ deletionPolicy: 'Delete' }),
    actions: DESTROY_ALL,
    phase: 'Deleting',
  },
  {
    name: 'Delete: a service another app also uses is kept',
    input: removal({
      deletionPolicy: 'Delete',
      observed: steadyApp(instance()),
      services: new Map([[`postgres/${APP}-pg`, { plugin: 'postgres' as const, name: `${APP}-pg`, status: 'running', links: [APP, 'bob-app'] }]]),
    }),
    actions: [`dokku postgres:unlink ${APP}-pg ${APP} --no-restart`, `dokku --quiet --force apps:destroy ${APP}`],
    phase: 'Deleting',
    notes: [`postgres service ${APP}-pg is also linked to bob-app; it is kept`],
  },
  {
    name: 'app already gone: nothing, services left as they are',
    input: removal({ observed: undefined }),
    actions: [],
    phase: 'Deleting',
  },
];

for (const c of cases) {
  test(c.name, () => {
    const p = planRemoval(c.input);
    assert.deepEqual(displays(p.actions), c.actions);
    assert.equal(p.phase, c.phase);
    if (c.notes) assert.deepEqual(p.notes, c.notes);
  });
}

test('Backup: the export names its file, and nothing irreversible runs without a verified backup', () => {
  const p = planRemoval(removal({}));
  const [exportAction, ...rest] = p.actions;
  assert.equal(exportAction?.outputFile, `/var/backups/otm/${APP}-pg-20261201T100000Z.dump`);
  assert.equal(exportAction?.requires, undefined);
  assert.deepEqual(rest.map((a) => a.requires), rest.map(() => 'verified-backup'));
});

test('Backup without an existing database: nothing to export, nothing waits for a backup', () => {
  const p = planRemoval(removal({ services: new Map() }));
  assert.deepEqual(p.actions.map((a) => a.requires), [undefined, undefined, undefined]);
  assert.deepEqual(displays(p.actions), [`dokku postgres:unlink ${APP}-pg ${APP} --no-restart`, `dokku redis:unlink ${APP}-redis ${APP} --no-restart`, `dokku --quiet --force apps:destroy ${APP}`]);
});
