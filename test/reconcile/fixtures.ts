// Builders for planner tests: a declared instance, the app Dokku would show for it, and a tiny model of
// what each planned command does to that app (to check that a plan converges).

import type { OTreeInstance, OTreeInstanceSpec } from '../../src/manifest/types.js';
import type { ObservedApp, ObservedService } from '../../src/observed/types.js';
import type { PlanInput } from '../../src/reconcile/plan.js';
import type { PlannedAction } from '../../src/reconcile/action.js';
import { storedForm } from '../../src/reconcile/config.js';

export const NOW = new Date('2026-12-01T10:00:00Z');
export const SECRETS = { adminPassword: 'pw-Very-Secret-1', restKey: 'rk-Very-Secret-2' };
export const SECRET_VALUES = [SECRETS.adminPassword, SECRETS.restKey, 'env-Very-Secret-3'];

export function instance(spec: Partial<OTreeInstanceSpec> = {}, name = 'alice-pgg'): OTreeInstance {
  return {
    apiVersion: 'otree-manager/v1',
    kind: 'OTreeInstance',
    metadata: { name, labels: {} },
    spec: {
      owner: 'alice',
      collaborators: [],
      state: 'running',
      otree: { version: '5', production: true, authLevel: 'STUDY', adminPassword: { fromEnv: 'PW' } },
      source: { image: { ref: 'registry.lab/alice/pgg:1' } },
      processes: { web: 1, worker: 0 },
      database: { deletionPolicy: 'Backup' },
      redis: false,
      domains: ['pgg.lab.example.org'],
      tls: { letsencrypt: false },
      env: { SENTRY_DSN: 'env-Very-Secret-3' },
      rooms: [],
      lobby: { enabled: true },
      resetDatabase: { generation: 0 },
      restart: { generation: 0 },
      freezeWindows: [],
      resources: {},
      adopt: false,
      ...spec,
    },
  };
}

/** The app as it looks once everything `inst` declares is in place (deployed and running). */
export function steadyApp(inst: OTreeInstance, overrides: Partial<ObservedApp> = {}): ObservedApp {
  const name = inst.metadata.name;
  const { spec } = inst;
  const config: Record<string, string> = {
    OTM_MANAGED: 'true',
    OTREE_PRODUCTION: spec.otree.production ? '1' : '0',
    OTREE_ADMIN_PASSWORD: SECRETS.adminPassword,
    DATABASE_URL: `postgres://postgres:dbsecret@dokku-postgres-${name}-pg:5432/${name.replace(/-/g, '_')}_pg`,
    GIT_REV: 'abc123',
  };
  if (spec.otree.authLevel !== 'OFF') config.OTREE_AUTH_LEVEL = spec.otree.authLevel;
  const envKeys = Object.keys(spec.env).sort();
  for (const k of envKeys) config[k] = spec.env[k]!;
  if (envKeys.length > 0) config.OTM_ENV_KEYS = envKeys.join(',');
  if (spec.redis) config.REDIS_URL = `redis://:redissecret@dokku-redis-${name}-redis:6379`;
  const image = 'image' in spec.source ? spec.source.image.ref : '';
  return {
    name,
    deployed: true,
    deploySource: 'image' in spec.source ? 'docker-image' : 'git',
    deploySourceMetadata: image,
    scale: { ...spec.processes },
    status: 'running',
    stoppedByUser: false,
    config,
    domains: [...spec.domains],
    vhostsEnabled: true,
    links: { postgres: [`${name}-pg`], redis: spec.redis ? [`${name}-redis`] : [] },
    letsencrypt: { active: spec.tls.letsencrypt },
    resources: { ...spec.resources },
    locked: false,
    ...overrides,
  };
}

export function servicesFor(inst: OTreeInstance, linked = true): Map<string, ObservedService> {
  const name = inst.metadata.name;
  const services = new Map<string, ObservedService>();
  const links = linked ? [name] : [];
  services.set(`postgres/${name}-pg`, { plugin: 'postgres', name: `${name}-pg`, status: 'running', links });
  if (inst.spec.redis) services.set(`redis/${name}-redis`, { plugin: 'redis', name: `${name}-redis`, status: 'running', links });
  return services;
}

export const ALL_PLUGINS = { postgres: true, redis: true, letsencrypt: true, acl: true };
export const OWNER_KEYS = ['otm-alice-AbCdEf123456'];

