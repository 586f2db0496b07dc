// Runs one instance's planned actions, in order, through the Dokku driver. The executor is where the
// host is protected: every mutating command first takes a token from the global bucket, every Dokku call
// goes through one shared concurrency limit, and the first failure stops the list (the next reconcile
// observes afresh and plans again, so nothing is skipped). A database export is verified before
// anything after it runs, because what follows it may destroy the database.
import { mkdir, open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import PQueue from 'p-queue';
import { render } from '../reconcile/commands.js';
import type { DokkuCommand } from '../reconcile/commands.js';
import type { DokkuErrorKind } from '../observed/errors.js';
import type { PlannedAction } from '../reconcile/action.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { commitFile, tempPathFor } from './files.js';
import type { TokenBucket } from './token-bucket.js';

/** The driver, as the executor needs it. Failures are errors carrying `kind` and `retryable`. */
export interface CommandRunner {
  run(command: DokkuCommand, opts?: { signal?: AbortSignal; outputFile?: string }): Promise<unknown>;
}

/** A failure the executor itself detects; shaped like the driver's errors. */
export class ExecutionError extends Error {
  override readonly name = 'ExecutionError';
  constructor(readonly kind: string, readonly retryable: boolean, message: string) {
    super(message);
  }
}

/**
 * Failures that mean the action's effect is already in place, so the list goes on. They happen when the
 * daemon died between a command and the observation that would have skipped it, or when someone did the
 * same by hand. Keyed by the catalogue's command name and the driver's error kind.
 *
 * "Already exists" from `apps:create`, `postgres:create` or `redis:create` is not here: the object was
 * not created by this command, so it may be anyone's, and taking it over would hand a foreign app or
 * database to the instance. That failure stops the list (it is not retryable); the planner decides on
 * the next pass, from the ownership marker and the daemon's own claims, whether the object is the
 * instance's own.
 */
export const ALREADY_DONE: ReadonlyArray<{ command: string; kind: DokkuErrorKind }> = [
  { command: 'apps:destroy', kind: 'AppMissing' },
  { command: 'postgres:link', kind: 'AlreadyLinked' },
  { command: 'redis:link', kind: 'AlreadyLinked' },
  { command: 'postgres:unlink', kind: 'NotLinked' },
  { command: 'redis:unlink', kind: 'NotLinked' },
  { command: 'postgres:destroy', kind: 'ServiceMissing' },
  { command: 'redis:destroy', kind: 'ServiceMissing' },
  // The image is the one already deployed.
  { command: 'git:from-image', kind: 'NoChanges' },
  { command: 'acl:add', kind: 'AlreadyExists' },
];

export interface ActionOutcome {
  action: PlannedAction;
  /** `already-done`: Dokku refused because the effect was already there (see ALREADY_DONE). */
  result: 'applied' | 'already-done' | 'dry-run';
}

export interface ActionFailure {
  /** Position of the failed action in the list. */
  index: number;
  action: PlannedAction;
  error: Error;
  kind: string;
  /** Worth retrying with backoff; otherwise the instance is stalled until its desired state changes. */
  retryable: boolean;
}

export interface ExecutionReport {
  /** The actions that ran (or would run, in a dry run), in order, up to the failure. */
  outcomes: ActionOutcome[];
  failure?: ActionFailure;
}

export interface ExecutorOptions {
  runner: CommandRunner;
  /** Taken once before each mutating command. */
  bucket: TokenBucket;
  /** Dokku calls in flight at once, over all instances. @default 4 */
  concurrency?: number;
  clock?: Clock;
}

export interface ExecuteOptions {
  /** Return what would run without running anything. */
  dryRun?: boolean;
  /** Cancels waiting and kills the running command (e.g. the reconcile's own time limit). */
  signal?: AbortSignal;
  /**
   * Called right before each mutating command starts; throwing stops the list with that error (shaped
   * `kind`/`retryable`). Leader election passes `assertLeader` here, so a replica that lost its lease in
   * the middle of a change set runs nothing more.
   */
  guard?: () => void;
  /**
   * Wraps each mutating action: called with the action and a function that runs it, it must call `run`
   * at most once and pass on what it returns or throws (it may throw another error instead, shaped
   * `kind`/`retryable`). Throwing before `run` stops the list without running the command. The
   * controller records its ownership claims here, before a create runs and after it succeeded.
   */
  around?: (action: PlannedAction, run: () => Promise<void>) => Promise<void>;
}

/** The pg_dump custom-format archive header (`pg_dump -Fc`, what `postgres:export` streams). */
const PG_DUMP_MAGIC = 'PGDMP';

function errorShape(err: unknown): { error: Error; kind: string; retryable: boolean } {
  const error = err instanceof Error ? err : new Error(String(err));
  const { kind, retryable } = error as Partial<{ kind: unknown; retryable: unknown }>;
  return {
    error,
    kind: typeof kind === 'string' ? kind : 'Unknown',
    // An error we cannot classify is assumed transient: retrying with backoff is safe, stalling is not.
    retryable: typeof retryable === 'boolean' ? retryable : true,
  };
}

async function verifyDump(file: string, finalPath: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(PG_DUMP_MAGIC.length);
    await handle.read(head, 0, head.length, 0);
    if (size === 0 || head.toString('latin1') !== PG_DUMP_MAGIC) {
      throw new ExecutionError(
        'BackupInvalid',
        true,
        `the database export for ${finalPath} is ${size === 0 ? 'empty' : 'not a pg_dump custom-format archive'}; nothing after it ran. Check the service with \`dokku postgres:info\`; the export is retried`,
      );
    }
  } finally {
    await handle.close();
  }
}

