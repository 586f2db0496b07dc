// The composition root of `otm run`: builds every part from the configuration, starts them in order
// and stops them in reverse. Sources add keys; the controller's workers do the rest.
import type pg from 'pg';
import type { Logger } from 'pino';
import { rowPolicyOptions } from '../config.js';
import type { Config, HostConfig } from '../config.js';
import type { PostgresDesiredSource } from '../desired/postgres.js';
import type { SecretStore } from '../desired/secret-store.js';
import { DesiredStore, isEmptyChange } from '../desired/store.js';
import type { DesiredChange } from '../desired/store.js';
import { ManifestWatcher } from '../desired/watch.js';
import type { DockerObserver } from '../observed/docker.js';
import { DokkuDriver } from '../observed/driver.js';
import type { DokkuDriverOptions } from '../observed/driver.js';
import { LocalTransport } from '../observed/local.js';
import { SshTransport } from '../observed/ssh.js';
import type { Transport } from '../observed/transport.js';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { Controller } from './controller.js';
import { createEventsPublisher, PublishingStatusStore } from './events-publisher.js';
import type { EventsPublisher } from './events-publisher.js';
import { Executor } from './executor.js';
import { createLeaderElector } from './leader.js';
import type { LeaderElector } from './leader.js';
import { EngineMetrics } from './metrics.js';
import { HostCache } from './observation.js';
import { Resync } from './resync.js';
import { FileStatusStore } from './status-file.js';
import type { StatusStore } from './status.js';
import { TokenBucket } from './token-bucket.js';
import { WorkQueue } from './workqueue.js';
import { VERSION } from '../version.js';

export { VERSION } from '../version.js';

/** Attempts at the first observation before start gives up (transient failures only). */
const START_ATTEMPTS = 30;

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  /** Environment for secrets (`fromEnv`) and for local Dokku processes. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Extra environment for local transports (the simulator's root in the demo and tests). */
  dokkuEnv?: Record<string, string>;
  /** Watch the Docker Engine of local hosts: `auto` uses it when it answers. @default auto */
  docker?: 'auto' | 'off';
  /** Only containers with these labels are observed (one simulator among several on an Engine). */
  dockerLabels?: Record<string, string>;
  /** A full resync every this many shallow ones. @default 12 */
  deepResyncEvery?: number;
}

export function transportFor(host: HostConfig, env: Record<string, string> | undefined): Transport {
  const t = host.transport;
  if (t.type === 'local') return new LocalTransport({ dokkuPath: t.dokkuPath, ...(env ? { env } : {}) });
  return new SshTransport({
    host: t.host, port: t.port, user: t.user,
    ...(t.identityFile ? { identityFile: t.identityFile } : {}),
    ...(t.knownHostsFile ? { knownHostsFile: t.knownHostsFile } : {}),
  });
}

/** One driver per configured host, in configuration order. */
export function createDrivers(config: Config, dokkuEnv: Record<string, string> | undefined, onCommand?: DokkuDriverOptions['onCommand']): DokkuDriver[] {
  return config.hosts.map((host) => new DokkuDriver({
    host: host.name,
    transport: transportFor(host, dokkuEnv),
    // The configured limit covers builds too: one number per host, as the configuration documents it.
    timeoutMs: host.commandTimeoutSeconds * 1000,
    disruptiveTimeoutMs: host.commandTimeoutSeconds * 1000,
    ...(onCommand ? { onCommand } : {}),
  }));
}

export class Daemon {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: EngineMetrics;
  readonly desired: DesiredStore;
  readonly queue: WorkQueue;
  readonly hosts: HostCache[] = [];
  controller!: Controller;
  status!: StatusStore;
  leader!: LeaderElector;
  private readonly options: DaemonOptions;
  private readonly clock: Clock;
  private watcher: ManifestWatcher | undefined;
  private pgSource: PostgresDesiredSource | undefined;
  private pool: pg.Pool | undefined;
  private secrets: SecretStore | undefined;
  private events: EventsPublisher | undefined;
  private resync: Resync | undefined;
  private readonly stops: Array<() => Promise<void> | void> = [];
  private ready = false;
  private lastResyncError: string | undefined;

