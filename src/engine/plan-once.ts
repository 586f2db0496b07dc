// `otm plan`: what `otm run` would do right now, without changing anything. It loads the manifests,
// reads every host in full and plans each instance with the same Planner the daemon uses.
import type { Config } from '../config.js';
import { loadManifests } from '../desired/files.js';
import { DesiredStore } from '../desired/store.js';
import type { ManifestIssue } from '../manifest/index.js';
import { OWNERSHIP_MARKER } from '../manifest/index.js';
import { createDrivers } from './daemon.js';
import { HostCache } from './observation.js';
import { Planner } from './planner.js';
import type { InstancePlan } from './planner.js';

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
  /** Manifest problems: objects with errors are not planned (their last good version is what runs). */
  issues: ManifestIssue[];
}

export async function planOnce(options: PlanOnceOptions): Promise<PlanOnceResult> {
  const { config } = options;
  const loaded = await loadManifests([config.manifestsDir], { hosts: config.hosts.map((h) => h.name) });
  const desired = new DesiredStore();
  desired.replaceSource(config.manifestsDir, loaded);
  const drivers = createDrivers(config, options.dokkuEnv);
  try {
    const hosts = drivers.map((driver) => new HostCache({ driver }));
    for (const cache of hosts) await cache.refresh(true);
    const planner = new Planner({ config, desired, hosts, now: () => options.now, ...(options.env ? { env: options.env } : {}) });
    const names = new Set(desired.instances().map((s) => s.declared.object.metadata.name));
    for (const cache of hosts) {
      for (const app of cache.current().apps.values()) if (OWNERSHIP_MARKER in app.config) names.add(app.name);
    }
    const wanted = options.name !== undefined ? [options.name] : [...names].sort();
    const plans: InstancePlan[] = [];
    for (const name of wanted) plans.push(await planner.planFor(name));
    return { plans, issues: loaded.issues };
  } finally {
    for (const driver of drivers) await driver.close();
  }
}
