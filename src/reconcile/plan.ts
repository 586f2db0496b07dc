// plan(): the least work that makes one instance on a Dokku host what its manifest declares.
// Pure: the desired instance, the observed app and the time come in as data, ordered actions come out.
//
// Rules (docs/reconcile.md explains them for lab admins):
// - Config, service links, scale and resource limits are changed without restarting; each change set
//   then ends with at most one restart-like action: a deploy when the source changed, the start that
//   follows a database reset or starts a stopped app, else one restart (or a scale that redeploys).
// - Unchanged values are never re-set: Dokku restarts on every config:set, even for equal values.
// - Ownership is proven, never assumed: an app without the ownership marker is touched only when
//   spec.adopt says so or the daemon's own claim says it created the app for this instance (an earlier
//   pass was interrupted before marking it); a service is used only when it is the instance's own
//   (claimed, or linked to the marked app and nothing else) or adopted.
// - Inside a freeze window nothing restarts, stops or resets a running app, and the changes that would
//   need such a restart wait too (applied with --no-restart they would leave a restart owed that no
//   later pass could see). Everything else still runs.

import type { Claim, ClaimKind, DeferredAction, Phase } from '../engine/status.js';
import type { OTreeInstance, Source } from '../manifest/types.js';
import { OWNERSHIP_MARKER, serviceNames } from '../manifest/reserved.js';
import type { ObservedApp, ObservedHost, ObservedService } from '../observed/types.js';
import { planned } from './action.js';
import type { Plan, PlannedAction } from './action.js';
import type { DokkuCommand, ServicePlugin } from './commands.js';
import {
  MARKER_VALUE, RESETDB_GENERATION_KEY, RESETDB_PENDING_KEY, RESTART_GENERATION_KEY, SOURCE_KEY,
  desiredConfig, diffConfig, generation, isManaged, needsRestart, pair,
} from './config.js';
import type { Secrets } from './config.js';
import { freezeEnd } from './freeze.js';
import { isManagedKeyName } from './sshkeys.js';

export interface PlanInput {
  /** The declared instance, defaults applied. */
  instance: OTreeInstance;
  /** Resolved by the engine; they only ever appear masked in the plan. */
  secrets: Secrets;
  /** undefined: the app does not exist. */
  observed: ObservedApp | undefined;
  /** Host-wide services, keyed `<plugin>/<name>`. */
  services: ReadonlyMap<string, ObservedService>;
  /** The owner's Dokku key names (see ownerKeyNames()): the users allowed to push. undefined: ACL left as it is. */
  ownerKeyNames?: readonly string[];
  /**
   * The daemon's claims for this instance on this host (its records of creating the app or a service).
   * undefined: none; nothing unmarked is then the instance's own.
   */
  claims?: ReadonlyArray<Pick<Claim, 'kind' | 'object' | 'state'>>;
  /** The app's ACL as observed; undefined when not read (e.g. the app does not exist yet). */
  acl?: readonly string[];
  now: Date;
  host: {
    baseDomain?: string;
    /** The host name experimenters `git push dokku@<gitHost>:<app>` to. */
    gitHost?: string;
    plugins: ObservedHost['plugins'];
  };
}

/**
 * When a held-back action may run inside a freeze window. `live`: held while the app serves
 * (restarts, and changes that need one); `always`: held whenever the app is deployed (a database
 * reset destroys a session's data even while the app is stopped).
 */
type Hold = 'never' | 'live' | 'always';

interface Step {
  action: PlannedAction;
  hold: Hold;
}

const RESETDB_COMMAND = ['otree', 'resetdb', '--noinput'];

function blockedPlan(reason: string, message: string): Plan {
  return { actions: [], deferred: [], phase: 'Failed', notes: [message], blocked: { reason, message } };
}

/** The URL git:from-archive downloads: archive.path as given when it is a URL, else a file on the Dokku host. */
export function archiveUrl(path: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(path) ? path : `file://${path}`;
}

/** What SOURCE_KEY holds once the manager has deployed a git or archive source. */
function sourceRecord(source: Source): string | undefined {
  if ('git' in source) return `git:${source.git.url}#${source.git.ref}`;
  if ('archive' in source) return `archive:${archiveUrl(source.archive.path)}`;
  return undefined;
}