  constructor(options: DaemonOptions) {
    this.options = options;
    this.config = options.config;
    this.log = options.logger;
    this.desired = new DesiredStore(options.config.baseDomain ? { baseDomain: options.config.baseDomain } : {});
    this.clock = options.clock ?? systemClock;
    this.metrics = new EngineMetrics({ version: VERSION });
    const q = this.config.queue;
    this.queue = new WorkQueue({
      clock: this.clock,
      backoff: { baseMs: q.backoffBaseMs, capMs: q.backoffMaxMs },
      hooks: this.metrics.workQueueHooks,
    });
    this.metrics.watchWorkQueue(this.queue);
    const drivers = createDrivers(this.config, options.dokkuEnv, (e) => this.metrics.commandFinished(e.host, e.name, e.outcome, e.durationMs / 1000));
    // One executor per host (commands carry no host), sharing one token bucket: the rate limit is global.
    const bucket = new TokenBucket({ ratePerSecond: q.mutationsPerSecond, burst: q.burst, clock: this.clock });
    for (const driver of drivers) {
      this.executors.set(driver.host, new Executor({
        runner: driver,
        bucket,
        concurrency: q.concurrency,
        clock: this.clock,
      }));
    }
    this.driversByHost = new Map(drivers.map((d) => [d.host, d]));
  }

  private readonly driversByHost: Map<string, DokkuDriver>;
  private readonly executors = new Map<string, Executor>();

  /** Everything up: stores, leadership, a first deep observation of every host, sources, workers. */
  async start(): Promise<void> {
    const { config, log } = this;
    await this.openStores();
    this.leader = this.openLeader();
    this.leader.onChange((leading) => {
      this.metrics.setLeader(leading);
      log.info({ leader: leading }, leading ? 'this replica now leads and acts' : 'this replica is on standby');
      if (leading && this.controller) for (const key of this.controller.allKeys()) this.queue.add(key);
    });
    await this.leader.start();
    this.metrics.setLeader(this.leader.isLeader());

    for (const driver of this.driversByHost.values()) {
      const docker = await this.dockerFor(driver.host);
      const cache = new HostCache({ driver, ...(docker ? { docker } : {}) });
      this.hosts.push(cache);
      if (docker) {
        const sub = docker.subscribe(
          (app) => this.controller.appChanged(driver.host, app),
          { onReconnect: () => { void this.runResync('docker events reconnected'); } },
        );
        this.stops.push(() => sub.stop());
      }
    }
    this.controller = new Controller({
      config, desired: this.desired, hosts: this.hosts, queue: this.queue, executors: this.executors,
      status: this.status, metrics: this.metrics, logger: log, clock: this.clock, leader: this.leader,
      ...(this.options.env ? { env: this.options.env } : {}),
      ...(this.secrets ? { secretStore: this.secrets } : {}),
    });
    this.metrics.watchInstances(this.controller);
    await this.controller.restore();

    // Desired state first (so the first pass knows everything), then the first observation.
    this.watcher = new ManifestWatcher({
      dir: config.manifestsDir,
      store: this.desired,
      logger: log,
      clock: this.clock,
      onKeys: (change, reason) => this.onDesiredChange(change, reason),
    });
    await this.watcher.start();
    if (this.pool && config.postgresUrl) {
      const { PostgresDesiredSource } = await import('../desired/postgres.js');
      this.pgSource = new PostgresDesiredSource({
        pool: this.pool,
        url: config.postgresUrl,
        log,
        policy: rowPolicyOptions(config),
        onChange: (updates) => this.onDesiredChange(this.desired.apply(updates), 'database rows changed'),
        onSecretsChange: (instance) => {
          if (!this.desired.instance(instance)) return;
          log.info({ instances: [instance], reason: 'a stored secret changed' }, 'desired state changed');
          this.controller?.enqueueInstances([instance]);
        },
      });
      await this.pgSource.start();
    }
    await this.firstObservation();
    this.controller.startWorkers(config.queue.concurrency);
    this.resync = new Resync({
      schedule: config.resync.schedule,
      jitterPercent: config.resync.jitterPercent,
      onResync: async () => { await this.runResync('periodic resync'); },
      onError: (err) => log.warn({ err: (err as Error).message }, 'resync failed'),
    });
    this.ready = true;
    log.info({ hosts: config.hosts.map((h) => h.name), instances: this.desired.instances().length }, 'otree-manager is running');
  }

  private onDesiredChange(change: DesiredChange, reason: string): void {
    if (isEmptyChange(change)) return;
    this.log.info({ instances: change.instances, experimenters: change.experimenters, reason }, 'desired state changed');
    this.controller?.enqueueInstances(change.instances);
    if (change.experimenters.length > 0) this.controller?.enqueueSshKeys();
  }

