// `otm plan` plans with the daemon's inputs (database rows under the row policy, the status store's
// claims, stored secrets) against the Dokku simulator and real PostgreSQL, and writes nothing: not the
// database (otm.validation included), not the state file, not the host.
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import type { Config } from '../../src/config.js';
import { newKeyLine, openSecretStore } from '../../src/desired/secret-store.js';
import { planOnce } from '../../src/engine/plan-once.js';
import type { InstancePlan } from '../../src/engine/planner.js';
import { FileStatusStore, STATE_FILE_NAME } from '../../src/engine/status-file.js';
import { PgStatusStore } from '../../src/engine/status-pg.js';
import { OWNERSHIP_MARKER } from '../../src/manifest/index.js';
import { STANDIN_IMAGE } from '../support/image.js';
import { Lab, PASSWORD, PASSWORD_ENV } from '../e2e/harness.js';
import { createTestDatabase, useMigratedDatabase } from '../store/database.js';
import { insertExperimenter, insertInstance, startSource } from '../store/source.js';

const db = useMigratedDatabase();
const STORED_PASSWORD = 'stored-admin-password-7Qx';
const by = { actor: 'tester' };

/** Every table of the otm schema: its row count and a digest of its rows. */
async function databaseContents(pool: pg.Pool): Promise<Record<string, string>> {
  const { rows: tables } = await pool.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'otm' ORDER BY tablename");
  const contents: Record<string, string> = {};
  for (const { tablename } of tables) {
    const { rows } = await pool.query<{ n: number; digest: string }>(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS digest FROM otm.${tablename} t`);
    contents[tablename] = `${rows[0]!.n} rows, ${rows[0]!.digest}`;
  }
  return contents;
}

function planOf(plans: InstancePlan[], name: string): InstancePlan {
  const plan = plans.find((p) => p.name === name);
  assert.ok(plan, `${name} is planned (planned: ${plans.map((p) => p.name).join(', ')})`);
  return plan;
}

const commands = (p: InstancePlan): string[] => p.plan.actions.map((a) => a.command.cmd);

describe('otm plan with PostgreSQL: rows, claims and stored secrets, read-only', { timeout: 120_000 }, () => {
  let lab: Lab;
  let config: Config;
  const plan = () => planOnce({ config, now: new Date(), dokkuEnv: lab.sim.env });

  before(async () => {
    lab = await Lab.create({ tag: 'plan', postgresUrl: db.url });
    const keyFile = join(lab.work, 'secret-keys');
    await writeFile(keyFile, `${newKeyLine('k1')}\n`);
    await chmod(keyFile, 0o600);
    config = { ...lab.config, secrets: { ...lab.config.secrets, keyFile } };
  });

  after(async () => {
    await lab?.destroy();
  });

  it('plans row-declared instances with their stored secrets and claims, and changes nothing anywhere', async () => {
    const fromRow = lab.app('row');
    const claimed = lab.app('claimed');
    const spoiled = lab.app('spoiled');
    const image = { source: { image: { ref: STANDIN_IMAGE } } };
    await insertExperimenter(db.pool, 'alice');
    for (const name of [fromRow, claimed, spoiled]) await insertInstance(db.pool, name, 'alice', image);
    const secrets = await openSecretStore(db.pool, config.secrets.keyFile!);
    for (const name of [fromRow, claimed, spoiled]) await secrets.set(name, 'adminPassword', STORED_PASSWORD, by);

    // The daemon validated `spoiled` once while it was valid (recorded in otm.validation); since then
    // it asks for a file of the daemon's host, which the row policy refuses.
    const running = await startSource(db.pool, db.url);
    await running.source.stop();
    await db.pool.query(`UPDATE otm.instances SET spec = jsonb_set(spec, '{otree,adminPassword}', '{"fromFile": "/etc/shadow"}'), updated_by = 'ui' WHERE name = $1`, [spoiled]);

    // What a daemon interrupted after `apps:create` leaves: the app without the marker. The claim,
    // recorded by the same store the daemon writes, is added below.
    assert.equal((await lab.sim.run(['apps:create', claimed])).code, 0);

    const database = await databaseContents(db.pool);
    const calls = (await lab.invocations()).length;
    const app = (await lab.state()).apps[claimed];

    const first = await plan();
    const row = planOf(first.plans, fromRow);
    assert.equal(row.error, undefined);
    assert.equal(row.host, 'local');
    assert.equal(commands(row)[0], 'apps:create');
    const password = row.plan.actions.flatMap((a) => (a.command.cmd === 'config:set' ? a.command.pairs : [])).find((p) => p.key === 'OTREE_ADMIN_PASSWORD');
    assert.equal(password?.value, STORED_PASSWORD, 'the secretRef resolves to the stored secret');
    assert.ok(row.plan.actions.every((a) => !a.display.includes(STORED_PASSWORD)), 'the plan prints it masked');

    const unclaimed = planOf(first.plans, claimed);
    assert.equal(unclaimed.plan.blocked?.reason, 'NotManaged', 'without the claim, the unmarked app is someone else\'s');
    assert.deepEqual(unclaimed.plan.actions, []);

    const kept = planOf(first.plans, spoiled);
    assert.equal(kept.error, undefined, 'the last valid version is planned');
    assert.equal(commands(kept)[0], 'apps:create');
    const rowIssues = first.issues.filter((i) => i.origin.source === `row:instances/${spoiled}`).map((i) => i.code).sort();
    assert.deepEqual(rowIssues, ['ROW_LAST_VALID_KEPT', 'ROW_SECRET_SOURCE']);

    assert.deepEqual(await databaseContents(db.pool), database, 'no row of any otm table changed, otm.validation included');

    const status = new PgStatusStore(db.pool);
    await status.putClaim({ instance: claimed, host: 'local', kind: 'app', object: claimed, state: 'created', at: new Date().toISOString() });
    const claimedDatabase = await databaseContents(db.pool);
    const second = await plan();
    const own = planOf(second.plans, claimed);
    assert.equal(own.plan.blocked, undefined, 'with the claim, the app is the instance\'s own');
    const marker = own.plan.actions[0];
    assert.equal(marker?.command.cmd, 'config:set');
    assert.deepEqual(marker.command.cmd === 'config:set' ? marker.command.pairs.map((p) => p.key) : [], [OWNERSHIP_MARKER]);
    assert.match(marker.reason, /its claim says so/);

    assert.deepEqual(await databaseContents(db.pool), claimedDatabase);
    assert.deepEqual(await lab.mutationsSince(calls), [], 'nothing was run on the host');
    assert.deepEqual((await lab.state()).apps[claimed], app);
  });

  it('refuses a database without the schema and creates none', async () => {
    const empty = await createTestDatabase();
    try {
      await assert.rejects(planOnce({ config: { ...config, postgresUrl: empty.url }, now: new Date(), dokkuEnv: lab.sim.env }),
        /lacks the migrations 0001_init, .*`otm plan` never changes the database: run `otm migrate`/);
      const { rows } = await empty.pool.query("SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'otm'");
      assert.equal(rows[0].n, 0);
    } finally {
      await empty.drop();
    }
  });
});

describe('otm plan without PostgreSQL: the state file is read, never written', { timeout: 120_000 }, () => {
  let lab: Lab;
  const plan = () => planOnce({ config: lab.config, now: new Date(), dokkuEnv: lab.sim.env, env: { [PASSWORD_ENV]: PASSWORD } });

  before(async () => {
    lab = await Lab.create({ tag: 'planfile' });
  });

  after(async () => {
    await lab?.destroy();
  });

  it('plans a claimed app as the instance\'s own and leaves the state directory byte for byte as it was', async () => {
    const name = lab.app('claimed');
    await lab.declare(name);
    assert.equal((await lab.sim.run(['apps:create', name])).code, 0);

    const unclaimed = planOf((await plan()).plans, name);
    assert.equal(unclaimed.plan.blocked?.reason, 'NotManaged');
    await assert.rejects(readdir(lab.stateDir), { code: 'ENOENT' }, 'no state directory is created');

    const store = await FileStatusStore.open(lab.stateDir);
    await store.putClaim({ instance: name, host: 'local', kind: 'app', object: name, state: 'created', at: new Date().toISOString() });
    await store.close();
    // A temp file an interrupted write left: opening the store for writing would remove it.
    const leftover = join(lab.stateDir, `.${STATE_FILE_NAME}.tmp-1234`);
    await mkdir(lab.stateDir, { recursive: true });
    await writeFile(leftover, 'partial');
    const listing = (await readdir(lab.stateDir)).sort();
    const bytes = await readFile(join(lab.stateDir, STATE_FILE_NAME));

    const own = planOf((await plan()).plans, name);
    assert.equal(own.plan.blocked, undefined);
    assert.equal(own.plan.actions[0]?.command.cmd, 'config:set');
    assert.match(own.plan.actions[0]!.reason, /its claim says so/);

    assert.deepEqual((await readdir(lab.stateDir)).sort(), listing);
    assert.deepEqual(await readFile(join(lab.stateDir, STATE_FILE_NAME)), bytes);
    assert.equal(await readFile(leftover, 'utf8'), 'partial');
  });
});
