// DesiredStore semantics, fed with what the real manifest parser returns for small YAML files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifests } from '../../src/manifest/index.js';
import { DesiredStore, isEmptyChange, type DesiredChange } from '../../src/desired/store.js';
import { experimenter, instance } from './fixtures.js';

function file(source: string, ...documents: string[]): ReturnType<typeof parseManifests> {
  return parseManifests(documents.join('\n---\n'), source);
}

const none: DesiredChange = { instances: [], experimenters: [], sources: [] };

test('adds, ignores a reload without changes, and counts spec changes as generations', () => {
  const store = new DesiredStore();
  assert.deepEqual(store.replaceSource('a.yaml', file('a.yaml', experimenter('alice'), instance('pgg'))), { instances: ['pgg'], experimenters: ['alice'], sources: [] });
  assert.equal(store.instance('pgg')?.generation, 1);
  assert.equal(store.instance('pgg')?.source, 'a.yaml');

  const same = store.replaceSource('a.yaml', file('a.yaml', experimenter('alice'), instance('pgg')));
  assert.deepEqual(same, none);
  assert.ok(isEmptyChange(same));

  assert.deepEqual(store.replaceSource('a.yaml', file('a.yaml', experimenter('alice'), instance('pgg', '  state: stopped'))), { ...none, instances: ['pgg'] });
  assert.equal(store.instance('pgg')?.generation, 2);
  assert.equal(store.instance('pgg')?.declared.object.spec.state, 'stopped');

  // Labels are not spec: the key changes (status may show them) but the generation does not.
  const relabelled = instance('pgg', '  state: stopped').replace('metadata: { name: pgg }', 'metadata: { name: pgg, labels: { course: econ101 } }');
  assert.deepEqual(store.replaceSource('a.yaml', file('a.yaml', experimenter('alice'), relabelled)), { ...none, instances: ['pgg'] });
  assert.equal(store.instance('pgg')?.generation, 2);
});

test('a change to an experimenter marks the instances they own', () => {
  const store = new DesiredStore();
  store.replaceSource('people.yaml', file('people.yaml', experimenter('alice'), experimenter('bob', 'Bob')));
  store.replaceSource('apps.yaml', file('apps.yaml', instance('a1'), instance('a2'), instance('b1', '', 'bob')));
  assert.deepEqual(store.instancesOwnedBy('alice'), ['a1', 'a2']);
  assert.deepEqual(store.replaceSource('people.yaml', file('people.yaml', experimenter('alice', 'Dr Alice'), experimenter('bob', 'Bob'))),
    { instances: ['a1', 'a2'], experimenters: ['alice'], sources: [] });
});

test('a file that no longer parses keeps the last good objects and reports why', () => {
  const store = new DesiredStore();
  store.replaceSource('a.yaml', file('a.yaml', instance('pgg', '  processes: { web: 1, worker: 0 }')));

  const broken = store.replaceSource('a.yaml', file('a.yaml', 'apiVersion: otree-manager/v1\nkind: [unclosed'));
  assert.deepEqual(broken, { instances: ['pgg'], experimenters: [], sources: ['a.yaml'] }, 'the instance is looked at again so its status can show the error');
  assert.equal(store.instance('pgg')?.generation, 1, 'the last good version stays in effect');
  const issues = store.issues().get('a.yaml') ?? [];
  assert.equal(issues[0]?.code, 'YAML_SYNTAX');
  assert.deepEqual(store.issuesFor('OTreeInstance', 'pgg').map((i) => i.code), ['YAML_SYNTAX']);

  const fixed = store.replaceSource('a.yaml', file('a.yaml', instance('pgg', '  redis: false\n  state: stopped')));
  assert.deepEqual(fixed, { instances: ['pgg'], experimenters: [], sources: ['a.yaml'] });
  assert.equal(store.instance('pgg')?.generation, 2);
  assert.equal(store.issues().size, 0);
});

test('an object that fails validation keeps its last good version while its siblings update', () => {
  const store = new DesiredStore();
  store.replaceSource('a.yaml', file('a.yaml', instance('one'), instance('two')));
  const change = store.replaceSource('a.yaml', file('a.yaml', instance('one', '  processes: { web: -1 }'), instance('two', '  state: stopped')));
  assert.deepEqual(change.instances, ['one', 'two']);
  assert.equal(store.instance('one')?.declared.object.spec.processes.web, 1, 'one runs its last good version');
  assert.equal(store.instance('one')?.generation, 1);
  assert.equal(store.instance('two')?.declared.object.spec.state, 'stopped');
  assert.deepEqual(store.heldBack().map((r) => r.name), ['one']);

  // A new object that was never valid is simply absent (and held back, so nothing treats it as removed).
  store.replaceSource('b.yaml', file('b.yaml', instance('three', '  processes: { web: -1 }')));
  assert.equal(store.instance('three'), undefined);
  assert.deepEqual(store.heldBack().map((r) => r.name).sort(), ['one', 'three']);
});

test('a clean file that drops an object removes it; a deleted file removes all of its objects', () => {
  const store = new DesiredStore();
  store.replaceSource('a.yaml', file('a.yaml', instance('one'), instance('two')));
  assert.deepEqual(store.replaceSource('a.yaml', file('a.yaml', instance('one'))), { ...none, instances: ['two'] });
  assert.deepEqual(store.instances().map((s) => s.declared.object.metadata.name), ['one']);

  assert.deepEqual(store.removeSource('a.yaml'), { ...none, instances: ['one'] });
  assert.deepEqual(store.instances(), []);
  assert.deepEqual(store.sources(), []);

  store.replaceSource('a.yaml', file('a.yaml', instance('one')));
  assert.equal(store.instance('one')?.generation, 2, 'a name that comes back does not reuse an old generation');
});

