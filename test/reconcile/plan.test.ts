// Table tests for plan(): (declared instance, observed app) in, the exact command lines out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { plan } from '../../src/reconcile/plan.js';
import type { PlanInput } from '../../src/reconcile/plan.js';
import type { Plan } from '../../src/reconcile/action.js';
import type { OTreeInstanceSpec, Source } from '../../src/manifest/types.js';
import { NOW, SECRETS, SECRET_VALUES, apply, displays, input, instance, servicesFor, steadyApp } from './fixtures.js';

const base = instance();
const steady = steadyApp(base);
const APP = 'alice-pgg';
const CREATE = [
  `dokku --quiet apps:create ${APP}`,
  `dokku postgres:create ${APP}-pg`,
  `dokku postgres:link ${APP}-pg ${APP} --no-restart`,
  `dokku --quiet config:set --encoded --no-restart ${APP} OTM_MANAGED=true OTREE_PRODUCTION=1 OTREE_AUTH_LEVEL=STUDY 'OTREE_ADMIN_PASSWORD=********' 'SENTRY_DSN=********' OTM_ENV_KEYS=SENTRY_DSN`,
  `dokku domains:set ${APP} pgg.lab.example.org`,
  `dokku acl:add ${APP} otm-alice-AbCdEf123456`,
];
const FREEZE = [{ from: '2026-12-01T09:00:00Z', to: '2026-12-01T12:00:00Z' }];
const withConfig = (extra: Record<string, string>) => steadyApp(base, { config: { ...steady.config, ...extra } });
const git: Source = { git: { url: 'https://git.lab.example.org/alice/pgg.git', ref: 'v3' } };

interface Case {
  name: string;
  input: PlanInput;
  actions: string[];
  phase?: Plan['phase'];
  deferred?: string[];
  notes?: string[];
  reasons?: string[];
}