  /**
   * The first full read of every host, retried with backoff while the failures are transient (one
   * dropped call among the dozens a full read makes should not stop the daemon from starting).
   */
  private async firstObservation(): Promise<void> {
    const { backoffBaseMs, backoffMaxMs } = this.config.queue;
    for (let attempt = 1; ; attempt++) {
      const err = await this.runResync('start');
      if (!err) return;
      if (attempt >= START_ATTEMPTS || (err as { retryable?: unknown }).retryable === false) throw err;
      const delay = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (attempt - 1));
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, delay));
    }
  }

  /** Returns the error when the resync failed (it is logged, and retried by the next one). */
  private async runResync(reason: string): Promise<Error | undefined> {
    try {
      const changed = await this.controller.resync(this.options.deepResyncEvery ?? 12);
      this.lastResyncError = undefined;
      this.log.debug({ reason, changed }, 'resync done');
      return undefined;
    } catch (err) {
      this.lastResyncError = (err as Error).message;
      this.log.warn({ reason, err: (err as Error).message }, 'resync failed; the next one retries');
      return err as Error;
    }
  }

  private async openStores(): Promise<void> {
    const { config } = this;
    let store: StatusStore;
    if (config.postgresUrl) {
      // PostgreSQL (and dockerode below) load only when used: a daemon without them stays smaller.
      const [{ createPool }, { migrate }, { PgStatusStore }] = await Promise.all([
        import('../store/pool.js'), import('../store/migrate.js'), import('./status-pg.js'),
      ]);
      this.pool = createPool(config.postgresUrl);
      await migrate(this.pool);
      store = new PgStatusStore(this.pool);
      if (config.secrets.keyFile) {
        const { openSecretStore } = await import('../desired/secret-store.js');
        this.secrets = await openSecretStore(this.pool, config.secrets.keyFile);
      }
    } else {
      store = await FileStatusStore.open(config.stateDir);
    }
    this.events = createEventsPublisher({ ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}), log: this.log });
    this.status = new PublishingStatusStore(store, this.events);
  }

  private openLeader(): LeaderElector {
    const { config, log } = this;
    const { redisKey, ...timings } = config.leader ?? {};
    return createLeaderElector({
      ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
      ...(config.postgresUrl ? { postgresUrl: config.postgresUrl } : {}),
      ...(redisKey ? { redisKey } : {}),
      timings,
      log,
    });
  }

  private async dockerFor(host: string): Promise<DockerObserver | undefined> {
    const hostConfig = this.config.hosts.find((h) => h.name === host);
    if (this.options.docker === 'off' || hostConfig?.transport.type !== 'local') return undefined;
    const [{ default: Docker }, { DockerObserver }] = await Promise.all([import('dockerode'), import('../observed/docker.js')]);
    const docker = new Docker();
    try {
      await docker.ping();
    } catch (err) {
      this.log.warn({ host, err: (err as Error).message }, 'no Docker Engine answers: container states and restarts are not observed');
      return undefined;
    }
    return new DockerObserver({ docker, logger: this.log, ...(this.options.dockerLabels ? { labelFilter: this.options.dockerLabels } : {}) });
  }

  isReady(): boolean {
    return this.ready;
  }

  resyncError(): string | undefined {
    return this.lastResyncError;
  }

  /** The database rows as a writable desired-state source (the HTTP API); undefined without postgresUrl or before start. */
  desiredRows(): PostgresDesiredSource | undefined {
    return this.pgSource;
  }

  /** The encrypted secrets stored through the API; undefined without postgresUrl and secrets.keyFile, or before start. */
  secretStore(): SecretStore | undefined {
    return this.secrets;
  }

  /** Rejects when the configured database does not answer (readiness). */
  /** The database pool for reads beside the engine's own (the audit log); undefined without postgresUrl or before start. */
  database(): pg.Pool | undefined {
    return this.pool;
  }

  async pingDatabase(): Promise<void> {
    if (!this.pool) throw new Error('not connected yet: the daemon is starting');
    await this.pool.query('SELECT 1');
  }

  /** Stop taking work, let in-flight commands finish up to `drainMs`, then kill them; close everything. */
  async stop(drainMs = this.config.drainSeconds * 1000): Promise<void> {
    this.ready = false;
    await this.resync?.stop();
    await this.watcher?.stop();
    await this.pgSource?.stop();
    for (const stop of this.stops.reverse()) await stop();
    if (this.controller) {
      const drained = this.controller.stop();
      const timer = setTimeout(() => this.controller.kill(), drainMs);
      await drained;
      clearTimeout(timer);
    }
    for (const executor of this.executors.values()) await executor.shutdown(0);
    await this.leader?.stop();
    await this.status?.close();
    await this.events?.close();
    for (const driver of this.driversByHost.values()) await driver.close();
    await this.pool?.end();
  }
}
