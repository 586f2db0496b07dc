// The control loop: keys in, converged hosts out. Sources (manifest watcher, PostgreSQL rows, Docker
// events, the periodic resync) only add keys to the work queue; each worker takes a key, reads the
// latest desired state and observation, plans, executes through the rate-limited executor and writes
// status. A missed or duplicated event changes nothing: every pass starts from what is, not from what
// happened.
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { DesiredStore } from '../desired/store.js';
import { maskUrlCredentials, OWNERSHIP_MARKER, serviceNames } from '../manifest/index.js';
import type { DeletionPolicy, Experimenter, OTreeInstance } from '../manifest/index.js';
import type { Plan, PlannedAction } from '../reconcile/action.js';
import { conditionsFor, phaseAfter } from '../reconcile/conditions.js';
import type { Outcome } from '../reconcile/conditions.js';
import { planSshKeys } from '../reconcile/sshkeys.js';
import { instanceUrls } from '../reconcile/urls.js';
import type { ObservedApp } from '../observed/types.js';
import type { Clock } from './clock.js';
import { ExecutionError } from './executor.js';
import type { Executor } from './executor.js';
import type { HostCache } from './observation.js';
import type { LeaderElector } from './leader.js';
import type { EngineMetrics, ReconcileErrorKind, ReconcileResult } from './metrics.js';
import type { ClaimKind, ClaimRef, InstanceEvent, InstanceStatus, StatusStore } from './status.js';
import type { WorkQueue } from './workqueue.js';
import { ArchiveRefused, archiveBuild, configSecrets } from './archive-deploy.js';
import type { ArchiveBuild, ArchiveBuildInput } from './archive-deploy.js';
import { freezeEnd } from '../reconcile/freeze.js';
import { experimenterKeys, Planner, removalMemory } from './planner.js';
import type { InstancePlan } from './planner.js';
import type { SecretLookup } from '../desired/secrets.js';

const INSTANCE = 'instance/';
const SSH_KEYS = 'sshkeys/';
/** A plan that keeps coming back identical after being applied this often is not converging. */
const MAX_IDENTICAL_PLANS = 3;
/** Timers cannot wait longer than 2^31-1 ms; a far-off expiry is re-checked at this interval instead. */
const MAX_REQUEUE_MS = 6 * 60 * 60 * 1000;

export const instanceKey = (name: string): string => `${INSTANCE}${name}`;
export const sshKeysKey = (host: string): string => `${SSH_KEYS}${host}`;

export interface ControllerOptions {
  config: Config;
  desired: DesiredStore;
  /** One cache per configured host, in configuration order (the first is the default host). */
  hosts: HostCache[];
  queue: WorkQueue;
  /** Per host name. */
  executors: ReadonlyMap<string, Executor>;
  status: StatusStore;
  metrics: EngineMetrics;
  logger: Logger;
  clock: Clock;
  leader: LeaderElector;
  env?: NodeJS.ProcessEnv;
  /** Secrets stored through the API, for `secretRef`. */
  secretStore?: SecretLookup;
}

interface Remembered {
  /** The status last written, to skip writes that change nothing. */
  status?: InstanceStatus;
  /** Fingerprint of the last applied plan and how often it repeated. */
  lastPlan?: string;
  repeats: number;
  /** From the last manifest seen, for removal once the manifest is gone. */
  deletionPolicy?: DeletionPolicy;
  host?: string;
}

/**
 * A failure the reconcile has already reported (in status and events): retried with the key's backoff,
 * logged without a stack. Any other error is unexpected: retried the same way, logged with its stack.
 */
class ReportedFailure extends Error {}