const cases: Case[] = [
  {
    name: 'new instance from an image: set up, then the first deploy starts it',
    input: input(base, undefined),
    actions: [...CREATE, `dokku git:from-image ${APP} registry.lab/alice/pgg:1`],
    phase: 'Deploying',
  },
  {
    name: 'new instance from git: git:sync --build, then the synced source is recorded',
    input: input(instance({ source: git }), undefined),
    actions: [...CREATE.slice(0, 3), `${CREATE[3]} 'OTM_SOURCE=********'`, ...CREATE.slice(4), `dokku git:sync --build ${APP} https://git.lab.example.org/alice/pgg.git v3`],
    phase: 'Deploying',
  },
  {
    name: 'new instance from an archive on the Dokku host',
    input: input(instance({ source: { archive: { path: '/srv/otree/pgg.otreezip' } } }), undefined),
    actions: [...CREATE.slice(0, 3), `${CREATE[3]} 'OTM_SOURCE=********'`, ...CREATE.slice(4), `dokku git:from-archive ${APP} file:///srv/otree/pgg.otreezip`],
    phase: 'Deploying',
  },
  {
    name: 'new instance for git push: everything set up, nothing started',
    input: input(instance({ source: { push: {} } }), undefined),
    actions: CREATE,
    phase: 'Pending',
    notes: [`waiting for git push to dokku@dokku.lab.example.org:${APP}`],
  },
  {
    name: 'new oTree 3 instance with redis and a worker',
    input: input(instance({ otree: { ...base.spec.otree, version: '3' }, redis: true, processes: { web: 1, worker: 1 } }), undefined),
    actions: [
      ...CREATE.slice(0, 3),
      `dokku redis:create ${APP}-redis`,
      `dokku redis:link ${APP}-redis ${APP} --no-restart`,
      ...CREATE.slice(3, 5),
      `dokku ps:scale --skip-deploy ${APP} worker=1`,
      CREATE[5]!,
      `dokku git:from-image ${APP} registry.lab/alice/pgg:1`,
    ],
  },
  { name: 'unchanged running instance: nothing at all', input: input(base, steady), actions: [], phase: 'Running', notes: [] },
  {
    name: 'one env value changed: one config:set, one restart',
    input: input(instance({ env: { SENTRY_DSN: 'https://new@sentry' } }), steady),
    actions: [`dokku --quiet config:set --encoded --no-restart ${APP} 'SENTRY_DSN=********'`, `dokku ps:restart ${APP}`],
    reasons: ['config SENTRY_DSN differs from the declared value', 'apply the changes above to the running processes'],
  },
  {
    name: 'admin password changed: only a restart, never a database reset',
    input: { ...input(base, steady), secrets: { adminPassword: 'another-Very-Secret' } },
    actions: [`dokku --quiet config:set --encoded --no-restart ${APP} 'OTREE_ADMIN_PASSWORD=********'`, `dokku ps:restart ${APP}`],
  },
  {
    name: 'env key removed from the manifest: unset it and the record, leave foreign keys alone',
    input: input(instance({ env: {} }), withConfig({ HAND_MADE: 'keep me' })),
    actions: [`dokku --quiet config:unset --no-restart ${APP} OTM_ENV_KEYS SENTRY_DSN`, `dokku ps:restart ${APP}`],
  },
  {
    name: 'env key renamed: one set, one unset, one restart',
    input: input(instance({ env: { SENTRY_URL: 'env-Very-Secret-3' } }), steady),
    actions: [
      `dokku --quiet config:set --encoded --no-restart ${APP} 'SENTRY_URL=********' OTM_ENV_KEYS=SENTRY_URL`,
      `dokku --quiet config:unset --no-restart ${APP} SENTRY_DSN`,
      `dokku ps:restart ${APP}`,
    ],
  },
  {
    name: 'integer-looking env values compare as Dokku stores them',
    input: input(instance({ env: { SENTRY_DSN: 'env-Very-Secret-3', SEATS: '007' } }), withConfig({ SEATS: '7', OTM_ENV_KEYS: 'SEATS,SENTRY_DSN' })),
    actions: [],
  },
  {
    name: 'auth level OFF removes OTREE_AUTH_LEVEL; rooms go into OTM_ROOMS',
    input: input(instance({ otree: { ...base.spec.otree, authLevel: 'OFF' }, rooms: [{ name: 'lab', displayName: 'Lab', participantLabels: ['s1', 's2'] }] }), steady),
    actions: [
      `dokku --quiet config:set --encoded --no-restart ${APP} 'OTM_ROOMS=[{"name":"lab","display_name":"Lab","participant_labels":["s1","s2"]}]'`,
      `dokku --quiet config:unset --no-restart ${APP} OTREE_AUTH_LEVEL`,
      `dokku ps:restart ${APP}`,
    ],
  },
  {
    name: 'scale change alone: ps:scale redeploys only the changed type',
    input: input(instance({ processes: { web: 1, worker: 1 } }), steady),
    actions: [`dokku ps:scale ${APP} worker=1`],
  },
  {
    name: 'scale and config change: scale is stored, the one restart applies both',
    input: input(instance({ processes: { web: 1, worker: 1 }, otree: { ...base.spec.otree, production: false } }), steady),
    actions: [`dokku --quiet config:set --encoded --no-restart ${APP} OTREE_PRODUCTION=0`, `dokku ps:scale --skip-deploy ${APP} worker=1`, `dokku ps:restart ${APP}`],
  },
  {
    name: 'resource limit and a new image: the deploy is the only restart',
    input: input(instance({ resources: { memory: '1g' }, source: { image: { ref: 'registry.lab/alice/pgg:2' } } }), steady),
    actions: [`dokku resource:limit --memory 1g ${APP}`, `dokku git:from-image ${APP} registry.lab/alice/pgg:2`],
    phase: 'Deploying',
  },
  {
    name: 'resource limit removed from the manifest: cleared, then one restart',
    input: input(base, steadyApp(base, { resources: { memory: '512m' } })),
    actions: [`dokku resource:limit --memory clear ${APP}`, `dokku ps:restart ${APP}`],
  },
  {
    name: 'git source already synced at the declared ref: nothing',
    input: input(instance({ source: git }), steadyApp(instance({ source: git }), { deploySource: 'git-sync', deploySourceMetadata: 'https://git.lab.example.org/alice/pgg.git#5e1f', config: { ...steady.config, OTM_SOURCE: 'git:https://git.lab.example.org/alice/pgg.git#v3' } })),
    actions: [],
  },
  {
    name: 'redis turned off: unlinked (kept), one restart',
    input: { ...input(base, steadyApp(base, { links: { postgres: [`${APP}-pg`], redis: [`${APP}-redis`] } })), services: servicesFor(instance({ redis: true })) },
    actions: [`dokku redis:unlink ${APP}-redis ${APP} --no-restart`, `dokku ps:restart ${APP}`],
  },
  {
    name: 'declared stopped: stop once, change nothing else',
    input: input(instance({ state: 'stopped' }), steady),
    actions: [`dokku ps:stop ${APP}`],
    phase: 'Stopped',
  },
  {
    name: 'declared stopped and already stopped: nothing',
    input: input(instance({ state: 'stopped' }), steadyApp(base, { status: 'stopped' })),
    actions: [],
    phase: 'Stopped',
  },
  {
    name: 'stopped instance with a config change: applied without restart',
    input: input(instance({ state: 'stopped', env: { SENTRY_DSN: 'other' } }), steadyApp(base, { status: 'stopped' })),
    actions: [`dokku --quiet config:set --encoded --no-restart ${APP} 'SENTRY_DSN=********'`],
    phase: 'Stopped',
  },
  {
    name: 'expired: behaves as stopped and says so',
    input: input(instance({ expiresAt: '2026-11-30T00:00:00Z' }), steady),
    actions: [`dokku ps:stop ${APP}`],
    phase: 'Stopped',
    notes: ['expired at 2026-11-30T00:00:00Z: stopped, nothing deleted'],
  },
  {
    name: 'declared running, processes stopped: start (which also applies changed config)',
    input: input(instance({ env: { SENTRY_DSN: 'other' } }), steadyApp(base, { status: 'stopped' })),
    actions: [`dokku --quiet config:set --encoded --no-restart ${APP} 'SENTRY_DSN=********'`, `dokku ps:start ${APP}`],
  },
  {
    name: 'freeze window: restart-needing changes wait, domains still change',
    input: input(instance({ env: { SENTRY_DSN: 'other' }, domains: ['pgg2.lab.example.org'], freezeWindows: FREEZE }), steady),
    actions: [`dokku domains:set ${APP} pgg2.lab.example.org`],
    deferred: [`dokku --quiet config:set --encoded --no-restart ${APP} 'SENTRY_DSN=********'`, `dokku ps:restart ${APP}`],
    notes: ['freeze window until 2026-12-01T12:00:00.000Z: 2 action(s) deferred'],
  },
  {
    name: 'freeze window: expiry stops the app only after the window',
    input: input(instance({ expiresAt: '2026-12-01T09:30:00Z', freezeWindows: FREEZE }), steady),
    actions: [],
    deferred: [`dokku ps:stop ${APP}`],
    phase: 'Stopped',
  },
  {
    name: 'freeze window on an app that is not deployed yet: nothing is held back',
    input: input(instance({ freezeWindows: FREEZE }), undefined),
    actions: [...CREATE, `dokku git:from-image ${APP} registry.lab/alice/pgg:1`],
    deferred: [],
  },
  {
    name: 'freeze window outside now: the change runs',
    input: input(instance({ env: { SENTRY_DSN: 'other' }, freezeWindows: [{ from: '2026-12-02T09:00:00Z', to: '2026-12-02T12:00:00Z' }] }), steady),
    actions: [`dokku --quiet config:set --encoded --no-restart ${APP} 'SENTRY_DSN=********'`, `dokku ps:restart ${APP}`],
  },
  {
    name: 'database reset requested: stop, record intent, reset, record done, start',
    input: input(instance({ resetDatabase: { generation: 1 } }), steady),
    actions: [
      `dokku ps:stop ${APP}`,
      `dokku --quiet config:set --encoded --no-restart ${APP} OTM_RESETDB_PENDING=1`,
      `dokku run --no-tty ${APP} otree resetdb --noinput`,
      `dokku --quiet config:set --encoded --no-restart ${APP} OTM_RESETDB_GENERATION=1`,
      `dokku ps:start ${APP}`,
    ],
  },
  {
    name: 'database reset interrupted after it started: run it again, processes still stopped',
    input: input(instance({ resetDatabase: { generation: 1 } }), steadyApp(base, { status: 'stopped', config: { ...steady.config, OTM_RESETDB_PENDING: '1' } })),
    actions: [
      `dokku run --no-tty ${APP} otree resetdb --noinput`,
      `dokku --quiet config:set --encoded --no-restart ${APP} OTM_RESETDB_GENERATION=1`,
      `dokku ps:start ${APP}`,
    ],
    reasons: ['database reset 1 was interrupted before it was recorded as done: run it again', 'database reset 1: record that it is done', 'database reset 1: start the processes again (this also applies the changes above)'],
  },
  {
    name: 'database reset already done: nothing',
    input: input(instance({ resetDatabase: { generation: 1 } }), withConfig({ OTM_RESETDB_PENDING: '1', OTM_RESETDB_GENERATION: '1' })),
    actions: [],
  },
  {
    name: 'database reset with a config change: the start after the reset is the one restart',
    input: input(instance({ resetDatabase: { generation: 2 }, env: { SENTRY_DSN: 'other' } }), withConfig({ OTM_RESETDB_PENDING: '1', OTM_RESETDB_GENERATION: '1' })),
    actions: [
      `dokku --quiet config:set --encoded --no-restart ${APP} 'SENTRY_DSN=********'`,
      `dokku ps:stop ${APP}`,
      `dokku --quiet config:set --encoded --no-restart ${APP} OTM_RESETDB_PENDING=2`,
      `dokku run --no-tty ${APP} otree resetdb --noinput`,
      `dokku --quiet config:set --encoded --no-restart ${APP} OTM_RESETDB_GENERATION=2`,
      `dokku ps:start ${APP}`,
    ],
  },
  {
    name: 'database reset inside a freeze window: deferred',
    input: input(instance({ resetDatabase: { generation: 1 }, freezeWindows: FREEZE }), steady),
    actions: [],
    deferred: [
      `dokku ps:stop ${APP}`,
      `dokku --quiet config:set --encoded --no-restart ${APP} OTM_RESETDB_PENDING=1`,
      `dokku run --no-tty ${APP} otree resetdb --noinput`,
      `dokku --quiet config:set --encoded --no-restart ${APP} OTM_RESETDB_GENERATION=1`,
      `dokku ps:start ${APP}`,
    ],
  },
  {
    name: 'database reset inside a freeze window on a stopped app declared running: started now, reset later',
    input: input(instance({ resetDatabase: { generation: 1 }, freezeWindows: FREEZE }), steadyApp(base, { status: 'stopped' })),
    actions: [`dokku ps:start ${APP}`],
    deferred: [
      `dokku --quiet config:set --encoded --no-restart ${APP} OTM_RESETDB_PENDING=1`,
      `dokku run --no-tty ${APP} otree resetdb --noinput`,
      `dokku --quiet config:set --encoded --no-restart ${APP} OTM_RESETDB_GENERATION=1`,
      `dokku ps:start ${APP}`,
    ],
  },
  {
    name: 'database reset on a new instance with a fresh database: recorded, nothing to reset',
    input: input(instance({ resetDatabase: { generation: 3 }, source: { push: {} } }), undefined),
    actions: [...CREATE.slice(0, 3), `${CREATE[3]} OTM_RESETDB_GENERATION=3`, ...CREATE.slice(4)],
  },
  {
    name: 'database reset before the first push on a kept database: waits for the deploy',
    input: input(instance({ resetDatabase: { generation: 1 }, source: { push: {} } }), steadyApp(base, { deployed: false, status: 'stopped', deploySource: '', deploySourceMetadata: '' })),
    actions: [],
    phase: 'Pending',
    notes: ['database reset 1 waits for the first deploy', `waiting for git push to dokku@dokku.lab.example.org:${APP}`],
  },
  {
    name: 'restart requested: recorded and restarted in one config:set',
    input: input(instance({ restart: { generation: 2 } }), withConfig({ OTM_RESTART_GENERATION: '1' })),
    actions: [`dokku --quiet config:set --encoded ${APP} OTM_RESTART_GENERATION=2`],
  },
  {
    name: 'restart requested together with a config change: still one restart',
    input: input(instance({ restart: { generation: 1 }, env: { SENTRY_DSN: 'other' } }), steady),
    actions: [`dokku --quiet config:set --encoded --no-restart ${APP} 'SENTRY_DSN=********'`, `dokku --quiet config:set --encoded ${APP} OTM_RESTART_GENERATION=1`],
  },
  {
    name: 'restart requested while stopped: recorded, nothing restarted',
    input: input(instance({ restart: { generation: 1 }, state: 'stopped' }), steadyApp(base, { status: 'stopped' })),
    actions: [`dokku --quiet config:set --encoded --no-restart ${APP} OTM_RESTART_GENERATION=1`],
  },
  {
    name: 'restart already done: nothing',
    input: input(instance({ restart: { generation: 1 } }), withConfig({ OTM_RESTART_GENERATION: '1' })),
    actions: [],
  },
  {
    name: 'existing app without the marker: blocked, untouched',
    input: input(base, steadyApp(base, { config: { DATABASE_URL: 'postgres://x' } })),
    actions: [],
    phase: 'Failed',
  },
  {
    name: 'adopt: the marker first, then the differences',
    input: input(instance({ adopt: true }), steadyApp(base, { config: { DATABASE_URL: 'postgres://x', OTREE_ADMIN_PASSWORD: SECRETS.adminPassword, OTREE_PRODUCTION: '1', OTREE_AUTH_LEVEL: 'STUDY', LAB_KEY: 'kept' } })),
    actions: [
      `dokku --quiet config:set --encoded --no-restart ${APP} OTM_MANAGED=true`,
      `dokku --quiet config:set --encoded --no-restart ${APP} 'SENTRY_DSN=********' OTM_ENV_KEYS=SENTRY_DSN`,
      `dokku ps:restart ${APP}`,
    ],
  },
  {
    name: 'owner changed keys: the new key gets access, the old managed one loses it, hand-made ACL users stay',
    input: { ...input(base, steady), ownerKeyNames: ['otm-alice-NewKey000000'], acl: ['otm-alice-AbCdEf123456', 'lab-admin'] },
    actions: [`dokku acl:add ${APP} otm-alice-NewKey000000`, `dokku acl:remove ${APP} otm-alice-AbCdEf123456`],
  },
  {
    name: 'owner keys unknown: the ACL is left as it is',
    input: { ...input(base, steady), ownerKeyNames: undefined, acl: ['otm-alice-AbCdEf123456'] },
    actions: [],
  },
  {
    name: 'TLS on a deployed app: letsencrypt:enable',
    input: input(instance({ tls: { letsencrypt: true } }), steady),
    actions: [`dokku letsencrypt:enable ${APP}`],
  },
  {
    name: 'TLS without the plugin: noted, nothing run',
    input: { ...input(instance({ tls: { letsencrypt: true } }), steady), host: { baseDomain: 'lab.example.org', plugins: { postgres: true, redis: true, letsencrypt: false, acl: true } } },
    actions: [],
    notes: ['spec.tls.letsencrypt is true but the Dokku host has no letsencrypt plugin; install dokku-letsencrypt'],
  },
  {
    name: 'redis declared but the plugin is missing: blocked',
    input: { ...input(instance({ redis: true }), undefined), host: { plugins: { postgres: true, redis: false, letsencrypt: true, acl: true } } },
    actions: [],
    phase: 'Failed',
  },
  {
    name: 'partial observation: nothing planned',
    input: input(base, steadyApp(base, { partial: true, config: {}, scale: {} })),
    actions: [],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const p = plan(c.input);
    assert.deepEqual(displays(p.actions), c.actions);
    if (c.phase) assert.equal(p.phase, c.phase);
    if (c.deferred) assert.deepEqual(p.deferred.map((d) => d.action), c.deferred);
    if (c.notes) assert.deepEqual(p.notes, c.notes);
    if (c.reasons) assert.deepEqual(p.actions.map((a) => a.reason).slice(-c.reasons.length), c.reasons);
  });
}