export class Executor {
  private readonly runner: CommandRunner;
  private readonly bucket: TokenBucket;
  private readonly clock: Clock;
  private readonly calls: PQueue;
  /** Aborted when shutdown begins: nothing new starts. */
  private readonly stopping = new AbortController();
  /** Aborted when the shutdown grace period ends: running commands are killed. */
  private readonly killing = new AbortController();
  private readonly running = new Set<Promise<unknown>>();

  constructor(options: ExecutorOptions) {
    const concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError(`executor concurrency must be an integer from 1 up, got ${concurrency}`);
    this.runner = options.runner;
    this.bucket = options.bucket;
    this.clock = options.clock ?? systemClock;
    this.calls = new PQueue({ concurrency });
  }

  /** Runs `actions` in order and stops at the first failure. Never throws: failures are in the report. */
  async execute(actions: readonly PlannedAction[], options: ExecuteOptions = {}): Promise<ExecutionReport> {
    if (options.dryRun) return { outcomes: actions.map((action) => ({ action, result: 'dry-run' })) };
    const outcomes: ActionOutcome[] = [];
    let backupVerified = false;
    for (const [index, action] of actions.entries()) {
      const name = render(action.command).name;
      try {
        if (action.requires === 'verified-backup' && !backupVerified) {
          throw new ExecutionError('BackupMissing', false, `\`${action.display}\` needs a verified database export first and the plan has none; it was not run`);
        }
        const run = (): Promise<void> => this.runOne(action, options.signal, options.guard);
        await (options.around && action.mutating ? options.around(action, run) : run());
        if (action.outputFile !== undefined) backupVerified = true;
        outcomes.push({ action, result: 'applied' });
      } catch (err) {
        const failed = errorShape(this.stopping.signal.aborted && !(err instanceof Error && 'kind' in err) ? this.stopping.signal.reason : err);
        if (ALREADY_DONE.some((entry) => entry.command === name && entry.kind === failed.kind)) {
          outcomes.push({ action, result: 'already-done' });
          continue;
        }
        return { outcomes, failure: { index, action, ...failed } };
      }
    }
    return { outcomes };
  }

  /**
   * Runs one call (a planned command, or an uploaded archive's build) under the executor's protection:
   * a token from the global bucket when it mutates, one of the host's concurrency slots, the guard
   * (leadership) once the slot is held, and the shutdown signals (`fn` gets the one that kills it).
   */
  async runExclusive<T>(mutating: boolean, fn: (signal: AbortSignal) => Promise<T>, options: { signal?: AbortSignal; guard?: () => void } = {}): Promise<T> {
    const { signal, guard } = options;
    const waitSignal = AbortSignal.any([this.stopping.signal, ...(signal ? [signal] : [])]);
    const killSignal = AbortSignal.any([this.killing.signal, ...(signal ? [signal] : [])]);
    waitSignal.throwIfAborted();
    if (mutating) await this.bucket.take(waitSignal);
    // p-queue races a running task against its signal and frees the slot early; only a task still waiting
    // for a slot may be dropped, so its signal is aborted only until the task starts.
    const queued = new AbortController();
    let started = false;
    const dropIfWaiting = (): void => {
      if (!started) queued.abort(waitSignal.reason);
    };
    waitSignal.addEventListener('abort', dropIfWaiting, { once: true });
    const call = this.calls.add(async () => {
      started = true;
      // Checked once the call holds its slot: waiting for the token or the slot can outlast a lease.
      if (mutating) guard?.();
      return fn(killSignal);
    }, { signal: queued.signal });
    this.running.add(call);
    try {
      return await call;
    } finally {
      waitSignal.removeEventListener('abort', dropIfWaiting);
      this.running.delete(call);
    }
  }

  /** Commands running or waiting for a concurrency slot. */
  inFlight(): number {
    return this.calls.pending + this.calls.size;
  }

  /**
   * Stops starting commands at once, lets running ones finish for up to `graceMs`, then kills them
   * through their abort signal. Resolves when none is left running.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.stopping.abort(new ExecutionError('ShuttingDown', true, 'the daemon is shutting down; the instance is reconciled again on the next start'));
    const timer = this.clock.setTimeout(() => this.killing.abort(this.stopping.signal.reason), graceMs);
    await Promise.allSettled([...this.running]);
    this.clock.clearTimeout(timer);
  }

  private async runOne(action: PlannedAction, signal: AbortSignal | undefined, guard: (() => void) | undefined): Promise<void> {
    const rendered = render(action.command);
    const temp = action.outputFile === undefined ? undefined : tempPathFor(action.outputFile);
    try {
      // The backup directory may not exist yet on a fresh host (or was cleared by hand).
      if (temp !== undefined) await mkdir(dirname(temp), { recursive: true });
      await this.runExclusive(rendered.mutating, async (killSignal) => {
        await this.runner.run(action.command, { signal: killSignal, ...(temp !== undefined ? { outputFile: temp } : {}) });
      }, { ...(signal ? { signal } : {}), ...(guard ? { guard } : {}) });
      if (temp !== undefined && action.outputFile !== undefined) {
        await verifyDump(temp, action.outputFile);
        await commitFile(temp, action.outputFile);
      }
    } finally {
      if (temp !== undefined) await rm(temp, { force: true });
    }
  }
}
