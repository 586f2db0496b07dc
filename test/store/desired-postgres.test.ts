import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifests } from '../../src/manifest/index.js';
import { useMigratedDatabase } from './database.js';
import { insertExperimenter, insertInstance, instanceSpec, startSource } from './source.js';
import type { RunningSource } from './source.js';
import { waitFor } from '../support/services.js';

const db = useMigratedDatabase();

async function row(name: string): Promise<{ generation: string; created_by: string; updated_at: Date; labels: Record<string, string> }> {
  const { rows } = await db.pool.query('SELECT generation, created_by, updated_at, labels FROM otm.instances WHERE name = $1', [name]);
  assert.ok(rows[0], `row ${name} exists`);
  return rows[0];
}

function start(): Promise<RunningSource> {
  return startSource(db.pool, db.url);
}

async function setSpec(name: string, path: string, json: string): Promise<void> {
  await db.pool.query(`UPDATE otm.instances SET spec = jsonb_set(spec, $2, $3::jsonb), updated_by = 'ui' WHERE name = $1`, [name, path, json]);
}

test('generation counts spec changes only and cannot be written by hand', async () => {
  await insertInstance(db.pool, 'gen-probe', 'alice');
  assert.equal((await row('gen-probe')).generation, '1');

  await db.pool.query(`UPDATE otm.instances SET spec = jsonb_set(spec, '{state}', '"stopped"'), updated_by = 'x' WHERE name = 'gen-probe'`);
  assert.equal((await row('gen-probe')).generation, '2');

  const before = await row('gen-probe');
  await db.pool.query(`UPDATE otm.instances SET labels = '{"course":"econ101"}', updated_by = 'y' WHERE name = 'gen-probe'`);
  const labelled = await row('gen-probe');
  assert.equal(labelled.generation, '2');
  assert.deepEqual(labelled.labels, { course: 'econ101' });
  assert.ok(labelled.updated_at > before.updated_at);

  await db.pool.query(`UPDATE otm.instances SET spec = spec, generation = 99, created_by = 'mallory' WHERE name = 'gen-probe'`);
  const forced = await row('gen-probe');
  assert.equal(forced.generation, '2');
  assert.equal(forced.created_by, 'test@lab');
  await db.pool.query(`DELETE FROM otm.instances WHERE name = 'gen-probe'`);
});

test('start relists live rows with schema defaults; soft-deleted rows are not declared', async () => {
  await insertExperimenter(db.pool, 'alice');
  await insertInstance(db.pool, 'alice-pgg', 'alice', {}, { course: 'econ101' });
  await insertInstance(db.pool, 'old-study', 'alice');
  await db.pool.query(`UPDATE otm.instances SET deleted_at = now(), deleted_by = 'admin' WHERE name = 'old-study'`);

  const running = await start();
  try {
    assert.ok(running.source.isListening());
    assert.deepEqual(running.store.instances().map((s) => s.declared.object.metadata.name), ['alice-pgg']);
    assert.deepEqual(running.store.experimenters().map((s) => s.declared.object.metadata.name), ['alice']);
    const alice = running.store.instance('alice-pgg');
    assert.equal(alice?.declared.object.spec.state, 'running');
    assert.equal(alice?.declared.object.spec.otree.version, '5');
    assert.deepEqual(alice?.declared.object.metadata.labels, { course: 'econ101' });
    assert.equal(alice?.source, 'row:instances/alice-pgg');
    assert.deepEqual([...running.store.issues()], []);
  } finally {
    await running.source.stop();
  }
});