test('blocked plans say what to do', () => {
  const p = plan(input(base, steadyApp(base, { config: { DATABASE_URL: 'postgres://x' } })));
  assert.deepEqual(p.blocked, {
    reason: 'NotManaged',
    message: `app ${APP} exists but is not managed by otree-manager (it has no OTM_MANAGED marker and otree-manager has no record of creating it for this instance); set spec.adopt: true in its manifest file (or run \`otm adopt ${APP}\`) to take it over`,
  });
});

test('deferred actions carry the window end, and the instance is requeued for it', () => {
  const p = plan(input(instance({ restart: { generation: 1 }, freezeWindows: [...FREEZE, { from: '2026-12-01T12:00:00Z', to: '2026-12-01T13:00:00Z' }] }), steady));
  assert.deepEqual(p.deferred, [{ action: `dokku --quiet config:set --encoded ${APP} OTM_RESTART_GENERATION=1`, reason: 'restart generation 1 requested', until: '2026-12-01T13:00:00.000Z' }]);
  assert.equal(p.requeueAfter?.toISOString(), '2026-12-01T13:00:00.000Z');
});

test('a future expiry requeues the instance for that moment', () => {
  const p = plan(input(instance({ expiresAt: '2026-12-24T00:00:00Z' }), steady));
  assert.deepEqual(p.actions, []);
  assert.equal(p.requeueAfter?.toISOString(), '2026-12-24T00:00:00.000Z');
});

