// The authorisation table, cell by cell: roles (admin, experimenter with a write session, a read-scope
// token) × relation to the object (owner, collaborator, stranger) × every verb.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { can, canSee, forbiddenChanges, forbiddenPersonChanges } from '../../src/access/can.js';
import type { InstanceVerb, Principal } from '../../src/access/can.js';
import type { ExperimenterSpec } from '../../src/manifest/types.js';
import { instance } from '../reconcile/fixtures.js';

const admin: Principal = { name: 'root', admin: true, scope: 'write', via: 'session' };
const alice: Principal = { name: 'alice', admin: false, scope: 'write', via: 'session' };
const aliceRead: Principal = { ...alice, scope: 'read', via: 'token' };
const adminRead: Principal = { ...admin, scope: 'read', via: 'token' };
const shared = { owner: 'alice', collaborators: ['bob'] };
const bob: Principal = { name: 'bob', admin: false, scope: 'write', via: 'token' };
const carol: Principal = { name: 'carol', admin: false, scope: 'write', via: 'session' };

const VERBS: InstanceVerb[] = ['read', 'plan', 'logs', 'backups', 'secrets', 'update', 'restart', 'resetDatabase', 'deploy', 'backup', 'delete', 'share', 'revealSecret', 'writeSecret'];
const READS = new Set(['read', 'plan', 'logs', 'backups', 'secrets']);
const RUNS = new Set(['update', 'restart', 'resetDatabase', 'deploy', 'backup']);

/** Expected answer per principal, by verb. */
const table: Array<[string, Principal, (verb: InstanceVerb) => boolean]> = [
  ['an admin does everything', admin, () => true],
  ['an admin\'s read token only reads', adminRead, (verb) => READS.has(verb)],
  ['the owner does everything to their instance', alice, () => true],
  ['the owner\'s read token only reads', aliceRead, (verb) => READS.has(verb)],
  ['a collaborator reads and runs, but does not delete, share or touch secrets', bob, (verb) => (READS.has(verb) && verb !== 'secrets') || RUNS.has(verb)],
  ['a stranger does nothing', carol, () => false],
];

describe('can: instances', () => {
  for (const [name, who, expected] of table) {
    test(name, () => {
      for (const verb of VERBS) assert.equal(can(who, { kind: 'instance', verb, instance: shared }), expected(verb), verb);
    });
  }

  test('only those who may read an instance may know it exists', () => {
    assert.deepEqual([admin, adminRead, alice, aliceRead, bob, carol].map((who) => canSee(who, shared)), [true, true, true, true, true, false]);
  });

  test('creation: admins always; experimenters only with self-service on, for themselves, with a write credential', () => {
    const create = (who: Principal, owner: string, selfService: boolean) => can(who, { kind: 'instance', verb: 'create', instance: { owner }, selfService });
    assert.equal(create(admin, 'alice', false), true);
    assert.equal(create(alice, 'alice', false), false);
    assert.equal(create(alice, 'alice', true), true);
    assert.equal(create(alice, 'bob', true), false);
    assert.equal(create(aliceRead, 'alice', true), false);
  });
});

describe('can: people and the audit log', () => {
  test('people read themselves, edit their own profile and manage their own sessions and tokens; admins manage everyone', () => {
    for (const verb of ['read', 'update', 'editProfile', 'delete', 'manageAccess'] as const) {
      assert.equal(can(admin, { kind: 'person', verb, person: 'alice' }), true, verb);
      assert.equal(can(alice, { kind: 'person', verb, person: 'alice' }), verb === 'read' || verb === 'editProfile' || verb === 'manageAccess', verb);
      assert.equal(can(aliceRead, { kind: 'person', verb, person: 'alice' }), verb === 'read', `read token: ${verb}`);
      assert.equal(can(bob, { kind: 'person', verb, person: 'alice' }), false, verb);
    }
    assert.equal(can(aliceRead, { kind: 'person', verb: 'manageAccess', person: 'alice' }), false, 'a read token cannot mint or revoke tokens');
    assert.equal(can(adminRead, { kind: 'person', verb: 'editProfile', person: 'root' }), false, 'an admin\'s read token cannot edit either');
    assert.equal(can(admin, { kind: 'person', verb: 'create' }), true);
    assert.equal(can(alice, { kind: 'person', verb: 'create' }), false);
  });

  test('audit entries: admins see all, people their own', () => {
    assert.equal(can(admin, { kind: 'audit', verb: 'read', actor: 'alice' }), true);
    assert.equal(can(alice, { kind: 'audit', verb: 'read', actor: 'alice' }), true);
    assert.equal(can(aliceRead, { kind: 'audit', verb: 'read', actor: 'alice' }), true);
    assert.equal(can(bob, { kind: 'audit', verb: 'read', actor: 'alice' }), false);
  });
});

