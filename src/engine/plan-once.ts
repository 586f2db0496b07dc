// `otm plan`: what `otm run` would do right now, without changing anything. It plans with the daemon's
// inputs: the manifests, the database rows (validated with the row policy, the last valid version
// kept), the status store's claims and memory, and the stored secrets; it reads every host in full and
// plans each instance with the same Planner the daemon uses. Nothing is written: not the status store,
// not otm.validation (the database sessions are read-only), not the hosts.
import { redactUrl, rowPolicyOptions } from '../config.js';
import type { Config } from '../config.js';
import { loadManifests } from '../desired/files.js';
import type { SecretLookup } from '../desired/secrets.js';
import { DesiredStore } from '../desired/store.js';
import type { SourceUpdate } from '../desired/store.js';
import type { ManifestIssue } from '../manifest/index.js';
import { OWNERSHIP_MARKER } from '../manifest/index.js';
import { createDrivers } from './daemon.js';
import { HostCache } from './observation.js';
import { Planner, removalMemory } from './planner.js';
import type { InstancePlan } from './planner.js';
import { FileStatusStore } from './status-file.js';
import type { StatusStore } from './status.js';

export interface PlanOnceOptions {
  config: Config;
  /** Only this instance (declared or orphaned). */
  name?: string;
  now: Date;
  env?: NodeJS.ProcessEnv;
  dokkuEnv?: Record<string, string>;
}

export interface PlanOnceResult {
  plans: InstancePlan[];
  /** Problems of manifests and rows: objects with errors are not planned (their last good version is what runs). */
  issues: ManifestIssue[];
}

/** What the daemon plans with besides the manifests, opened for reading only. */
interface StoredInputs {
  status: Pick<StatusStore, 'list' | 'claims'>;
  rows: SourceUpdate[];
  secretStore?: SecretLookup;
  close(): Promise<void>;
}

async function readStores(config: Config): Promise<StoredInputs> {
  if (!config.postgresUrl) {
    const status = await FileStatusStore.openReadOnly(config.stateDir);
    return { status, rows: [], close: () => status.close() };
  }
  const [{ createPool }, { pendingMigrations }, { PgStatusStore }, { PostgresDesiredSource }, { openSecretStore }] = await Promise.all([
    import('../store/pool.js'), import('../store/migrate.js'), import('./status-pg.js'), import('../desired/postgres.js'),
    import('../desired/secret-store.js'),
  ]);
  const pool = createPool(config.postgresUrl, { readOnly: true, applicationName: 'otree-manager-plan' });
  try {
    const pending = await pendingMigrations(pool);
    if (pending.length > 0) {
      throw new Error(`the database ${redactUrl(config.postgresUrl)} lacks the migrations ${pending.join(', ')}, and \`otm plan\` never changes the database: run \`otm migrate\` (or start \`otm run\`, which migrates) first`);
    }
    const rows = await PostgresDesiredSource.readOnce(pool, rowPolicyOptions(config));
    const secretStore = config.secrets.keyFile ? await openSecretStore(pool, config.secrets.keyFile) : undefined;
    return { status: new PgStatusStore(pool), rows, ...(secretStore ? { secretStore } : {}), close: () => pool.end() };
  } catch (err) {
    await pool.end();
    throw err;
  }
}

export async function planOnce(options: PlanOnceOptions): Promise<PlanOnceResult> {
  const { config } = options;
  const loaded = await loadManifests([config.manifestsDir], { hosts: config.hosts.map((h) => h.name) });
  const desired = new DesiredStore(config.baseDomain ? { baseDomain: config.baseDomain } : {});
  const stores = await readStores(config);
  const drivers = createDrivers(config, options.dokkuEnv);
  try {
    // In the daemon's order: the manifests first, then the rows (the earlier declaration of a name wins).
    desired.replaceSource(config.manifestsDir, loaded);
    desired.apply(stores.rows);
    const memory = new Map((await stores.status.list()).map((s) => [s.name, removalMemory(s)]));
    const hosts = drivers.map((driver) => new HostCache({ driver }));
    for (const cache of hosts) await cache.refresh(true);
    const planner = new Planner({
      config, desired, hosts, now: () => options.now,
      claims: (instance) => stores.status.claims(instance),
      ...(options.env ? { env: options.env } : {}),
      ...(stores.secretStore ? { secretStore: stores.secretStore } : {}),
    });
    const names = new Set(desired.instances().map((s) => s.declared.object.metadata.name));
    for (const cache of hosts) {
      for (const app of cache.current().apps.values()) if (OWNERSHIP_MARKER in app.config) names.add(app.name);
    }
    const wanted = options.name !== undefined ? [options.name] : [...names].sort();
    const plans: InstancePlan[] = [];
    for (const name of wanted) plans.push(await planner.planFor(name, memory.get(name)));
    return { plans, issues: [...desired.issues().values()].flat() };
  } finally {
    for (const driver of drivers) await driver.close();
    await stores.close();
  }
}