/** Whether the declared source is what the app runs. A push source is whatever was pushed. */
function sourceDeployed(source: Source, app: ObservedApp | undefined): boolean {
  if ('push' in source) return true;
  if (!app?.deployed) return false;
  if ('image' in source) return app.deploySource === 'docker-image' && app.deploySourceMetadata === source.image.ref;
  // Someone pushing or deploying by hand replaces what the manager recorded.
  const other = 'git' in source ? ['git', 'docker-image'] : ['git', 'git-sync', 'docker-image'];
  return !other.includes(app.deploySource) && app.config[SOURCE_KEY] === sourceRecord(source);
}

function isDeploy(command: DokkuCommand): boolean {
  return command.cmd === 'git:from-image' || command.cmd === 'git:sync' || command.cmd === 'git:from-archive';
}

function deployCommand(app: string, source: Source): DokkuCommand | undefined {
  if ('image' in source) return { cmd: 'git:from-image', app, image: source.image.ref };
  if ('git' in source) return { cmd: 'git:sync', app, url: source.git.url, ref: source.git.ref, build: true };
  if ('archive' in source) return { cmd: 'git:from-archive', app, url: archiveUrl(source.archive.path) };
  return undefined;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = [...new Set(a)].sort();
  const sb = [...new Set(b)].sort();
  return sa.length === sb.length && sa.every((v, i) => v === sb[i]);
}

/**
 * An app whose creation was interrupted (a failure or a crash between `apps:create` and the config that
 * marks it): nothing deployed, linked to nothing but the instance's own services, and no config but what
 * those links and Dokku put there. Taking it over loses nothing, and without it the instance would stay
 * blocked for good.
 */
function unfinishedCreation(observed: ObservedApp, names: { postgres: string; redis: string }): boolean {
  if (observed.deployed || observed.partial) return false;
  const ours = new Set([names.postgres, names.redis]);
  if (![...observed.links.postgres, ...observed.links.redis].every((service) => ours.has(service))) return false;
  // NO_VHOST is set by apps:create itself when the host has no global domain.
  return Object.keys(observed.config).every((key) => ['DATABASE_URL', 'REDIS_URL', 'NO_VHOST'].includes(key) || key.startsWith('DOKKU_'));
}

const SERVICE_TITLE: Record<ServicePlugin, string> = { postgres: 'a PostgreSQL database', redis: 'a Redis service' };

/**
 * Why an existing service is not the instance's own, or undefined when it is: the daemon claimed it for
 * this instance, it is linked to the instance's marked app and to nothing else, or spec.adopt says so.
 */
function serviceConflict(
  input: PlanInput, plugin: ServicePlugin, service: ObservedService, claim: Pick<Claim, 'state'> | undefined,
): string | undefined {
  const app = input.instance.metadata.name;
  const links = service.links;
  const onlyOurs = links.every((a) => a === app);
  if (input.instance.spec.adopt) return undefined;
  if (claim?.state === 'created' || (claim?.state === 'creating' && onlyOurs)) return undefined;
  if (links.length > 0 && onlyOurs && input.observed !== undefined && isManaged(input.observed.config)) return undefined;
  if (links.length === 0) {
    return `${SERVICE_TITLE[plugin]} named ${service.name} exists, but otree-manager did not create it for instance ${app} ` +
      `(it may be kept from an earlier instance of the same name under deletionPolicy: Retain, or made by hand), so it is not linked and its data is not handed over. ` +
      `To use it, adopt it: set spec.adopt: true in the instance's manifest file; otherwise destroy it (\`dokku ${plugin}:destroy ${service.name}\`) and otree-manager creates a fresh one`;
  }
  if (onlyOurs) {
    return `the ${plugin} service ${service.name} is linked to app ${app}, which does not carry the ownership marker, and otree-manager has no record of creating the service for this instance, so it is not used. ` +
      `Unlink and destroy the service, or adopt it with spec.adopt: true in the instance's manifest file`;
  }
  return `the ${plugin} service ${service.name} exists and is linked to ${links.join(', ')}; otree-manager did not create it for instance ${app}, so it is not linked and its data is not handed over. ` +
    `Rename the instance, or unlink and destroy the service, or adopt it with spec.adopt: true in the instance's manifest file`;
}