describe('forbiddenChanges', () => {
  const base = instance({ owner: 'alice', collaborators: ['bob'] }).spec;
  const defaults = { processes: { web: 1, worker: 0 }, domains: [], resources: {} };
  const edit = (patch: object) => ({ ...base, ...patch });

  test('admins change anything', () => {
    assert.deepEqual(forbiddenChanges(admin, base, edit({ owner: 'carol', host: 'lab2', processes: { web: 4, worker: 2 } }), defaults), []);
  });

  test('owners change the experiment, not its placement or its ownership', () => {
    assert.deepEqual(forbiddenChanges(alice, base, edit({ env: { A: '1' }, collaborators: [], state: 'stopped', otree: { ...base.otree, adminPassword: { secretRef: 'pw' } } }), defaults), []);
    assert.deepEqual(forbiddenChanges(alice, base, edit({ host: 'lab2', processes: { web: 2, worker: 0 }, resources: { memory: '2g' }, domains: ['x.lab.example.org'], owner: 'bob' }), defaults),
      ['spec.host', 'spec.processes', 'spec.resources', 'spec.domains', 'spec.owner']);
  });

  test('collaborators may not change who shares it or its secrets', () => {
    assert.deepEqual(forbiddenChanges(bob, base, edit({ env: { B: '2' } }), defaults), []);
    assert.deepEqual(forbiddenChanges(bob, base, edit({ collaborators: ['bob', 'carol'], otree: { ...base.otree, restKey: { value: 'k' } } }), defaults),
      ['spec.collaborators', 'spec.otree.restKey']);
  });

  test('a new instance keeps the default placement and is its creator\'s own', () => {
    const fresh = { ...base, domains: [], processes: { web: 1, worker: 0 }, resources: {} };
    assert.deepEqual(forbiddenChanges(alice, undefined, fresh, defaults), []);
    assert.deepEqual(forbiddenChanges(alice, undefined, { ...fresh, processes: { web: 3, worker: 0 }, owner: 'bob' }, defaults), ['spec.processes', 'spec.owner']);
  });
});

describe('forbiddenPersonChanges', () => {
  const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1Y2t5IGtleSBmb3IgdGhlIHRhYmxlIHRlc3Q= alice@laptop';
  const spec: ExperimenterSpec = { displayName: 'Alice', email: 'alice@lab.example.org', role: 'experimenter', disabled: false, sshKeys: [KEY], quota: { instances: 2, webProcesses: 2 } };
  const before = { name: 'alice', labels: { group: 'econ' }, spec };
  const edit = (patch: Partial<ExperimenterSpec>, labels: Record<string, string> = before.labels) => ({ labels, spec: { ...spec, ...patch } });

  /** [what, principal, the change, the paths refused] */
  const cells: Array<[string, Principal, ReturnType<typeof edit>, string[]]> = [
    ['a person adds and removes their own keys', alice, edit({ sshKeys: [] }), []],
    ['a person renames themselves', alice, edit({ displayName: 'Alice A.', sshKeys: [KEY, KEY.replace('alice@laptop', 'second')] }), []],
    ['a person sending their profile back unchanged', alice, edit({}), []],
    ['the same quota with its keys in another order is no change', alice, edit({ quota: { webProcesses: 2, instances: 2 } }), []],
    ['a person may not make themselves an admin', alice, edit({ role: 'admin' }), ['spec.role']],
    ['nor raise their quota', alice, edit({ quota: { instances: 9, webProcesses: 2 } }), ['spec.quota']],
    ['nor change their e-mail address', alice, edit({ email: 'evil@example.org' }), ['spec.email']],
    ['nor remove it', alice, { labels: before.labels, spec: (({ email: _email, ...rest }) => rest)(spec) as typeof spec }, ['spec.email']],
    ['nor enable or disable themselves', alice, edit({ disabled: true }), ['spec.disabled']],
    ['nor change their labels', alice, edit({}, { group: 'admins' }), ['metadata.labels']],
    ['several at once, keys allowed, each refused field named', alice, edit({ sshKeys: [], role: 'admin', quota: { instances: 9, webProcesses: 9 } }, {}), ['spec.quota', 'spec.role', 'metadata.labels']],
    ['another person changes nothing of alice, not even her keys', bob, edit({ sshKeys: [] }), ['spec.sshKeys']],
    ['an admin changes anything', admin, edit({ role: 'admin', disabled: true, sshKeys: [] }, {}), []],
  ];
  for (const [what, who, after, refused] of cells) {
    test(what, () => assert.deepEqual(forbiddenPersonChanges(who, before, after), refused));
  }
});