test('a NOTIFY brings inserts, updates and soft deletes to the store', async () => {
  await insertExperimenter(db.pool, 'carol');
  const running = await start();
  try {
    await insertInstance(db.pool, 'carol-trust', 'carol');
    await waitFor('carol-trust declared', () => running.instance('carol-trust'));

    await setSpec('carol-trust', '{state}', '"stopped"');
    await waitFor('carol-trust stopped', () => (running.instance('carol-trust')?.spec.state === 'stopped' ? true : undefined));
    assert.equal(running.store.instance('carol-trust')?.generation, 2);

    assert.equal(await running.source.softDelete('OTreeInstance', 'carol-trust', 'carol'), true);
    assert.equal(await running.source.softDelete('OTreeInstance', 'carol-trust', 'carol'), false);
    await waitFor('carol-trust removed', () => (running.instance('carol-trust') ? undefined : true));
    const { rows } = await db.pool.query(`SELECT deleted_by FROM otm.instances WHERE name = 'carol-trust'`);
    assert.equal(rows[0]?.deleted_by, 'carol');
    assert.equal((await db.pool.query(`SELECT 1 FROM otm.validation WHERE name = 'carol-trust'`)).rowCount, 0);
  } finally {
    await running.source.stop();
  }
});

test('an invalid row is reported and never applied; the last valid version keeps running, across restarts', async () => {
  await insertExperimenter(db.pool, 'dave');
  await insertInstance(db.pool, 'dave-market', 'dave');
  const first = await start();
  try {
    assert.equal(first.instance('dave-market')?.spec.processes.web, 1);
    await setSpec('dave-market', '{processes}', '{"web": 2}');
    const issues = await waitFor('dave-market reported invalid', () => {
      const found = first.store.issuesFor('OTreeInstance', 'dave-market');
      return found.some((i) => i.code === 'OTREE5_SINGLE_WEB') ? found : undefined;
    });
    const error = issues.find((i) => i.severity === 'error');
    assert.deepEqual({ path: error?.path, source: error?.origin.source }, { path: 'spec.processes.web', source: 'row:instances/dave-market' });
    assert.ok(issues.some((i) => i.code === 'ROW_LAST_VALID_KEPT' && /generation 2 .* generation 1 keeps running/.test(i.message)));
    assert.equal(first.instance('dave-market')?.spec.processes.web, 1);
  } finally {
    await first.source.stop();
  }

  const { rows } = await db.pool.query(`SELECT valid, checked_generation, accepted_generation, issues FROM otm.validation WHERE kind = 'instances' AND name = 'dave-market'`);
  assert.equal(rows[0]?.valid, false);
  assert.equal(rows[0]?.checked_generation, '2');
  assert.equal(rows[0]?.accepted_generation, '1');
  assert.equal(rows[0]?.issues[0]?.code, 'OTREE5_SINGLE_WEB');

  const second = await start();
  try {
    assert.equal(second.instance('dave-market')?.spec.processes.web, 1, 'a restarted daemon keeps the last valid version');
    assert.equal(second.store.instance('dave-market')?.generation, 1, 'status reports the generation that runs');
    await setSpec('dave-market', '{processes}', '{"web": 1, "worker": 0}');
    await waitFor('dave-market valid again', () => (second.store.issuesFor('OTreeInstance', 'dave-market').length === 0 ? true : undefined));
    const fixed = await db.pool.query(`SELECT valid, accepted_generation FROM otm.validation WHERE name = 'dave-market'`);
    assert.deepEqual(fixed.rows[0], { valid: true, accepted_generation: '3' });
    assert.equal(second.store.instance('dave-market')?.generation, 3, 'the row\'s generation, not a count of what this daemon saw');
  } finally {
    await second.source.stop();
  }
});

test('a row that never passed is held back, and does not hold back other rows', async () => {
  await insertExperimenter(db.pool, 'erin');
  await insertInstance(db.pool, 'erin-keep', 'erin');
  const running = await start();
  try {
    await db.pool.query(`INSERT INTO otm.instances (name, spec, created_by, updated_by) VALUES ('erin-broken', '{"owner": "erin", "otree": {}}', 'ui', 'ui')`);
    await waitFor('erin-broken held back', () => (running.store.heldBack().length > 0 ? true : undefined));
    assert.deepEqual(running.store.heldBack(), [{ kind: 'OTreeInstance', name: 'erin-broken', origin: { source: 'row:instances/erin-broken', line: 0, column: 0 } }]);
    assert.equal(running.instance('erin-broken'), undefined);
    assert.deepEqual(running.store.issuesFor('OTreeInstance', 'erin-broken').map((i) => `${i.code} ${i.path}`), ['FIELD_REQUIRED spec.otree.adminPassword']);

    await running.source.softDelete('OTreeInstance', 'erin-keep', 'erin');
    await waitFor('erin-keep removed while erin-broken is invalid', () => (running.instance('erin-keep') ? undefined : true));
  } finally {
    await running.source.stop();
  }
  await db.pool.query(`DELETE FROM otm.instances WHERE name = 'erin-broken'`);
});