export function plan(input: PlanInput): Plan {
  const { instance, observed, now, host } = input;
  const { spec } = instance;
  const app = instance.metadata.name;
  const config = observed?.config ?? {};
  const notes: string[] = [];
  const steps: Step[] = [];
  const add = (action: PlannedAction, hold: Hold = 'never'): void => { steps.push({ action, hold }); };
  const names = serviceNames(app);
  const claimOf = (kind: ClaimKind): Pick<Claim, 'state'> | undefined =>
    (input.claims ?? []).find((c) => c.kind === kind && c.object === (kind === 'app' ? app : names[kind]));

  const adopting = observed !== undefined && !isManaged(config);
  // An unmarked app is the instance's own only by the daemon's record: created, or being created and
  // still holding nothing but what creation leaves (the create may have run or not).
  const appClaim = claimOf('app');
  const resuming = adopting && (appClaim?.state === 'created' || (appClaim?.state === 'creating' && unfinishedCreation(observed, names)));
  if (adopting && !spec.adopt && !resuming) {
    return blockedPlan('NotManaged', `app ${app} exists but is not managed by otree-manager (it has no ${OWNERSHIP_MARKER} marker and otree-manager has no record of creating it for this instance); set spec.adopt: true in its manifest file (or run \`otm adopt ${app}\`) to take it over`);
  }
  if (!host.plugins.postgres) {
    return blockedPlan('PluginMissing', `instance ${app} needs a PostgreSQL database but the Dokku host has no postgres plugin; install dokku-postgres on the host`);
  }
  if (spec.redis && !host.plugins.redis) {
    return blockedPlan('PluginMissing', `instance ${app} declares spec.redis: true but the Dokku host has no redis plugin; install dokku-redis on the host or set spec.redis: false`);
  }

  if (observed?.partial) {
    return { actions: [], deferred: [], phase: observed.deployed ? 'Running' : 'Pending',
      notes: [`app ${app} was observed only partly (its config and scale were not read); nothing is planned until a full observation`] };
  }

  const wantServices: ServicePlugin[] = spec.redis ? ['postgres', 'redis'] : ['postgres'];
  for (const plugin of wantServices) {
    const existing = input.services.get(`${plugin}/${names[plugin]}`);
    const conflict = existing && serviceConflict(input, plugin, existing, claimOf(plugin));
    if (conflict !== undefined) return blockedPlan('ServiceConflict', conflict);
  }

  const expired = spec.expiresAt !== undefined && Date.parse(spec.expiresAt) <= now.getTime();
  const wantRunning = spec.state === 'running' && !expired;
  const deployed = observed?.deployed ?? false;
  const live = deployed && (observed?.status === 'running' || observed?.status === 'mixed');
  let changesNeedRestart = false;

  if (!observed) add(planned({ cmd: 'apps:create', app }, `instance ${app} is declared and its app does not exist`));
  if (adopting) {
    add(planned({ cmd: 'config:set', app, pairs: [pair(OWNERSHIP_MARKER, MARKER_VALUE)], restart: false },
      resuming && !spec.adopt
        ? `otree-manager created app ${app} for this instance (its claim says so) and was interrupted before marking it`
        : `spec.adopt is true: otree-manager takes over the existing app ${app}`));
  }

  // Services: a fresh database needs no reset; a retained one may hold an earlier instance's data.
  let freshDatabase = false;
  for (const plugin of wantServices) {
    const service = names[plugin];
    if (!input.services.has(`${plugin}/${service}`)) {
      add(planned({ cmd: 'service:create', plugin, service }, `instance ${app} uses the ${plugin} service ${service}, which does not exist`));
      if (plugin === 'postgres') freshDatabase = true;
    }
    if (!observed?.links[plugin].includes(service)) {
      add(planned({ cmd: 'service:link', plugin, service, app, restart: false }, `instance ${app} uses the ${plugin} service ${service}, which is not linked to it`), 'live');
      changesNeedRestart = true;
    }
  }
  if (!spec.redis && observed?.links.redis.includes(names.redis)) {
    add(planned({ cmd: 'service:unlink', plugin: 'redis', service: names.redis, app, restart: false },
      `spec.redis is false; the service ${names.redis} is kept (it is removed with the instance)`), 'live');
    changesNeedRestart = true;
  }

  // Config: one set and one unset of the keys that differ; generations recorded alongside.
  const desired = desiredConfig(instance, input.secrets, config);
  if (adopting) desired.delete(OWNERSHIP_MARKER);
  const diff = diffConfig(desired, config);
  if (diff.set.some((p) => needsRestart(p.key)) || diff.unset.length > 0) changesNeedRestart = true;
  // Processes started with other values than the app's config holds now (a restart by hand raced a
  // config change) are out of date even when the config itself is right.
  if (live && runningWithOldConfig(observed, [...desired.keys()].filter(needsRestart))) changesNeedRestart = true;
  if (spec.otree.version === '3' && deployed && diff.set.some((p) => p.key === 'OTREE_ADMIN_PASSWORD')) {
    notes.push('oTree 3 reads the admin password only when it creates the database: bump spec.resetDatabase.generation to apply the new password');
  }

  const limits: { memory?: string; cpu?: string } = {};
  for (const kind of ['memory', 'cpu'] as const) {
    const want = spec.resources[kind];
    const have = observed?.resources[kind];
    if (want !== have) limits[kind] = want ?? 'clear';
  }
  if (Object.keys(limits).length > 0) changesNeedRestart = true;

  const restartWanted = spec.restart.generation;
  const restartOwed = restartWanted > generation(config, RESTART_GENERATION_KEY);
  const resetWanted = spec.resetDatabase.generation;
  const resetOwed = resetWanted > generation(config, RESETDB_GENERATION_KEY);
  const resetStarted = generation(config, RESETDB_PENDING_KEY) === resetWanted;

  const source = spec.source;
  const deployNow = wantRunning && !sourceDeployed(source, observed);
  const deployCmd = deployNow ? deployCommand(app, source) : undefined;
  const runsAfterPlan = deployed || deployCmd !== undefined;
  const resetNow = resetOwed && runsAfterPlan && !(freshDatabase && !deployed);
  if (resetOwed && freshDatabase && !deployed) {
    diff.set.push(pair(RESETDB_GENERATION_KEY, String(resetWanted)));
  } else if (resetOwed && !runsAfterPlan) {
    notes.push(`database reset ${resetWanted} waits for the first deploy`);
  }

  const scaleNow = { web: observed?.scale.web ?? 1, worker: observed?.scale.worker ?? 0 };
  const scaleChange: Record<string, number> = {};
  for (const type of ['web', 'worker'] as const) {
    if (spec.processes[type] !== scaleNow[type]) scaleChange[type] = spec.processes[type];
  }
  const scaleChanged = Object.keys(scaleChange).length > 0;

  // How this change set restarts the app, if it must: a deploy, the start after a reset, starting a
  // stopped app, one restart, or a scale that redeploys the changed process types.
  const restartsRunningApp = wantRunning && live && !deployCmd && !resetNow;
  const restartWithConfig = restartsRunningApp && restartOwed;
  const plainRestart = restartsRunningApp && !restartOwed && changesNeedRestart;
  const scaleDeploys = restartsRunningApp && scaleChanged && !restartOwed && !changesNeedRestart;
  if (restartOwed && !restartWithConfig) diff.set.push(pair(RESTART_GENERATION_KEY, String(restartWanted)));
  // Before a first deploy the source can be recorded up front: should that deploy fail, the app is still
  // not deployed and the next pass deploys again. Later deploys record it only once they succeeded.
  const record = deployCmd ? sourceRecord(source) : undefined;
  if (record !== undefined && !deployed) diff.set.push(pair(SOURCE_KEY, record));

  const configHold: Hold = diff.set.some((p) => needsRestart(p.key)) || diff.unset.length > 0 ? 'live' : 'never';
  if (diff.set.length > 0) {
    add(planned({ cmd: 'config:set', app, pairs: diff.set, restart: false }, `config ${diff.set.map((p) => p.key).join(', ')} differs from the declared value`), configHold);
  }
  if (diff.unset.length > 0) {
    add(planned({ cmd: 'config:unset', app, keys: diff.unset, restart: false }, `config ${diff.unset.join(', ')} is no longer declared`), 'live');
  }

  if (spec.domains.length > 0 && !sameSet(spec.domains, observed?.domains ?? [])) {
    add(planned({ cmd: 'domains:set', app, domains: spec.domains }, `declared domains ${spec.domains.join(' ')} differ from the app's`));
  }

  if (Object.keys(limits).length > 0) {
    add(planned({ cmd: 'resource:limit', app, ...limits }, `resource limits ${Object.keys(limits).join(', ')} differ from spec.resources (they apply at the next start)`), 'live');
  }

  if (scaleChanged) {
    const counts = Object.entries(scaleChange).map(([t, n]) => `${t}=${n}`).join(' ');
    add(planned({ cmd: 'ps:scale', app, scale: scaleChange, skipDeploy: !scaleDeploys },
      scaleDeploys ? `declared processes ${counts}; this redeploys only the changed process types` : `declared processes ${counts}; they apply when the app next starts`), 'live');
  }

  planAcl(input, add, notes);

  if (deployCmd) {
    add(planned(deployCmd, deployed ? `declared source differs from what app ${app} runs` : `first deploy of instance ${app}`), 'live');
    if (record !== undefined && deployed) {
      add(planned({ cmd: 'config:set', app, pairs: [pair(SOURCE_KEY, record)], restart: false }, 'record the source just deployed'), 'live');
    }
  }

  if (resetNow) {
    for (const action of resetSteps(app, resetWanted, { stop: live || deployCmd !== undefined, resumed: resetStarted, start: wantRunning })) add(action, 'always');
  }
  // A reset held back by a freeze window must not keep a stopped app down for the whole window.
  const resetWaits = resetNow && freezeEnd(spec.freezeWindows, now) !== undefined;
  if (wantRunning && deployed && !live && !deployCmd && (!resetNow || resetWaits)) {
    add(planned({ cmd: 'ps:start', app }, `instance ${app} is declared running and its processes are stopped`));
  }
  if (restartWithConfig) {
    add(planned({ cmd: 'config:set', app, pairs: [pair(RESTART_GENERATION_KEY, String(restartWanted))], restart: true },
      `restart generation ${restartWanted} requested${changesNeedRestart ? '; the restart also applies the changes above' : ''}`), 'live');
  } else if (plainRestart) {
    add(planned({ cmd: 'ps:restart', app }, 'apply the changes above to the running processes'), 'live');
  }
  if (!wantRunning && live && !resetNow) {
    add(planned({ cmd: 'ps:stop', app }, expired ? `instance ${app} expired at ${spec.expiresAt}` : `instance ${app} is declared stopped`), 'live');
  }

  planTls(input, runsAfterPlan && wantRunning, add, notes);

  if (expired) notes.push(`expired at ${spec.expiresAt}: stopped, nothing deleted`);
  if (!wantRunning && !sourceDeployed(source, observed) && !('push' in source)) notes.push('the declared source is deployed when the instance runs again');
  if (wantRunning && !deployed && 'push' in source) {
    notes.push(`waiting for git push to dokku@${host.gitHost ?? host.baseDomain ?? '<dokku host>'}:${app}`);
  }

  // Once the app carries the marker and a service is linked to it alone, they prove themselves.
  const releaseClaims: ClaimKind[] = [];
  if (observed !== undefined && isManaged(config)) {
    if (appClaim) releaseClaims.push('app');
    for (const plugin of wantServices) {
      const links = input.services.get(`${plugin}/${names[plugin]}`)?.links ?? [];
      if (claimOf(plugin) && links.length === 1 && links[0] === app && observed.links[plugin].includes(names[plugin])) releaseClaims.push(plugin);
    }
  }

  const result = assemble(steps, { instance, now, live, deployed, expired, wantRunning, deploying: deployCmd !== undefined, notes });
  return releaseClaims.length > 0 ? { ...result, releaseClaims } : result;
}