/** A failure that retrying cannot fix: the key waits for a change of the desired state. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

function kindOf(err: unknown): ReconcileErrorKind {
  if (err instanceof TerminalError) return 'terminal';
  return err instanceof ReportedFailure ? 'reported' : 'unexpected';
}

export class Controller {
  private readonly options: ControllerOptions;
  private readonly hosts = new Map<string, HostCache>();
  readonly planner: Planner;
  private readonly memory = new Map<string, Remembered>();
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private workers: Promise<void>[] = [];
  private resyncs = 0;

  constructor(options: ControllerOptions) {
    this.options = options;
    for (const cache of options.hosts) this.hosts.set(cache.host, cache);
    this.log = options.logger;
    // Every in-flight Dokku command listens on the one shutdown signal; their number is bounded by the queue.
    setMaxListeners(0, this.abort.signal);
    this.planner = new Planner({
      config: options.config, desired: options.desired, hosts: options.hosts, now: () => this.now(),
      claims: (instance) => options.status.claims(instance),
      ...(options.env ? { env: options.env } : {}),
      ...(options.secretStore ? { secretStore: options.secretStore } : {}),
    });
  }

  /** What would be done for one instance now (no changes made). */
  planFor(name: string): Promise<InstancePlan> {
    return this.planner.planFor(name, this.memory.get(name), this.abort.signal);
  }

  private now(): Date {
    return new Date(this.options.clock.now());
  }

  private executorFor(host: string): Executor {
    const executor = this.options.executors.get(host);
    if (!executor) throw new Error(`no executor for Dokku host ${host}`);
    return executor;
  }

  private remember(name: string): Remembered {
    let m = this.memory.get(name);
    if (!m) {
      m = { repeats: 0 };
      this.memory.set(name, m);
    }
    return m;
  }

  /** Loads remembered status (deletion policies, done generations) from the store. */
  async restore(): Promise<void> {
    for (const status of await this.options.status.list()) {
      const m = this.remember(status.name);
      m.status = status;
      Object.assign(m, removalMemory(status));
    }
  }

  /** Every key there is: declared instances, managed apps no longer declared, each host's ssh keys. */
  allKeys(): string[] {
    const keys = new Set<string>();
    for (const stored of this.options.desired.instances()) keys.add(instanceKey(stored.declared.object.metadata.name));
    for (const cache of this.hosts.values()) {
      keys.add(sshKeysKey(cache.host));
      if (!cache.hasSnapshot()) continue;
      for (const app of cache.current().apps.values()) if (OWNERSHIP_MARKER in app.config) keys.add(instanceKey(app.name));
    }
    return [...keys];
  }

  enqueueInstances(names: Iterable<string>): void {
    for (const name of names) this.options.queue.add(instanceKey(name));
  }

  enqueueSshKeys(): void {
    for (const host of this.hosts.keys()) this.options.queue.add(sshKeysKey(host));
  }

  /**
   * Builds an uploaded archive on the instance's app (see archive-deploy.ts). Throws ArchiveRefused when
   * nothing was built; otherwise answers the build's outcome, records it as an event of the instance
   * and looks at the app again.
   */
  async deployArchive(name: string, input: ArchiveBuildInput): Promise<ArchiveBuild> {
    const { desired, leader } = this.options;
    const instance = desired.instance(name)?.declared.object as OTreeInstance | undefined;
    if (!instance) throw new ArchiveRefused('NotDeclared', `instance "${name}" is not declared`);
    if (!leader.isLeader()) throw new ArchiveRefused('NotLeader', 'this daemon replica is on standby; the leading replica deploys (retry shortly)');
    let cache: HostCache;
    try {
      cache = this.planner.hostFor(instance, name);
    } catch (err) {
      throw new ArchiveRefused('UnknownHost', (err as Error).message);
    }
    const observed = await cache.app(name, this.abort.signal);
    if (!observed || !(OWNERSHIP_MARKER in observed.config)) {
      throw new ArchiveRefused('NotCreated', `the app "${name}" is not created on ${cache.host} yet (or not managed by otree-manager); wait until the instance's status says it exists, then upload again`);
    }
    const frozen = freezeEnd(instance.spec.freezeWindows, this.now());
    if (frozen) throw new ArchiveRefused('Frozen', `instance "${name}" is inside a freeze window until ${frozen.toISOString()}: a deploy restarts it, so nothing was deployed; upload again after the window`);
    const secrets = configSecrets(observed);
    const { result, error } = await this.executorFor(cache.host).runExclusive(
      true,
      (signal) => cache.driver.runWithOutput({ cmd: 'git:from-archive:stdin', app: name, archiveType: input.type }, { stdin: input.stream, signal }),
      { signal: this.abort.signal, guard: this.leaseGuard() },
    );
    if (error?.kind === 'DeployLocked') {
      throw new ArchiveRefused('DeployLocked', `another deploy of "${name}" is running (Dokku's deploy lock is held); nothing was deployed: upload again when it has finished`);
    }
    const build = archiveBuild(cache.host, result, error ? { kind: error.kind, message: error.dokkuMessage || error.message } : undefined, secrets);
    const size = `${input.type} archive`;
    await this.options.status.record({
      instance: name, at: this.now().toISOString(),
      type: build.success ? 'Normal' : 'Warning',
      reason: build.success ? 'Deployed' : 'DeployFailed',
      message: maskUrlCredentials(build.success
        ? `${input.by} deployed an uploaded ${size}`
        : `${input.by} uploaded a ${size}; the build failed (${build.failure}, exit ${build.exitCode}): ${build.message.split('\n')[0] ?? ''}`),
    }).catch((err: Error) => this.log.warn({ instance: name, err: err.message }, 'recording the upload event failed'));
    this.appChanged(cache.host, name);
    return build;
  }

  /** A Docker event or anything else says the app changed behind our back. */
  appChanged(host: string, app: string): void {
    this.hosts.get(host)?.invalidate(app);
    this.options.queue.add(instanceKey(app));
  }

  /**
   * Re-reads every host (deep every `deepEvery` runs, and on the first) and enqueues every key.
   * Returns the number of apps whose observed state changed.
   */
  async resync(deepEvery = 12): Promise<number> {
    const deep = this.resyncs % deepEvery === 0;
    this.resyncs++;
    let changed = 0;
    for (const cache of this.hosts.values()) {
      const apps = await cache.refresh(deep, this.abort.signal);
      changed += apps.length;
    }
    if (this.resyncs > 1 && changed > 0) for (let i = 0; i < changed; i++) this.options.metrics.driftDetected();
    for (const key of this.allKeys()) this.options.queue.add(key);
    this.options.metrics.fullResyncSucceeded(this.options.clock.now());
    return changed;
  }

  /** Starts `concurrency` workers taking keys from the queue. */
  startWorkers(concurrency: number): void {
    for (let i = 0; i < concurrency; i++) this.workers.push(this.work());
  }

  /** Stops taking keys, lets the keys in progress finish, then resolves. */
  async stop(): Promise<void> {
    this.options.queue.shutdown();
    await Promise.all(this.workers);
  }

  /** Aborts whatever is in flight (after the drain deadline). */
  kill(): void {
    this.abort.abort(new Error('the daemon is shutting down'));
  }

  private async work(): Promise<void> {
    const { queue, metrics } = this.options;
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const started = this.options.clock.now();
      let result: ReconcileResult = 'success';
      try {
        const requeueAfter = await this.process(key);
        queue.forget(key);
        if (requeueAfter !== undefined) {
          result = 'requeue';
          queue.addAfter(key, Math.min(MAX_REQUEUE_MS, Math.max(0, requeueAfter)));
        }
      } catch (err) {
        // No error is dropped: each is logged and counted, and retried with backoff unless terminal.
        result = 'error';
        const kind = kindOf(err);
        metrics.reconcileFailed(kind);
        const retry = kind !== 'terminal' && !queue.isShuttingDown();
        if (kind === 'unexpected') this.log.error({ key, err, retry }, 'reconcile failed unexpectedly');
        else this.log.warn({ key, err: (err as Error).message, retry }, kind === 'terminal' ? 'reconcile failed; waiting for a change of the desired state' : 'reconcile failed; retrying with backoff');
        if (retry) queue.addRateLimited(key);
        else queue.forget(key);
      } finally {
        queue.done(key);
        metrics.reconcileFinished(result, (this.options.clock.now() - started) / 1000);
      }
    }
  }

  /** One key; returns milliseconds after which to look again, if any. */
  private async process(key: string): Promise<number | undefined> {
    if (key.startsWith(SSH_KEYS)) return this.reconcileSshKeys(key.slice(SSH_KEYS.length));
    if (key.startsWith(INSTANCE)) return this.reconcileInstance(key.slice(INSTANCE.length));
    this.log.warn({ key }, 'unknown work queue key ignored');
    return undefined;
  }

  private async reconcileInstance(name: string): Promise<number | undefined> {
    const { desired, leader } = this.options;
    const log = this.log.child({ instance: name, reconcileId: randomUUID().slice(0, 8) });
    const stored = desired.instance(name);
    const instance = stored?.declared.object as OTreeInstance | undefined;
    const m = this.remember(name);
    if (instance) m.deletionPolicy = instance.spec.database.deletionPolicy;

    const conflict = desired.issuesFor('OTreeInstance', name).find((i) => i.code === 'DUPLICATE_NAME');
    let cache: HostCache;
    try {
      cache = this.planner.hostFor(instance, name, m);
    } catch (err) {
      await this.writeStatus(name, this.planner.defaultHost.host, stored?.generation ?? 0, instance, blockedPlan('UnknownHost', (err as Error).message), { applied: true }, undefined);
      return undefined;
    }
    m.host = cache.host;
    if (conflict) {
      const message = `${conflict.origin.source}:${conflict.origin.line}:${conflict.origin.column} ${conflict.message}`;
      await this.writeStatus(name, cache.host, stored?.generation ?? 0, instance, blockedPlan('Conflict', message), { applied: true }, undefined, { reason: 'DuplicateName', message });
      return undefined;
    }

    const { plan, error } = await this.planFor(name);
    if (error) {
      log.warn({ err: error }, 'cannot plan');
      await this.writeStatus(name, cache.host, stored?.generation ?? 0, instance, plan, { applied: false, error, code: 'PlanFailed', retrying: true }, undefined);
      throw new ReportedFailure(error);
    }
    if (!instance && plan.phase === 'Orphaned' && plan.actions.length === 0 && !this.memory.get(name)?.status) return undefined;
    if (!leader.isLeader()) return undefined;
    if (!instance && plan.actions.length === 0 && !cache.current().apps.has(name)) {
      // Neither declared nor on the host any more (pruned, or destroyed by hand): nothing left to report.
      if (m.status) {
        await this.options.status.remove(name);
        this.memory.delete(name);
      }
      return undefined;
    }
    const guard = this.leaseGuard();
    // The marker and the links prove ownership from now on: the daemon's own records are not needed.
    if (instance) {
      for (const kind of plan.releaseClaims ?? []) await this.options.status.dropClaim(claimRef(name, cache.host, kind));
    }

    let outcome: Outcome = { applied: true };
    if (plan.actions.length > 0) {
      const fingerprint = JSON.stringify(plan.actions.map((a) => a.display));
      m.repeats = m.lastPlan === fingerprint ? m.repeats + 1 : 0;
      m.lastPlan = fingerprint;
      if (m.repeats >= MAX_IDENTICAL_PLANS) {
        const message = `the same ${plan.actions.length} action(s) were applied ${m.repeats} times and Dokku still differs (first: ${plan.actions[0]!.display}); check the app by hand, then change the manifest to retry`;
        await this.writeStatus(name, cache.host, stored?.generation ?? 0, instance, plan, { applied: false, error: message, code: 'NotConverging', retrying: false }, undefined);
        return undefined;
      }
      log.info({ actions: plan.actions.map((a) => a.display) }, `applying ${plan.actions.length} action(s)`);
      const report = await this.executorFor(cache.host).execute(plan.actions, { signal: this.abort.signal, guard, around: this.claiming(name, cache.host, instance !== undefined) });
      if (report.outcomes.length > 0 || report.failure) this.afterMutations(cache, name, plan.actions);
      for (const o of report.outcomes) {
        await this.event(name, 'Normal', o.result === 'already-done' ? 'AlreadyDone' : 'Applied', `${o.action.display} (${o.action.reason})`);
      }
      if (report.failure) {
        // A failed attempt says nothing about convergence: the retry must not count as a repeat.
        m.lastPlan = undefined;
        m.repeats = 0;
        const f = report.failure;
        const message = `${f.action.display} failed: ${f.error.message}`;
        outcome = { applied: false, error: message, code: f.kind, retrying: f.retryable };
        await this.event(name, 'Warning', f.kind, message);
        log.warn({ action: f.action.display, kind: f.kind, retryable: f.retryable, err: f.error.message }, 'action failed');
      }
    } else {
      m.repeats = 0;
      m.lastPlan = undefined;
    }

    const observed = cache.hasSnapshot() ? cache.current().apps.get(name) : undefined;
    await this.writeStatus(name, cache.host, stored?.generation ?? 0, instance, plan, outcome, observed, ownershipConflict(plan, outcome));

    if (!outcome.applied) {
      if (outcome.retrying) throw new ReportedFailure(outcome.error);
      throw new TerminalError(outcome.error);
    }
    // Applied changes are confirmed by a fresh pass; otherwise wake up for the next freeze window end or expiry.
    if (plan.actions.length > 0) return 0;
    return plan.requeueAfter ? plan.requeueAfter.getTime() - this.options.clock.now() : undefined;
  }

  /**
   * The executor's hook that keeps the daemon's proof of ownership: before it creates the instance's app
   * or one of its services it records a `creating` claim, after success `created`. "Already exists"
   * means the name was taken by someone else (after the daemon last looked): the claim is dropped and the
   * instance stalls with a conflict naming the object. Before unlinking one of its own services from a
   * declared instance (spec.redis turned off) it records the service as its own, so it can be linked again.
   */
  private claiming(name: string, host: string, declared: boolean): (action: PlannedAction, run: () => Promise<void>) => Promise<void> {
    const { status } = this.options;
    const own = serviceNames(name);
    return async (action, run) => {
      const c = action.command;
      const at = (): string => this.now().toISOString();
      if (declared && c.cmd === 'service:unlink' && c.app === name && c.service === own[c.plugin]) {
        await status.putClaim({ ...claimRef(name, host, c.plugin), state: 'created', at: at() });
        return run();
      }
      let ref: ClaimRef | undefined;
      if (c.cmd === 'apps:create' && c.app === name) ref = claimRef(name, host, 'app');
      else if (c.cmd === 'service:create' && c.service === own[c.plugin]) ref = claimRef(name, host, c.plugin);
      if (!ref) return run();
      await status.putClaim({ ...ref, state: 'creating', at: at() });
      try {
        await run();
      } catch (err) {
        if ((err as { kind?: unknown }).kind !== 'AlreadyExists') throw err;
        await status.dropClaim(ref);
        throw ref.kind === 'app'
          ? new ExecutionError('AppConflict', false, `app ${name} already exists and otree-manager did not create it (it appeared after otree-manager last looked at the host); nothing was changed on it. Remove it (\`dokku apps:destroy ${name}\`), or take it over with spec.adopt: true in the instance's manifest file`)
          : new ExecutionError('ServiceConflict', false, `the ${ref.kind} service ${ref.object} already exists and otree-manager did not create it for instance ${name} (it appeared after otree-manager last looked at the host); it is not linked and nothing was changed on it. Destroy it (\`dokku ${ref.kind}:destroy ${ref.object}\`), or adopt it with spec.adopt: true in the instance's manifest file`);
      }
      await status.putClaim({ ...ref, state: 'created', at: at() });
    };
  }

  /** Stops a change set before its next command once the leadership term it started in has ended. */
  private leaseGuard(): () => void {
    const { leader } = this.options;
    const term = leader.fencingToken();
    return () => {
      leader.assertLeader(term);
    };
  }

  private afterMutations(cache: HostCache, name: string, actions: readonly PlannedAction[]): void {
    cache.invalidate(name);
    for (const a of actions) {
      const c = a.command;
      if (c.cmd === 'service:create' || c.cmd === 'service:destroy' || c.cmd === 'service:link' || c.cmd === 'service:unlink') {
        void cache.refreshService(c.plugin, c.service, this.abort.signal).catch((err: Error) => this.log.warn({ err: err.message }, 'service re-read failed'));
      }
    }
  }

  private async reconcileSshKeys(host: string): Promise<number | undefined> {
    const cache = this.hosts.get(host);
    if (!cache || !cache.hasSnapshot() || !this.options.leader.isLeader()) return undefined;
    const experimenters = this.options.desired.experimenters().map((s) => experimenterKeys(s.declared.object as Experimenter));
    const observed = await cache.sshKeys(this.abort.signal);
    const { actions, notes } = planSshKeys(experimenters, observed);
    for (const note of notes) this.log.warn({ host }, note);
    if (actions.length === 0) return undefined;
    this.log.info({ host, actions: actions.map((a) => a.display) }, `applying ${actions.length} ssh key change(s)`);
    const report = await this.executorFor(host).execute(actions, { signal: this.abort.signal, guard: this.leaseGuard() });
    cache.invalidateSshKeys();
    if (report.failure) {
      this.log.warn({ host, action: report.failure.action.display, err: report.failure.error.message }, 'ssh key change failed');
      if (report.failure.retryable) throw new ReportedFailure(report.failure.error.message);
      throw new TerminalError(report.failure.error.message);
    }
    return 0;
  }

  private async event(instance: string, type: InstanceEvent['type'], reason: string, message: string): Promise<void> {
    // Messages quote commands and Dokku's output; no credential inside a URL is ever kept.
    await this.options.status.record({ instance, at: this.now().toISOString(), type, reason, message: maskUrlCredentials(message) });
  }

  private async writeStatus(
    name: string, host: string, generation: number, instance: OTreeInstance | undefined, plan: Plan, outcome: Outcome,
    observed: ObservedApp | undefined, conflict?: { reason: string; message: string },
  ): Promise<void> {
    const m = this.remember(name);
    const previous = m.status;
    const now = this.now();
    const conditions = conditionsFor({ previous: previous?.conditions ?? [], plan, outcome, ...(observed ? { observed } : {}), now });
    if (conflict) {
      const prev = previous?.conditions.find((c) => c.type === 'Conflict');
      conditions.push({
        type: 'Conflict', status: 'True', reason: conflict.reason, message: conflict.message,
        lastTransitionTime: prev?.status === 'True' ? prev.lastTransitionTime : now.toISOString(),
      });
    }
    const phase = instance || plan.actions.length > 0 ? phaseAfter(plan, outcome) : 'Orphaned';
    const next: InstanceStatus = {
      name,
      host,
      phase: instance ? phase : (plan.actions.length > 0 && outcome.applied ? 'Deleting' : phase === 'Failed' ? 'Failed' : 'Orphaned'),
      observedGeneration: generation,
      conditions,
      urls: instance ? instanceUrls(instance, this.options.config.baseDomain, observed) : [],
      deferred: plan.deferred,
      done: {
        resetDatabase: Number.parseInt(observed?.config['OTM_RESETDB_GENERATION'] ?? '', 10) || (previous?.done.resetDatabase ?? 0),
        restart: Number.parseInt(observed?.config['OTM_RESTART_GENERATION'] ?? '', 10) || (previous?.done.restart ?? 0),
      },
      ...(!outcome.applied ? { lastError: { message: maskUrlCredentials(outcome.error), code: outcome.code, at: now.toISOString() } } : {}),
      ...(outcome.applied && plan.actions.length === 0 && !plan.blocked ? { lastSyncedAt: now.toISOString() } : previous?.lastSyncedAt ? { lastSyncedAt: previous.lastSyncedAt } : {}),
      ...(m.deletionPolicy ? { deletionPolicy: m.deletionPolicy } : {}),
      notes: plan.notes,
      updatedAt: now.toISOString(),
    };
    if (previous && sameStatus(previous, next)) return;
    if (!previous || previous.phase !== next.phase) {
      await this.event(name, next.phase === 'Failed' ? 'Warning' : 'Normal', `Phase${next.phase}`, `phase ${previous?.phase ?? 'none'} -> ${next.phase}${plan.notes.length ? `: ${plan.notes.join('; ')}` : ''}`);
    }
    m.status = next;
    await this.options.status.put(next);
  }

  /** Phases of every known instance, for the metrics gauge. */
  phases(): InstanceStatus['phase'][] {
    return [...this.memory.values()].flatMap((m) => (m.status ? [m.status.phase] : []));
  }

  deferredCount(): number {
    return [...this.memory.values()].reduce((n, m) => n + (m.status?.deferred.length ?? 0), 0);
  }
}

function claimRef(instance: string, host: string, kind: ClaimKind): ClaimRef {
  return { instance, host, kind, object: kind === 'app' ? instance : serviceNames(instance)[kind] };
}

/** An app or service of the instance's name that is someone else's: reported as a Conflict condition too. */
function ownershipConflict(plan: Plan, outcome: Outcome): { reason: string; message: string } | undefined {
  if (plan.blocked?.reason === 'ServiceConflict') return plan.blocked;
  if (!outcome.applied && (outcome.code === 'AppConflict' || outcome.code === 'ServiceConflict')) return { reason: outcome.code, message: outcome.error };
  return undefined;
}

function blockedPlan(reason: string, message: string): Plan {
  return { actions: [], deferred: [], phase: 'Failed', notes: [message], blocked: { reason, message } };
}

function sameStatus(a: InstanceStatus, b: InstanceStatus): boolean {
  const strip = (s: InstanceStatus) => ({ ...s, updatedAt: '', lastSyncedAt: '' });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}