test('every case: no secret value in any display, reason, note or deferral', () => {
  for (const c of cases) {
    const p = plan({ ...c.input, secrets: { ...SECRETS } });
    const text = JSON.stringify([displays(p.actions), p.actions.map((a) => a.reason), p.notes, p.deferred]);
    for (const secret of SECRET_VALUES) assert.ok(!text.includes(secret), `${c.name}: printed a secret`);
  }
});

test('every case: at most one restart-like action per change set outside database resets', () => {
  const restartLike = new Set(['ps:restart', 'ps:rebuild', 'git:from-image', 'git:sync', 'git:from-archive']);
  for (const c of cases) {
    const p = plan(c.input);
    if (p.actions.some((a) => a.command.cmd === 'run')) continue;
    const n = p.actions.filter((a) => restartLike.has(a.command.cmd) || (a.command.cmd === 'config:set' && a.command.restart) || (a.command.cmd === 'ps:scale' && !a.command.skipDeploy)).length;
    assert.ok(n <= 1, `${c.name}: ${n} restarts`);
  }
});

const specs = fc.record({
  version: fc.constantFrom<'5' | '3'>('5', '3'),
  production: fc.boolean(),
  authLevel: fc.constantFrom<'STUDY' | 'DEMO' | 'OFF'>('STUDY', 'DEMO', 'OFF'),
  source: fc.constantFrom<Source>({ push: {} }, { image: { ref: 'r/a:1' } }, { image: { ref: 'r/a:2' } }, git, { archive: { path: 'https://files.lab/a.zip' } }),
  env: fc.dictionary(fc.constantFrom('A', 'B', 'SENTRY_DSN', 'SEATS'), fc.constantFrom('1', '007', 'x', 'env-Very-Secret-3', '')),
  domains: fc.constantFrom<string[]>([], ['a.lab.example.org'], ['a.lab.example.org', 'b.lab.example.org']),
  worker: fc.integer({ min: 0, max: 2 }),
  memory: fc.constantFrom(undefined, '512m', '1g'),
  redis: fc.boolean(),
  tls: fc.boolean(),
  state: fc.constantFrom<'running' | 'stopped'>('running', 'stopped'),
  reset: fc.integer({ min: 0, max: 2 }),
  restart: fc.integer({ min: 0, max: 2 }),
  restKey: fc.boolean(),
});