function resetSteps(app: string, generation: number, how: { stop: boolean; resumed: boolean; start: boolean }): PlannedAction[] {
  const steps: PlannedAction[] = [];
  const what = `database reset ${generation}`;
  if (how.stop) steps.push(planned({ cmd: 'ps:stop', app }, `${what}: stop the processes so that nothing holds the database`));
  // Recorded after the stop and before the run: a crash in between leaves the reset owed and the
  // processes stopped, so running it again loses nothing that was not meant to be lost.
  if (!how.resumed) steps.push(planned({ cmd: 'config:set', app, pairs: [pair(RESETDB_PENDING_KEY, String(generation))], restart: false }, `${what}: record that it has started`));
  steps.push(planned({ cmd: 'run', app, command: RESETDB_COMMAND }, how.resumed
    ? `${what} was interrupted before it was recorded as done: run it again`
    : `spec.resetDatabase.generation is ${generation}: drop and recreate every oTree table`));
  steps.push(planned({ cmd: 'config:set', app, pairs: [pair(RESETDB_GENERATION_KEY, String(generation))], restart: false }, `${what}: record that it is done`));
  if (how.start) steps.push(planned({ cmd: 'ps:start', app }, `${what}: start the processes again (this also applies the changes above)`));
  return steps;
}

function planAcl(input: PlanInput, add: (action: PlannedAction) => void, notes: string[]): void {
  const app = input.instance.metadata.name;
  const owner = input.instance.spec.owner;
  if (!input.host.plugins.acl) {
    notes.push('the Dokku host has no acl plugin: every ssh key may push to every app');
    return;
  }
  // Unknown owner keys must not read as "no keys": that would take push access away.
  if (input.ownerKeyNames === undefined) return;
  const wanted = input.ownerKeyNames;
  if (wanted.length === 0 && 'push' in input.instance.spec.source) {
    notes.push(`owner ${owner} has no ssh keys: nobody can git push to ${app}`);
  }
  const current = input.acl ?? [];
  for (const user of wanted) {
    if (!current.includes(user)) add(planned({ cmd: 'acl:add', app, user }, `owner ${owner} pushes with key ${user}`));
  }
  for (const user of [...current].sort()) {
    if (isManagedKeyName(user) && !wanted.includes(user)) {
      add(planned({ cmd: 'acl:remove', app, user }, `key ${user} is not a key of owner ${owner}`));
    }
  }
}

