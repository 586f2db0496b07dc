// A stored secret dies with its instance's row against real PostgreSQL, whoever removes the row: the
// API's soft delete, a lab's own UI deleting it or setting deleted_at with a role that may not touch
// otm.secrets. Each removed secret is audited and hinted; other instances' secrets stay, a secret may
// still be stored before its row, and a row that comes back does not get the old secret back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { DESIRED_CHANNEL, PostgresDesiredSource } from '../../src/desired/postgres.js';
import { newKeyLine, parseKeyFile, SecretStore } from '../../src/desired/secret-store.js';
import { waitFor } from '../support/services.js';
import { useMigratedDatabase } from './database.js';
import { insertInstance, instanceSpec, quietLog } from './source.js';

const db = useMigratedDatabase();
const by = { actor: 'tester' };
const labRole = `otm_lab_ui_${randomBytes(4).toString('hex')}`;

let store: SecretStore;
let source: PostgresDesiredSource;
let lab: pg.Client;
let listener: pg.Client;
const heard: string[] = [];

async function secretNames(instance: string): Promise<string[]> {
  return (await store.list(instance)).map((s) => s.name);
}

/** The audit entries of secrets removed with an instance's row, by secret. */
async function removals(instance: string): Promise<{ actor: string; object: string; cause: string }[]> {
  const { rows } = await db.pool.query<{ actor: string; object_name: string; details: { cause: string } }>(
    `SELECT actor, object_name, details FROM otm.audit_log
     WHERE action = 'secret.delete' AND object_kind = 'secret' AND details ->> 'instance' = $1 ORDER BY object_name, id`, [instance]);
  return rows.map((r) => ({ actor: r.actor, object: r.object_name, cause: r.details.cause }));
}

async function withSecrets(name: string, ...secrets: string[]): Promise<void> {
  for (const secret of secrets) await store.set(name, secret, `${name}-${secret}-value`, by);
}