type SpecDraft = typeof specs extends fc.Arbitrary<infer T> ? T : never;

function specOf(s: SpecDraft): Partial<OTreeInstanceSpec> {
  return {
    otree: { version: s.version, production: s.production, authLevel: s.authLevel, adminPassword: { fromEnv: 'PW' } },
    source: s.source, env: s.env, domains: s.domains, processes: { web: 1, worker: s.worker },
    resources: s.memory ? { memory: s.memory } : {}, redis: s.redis, tls: { letsencrypt: s.tls }, state: s.state,
    resetDatabase: { generation: s.reset }, restart: { generation: s.restart },
  };
}

test('property: planning, applying and planning again converges to no action', () => {
  fc.assert(fc.property(specs, specs, (before, after) => {
    const secrets = { adminPassword: SECRETS.adminPassword, ...(after.restKey ? { restKey: SECRETS.restKey } : {}) };
    let current: PlanInput = { ...input(instance(specOf(before)), undefined), secrets };
    current = apply(current, plan(current).actions);
    // Someone edits the manifest; a deploy may be needed for push sources, which the test stands in for.
    current = { ...current, instance: instance(specOf(after)) };
    if (current.observed && !current.observed.deployed) current.observed.deployed = true;
    if (current.observed?.deployed && current.observed.status !== 'running' && after.state === 'running') current.observed.status = 'running';
    const first = plan(current);
    const second = plan(apply(current, first.actions));
    assert.deepEqual(displays(second.actions), [], `after ${JSON.stringify(displays(first.actions))}`);
  }), { numRuns: 300 });
});