test('a name declared by two files: the first keeps it, the second gets a conflict until the first lets go', () => {
  const store = new DesiredStore();
  store.replaceSource('a.yaml', file('a.yaml', instance('pgg')));
  const second = store.replaceSource('b.yaml', file('b.yaml', instance('pgg', '  state: stopped')));
  assert.deepEqual(second, { instances: ['pgg'], experimenters: [], sources: ['b.yaml'] });
  assert.equal(store.instance('pgg')?.source, 'a.yaml');
  assert.equal(store.instance('pgg')?.declared.object.spec.state, 'running');
  const [conflict] = store.issues().get('b.yaml') ?? [];
  assert.equal(conflict?.code, 'DUPLICATE_NAME');
  assert.equal(conflict?.path, 'metadata.name');
  assert.match(conflict?.message ?? '', /already declared at a\.yaml:1:1/);
  assert.deepEqual(store.issues().get('a.yaml'), undefined);

  const released = store.removeSource('a.yaml');
  assert.deepEqual(released, { instances: ['pgg'], experimenters: [], sources: ['b.yaml'] });
  assert.equal(store.instance('pgg')?.source, 'b.yaml');
  assert.equal(store.instance('pgg')?.declared.object.spec.state, 'stopped');
  assert.equal(store.instance('pgg')?.generation, 2);
  assert.equal(store.issues().size, 0);
});

test('a name declared twice in one file: the first declaration counts', () => {
  const store = new DesiredStore();
  store.replaceSource('a.yaml', { objects: [...file('a.yaml', instance('pgg')).objects, ...file('a.yaml', instance('pgg', '  state: stopped')).objects], issues: [] });
  assert.equal(store.instance('pgg')?.declared.object.spec.state, 'running');
  assert.deepEqual((store.issues().get('a.yaml') ?? []).map((i) => i.code), ['DUPLICATE_NAME']);
});

test('a rename applied as one batch moves the objects without a change', () => {
  const store = new DesiredStore();
  store.replaceSource('old.yaml', file('old.yaml', instance('pgg')));
  const moved = store.apply([{ source: 'old.yaml', removed: true }, { source: 'new.yaml', snapshot: file('new.yaml', instance('pgg')) }]);
  assert.deepEqual(moved, none);
  assert.equal(store.instance('pgg')?.source, 'new.yaml');
  assert.equal(store.instance('pgg')?.generation, 1);
});

test('cross-file checks: a domain already claimed keeps the newcomer out', () => {
  const store = new DesiredStore();
  store.replaceSource('a.yaml', file('a.yaml', instance('first', '  domains: [x.lab.example.org]')));
  const change = store.replaceSource('b.yaml', file('b.yaml', instance('second', '  domains: [x.lab.example.org]')));
  assert.deepEqual(change, { instances: ['second'], experimenters: [], sources: ['b.yaml'] });
  assert.equal(store.instance('second'), undefined);
  assert.deepEqual((store.issues().get('b.yaml') ?? []).map((i) => i.code), ['DOMAIN_DUPLICATE']);
  assert.deepEqual(store.heldBack().map((r) => r.name), ['second']);

  store.replaceSource('b.yaml', file('b.yaml', instance('second', '  domains: [y.lab.example.org]')));
  assert.deepEqual(store.instance('second')?.declared.object.spec.domains, ['y.lab.example.org']);
  assert.equal(store.issues().size, 0);
  assert.deepEqual(store.heldBack(), []);
});

test('a trial answers what a source would get, checked against everything else, and changes nothing', () => {
  const store = new DesiredStore();
  store.replaceSource('a.yaml', file('a.yaml', experimenter('alice'), instance('first', '  domains: [x.lab.example.org]')));
  const before = { instances: store.instances(), issues: store.issues(), heldBack: store.heldBack() };

  const clash = store.trial('b.yaml', file('b.yaml', instance('second', '  domains: [x.lab.example.org]')));
  assert.deepEqual(clash.issues.map((i) => i.code), ['DOMAIN_DUPLICATE']);
  assert.deepEqual(clash.heldBack.map((r) => r.name), ['second']);
  const fine = store.trial('b.yaml', file('b.yaml', instance('second', '  domains: [y.lab.example.org]')));
  assert.deepEqual(fine, { issues: [], heldBack: [] });
  // A source may be tried against itself: its current version does not count against its next one.
  assert.deepEqual(store.trial('a.yaml', file('a.yaml', experimenter('alice'), instance('first', '  domains: [x.lab.example.org]\n  state: stopped'))), { issues: [], heldBack: [] });

  assert.deepEqual({ instances: store.instances(), issues: store.issues(), heldBack: store.heldBack() }, before);
  assert.equal(store.instance('second'), undefined);
  assert.equal(store.instance('first')?.generation, 1);
});

test('cross-file checks: an instance whose owner goes away keeps its last good version', () => {
  const store = new DesiredStore();
  store.replaceSource('people.yaml', file('people.yaml', experimenter('alice'), experimenter('bob', 'Bob')));
  store.replaceSource('apps.yaml', file('apps.yaml', instance('b1', '', 'bob')));
  const change = store.replaceSource('people.yaml', file('people.yaml', experimenter('alice')));
  assert.deepEqual(change, { instances: ['b1'], experimenters: ['bob'], sources: ['apps.yaml'] });
  assert.equal(store.instance('b1')?.generation, 1, 'b1 keeps running as it was');
  assert.deepEqual(store.issuesFor('OTreeInstance', 'b1').map((i) => i.code), ['OWNER_UNDECLARED']);
});