describe('stored secrets die with their instance row', () => {
  before(async () => {
    store = new SecretStore(db.pool, parseKeyFile(newKeyLine('k1'), 'keys'));
    source = new PostgresDesiredSource({ pool: db.pool, url: db.url, log: quietLog, onChange: () => undefined });
    // A lab's own UI: its own login, allowed to write the desired rows and nothing else of the schema.
    await db.pool.query(`CREATE ROLE ${labRole} LOGIN`);
    await db.pool.query(`GRANT USAGE ON SCHEMA otm TO ${labRole}`);
    await db.pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON otm.instances TO ${labRole}`);
    const url = new URL(db.url);
    url.username = labRole;
    url.password = '';
    lab = new pg.Client({ connectionString: url.toString() });
    await lab.connect();
    listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    listener.on('notification', (m) => { if (m.channel === DESIRED_CHANNEL && m.payload) heard.push(m.payload); });
    await listener.query(`LISTEN ${DESIRED_CHANNEL}`);
  });

  after(async () => {
    await listener?.end();
    await lab?.end();
    await db.pool.query(`DROP OWNED BY ${labRole}`).catch(() => undefined);
    await db.pool.query(`DROP ROLE IF EXISTS ${labRole}`);
  });

  it('a soft delete through the source removes the instance\'s secrets, audited as its author, and hints the daemon', async () => {
    await insertInstance(db.pool, 'hana', 'alice');
    await insertInstance(db.pool, 'ivan', 'alice');
    await withSecrets('hana', 'adminPassword', 'restKey');
    await withSecrets('ivan', 'adminPassword');
    heard.length = 0;

    assert.equal(await source.softDelete('OTreeInstance', 'hana', 'carol'), true);

    assert.deepEqual(await secretNames('hana'), []);
    assert.equal(await store.get('hana', 'adminPassword'), undefined);
    assert.deepEqual(await removals('hana'), [
      { actor: 'carol', object: 'hana/adminPassword', cause: 'instance row soft-deleted' },
      { actor: 'carol', object: 'hana/restKey', cause: 'instance row soft-deleted' },
    ]);
    assert.deepEqual(await secretNames('ivan'), ['adminPassword'], 'other instances keep theirs');
    assert.equal(await store.get('ivan', 'adminPassword'), 'ivan-adminPassword-value');
    await waitFor('the secrets hint', () => heard.includes('secrets/hana') || undefined);
  });

  it('a lab\'s own UI deleting the row, with no right on otm.secrets, removes them too, audited as its database user', async () => {
    await insertInstance(db.pool, 'jules', 'alice');
    await withSecrets('jules', 'adminPassword');

    await lab.query(`DELETE FROM otm.instances WHERE name = 'jules'`);

    assert.deepEqual(await secretNames('jules'), []);
    assert.deepEqual(await removals('jules'), [{ actor: labRole, object: 'jules/adminPassword', cause: 'instance row deleted' }]);
    await assert.rejects(lab.query('SELECT * FROM otm.secrets'), /permission denied/, 'the role still cannot read the secrets');
  });

  it('deleted_at set straight in PostgreSQL removes them; with deleted_by that is the actor', async () => {
    await insertInstance(db.pool, 'kim', 'alice');
    await insertInstance(db.pool, 'lea', 'alice');
    await withSecrets('kim', 'adminPassword');
    await withSecrets('lea', 'adminPassword');

    await lab.query(`UPDATE otm.instances SET deleted_at = now() WHERE name = 'kim'`);
    await lab.query(`UPDATE otm.instances SET deleted_at = now(), deleted_by = 'dora@lab' WHERE name = 'lea'`);

    assert.deepEqual(await secretNames('kim'), []);
    assert.deepEqual(await secretNames('lea'), []);
    assert.deepEqual((await removals('kim')).map((r) => r.actor), [labRole]);
    assert.deepEqual((await removals('lea')).map((r) => r.actor), ['dora@lab']);
  });

  it('a row that comes back (undeleted or inserted again) does not get the old secret back', async () => {
    await insertInstance(db.pool, 'mona', 'alice');
    await insertInstance(db.pool, 'nils', 'alice');
    await withSecrets('mona', 'adminPassword');
    await withSecrets('nils', 'adminPassword');

    assert.equal(await source.softDelete('OTreeInstance', 'mona', 'carol'), true);
    assert.deepEqual(await source.upsert('OTreeInstance', 'mona', instanceSpec('alice'), {}, 'carol'), { ok: true, generation: 1 });
    await lab.query(`DELETE FROM otm.instances WHERE name = 'nils'`);
    await insertInstance(db.pool, 'nils', 'alice');

    assert.deepEqual(await secretNames('mona'), []);
    assert.deepEqual(await secretNames('nils'), []);
  });

  it('a secret stored before its row, and changes to a live row, keep the secret', async () => {
    await withSecrets('olga', 'adminPassword');
    await insertInstance(db.pool, 'olga', 'alice');
    await db.pool.query(`UPDATE otm.instances SET labels = '{"course":"econ"}', spec = jsonb_set(spec, '{state}', '"stopped"'), updated_by = 'ui' WHERE name = 'olga'`);
    // Soft-deleted, then a secret stored for the next instance of that name: deleting the dead row again keeps it.
    assert.equal(await source.softDelete('OTreeInstance', 'olga', 'carol'), true);
    await withSecrets('olga', 'restKey');
    await db.pool.query(`UPDATE otm.instances SET deleted_at = now(), deleted_by = 'cleanup' WHERE name = 'olga'`);

    assert.deepEqual(await secretNames('olga'), ['restKey']);
    assert.deepEqual((await removals('olga')).map((r) => r.object), ['olga/adminPassword']);
  });

  it('renaming a row takes the secrets of the old name with it: they were bound to that name', async () => {
    await insertInstance(db.pool, 'pia', 'alice');
    await withSecrets('pia', 'adminPassword');

    await lab.query(`UPDATE otm.instances SET name = 'pia-2' WHERE name = 'pia'`);

    assert.deepEqual(await secretNames('pia'), []);
    assert.deepEqual(await removals('pia'), [{ actor: labRole, object: 'pia/adminPassword', cause: 'instance row renamed' }]);
  });
});