test('property: a new oTree 5 instance needs at most 7 mutating commands (+1 each for TLS and a resource limit) and no restart before its first deploy', () => {
  fc.assert(fc.property(specs, (s) => {
    const spec = { ...specOf(s), otree: { ...specOf(s).otree!, version: '5' as const }, redis: false, processes: { web: 1, worker: 0 }, state: 'running' as const };
    const p = plan(input(instance(spec), undefined));
    const extras = (s.tls && s.source !== undefined && !('push' in s.source) ? 1 : 0) + (s.memory ? 1 : 0);
    assert.ok(p.actions.filter((a) => a.mutating).length <= 7 + extras, JSON.stringify(displays(p.actions)));
    if (extras === 0) assert.ok(p.actions.filter((a) => a.mutating).length <= 8);
    const firstDeploy = p.actions.findIndex((a) => ['git:from-image', 'git:sync', 'git:from-archive'].includes(a.command.cmd));
    const before = firstDeploy === -1 ? p.actions : p.actions.slice(0, firstDeploy);
    assert.deepEqual(before.filter((a) => a.disruptive).map((a) => a.display), []);
  }), { numRuns: 200 });
});

test('the clock is an argument: the same input plans the same actions', () => {
  const a = plan(input(instance({ freezeWindows: FREEZE, env: { SENTRY_DSN: 'x' } }), steady));
  const b = plan(input(instance({ freezeWindows: FREEZE, env: { SENTRY_DSN: 'x' } }), steady, { now: new Date(NOW) }));
  assert.deepEqual(a, b);
});