test('upsert validates before writing and undeletes; bumpGeneration asks for one reset or restart', async () => {
  await insertExperimenter(db.pool, 'frank');
  const running = await start();
  const { source } = running;
  try {
    const refused = await source.upsert('OTreeInstance', 'frank-lab', { owner: 'frank', otree: { adminPassword: {} } }, {}, 'frank');
    assert.equal(refused.ok, false);
    assert.equal((await db.pool.query(`SELECT 1 FROM otm.instances WHERE name = 'frank-lab'`)).rowCount, 0);

    assert.deepEqual(await source.upsert('OTreeInstance', 'frank-lab', instanceSpec('frank'), { course: 'lab' }, 'frank'), { ok: true, generation: 1 });
    assert.equal(await source.bumpGeneration('frank-lab', 'restart', 'frank'), 1);
    assert.equal(await source.bumpGeneration('frank-lab', 'restart', 'frank'), 2);
    assert.equal(await source.bumpGeneration('frank-lab', 'resetDatabase', 'frank'), 1);
    assert.equal((await row('frank-lab')).generation, '4');
    await waitFor('bumped generations declared', () => {
      const spec = running.instance('frank-lab')?.spec;
      return spec?.restart.generation === 2 && spec.resetDatabase.generation === 1 ? true : undefined;
    });
    assert.equal(running.store.instance('frank-lab')?.generation, 4);

    await source.softDelete('OTreeInstance', 'frank-lab', 'frank');
    await assert.rejects(source.bumpGeneration('frank-lab', 'restart', 'frank'), /instance "frank-lab" has no live row in otm.instances/);
    assert.deepEqual(await source.upsert('OTreeInstance', 'frank-lab', instanceSpec('frank'), {}, 'admin'), { ok: true, generation: 5 });
    await waitFor('frank-lab restored', () => running.instance('frank-lab'));
    await assert.rejects(source.upsert('OTreeInstance', 'frank-lab', instanceSpec('frank'), {}, ' '), /names its author/);
  } finally {
    await source.stop();
  }
});

test('a name declared both in a manifest file and in a row is a conflict until one goes', async () => {
  await insertExperimenter(db.pool, 'grace');
  const running = await start();
  try {
    const file = parseManifests([
      'apiVersion: otree-manager/v1',
      'kind: OTreeInstance',
      'metadata: { name: grace-lab }',
      'spec: { owner: grace, otree: { adminPassword: { fromEnv: GRACE } } }',
    ].join('\n'), 'grace.yaml');
    assert.deepEqual(file.issues, []);
    running.store.replaceSource('grace.yaml', file);

    await insertInstance(db.pool, 'grace-lab', 'grace', { state: 'stopped' });
    const conflict = await waitFor('the conflict reported', () =>
      running.store.issuesFor('OTreeInstance', 'grace-lab').find((i) => i.code === 'DUPLICATE_NAME'));
    assert.equal(conflict.origin.source, 'row:instances/grace-lab');
    assert.match(conflict.message, /already declared at grace\.yaml/);
    assert.equal(running.store.instance('grace-lab')?.source, 'grace.yaml', 'the row changes nothing while it conflicts');
    assert.equal(running.instance('grace-lab')?.spec.state, 'running');

    await running.source.softDelete('OTreeInstance', 'grace-lab', 'grace');
    await waitFor('the conflict resolved', () =>
      (running.store.issuesFor('OTreeInstance', 'grace-lab').length === 0 ? true : undefined));
  } finally {
    await running.source.stop();
  }
});
