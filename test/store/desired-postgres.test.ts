import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PostgresDesiredSource } from '../../src/desired/postgres.js';
import type { ParseResult } from '../../src/manifest/parse.js';
import type { OTreeInstance } from '../../src/manifest/types.js';
import { useMigratedDatabase } from './database.js';
import { waitFor } from '../support/services.js';

const db = useMigratedDatabase();

const quietLog = { info: () => undefined, warn: () => undefined };

function instanceSpec(owner: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { owner, otree: { adminPassword: { fromEnv: `${owner.toUpperCase()}_PASSWORD` } }, ...extra };
}

async function insertInstance(name: string, spec: unknown, labels: Record<string, string> = {}): Promise<void> {
  await db.pool.query('INSERT INTO otm.instances (name, spec, labels, created_by, updated_by) VALUES ($1, $2, $3, $4, $4)', [name, JSON.stringify(spec), JSON.stringify(labels), 'test@lab']);
}

async function row(name: string): Promise<{ generation: string; created_by: string; updated_at: Date; labels: Record<string, string> }> {
  const { rows } = await db.pool.query('SELECT generation, created_by, updated_at, labels FROM otm.instances WHERE name = $1', [name]);
  assert.ok(rows[0], `row ${name} exists`);
  return rows[0];
}

/** A started source plus the snapshots it has emitted. */
async function startSource(): Promise<{ source: PostgresDesiredSource; latest: () => ParseResult }> {
  const snapshots: ParseResult[] = [];
  const source = new PostgresDesiredSource({ pool: db.pool, url: db.url, log: quietLog, onSnapshot: (s) => snapshots.push(s), backoff: { baseMs: 50, capMs: 500 } });
  await source.start();
  return {
    source,
    latest: () => {
      const last = snapshots.at(-1);
      assert.ok(last, 'the source has emitted a snapshot');
      return last;
    },
  };
}

function instance(snapshot: ParseResult, name: string): OTreeInstance | undefined {
  const found = snapshot.objects.find((d) => d.object.kind === 'OTreeInstance' && d.object.metadata.name === name);
  return found?.object as OTreeInstance | undefined;
}

test('generation counts spec changes only and cannot be written by hand', async () => {
  await insertInstance('gen-probe', instanceSpec('alice'));
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
  await insertInstance('alice-pgg', instanceSpec('alice'), { course: 'econ101' });
  await insertInstance('old-study', instanceSpec('bob'));
  await db.pool.query(`UPDATE otm.instances SET deleted_at = now(), deleted_by = 'admin' WHERE name = 'old-study'`);
  await db.pool.query(`INSERT INTO otm.experimenters (name, spec, created_by, updated_by) VALUES ('alice', '{"displayName": "Alice"}', 'a', 'a')`);

  const { source, latest } = await startSource();
  try {
    assert.ok(source.isListening());
    const snapshot = latest();
    assert.deepEqual(snapshot.objects.map((d) => `${d.object.kind}/${d.object.metadata.name}`), ['Experimenter/alice', 'OTreeInstance/alice-pgg']);
    const alice = instance(snapshot, 'alice-pgg');
    assert.equal(alice?.spec.state, 'running');
    assert.equal(alice?.spec.otree.version, '5');
    assert.deepEqual(alice?.metadata.labels, { course: 'econ101' });
    assert.equal(snapshot.objects[1]?.origin.source, 'row:instances/alice-pgg');
    assert.deepEqual(snapshot.issues, []);
    assert.deepEqual(snapshot.rejected, []);
  } finally {
    await source.stop();
  }
});

test('a NOTIFY brings inserts, updates and soft deletes to the source', async () => {
  const { source, latest } = await startSource();
  try {
    await insertInstance('carol-trust', instanceSpec('carol'));
    await waitFor('carol-trust declared', () => instance(latest(), 'carol-trust'));

    await db.pool.query(`UPDATE otm.instances SET spec = jsonb_set(spec, '{state}', '"stopped"'), updated_by = 'carol' WHERE name = 'carol-trust'`);
    await waitFor('carol-trust stopped', () => (instance(latest(), 'carol-trust')?.spec.state === 'stopped' ? true : undefined));

    assert.equal(await source.softDelete('OTreeInstance', 'carol-trust', 'carol'), true);
    assert.equal(await source.softDelete('OTreeInstance', 'carol-trust', 'carol'), false);
    await waitFor('carol-trust removed', () => (instance(latest(), 'carol-trust') ? undefined : true));
    const { rows } = await db.pool.query(`SELECT deleted_by FROM otm.instances WHERE name = 'carol-trust'`);
    assert.equal(rows[0]?.deleted_by, 'carol');
    const validation = await db.pool.query(`SELECT 1 FROM otm.validation WHERE name = 'carol-trust'`);
    assert.equal(validation.rowCount, 0);
  } finally {
    await source.stop();
  }
});