test('property: inside a freeze window a running app gets nothing that restarts it or needs a restart', () => {
  const needsRestartLater = new Set(['config:set', 'config:unset', 'service:link', 'service:unlink', 'resource:limit', 'ps:scale']);
  fc.assert(fc.property(specs, specs, (before, after) => {
    let current: PlanInput = input(instance({ ...specOf(before), state: 'running' }), undefined);
    current = apply(current, plan(current).actions);
    if (current.observed) Object.assign(current.observed, { deployed: true, status: 'running' });
    current = { ...current, instance: instance({ ...specOf(after), freezeWindows: FREEZE }), secrets: { ...SECRETS } };
    const p = plan(current);
    const offending = p.actions.filter((a) => a.disruptive || needsRestartLater.has(a.command.cmd));
    assert.deepEqual(displays(offending), []);
  }), { numRuns: 300 });
});

// Ownership: an unmarked app or an existing service is the instance's own only by proof.
const interruptedApp = steadyApp(base, { deployed: false, status: 'stopped', config: { NO_VHOST: '1', DATABASE_URL: 'postgres://postgres:pw@dokku-postgres-alice-pgg-pg:5432/alice_pgg_pg' } });
const creatingApp = [{ kind: 'app' as const, object: APP, state: 'creating' as const }];
const createdApp = [{ kind: 'app' as const, object: APP, state: 'created' as const }];
// What an interruption after the link leaves: the database claimed as well.
const pgCreated = { kind: 'postgres' as const, object: `${APP}-pg`, state: 'created' as const };
const linkedTo = (...links: string[]) => new Map([[`postgres/${APP}-pg`, { plugin: 'postgres' as const, name: `${APP}-pg`, status: 'running', links }]]);
const MARK = `dokku --quiet config:set --encoded --no-restart ${APP} OTM_MANAGED=true`;

interface OwnershipCase {
  name: string;
  input: PlanInput;
  /** undefined: not blocked, and the first action is `first` (a prefix match) when given. */
  blocked?: 'NotManaged' | 'ServiceConflict';
  first?: string;
  message?: RegExp;
  /** The service link planned (or not). */
  links?: boolean;
}

