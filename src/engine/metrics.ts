// Every metric the daemon exports, on its own prom-client Registry (never the global one, so two
// daemons in one process, or tests, never share counters). Names follow Prometheus conventions with an
// `otm_` prefix, and borrow client-go's workqueue and controller-runtime's reconcile names. Callers
// record through typed methods; label values come from closed sets or are capped (see BoundedLabel).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Phase } from './status.js';
import type { WorkQueueHooks } from './workqueue.js';

export type ReconcileResult = 'success' | 'error' | 'requeue' | 'deferred';
/** How the controller's worker treats a failed reconcile: reported (in status, retried), terminal (waits for a change), unexpected (retried, logged with its stack). */
export type ReconcileErrorKind = 'reported' | 'terminal' | 'unexpected';
const RECONCILE_ERROR_KINDS: readonly ReconcileErrorKind[] = ['reported', 'terminal', 'unexpected'];

const RECONCILE_RESULTS: readonly ReconcileResult[] = ['success', 'error', 'requeue', 'deferred'];
const REDUNDANT_TOTALS = ['otm_nodejs_active_handles_total', 'otm_nodejs_active_requests_total', 'otm_nodejs_active_resources_total'];
const PHASES: readonly Phase[] = ['Pending', 'Deploying', 'Running', 'Stopped', 'Failed', 'Deleting', 'Orphaned'];

/**
 * Label values from an open-ended source (error kinds, command names) are cut down to a bounded set:
 * anything that does not look like an identifier, or arrives after `limit` distinct values, becomes `other`.
 * A bug elsewhere can then never explode the number of series or leak a message into a label.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly limit: number, private readonly pattern: RegExp) {}

  value(raw: string): string {
    if (this.seen.has(raw)) return raw;
    if (!this.pattern.test(raw) || this.seen.size >= this.limit) return 'other';
    this.seen.add(raw);
    return raw;
  }
}

/** Seconds buckets for work that runs Dokku commands: a config change takes seconds, a build minutes. */
const SLOW_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200];
/** Time spent waiting in the queue: from instantly to the backoff cap. */
const QUEUE_BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900];

/** What the phase and deferred-action gauges read (the controller). */
export interface InstanceSource {
  phases(): readonly Phase[];
  deferredCount(): number;
}

export interface EngineMetricsOptions {
  /** The daemon's version, exported as `otm_build_info{version}`. */
  version: string;
  /** Also export Node.js process metrics (`otm_process_*`, `otm_nodejs_*`). @default true */
  processMetrics?: boolean;
}

export class EngineMetrics {
  readonly registry = new Registry();

  private readonly reconcileTotal = new Counter({
    name: 'otm_reconcile_total', help: 'Reconciles finished, by result.', labelNames: ['result'] as const, registers: [this.registry],
  });
  private readonly reconcileErrors = new Counter({
    name: 'otm_reconcile_errors_total', help: 'Failed reconciles, by kind: reported (in status, retried), terminal (waits for a change), unexpected (a bug or a failing dependency, retried).',
    labelNames: ['kind'] as const, registers: [this.registry],
  });
  private readonly reconcileDuration = new Histogram({
    name: 'otm_reconcile_duration_seconds', help: 'Time one reconcile of one instance took.', buckets: SLOW_BUCKETS, registers: [this.registry],
  });
  private readonly queueDepth = new Gauge({
    name: 'otm_workqueue_depth', help: 'Instance keys waiting in the work queue.', registers: [this.registry],
  });
  private readonly queueAdds = new Counter({
    name: 'otm_workqueue_adds_total', help: 'Keys added to the work queue (adds of a key already waiting collapse and are not counted).', registers: [this.registry],
  });
  private readonly queueRetries = new Counter({
    name: 'otm_workqueue_retries_total', help: 'Keys re-added with backoff after a failed reconcile.', registers: [this.registry],
  });
  private readonly queueDuration = new Histogram({
    name: 'otm_workqueue_queue_duration_seconds', help: 'Time a key waited in the queue before a worker took it.', buckets: QUEUE_BUCKETS, registers: [this.registry],
  });
  private readonly workDuration = new Histogram({
    name: 'otm_workqueue_work_duration_seconds', help: 'Time a worker held a key.', buckets: SLOW_BUCKETS, registers: [this.registry],
  });
  private longestRunning: () => number = () => 0;
  private readonly longestRunningGauge: Gauge;
  private readonly commandTotal = new Counter({
    name: 'otm_dokku_commands_total', help: 'Dokku commands run, by host, command and outcome (success or error kind).', labelNames: ['host', 'command', 'outcome'] as const, registers: [this.registry],
  });
  private readonly commandDuration = new Histogram({
    name: 'otm_dokku_command_duration_seconds', help: 'Time one Dokku command took, by host and command.', labelNames: ['host', 'command'] as const, buckets: SLOW_BUCKETS, registers: [this.registry],
  });
  private instanceSource: InstanceSource = { phases: () => [], deferredCount: () => 0 };
  private readonly drift = new Counter({
    name: 'otm_drift_detected_total', help: 'Reconciles that found the host different from the desired state.', registers: [this.registry],
  });
  private readonly leader = new Gauge({
    name: 'otm_leader', help: '1 while this daemon is the leader that acts, 0 otherwise.', registers: [this.registry],
  });
  private readonly lastFullResync = new Gauge({
    name: 'otm_last_full_resync_timestamp_seconds', help: 'Unix time the last full resync finished without error.', registers: [this.registry],
  });
  private readonly buildInfo = new Gauge({
    name: 'otm_build_info', help: 'Always 1; the version label says which build runs.', labelNames: ['version'] as const, registers: [this.registry],
  });