function planTls(input: PlanInput, runs: boolean, add: (action: PlannedAction, hold: Hold) => void, notes: string[]): void {
  const { instance, observed, host } = input;
  if (!instance.spec.tls.letsencrypt || observed?.letsencrypt.active) return;
  if (!host.plugins.letsencrypt) {
    notes.push('spec.tls.letsencrypt is true but the Dokku host has no letsencrypt plugin; install dokku-letsencrypt');
  } else if (!runs) {
    notes.push('TLS is enabled once the app is deployed and running');
  } else if (instance.spec.domains.length === 0 && (observed?.domains.length ?? 0) === 0 && !host.baseDomain) {
    notes.push('TLS needs a domain: declare spec.domains');
  } else {
    add(planned({ cmd: 'letsencrypt:enable', app: instance.metadata.name }, 'spec.tls.letsencrypt is true and no certificate is active'), 'live');
  }
}

interface Context {
  instance: OTreeInstance;
  now: Date;
  live: boolean;
  deployed: boolean;
  expired: boolean;
  wantRunning: boolean;
  deploying: boolean;
  notes: string[];
}

function assemble(steps: Step[], ctx: Context): Plan {
  const { spec } = ctx.instance;
  const until = freezeEnd(spec.freezeWindows, ctx.now);
  const actions: PlannedAction[] = [];
  const deferred: DeferredAction[] = [];
  for (const { action, hold } of steps) {
    const held = until !== undefined && ((hold === 'live' && ctx.live) || (hold === 'always' && ctx.deployed));
    if (held) deferred.push({ action: action.display, reason: action.reason, until: until.toISOString() });
    else actions.push(action);
  }
  const notes = [...ctx.notes];
  let requeueAfter: Date | undefined;
  if (until !== undefined && deferred.length > 0) {
    notes.push(`freeze window until ${until.toISOString()}: ${deferred.length} action(s) deferred`);
    requeueAfter = until;
  }
  if (spec.expiresAt !== undefined && !ctx.expired) {
    const expiry = new Date(Date.parse(spec.expiresAt));
    if (requeueAfter === undefined || expiry < requeueAfter) requeueAfter = expiry;
  }
  let phase: Phase;
  if (!ctx.wantRunning) phase = 'Stopped';
  else if (ctx.deploying && actions.some((a) => isDeploy(a.command))) phase = 'Deploying';
  else if (!ctx.deployed) phase = 'Pending';
  else phase = 'Running';
  return { actions, deferred, ...(requeueAfter ? { requeueAfter } : {}), phase, notes };
}

/** Whether a running container's environment disagrees with the app's config on one of `keys`. */
function runningWithOldConfig(observed: ObservedApp | undefined, keys: readonly string[]): boolean {
  const running = (observed?.containers ?? []).filter((c) => c.state === 'running');
  return running.some((c) => keys.some((key) => key in observed!.config && c.env[key] !== observed!.config[key]));
}
