// What the controller knows about one Dokku host, kept between reconciles like an informer's cache.
//
// Dokku has bulk reports for most things but no bulk form for an app's config or scale, so reading
// everything for every app on every resync would cost several Dokku invocations per app. Instead:
//  - a deep read (every report plus each app's config, scale and ACL) fills the cache at start and
//    every few resyncs;
//  - a shallow read (the bulk reports only, a constant number of invocations) refreshes everything else;
//    an app whose bulk-visible state changed since its last detailed read is marked stale;
//  - the Docker Engine's view (the containers' environment) stands in for the config of running apps,
//    so a config changed behind the daemon's back is noticed without reading it from Dokku;
//  - the daemon's own mutations, and Docker events, mark an app stale; a stale app is re-read in detail
//    before it is planned. Planning always sees either a detailed read newer than every known change or
//    a fresh one.
import type { DokkuDriver } from '../observed/driver.js';
import { DokkuError } from '../observed/errors.js';
import { parseSshKeys } from '../observed/parse/lists.js';
import type { DockerObserver } from '../observed/docker.js';
import type { ObservedApp, ObservedContainer, ObservedHost } from '../observed/types.js';
import { OWNERSHIP_MARKER } from '../manifest/index.js';

/** Fields the bulk reports carry; a change in any of them means the detailed read is out of date. */
function bulkSignature(app: ObservedApp): string {
  return JSON.stringify([
    app.deployed, app.deploySource, app.deploySourceMetadata, app.status, app.stoppedByUser,
    app.domains, app.vhostsEnabled, app.letsencrypt.active, app.resources, app.locked,
  ]);
}

/** Config keys whose values the containers must show; keys Dokku adds at deploy time are not compared. */
function configDrifts(config: Record<string, string>, containers: readonly ObservedContainer[]): boolean {
  const running = containers.filter((c) => c.state === 'running');
  if (running.length === 0) return false;
  return running.some((c) => Object.entries(config).some(([key, value]) => c.env[key] !== value));
}

export interface HostCacheOptions {
  driver: DokkuDriver;
  docker?: DockerObserver;
}

export class HostCache {
  readonly driver: DokkuDriver;
  private readonly docker: DockerObserver | undefined;
  private snapshot: ObservedHost | undefined;
  /** Apps whose detailed read is out of date. */
  private readonly stale = new Set<string>();
  /** Per app, bumped whenever it is marked stale, so a read that raced a change is not trusted. */
  private readonly epochs = new Map<string, number>();
  private sshKeysStale = false;

  constructor(options: HostCacheOptions) {
    this.driver = options.driver;
    this.docker = options.docker;
  }

  get host(): string {
    return this.driver.host;
  }

  /** The last full picture (after `refresh`). */
  current(): ObservedHost {
    if (!this.snapshot) throw new Error(`host ${this.host} has not been observed yet`);
    return this.snapshot;
  }

  hasSnapshot(): boolean {
    return this.snapshot !== undefined;
  }

  /** Marks an app's detailed read out of date (after a mutation, or a Docker event). */
  invalidate(app: string): void {
    this.stale.add(app);
    this.epochs.set(app, (this.epochs.get(app) ?? 0) + 1);
  }

  invalidateSshKeys(): void {
    this.sshKeysStale = true;
  }

  /**
   * Re-reads the host. Deep: every app in detail. Shallow: bulk reports only, keeping each app's config,
   * scale and ACL from its last detailed read. Returns the apps whose state changed since the last read.
   */
  async refresh(deep: boolean, signal?: AbortSignal): Promise<string[]> {
    const previous = this.snapshot;
    const shallow = !deep && previous !== undefined;
    // Shallow: per-app and per-service reads only for what was never seen. Stale apps stay stale and
    // are read in full by app() before they are planned; known services keep their status and links,
    // which app() and refreshService() keep current.
    const next = await this.driver.observe({
      ...(shallow ? {
        detail: (app: string) => !previous.apps.has(app),
        serviceDetail: (plugin: string, name: string) => !previous.services.has(`${plugin}/${name}`),
      } : {}),
      managedMarker: OWNERSHIP_MARKER,
      ...(signal ? { signal } : {}),
    });
    if (shallow) {
      for (const [key, service] of next.services) {
        const known = previous.services.get(key);
        if (known) Object.assign(service, { status: known.status, links: known.links });
      }
      for (const app of next.apps.values()) app.links = linksOf(next.services, app.name);
    }
    const containers = this.docker ? await this.docker.listContainers() : undefined;
    const changed: string[] = [];
    const detailed = new Set<string>();
    for (const [name, app] of next.apps) {
      const before = previous?.apps.get(name);
      const partial = (app as ObservedApp & { partial?: boolean }).partial === true;
      if (partial && before) {
        // Shallow read: carry the detailed fields over from the last detailed read.
        app.config = before.config;
        app.scale = before.scale;
        delete (app as ObservedApp & { partial?: boolean }).partial;
        if (!next.acl.has(name) && previous?.acl.has(name)) next.acl.set(name, previous.acl.get(name)!);
      } else {
        detailed.add(name);
      }
      if (containers) app.containers = containers.get(name) ?? [];
      const drifted = before === undefined
        || bulkSignature(before) !== bulkSignature(app)
        || (app.containers !== undefined && configDrifts(managedView(app.config), app.containers));
      if (drifted) {
        changed.push(name);
        // A shallow read knows an app's links only from services read earlier: app() confirms them.
        if (shallow || !detailed.has(name)) this.invalidate(name);
      }
    }
    for (const name of previous?.apps.keys() ?? []) if (!next.apps.has(name)) changed.push(name);
    if (!shallow) for (const name of detailed) this.stale.delete(name);
    this.snapshot = next;
    this.sshKeysStale = false;
    return changed;
  }

