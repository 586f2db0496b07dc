// Turns "instance X" into a plan: finds its host, reads its observation (re-read when stale), resolves
// its secrets and the owner's keys, and calls the pure planner. Shared by the controller (`otm run`)
// and by `otm plan`, so a dry run plans exactly as the daemon would.
import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import type { DesiredStore } from '../desired/store.js';
import { resolveSecret } from '../desired/secrets.js';
import type { SecretLookup } from '../desired/secrets.js';
import { OWNERSHIP_MARKER } from '../manifest/index.js';
import type { DeletionPolicy, Experimenter, OTreeInstance } from '../manifest/index.js';
import type { Plan } from '../reconcile/action.js';
import { plan as planInstance } from '../reconcile/plan.js';
import { planRemoval } from '../reconcile/removal.js';
import { ownerKeyNames } from '../reconcile/sshkeys.js';
import type { ExperimenterKeys } from '../reconcile/sshkeys.js';
import type { HostCache } from './observation.js';
import type { Claim, InstanceStatus } from './status.js';

/** The ssh key fingerprint as `ssh-keygen -l` and `dokku ssh-keys:list` print it. */
export function sshFingerprint(publicKey: string): string {
  const blob = publicKey.trim().split(/\s+/)[1] ?? '';
  return `SHA256:${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

export function experimenterKeys(e: Experimenter): ExperimenterKeys {
  return {
    name: e.metadata.name,
    role: e.spec.role,
    keys: e.spec.sshKeys.map((key) => ({ key, fingerprint: sshFingerprint(key) })),
  };
}

export interface InstancePlan {
  name: string;
  host: string;
  plan: Plan;
  /** Set when no plan could be made (secret missing, host unreachable…). */
  error?: string;
}

export interface PlannerOptions {
  config: Config;
  desired: DesiredStore;
  /** In configuration order: the first is the default host. */
  hosts: readonly HostCache[];
  now: () => Date;
  env?: NodeJS.ProcessEnv;
  /** The daemon's claims of an instance (see StatusStore.claims). Without it nothing unmarked is the instance's own. */
  claims?: (instance: string) => Promise<readonly Claim[]>;
  /** The encrypted secrets stored through the API (`secretRef`); undefined without a database and key file. */
  secretStore?: SecretLookup;
}

/** What the planner remembers of an instance that is no longer declared. */
export interface RemovalMemory {
  host?: string;
  deletionPolicy?: DeletionPolicy;
}

/** What the daemon remembers of an instance from its last status, after a restart (and `otm plan`). */
export function removalMemory(status: InstanceStatus): RemovalMemory {
  return { host: status.host, ...(status.deletionPolicy ? { deletionPolicy: status.deletionPolicy } : {}) };
}

export class Planner {
  private readonly options: PlannerOptions;
  private readonly hosts = new Map<string, HostCache>();

  constructor(options: PlannerOptions) {
    this.options = options;
    for (const cache of options.hosts) this.hosts.set(cache.host, cache);
  }

  get defaultHost(): HostCache {
    const first = this.options.hosts[0];
    if (!first) throw new Error('no Dokku host is configured; add one under `hosts` in the configuration file');
    return first;
  }

  /** The host an instance lives on: its spec.host, else where it was last seen, else the first host. */
  hostFor(instance: OTreeInstance | undefined, name: string, memory?: RemovalMemory): HostCache {
    if (instance?.spec.host) {
      const cache = this.hosts.get(instance.spec.host);
      if (!cache) throw new Error(`instance ${name}: spec.host names "${instance.spec.host}", which is not a configured Dokku host (configured: ${[...this.hosts.keys()].join(', ')}); fix spec.host or the configuration`);
      return cache;
    }
    if (!instance) {
      if (memory?.host && this.hosts.has(memory.host)) return this.hosts.get(memory.host)!;
      for (const cache of this.hosts.values()) if (cache.hasSnapshot() && cache.current().apps.has(name)) return cache;
    }
    return this.defaultHost;
  }

  /** What would be done for one instance now. Reads Dokku only where the cache is stale; changes nothing. */
  async planFor(name: string, memory: RemovalMemory = {}, signal?: AbortSignal): Promise<InstancePlan> {
    const { desired, config } = this.options;
    const instance = desired.instance(name)?.declared.object as OTreeInstance | undefined;
    const cache = this.hostFor(instance, name, memory);
    try {
      const observed = await cache.app(name, signal);
      const snapshot = cache.current();
      if (!instance && desired.heldBack().some((r) => r.kind === 'OTreeInstance' && r.name === name)) {
        // Declared, but no version of it was ever valid (or allowed): that is no reason to remove anything.
        const issues = desired.issuesFor('OTreeInstance', name).filter((i) => i.severity === 'error');
        const message = `instance ${name} is declared but refused (${issues.map((i) => `${i.path ? `${i.path}: ` : ''}${i.code}`).join(', ') || 'invalid'}); nothing is changed until it is fixed`;
        return { name, host: cache.host, plan: { actions: [], deferred: [], phase: 'Failed', notes: [message], blocked: { reason: 'Invalid', message } } };
      }
      if (!instance) {
        if (!observed || !(OWNERSHIP_MARKER in observed.config)) {
          return { name, host: cache.host, plan: { actions: [], deferred: [], phase: 'Orphaned', notes: [`${name} is neither declared nor managed on ${cache.host}`] } };
        }
        return {
          name,
          host: cache.host,
          plan: planRemoval({
            name, observed, services: snapshot.services, prune: config.prune, now: this.options.now(),
            backupDir: config.backupDir, ...(memory.deletionPolicy ? { deletionPolicy: memory.deletionPolicy } : {}),
          }),
        };
      }
      const secrets = await this.secretsFor(instance);
      const ownerStored = desired.experimenter(instance.spec.owner);
      const owner = ownerStored ? experimenterKeys(ownerStored.declared.object as Experimenter) : undefined;
      const acl = snapshot.acl.get(name);
      const claims = ((await this.options.claims?.(name)) ?? []).filter((c) => c.host === cache.host);
      const plan = planInstance({
        instance,
        secrets,
        observed,
        services: snapshot.services,
        ...(owner ? { ownerKeyNames: ownerKeyNames(owner) } : {}),
        ...(acl ? { acl } : {}),
        ...(claims.length > 0 ? { claims } : {}),
        now: this.options.now(),
        host: {
          ...(config.baseDomain ? { baseDomain: config.baseDomain } : {}),
          gitHost: gitHostOf(config, cache.host),
          plugins: snapshot.plugins,
        },
      });
      return { name, host: cache.host, plan };
    } catch (err) {
      return { name, host: cache.host, plan: { actions: [], deferred: [], phase: 'Failed', notes: [] }, error: (err as Error).message };
    }
  }

  private async secretsFor(instance: OTreeInstance): Promise<{ adminPassword: string; restKey?: string }> {
    const { config, secretStore } = this.options;
    const name = instance.metadata.name;
    const context = (field: string) => ({
      field: `instance ${name} spec.otree.${field}`,
      env: this.options.env ?? process.env,
      limits: { dirs: config.secrets.dirs, maxBytes: config.secrets.maxBytes },
      instance: name,
      ...(secretStore ? { store: secretStore } : {}),
    });
    const adminPassword = await resolveSecret(instance.spec.otree.adminPassword, context('adminPassword'));
    const restKey = instance.spec.otree.restKey ? await resolveSecret(instance.spec.otree.restKey, context('restKey')) : undefined;
    return restKey !== undefined ? { adminPassword, restKey } : { adminPassword };
  }
}

function gitHostOf(config: Config, host: string): string {
  const h = config.hosts.find((x) => x.name === host);
  if (h?.transport.type === 'ssh') return h.transport.host;
  return config.baseDomain ?? host;
}