  // Dokku's catalogue has a few dozen subcommands and the driver a handful of error kinds.
  private readonly commandLabel = new BoundedLabel(100, /^[a-z][a-z0-9-]*(:[a-z0-9-]+)*$/);
  private readonly outcomeLabel = new BoundedLabel(30, /^[A-Za-z][A-Za-z0-9_-]{0,39}$/);

  /** Hooks to pass to `new WorkQueue({ hooks })`. */
  readonly workQueueHooks: WorkQueueHooks = {
    added: () => this.queueAdds.inc(),
    depth: (depth) => this.queueDepth.set(depth),
    queued: (seconds) => this.queueDuration.observe(seconds),
    worked: (seconds) => this.workDuration.observe(seconds),
    retried: () => this.queueRetries.inc(),
  };

  constructor(options: EngineMetricsOptions) {
    const longestRunning = (): number => this.longestRunning();
    this.longestRunningGauge = new Gauge({
      name: 'otm_workqueue_longest_running_processor_seconds',
      help: 'How long the longest-running reconcile in progress has been running.',
      registers: [this.registry],
      collect() { this.set(longestRunning()); },
    });
    const instances = (): InstanceSource => this.instanceSource;
    // Read on every scrape, so a phase change shows at once rather than at the next full resync.
    new Gauge({
      name: 'otm_instances', help: 'Instances by status phase.', labelNames: ['phase'] as const, registers: [this.registry],
      collect() {
        const phases = instances().phases();
        for (const phase of PHASES) this.set({ phase }, phases.filter((p) => p === phase).length);
      },
    });
    new Gauge({
      name: 'otm_deferred_actions', help: 'Actions currently held back (freeze windows).', registers: [this.registry],
      collect() { this.set(instances().deferredCount()); },
    });
    this.buildInfo.set({ version: options.version }, 1);
    for (const result of RECONCILE_RESULTS) this.reconcileTotal.inc({ result }, 0);
    for (const kind of RECONCILE_ERROR_KINDS) this.reconcileErrors.inc({ kind }, 0);
    this.leader.set(0);
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: 'otm_' });
      // Gauges named `*_total` break Prometheus's naming rules (only counters end so); summing the
      // by-type gauges of the same name without the suffix gives the same numbers.
      for (const name of REDUNDANT_TOTALS) this.registry.removeSingleMetric(name);
    }
  }

  /** Reads every instance's phase (phases with none read 0) and the deferred actions on every scrape. */
  watchInstances(source: InstanceSource): void {
    this.instanceSource = source;
  }

  /** Reads the longest-running key from the queue on every scrape. */
  watchWorkQueue(queue: { longestRunningSeconds(): number }): void {
    this.longestRunning = () => queue.longestRunningSeconds();
  }

  reconcileFailed(kind: ReconcileErrorKind): void {
    this.reconcileErrors.inc({ kind });
  }

  reconcileFinished(result: ReconcileResult, seconds: number): void {
    this.reconcileTotal.inc({ result });
    this.reconcileDuration.observe(seconds);
  }

  /**
   * One finished Dokku command (feed it from the driver's `onCommand`, which sees every call, reads
   * included). `host` is a configured host name (a closed set); `name` is the catalogue's metrics-safe
   * name; `outcome` is `ok`/`success` or the error kind.
   */
  commandFinished(host: string, name: string, outcome: string, seconds: number): void {
    const command = this.commandLabel.value(name);
    this.commandTotal.inc({ host, command, outcome: outcome === 'ok' ? 'success' : this.outcomeLabel.value(outcome) });
    this.commandDuration.observe({ host, command }, seconds);
  }

  driftDetected(): void {
    this.drift.inc();
  }

  setLeader(isLeader: boolean): void {
    this.leader.set(isLeader ? 1 : 0);
  }

  fullResyncSucceeded(atMs: number): void {
    this.lastFullResync.set(atMs / 1000);
  }

  /** The text exposition for `GET /metrics`. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