const ownership: OwnershipCase[] = [
  { name: 'unmarked app, no claim: not ours even when empty', input: input(base, interruptedApp), blocked: 'NotManaged', message: /no record of creating it/ },
  { name: 'unmarked empty app with a `creating` claim: the interrupted creation is finished', input: input(base, interruptedApp, { claims: [...creatingApp, pgCreated] }), first: MARK },
  { name: 'unmarked app with a `created` claim: finished even once it holds more', input: input(base, { ...interruptedApp, config: { ...interruptedApp.config, FOO: 'x' } }, { claims: [...createdApp, pgCreated] }), first: MARK },
  { name: '`creating` claim but the app holds a foreign key: someone else made it', input: input(base, { ...interruptedApp, config: { ...interruptedApp.config, SECRET_OF_SOMEONE: 'x' } }, { claims: creatingApp }), blocked: 'NotManaged' },
  { name: '`creating` claim but the app links a foreign service', input: input(base, { ...interruptedApp, links: { postgres: ['someone-elses-db'], redis: [] } }, { claims: creatingApp }), blocked: 'NotManaged' },
  { name: '`creating` claim but the app is deployed', input: input(base, { ...interruptedApp, deployed: true }, { claims: creatingApp }), blocked: 'NotManaged' },
  { name: 'a claim on a service is no claim on the app', input: input(base, interruptedApp, { claims: [{ kind: 'postgres', object: `${APP}-pg`, state: 'created' }] }), blocked: 'NotManaged' },
  { name: 'unmarked app with spec.adopt (a manifest file): taken over', input: input(instance({ adopt: true }), interruptedApp), first: MARK },
  {
    name: 'new instance, database of its name linked to nothing (retained) and unclaimed: refused, with how to proceed',
    input: input(base, undefined, { services: linkedTo() }), blocked: 'ServiceConflict',
    message: new RegExp(`^a PostgreSQL database named ${APP}-pg exists, but otree-manager did not create it for instance ${APP} .*deletionPolicy: Retain.*spec\\.adopt: true in the instance's manifest file.*dokku postgres:destroy ${APP}-pg`),
  },
  { name: 'retained database with spec.adopt: linked', input: input(instance({ adopt: true }), undefined, { services: linkedTo() }), links: true },
  { name: 'database the daemon created for this instance (claim `created`), not linked yet: linked', input: input(base, undefined, { services: linkedTo(), claims: [{ kind: 'postgres', object: `${APP}-pg`, state: 'created' }] }), links: true },
  { name: 'database with a `creating` claim, linked to nothing: linked', input: input(base, undefined, { services: linkedTo(), claims: [{ kind: 'postgres', object: `${APP}-pg`, state: 'creating' }] }), links: true },
  { name: 'database with a `creating` claim but linked to another app: refused', input: input(base, undefined, { services: linkedTo('bob-app'), claims: [{ kind: 'postgres', object: `${APP}-pg`, state: 'creating' }] }), blocked: 'ServiceConflict', message: /linked to bob-app/ },
  { name: 'database linked to another app only: refused', input: input(base, steadyApp(base, { links: { postgres: [], redis: [] } }), { services: linkedTo('bob-app') }), blocked: 'ServiceConflict', message: new RegExp(`^the postgres service ${APP}-pg exists and is linked to bob-app; otree-manager did not create it`) },
  { name: 'database linked to the marked app and to another: refused', input: input(base, steady, { services: linkedTo(APP, 'bob-app') }), blocked: 'ServiceConflict' },
  { name: 'database linked to the marked app and nothing else: ours', input: input(base, steady, { services: linkedTo(APP) }) },
  { name: 'database linked to an unmarked app the daemon is resuming, without its own claim: refused', input: input(base, interruptedApp, { services: linkedTo(APP), claims: createdApp }), blocked: 'ServiceConflict', message: /which does not carry the ownership marker/ },
  {
    name: 'Redis of the instance\'s name, unclaimed and linked to nothing: refused too',
    input: input(instance({ redis: true, otree: { version: '3', authLevel: 'STUDY', production: true, adminPassword: { value: 'x' } } }), undefined,
      { services: new Map([[`redis/${APP}-redis`, { plugin: 'redis' as const, name: `${APP}-redis`, status: 'running', links: [] }]]) }),
    blocked: 'ServiceConflict', message: new RegExp(`^a Redis service named ${APP}-redis exists`),
  },
];

for (const c of ownership) {
  test(`ownership: ${c.name}`, () => {
    const p = plan(c.input);
    assert.equal(p.blocked?.reason, c.blocked, p.blocked?.message);
    if (c.blocked) assert.deepEqual(p.actions, []);
    if (c.message) assert.match(p.blocked?.message ?? '', c.message);
    if (c.first) assert.ok(displays(p.actions)[0]?.startsWith(c.first), displays(p.actions)[0]);
    if (c.links !== undefined) assert.equal(displays(p.actions).includes(`dokku postgres:link ${APP}-pg ${APP} --no-restart`), c.links);
  });
}

test('ownership: claims are released once the app is marked and its services linked to it alone, not before', () => {
  const claims = [...createdApp, { kind: 'postgres' as const, object: `${APP}-pg`, state: 'created' as const }];
  assert.deepEqual(plan(input(base, steady, { claims })).releaseClaims, ['app', 'postgres']);
  assert.equal(plan(input(base, steady)).releaseClaims, undefined, 'nothing to release without claims');
  assert.equal(plan(input(base, interruptedApp, { claims, services: linkedTo(APP) })).releaseClaims, undefined, 'not while the app is unmarked');
  assert.deepEqual(plan(input(base, steadyApp(base, { links: { postgres: [], redis: [] } }), { claims, services: linkedTo() })).releaseClaims, ['app'], 'the database claim stays until it is linked');
  // Planning from nothing, applying (which records claims the way the controller does) and planning again releases them.
  const created = apply(input(base, undefined), plan(input(base, undefined)).actions);
  assert.deepEqual(plan(created).releaseClaims, ['app', 'postgres']);
});

test('an app left unmarked by an interrupted creation (claim `creating`) is finished, not blocked', () => {
  const p = plan(input(base, interruptedApp, { claims: [...creatingApp, pgCreated] }));
  assert.equal(p.blocked, undefined);
  assert.match(displays(p.actions)[0]!, /config:set --encoded --no-restart alice-pgg OTM_MANAGED=true$/);
  assert.match(p.actions[0]!.reason, /interrupted before marking it/);
});