  /** One app, re-read in detail when it is stale; undefined when it does not exist. */
  async app(name: string, signal?: AbortSignal): Promise<ObservedApp | undefined> {
    const snapshot = this.current();
    if (!this.stale.has(name) && snapshot.apps.has(name)) return snapshot.apps.get(name);
    if (!this.stale.has(name) && !snapshot.apps.has(name)) return undefined;
    const epoch = this.epochs.get(name) ?? 0;
    const app = await this.driver.observeApp(name, signal);
    if (app && this.docker) app.containers = (await this.docker.listContainers(name)).get(name) ?? [];
    if (app && OWNERSHIP_MARKER in app.config) {
      const acl = await this.driver.observeAcl(name, signal);
      if (acl) snapshot.acl.set(name, acl);
    }
    for (const plugin of ['postgres', 'redis'] as const) {
      for (const service of snapshot.services.values()) {
        if (service.plugin !== plugin) continue;
        const linked = app?.links[plugin].includes(service.name) ?? false;
        service.links = linked ? [...new Set([...service.links, name])] : service.links.filter((a) => a !== name);
      }
      for (const service of app?.links[plugin] ?? []) {
        const key = `${plugin}/${service}`;
        if (!snapshot.services.has(key)) snapshot.services.set(key, { plugin, name: service, status: '', links: [name] });
      }
    }
    if (app) snapshot.apps.set(name, app);
    else snapshot.apps.delete(name);
    // A change noticed while we were reading keeps the app stale.
    if ((this.epochs.get(name) ?? 0) === epoch) this.stale.delete(name);
    return app;
  }

  /** Services are created and destroyed by plans; re-read the one that changed. */
  async refreshService(plugin: 'postgres' | 'redis', name: string, signal?: AbortSignal): Promise<void> {
    const snapshot = this.current();
    const service = await this.driver.observeService(plugin, name, signal);
    if (service) snapshot.services.set(`${plugin}/${name}`, service);
    else snapshot.services.delete(`${plugin}/${name}`);
  }

  private async readSshKeys(signal?: AbortSignal): Promise<ObservedHost['sshKeys']> {
    try {
      const result = await this.driver.run({ cmd: 'ssh-keys:list' }, signal ? { signal } : {});
      return parseSshKeys(result.stdout);
    } catch (err) {
      if (err instanceof DokkuError && NO_SSH_KEYS.test(err.dokkuMessage)) return new Map();
      throw err;
    }
  }

  /** ssh-keys:list, re-read after the daemon changed keys. */
  async sshKeys(signal?: AbortSignal): Promise<ObservedHost['sshKeys']> {
    const snapshot = this.current();
    if (this.sshKeysStale) {
      snapshot.sshKeys = await this.readSshKeys(signal);
      this.sshKeysStale = false;
    }
    return snapshot.sshKeys;
  }
}

/** `dokku ssh-keys:list` says so on stderr, exit 1, when there are none. */
const NO_SSH_KEYS = /No public keys found/;

/** Linked service names per plugin, as the services' own link lists say. */
function linksOf(services: ObservedHost['services'], app: string): ObservedApp['links'] {
  const links: ObservedApp['links'] = { postgres: [], redis: [] };
  for (const service of services.values()) if (service.links.includes(app)) links[service.plugin].push(service.name);
  return links;
}

/** The config keys the containers are compared on: what the manager sets, not what Dokku adds. */
function managedView(config: Record<string, string>): Record<string, string> {
  if (!(OWNERSHIP_MARKER in config)) return {};
  const view: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith('OTREE_') || key.startsWith('OTM_')) view[key] = value;
  }
  return view;
}
