// planSshKeys(): experimenters' keys in Dokku; keys added by hand are never removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyName, ownerKeyNames, planSshKeys } from '../../src/reconcile/sshkeys.js';
import type { ExperimenterKeys } from '../../src/reconcile/sshkeys.js';
import { displays } from './fixtures.js';

const ALICE_1 = { fingerprint: 'SHA256:Ab+Cd/Ef12345678xyz', key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice1 alice@laptop' };
const ALICE_2 = { fingerprint: 'SHA256:Zz9Yy8Xx7Ww6Vv5', key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice2 alice@desktop' };
const BOB = { fingerprint: 'SHA256:Bob0000000000000', key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBob bob@pc' };
const alice: ExperimenterKeys = { name: 'alice', role: 'experimenter', keys: [ALICE_1, ALICE_2] };
const bob: ExperimenterKeys = { name: 'bob', role: 'experimenter', keys: [BOB] };

test('key names: one per key, derived from the fingerprint, prefixed otm-', () => {
  assert.equal(keyName('alice', ALICE_1.fingerprint), 'otm-alice-AbCdEf123456');
  assert.deepEqual(ownerKeyNames(alice), ['otm-alice-AbCdEf123456', 'otm-alice-Zz9Yy8Xx7Ww6']);
  assert.deepEqual(ownerKeyNames(undefined), []);
});

const cases: Array<{ name: string; experimenters: ExperimenterKeys[]; observed: Array<[string, string[]]>; actions: string[]; notes?: string[] }> = [
  {
    name: 'nothing installed: every key added under its own name',
    experimenters: [alice, bob],
    observed: [['admin', ['SHA256:LabAdminKey']]],
    actions: ['dokku ssh-keys:add otm-alice-AbCdEf123456', 'dokku ssh-keys:add otm-alice-Zz9Yy8Xx7Ww6', 'dokku ssh-keys:add otm-bob-Bob000000000'],
  },
  {
    name: 'everything installed: nothing',
    experimenters: [alice, bob],
    observed: [['admin', ['SHA256:LabAdminKey']], ['otm-alice-AbCdEf123456', [ALICE_1.fingerprint]], ['otm-alice-Zz9Yy8Xx7Ww6', [ALICE_2.fingerprint]], ['otm-bob-Bob000000000', [BOB.fingerprint]]],
    actions: [],
  },
  {
    name: 'a key dropped from the manifest is removed; hand-made keys stay',
    experimenters: [{ ...alice, keys: [ALICE_1] }],
    observed: [['lab-tech', ['SHA256:Tech']], ['otm-alice-AbCdEf123456', [ALICE_1.fingerprint]], ['otm-alice-Zz9Yy8Xx7Ww6', [ALICE_2.fingerprint]], ['otm-bob-Bob000000000', [BOB.fingerprint]]],
    actions: ['dokku ssh-keys:remove otm-alice-Zz9Yy8Xx7Ww6', 'dokku ssh-keys:remove otm-bob-Bob000000000'],
  },
  {
    name: 'a key moved to another experimenter: removed first, then added under the new name',
    experimenters: [{ name: 'carol', role: 'experimenter', keys: [BOB] }],
    observed: [['otm-bob-Bob000000000', [BOB.fingerprint]]],
    actions: ['dokku ssh-keys:remove otm-bob-Bob000000000', 'dokku ssh-keys:add otm-carol-Bob000000000'],
  },
  {
    name: 'a declared key already installed by hand: left alone and explained',
    experimenters: [bob],
    observed: [['bob-by-hand', [BOB.fingerprint]]],
    actions: [],
    notes: ['experimenter bob: key SHA256:Bob0000000000000 is already installed by hand as bob-by-hand, and Dokku accepts a key only once; remove it (dokku ssh-keys:remove bob-by-hand) so the manager can install it as otm-bob-Bob000000000'],
  },
  {
    name: 'a name that would contain "admin" is refused for experimenters',
    experimenters: [{ name: 'badminton', role: 'experimenter', keys: [BOB] }],
    observed: [],
    actions: [],
    notes: ['experimenter badminton: key SHA256:Bob0000000000000 not installed, because its Dokku key name otm-badminton-Bob000000000 would contain "admin", which Dokku treats as an administrator; rename the experimenter'],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const p = planSshKeys(c.experimenters, new Map(c.observed));
    assert.deepEqual(displays(p.actions), c.actions);
    assert.deepEqual(p.notes, c.notes ?? []);
  });
}

test('the public key travels on stdin, not in the printed command', () => {
  const [add] = planSshKeys([bob], new Map()).actions;
  assert.deepEqual(add?.command, { cmd: 'ssh-keys:add', name: 'otm-bob-Bob000000000', key: BOB.key });
  assert.ok(!add?.display.includes('AAAA'));
});