test('an invalid row is reported and never applied; the last valid version keeps running, across restarts', async () => {
  await insertInstance('dave-market', instanceSpec('dave'));
  const first = await startSource();
  try {
    assert.equal(instance(first.latest(), 'dave-market')?.spec.processes.web, 1);
    await db.pool.query(`UPDATE otm.instances SET spec = jsonb_set(spec, '{processes}', '{"web": 2}'), updated_by = 'dave' WHERE name = 'dave-market'`);
    const snapshot = await waitFor('dave-market reported invalid', () => {
      const s = first.latest();
      return s.issues.some((i) => i.code === 'OTREE5_SINGLE_WEB') ? s : undefined;
    });
    const error = snapshot.issues.find((i) => i.severity === 'error');
    assert.deepEqual({ path: error?.path, source: error?.origin.source }, { path: 'spec.processes.web', source: 'row:instances/dave-market' });
    assert.equal(instance(snapshot, 'dave-market')?.spec.processes.web, 1);
    assert.ok(snapshot.issues.some((i) => i.code === 'ROW_LAST_VALID_KEPT' && /generation 2 .* generation 1 keeps running/.test(i.message)));
  } finally {
    await first.source.stop();
  }

  const { rows } = await db.pool.query(`SELECT valid, checked_generation, accepted_generation, issues FROM otm.validation WHERE kind = 'instances' AND name = 'dave-market'`);
  assert.equal(rows[0]?.valid, false);
  assert.equal(rows[0]?.checked_generation, '2');
  assert.equal(rows[0]?.accepted_generation, '1');
  assert.equal(rows[0]?.issues[0]?.code, 'OTREE5_SINGLE_WEB');

  const second = await startSource();
  try {
    assert.equal(instance(second.latest(), 'dave-market')?.spec.processes.web, 1, 'a restarted daemon keeps the last valid version');
    await db.pool.query(`UPDATE otm.instances SET spec = jsonb_set(spec, '{processes}', '{"web": 1}'), updated_by = 'dave' WHERE name = 'dave-market'`);
    await waitFor('dave-market valid again', () => (second.latest().issues.length === 0 ? true : undefined));
    const fixed = await db.pool.query(`SELECT valid, accepted_generation FROM otm.validation WHERE name = 'dave-market'`);
    assert.deepEqual(fixed.rows[0], { valid: true, accepted_generation: '3' });
  } finally {
    await second.source.stop();
  }
});

test('a row that never passed is rejected, not declared', async () => {
  const { source, latest } = await startSource();
  try {
    await insertInstance('erin-broken', { owner: 'erin', otree: {} });
    const snapshot = await waitFor('erin-broken rejected', () => (latest().rejected.length > 0 ? latest() : undefined));
    assert.deepEqual(snapshot.rejected, [{ kind: 'OTreeInstance', name: 'erin-broken', origin: { source: 'row:instances/erin-broken', line: 0, column: 0 } }]);
    assert.equal(instance(snapshot, 'erin-broken'), undefined);
    assert.deepEqual(snapshot.issues.map((i) => `${i.code} ${i.path}`), ['FIELD_REQUIRED spec.otree.adminPassword']);
  } finally {
    await source.stop();
  }
  await db.pool.query(`DELETE FROM otm.instances WHERE name = 'erin-broken'`);
});

test('upsert validates before writing and undeletes; bumpGeneration asks for one reset or restart', async () => {
  const { source, latest } = await startSource();
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
      const spec = instance(latest(), 'frank-lab')?.spec;
      return spec?.restart.generation === 2 && spec.resetDatabase.generation === 1 ? true : undefined;
    });

    await source.softDelete('OTreeInstance', 'frank-lab', 'frank');
    await assert.rejects(source.bumpGeneration('frank-lab', 'restart', 'frank'), /instance "frank-lab" has no live row in otm.instances/);
    const restored = await source.upsert('OTreeInstance', 'frank-lab', instanceSpec('frank'), {}, 'admin');
    assert.deepEqual(restored, { ok: true, generation: 5 });
    await waitFor('frank-lab restored', () => instance(latest(), 'frank-lab'));
    await assert.rejects(source.upsert('OTreeInstance', 'frank-lab', instanceSpec('frank'), {}, ' '), /names its author/);
  } finally {
    await source.stop();
  }
});
