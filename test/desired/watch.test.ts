// The manifest watcher on a real directory: files are created, edited, broken, fixed, renamed and deleted,
// and the store is polled until it shows the result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DesiredStore, type DesiredChange } from '../../src/desired/store.js';
import { ManifestWatcher, type FlushTiming } from '../../src/desired/watch.js';
import { waitFor } from '../support/services.js';
import { experimenter, instance } from './fixtures.js';

const alice = experimenter('alice');

test('ManifestWatcher keeps the store in step with the manifests directory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'otm-watch-'));
  const outside = await mkdtemp(join(tmpdir(), 'otm-watch-outside-'));
  t.after(() => Promise.all([rm(dir, { recursive: true, force: true }), rm(outside, { recursive: true, force: true })]));
  await writeFile(join(dir, 'alice.yaml'), `${alice}---\n${instance('one')}`);
  await mkdir(join(dir, 'course'));
  await writeFile(join(dir, 'course', 'two.yml'), instance('two'));
  await writeFile(join(dir, '.hidden.yaml'), instance('hidden'));
  await writeFile(join(dir, 'notes.txt'), instance('notes'));

  const store = new DesiredStore();
  const changes: { change: DesiredChange; reason: string }[] = [];
  const timings: FlushTiming[] = [];
  const watcher = new ManifestWatcher({
    dir, store, debounceMs: 50,
    onKeys: (change, reason) => changes.push({ change, reason }),
    onFlush: (timing) => timings.push(timing),
  });
  t.after(() => watcher.stop());
  await watcher.start();

  await t.test('the initial load reads every manifest, recursively, in one change', () => {
    assert.deepEqual(store.instances().map((s) => s.declared.object.metadata.name), ['one', 'two']);
    assert.equal(store.experimenter('alice')?.generation, 1);
    assert.equal(store.instance('two')?.source, join('course', 'two.yml'));
    assert.equal(changes.length, 1);
    assert.deepEqual(changes[0]!.change.instances, ['one', 'two']);
    assert.match(changes[0]!.reason, /^initial load: /);
  });

  const generationOf = (name: string) => store.instance(name)?.generation;

  await t.test('a new file adds its objects', async () => {
    await writeFile(join(dir, 'three.yaml'), instance('three'));
    await waitFor('instance three', () => store.instance('three'));
    assert.ok(changes.some((c) => c.change.instances.includes('three') && c.reason.includes('three.yaml')));
  });

  await t.test('an edit changes the spec and the generation', async () => {
    await writeFile(join(dir, 'three.yaml'), instance('three', '  state: stopped'));
    await waitFor('the edit of three', () => (generationOf('three') === 2 ? true : undefined));
    assert.equal(store.instance('three')?.declared.object.spec.state, 'stopped');
  });

  await t.test('an invalid edit keeps the last good version and reports the error; the fix applies', async () => {
    await writeFile(join(dir, 'three.yaml'), `${instance('three', '  state: running')}  processes: { web: [not a number`);
    const issues = await waitFor('the syntax error to be reported', () => store.issues().get('three.yaml'));
    assert.equal(issues[0]?.code, 'YAML_SYNTAX');
    assert.equal(issues[0]?.severity, 'error');
    assert.equal(generationOf('three'), 2);
    assert.equal(store.instance('three')?.declared.object.spec.state, 'stopped');

    await writeFile(join(dir, 'three.yaml'), instance('three', '  state: running'));
    await waitFor('the fix to apply', () => (generationOf('three') === 3 ? true : undefined));
    assert.equal(store.issues().size, 0);
  });

  await t.test('a rename moves the objects without changing them', async () => {
    await rename(join(dir, 'three.yaml'), join(dir, 'course', 'three-renamed.yaml'));
    await waitFor('three to come from its new file', () => (store.instance('three')?.source === join('course', 'three-renamed.yaml') && store.issues().size === 0 ? true : undefined));
    assert.equal(generationOf('three'), 3);
  });

  await t.test('a deleted file removes its objects', async () => {
    await rm(join(dir, 'course', 'three-renamed.yaml'));
    await waitFor('three to be gone', () => (store.instance('three') === undefined ? true : undefined));
    assert.ok(changes.at(-1)!.change.instances.includes('three'));
    assert.match(changes.at(-1)!.reason, /three-renamed\.yaml \(removed\)/);
  });

  await t.test('a directory moved in adds its manifests; removing it removes them', async () => {
    await mkdir(join(outside, 'lab', 'nested'), { recursive: true });
    await writeFile(join(outside, 'lab', 'four.yaml'), instance('four'));
    await writeFile(join(outside, 'lab', 'nested', 'five.yaml'), instance('five'));
    await rename(join(outside, 'lab'), join(dir, 'lab'));
    await waitFor('four and five', () => (store.instance('four') && store.instance('five') ? true : undefined));

    await rm(join(dir, 'lab'), { recursive: true });
    await waitFor('four and five to be gone', () => (!store.instance('four') && !store.instance('five') ? true : undefined));
    assert.deepEqual(store.instances().map((s) => s.declared.object.metadata.name), ['one', 'two']);
    assert.deepEqual(store.sources(), ['alice.yaml', join('course', 'two.yml')]);
  });

  await t.test('timings cover every flush', () => {
    assert.ok(timings.length >= changes.length);
    for (const timing of timings) {
      assert.ok(timing.files >= 1);
      assert.ok(timing.firstEventToChangeMs >= timing.lastEventToChangeMs && timing.lastEventToChangeMs >= 0);
      assert.ok(timing.loadMs >= 0);
    }
  });
});

test('ManifestWatcher refuses a manifests directory that does not exist', async () => {
  const dir = join(tmpdir(), `otm-watch-missing-${process.pid}-${Date.now()}`);
  const watcher = new ManifestWatcher({ dir, store: new DesiredStore(), onKeys: () => undefined });
  await assert.rejects(watcher.start(), /the manifests directory .*otm-watch-missing-.* does not exist/);
});

test('ManifestWatcher uses the loader it is given', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'otm-watch-loader-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'x.yaml'), 'anything');
  const loaded: string[] = [];
  const store = new DesiredStore();
  const watcher = new ManifestWatcher({
    dir, store, onKeys: () => undefined,
    load: async (file, source) => {
      loaded.push(source);
      return { objects: [], issues: [{ severity: 'warning', origin: { source, line: 1, column: 1 }, path: '', code: 'SECRET_INLINE', message: `read ${file}` }] };
    },
  });
  t.after(() => watcher.stop());
  await watcher.start();
  assert.deepEqual(loaded, ['x.yaml']);
  assert.equal(store.issues().get('x.yaml')?.[0]?.message, `read ${join(dir, 'x.yaml')}`);
});