export function input(inst: OTreeInstance, observed: ObservedApp | undefined, extra: Partial<PlanInput> = {}): PlanInput {
  return {
    instance: inst,
    secrets: { adminPassword: SECRETS.adminPassword },
    observed,
    services: observed ? servicesFor(inst) : new Map(),
    ownerKeyNames: OWNER_KEYS,
    acl: observed ? [...OWNER_KEYS] : undefined,
    now: NOW,
    host: { baseDomain: 'lab.example.org', gitHost: 'dokku.lab.example.org', plugins: ALL_PLUGINS },
    ...extra,
  };
}

export function displays(actions: readonly PlannedAction[]): string[] {
  return actions.map((a) => a.display);
}

/**
 * What the commands do to the app, as far as the planner can observe it: enough to check that running
 * a plan and planning again yields nothing.
 */
export function apply(inputBefore: PlanInput, actions: readonly PlannedAction[]): PlanInput {
  const name = inputBefore.instance.metadata.name;
  let app: ObservedApp | undefined = inputBefore.observed ? structuredClone(inputBefore.observed) : undefined;
  const services = new Map(inputBefore.services);
  let acl = inputBefore.acl ? [...inputBefore.acl] : undefined;
  // The controller records a claim for every object it creates.
  const claims = [...(inputBefore.claims ?? [])];
  const claim = (kind: 'app' | 'postgres' | 'redis', object: string): void => {
    if (!claims.some((c) => c.kind === kind && c.object === object)) claims.push({ kind, object, state: 'created' });
  };
  const relink = (plugin: 'postgres' | 'redis', service: string, linked: boolean): void => {
    const s = services.get(`${plugin}/${service}`);
    if (s) services.set(`${plugin}/${service}`, { ...s, links: linked ? [...s.links.filter((a) => a !== name), name] : s.links.filter((a) => a !== name) });
  };
  const need = (): ObservedApp => {
    if (!app) throw new Error(`action on ${name} before apps:create`);
    return app;
  };
  for (const { command: c } of actions) {
    switch (c.cmd) {
      case 'apps:create':
        app = {
          name, deployed: false, deploySource: '', deploySourceMetadata: '', scale: {}, status: 'stopped', stoppedByUser: false,
          config: {}, domains: [], vhostsEnabled: true, links: { postgres: [], redis: [] }, letsencrypt: { active: false },
          resources: {}, locked: false,
        };
        acl = [];
        claim('app', name);
        break;
      case 'config:set': for (const p of c.pairs) need().config[p.key] = storedForm(p.value); break;
      case 'config:unset': for (const k of c.keys) delete need().config[k]; break;
      case 'service:create':
        services.set(`${c.plugin}/${c.service}`, { plugin: c.plugin, name: c.service, status: 'running', links: [] });
        claim(c.plugin, c.service);
        break;
      case 'service:link':
        need().links[c.plugin].push(c.service);
        relink(c.plugin, c.service, true);
        need().config[c.plugin === 'postgres' ? 'DATABASE_URL' : 'REDIS_URL'] = `${c.plugin}://x@${c.service}`;
        break;
      case 'service:unlink':
        need().links[c.plugin] = need().links[c.plugin].filter((s) => s !== c.service);
        relink(c.plugin, c.service, false);
        delete need().config[c.plugin === 'postgres' ? 'DATABASE_URL' : 'REDIS_URL'];
        break;
      case 'domains:set': need().domains = [...c.domains]; break;
      case 'resource:limit':
        for (const kind of ['memory', 'cpu'] as const) {
          const v = c[kind];
          if (v === 'clear') delete need().resources[kind];
          else if (v !== undefined) need().resources[kind] = v;
        }
        break;
      case 'ps:scale': Object.assign(need().scale, c.scale); break;
      case 'git:from-image': Object.assign(need(), { deployed: true, status: 'running', deploySource: 'docker-image', deploySourceMetadata: c.image }); break;
      case 'git:sync': Object.assign(need(), { deployed: true, status: 'running', deploySource: 'git-sync', deploySourceMetadata: `${c.url}#0123abc` }); break;
      case 'git:from-archive': Object.assign(need(), { deployed: true, status: 'running', deploySource: 'tar', deploySourceMetadata: c.url }); break;
      case 'ps:start': if (need().deployed) need().status = 'running'; break;
      case 'ps:stop': if (need().deployed) need().status = 'stopped'; break;
      case 'letsencrypt:enable': need().letsencrypt = { active: true }; break;
      case 'acl:add': acl = [...(acl ?? []), c.user]; break;
      case 'acl:remove': acl = (acl ?? []).filter((u) => u !== c.user); break;
      default: break;
    }
  }
  return { ...inputBefore, observed: app, services, ...(acl ? { acl } : {}), ...(claims.length > 0 ? { claims } : {}) };
}
