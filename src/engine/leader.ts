// Leader election: several daemon replicas may run, exactly one acts. The leader holds a lease in Redis
// (or, without Redis, a PostgreSQL advisory lock) and carries a fencing token that grows with every new
// leadership term. The executor calls `assertLeader()` before each mutating command, so a replica that
// loses the lease in the middle of a change set stops before its next command.
//
// Timing follows client-go's leaderelection: a lease lasts `leaseDurationMs`; the leader renews every
// `retryPeriodMs`; if no renewal has been confirmed within `renewDeadlineMs` of being sent, the leader steps
// down locally. The lease in Redis runs from the moment the server received the renewal, which is after it
// was sent, so the local step-down comes at least `leaseDurationMs - renewDeadlineMs` before any other
// replica can acquire the lease.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Logger } from './logger.js';

// The Redis and PostgreSQL clients load only when the configuration uses them: together they cost a
// replica without either some 30 MB of memory for nothing.
const requireOptional = createRequire(import.meta.url);
export function loadOptional<T>(name: 'ioredis' | 'pg'): T {
  return requireOptional(name) as T;
}
import { systemClock } from './clock.js';
import type { Clock, TimerHandle } from './clock.js';

export interface LeaderElector {
  /** Starts competing for leadership; resolves after the first attempt (won or not). */
  start(): Promise<void>;
  isLeader(): boolean;
  /** The current term's fencing token while leader, undefined otherwise. */
  fencingToken(): number | undefined;
  /** Calls `cb` on every change of leadership; returns a function that unsubscribes. */
  onChange(cb: (leader: boolean) => void): () => void;
  /**
   * Throws `NotLeaderError` unless this replica leads (and, given `token`, still leads the same term).
   * Returns the fencing token. The executor calls it before each mutating command.
   */
  assertLeader(token?: number): number;
  /** Stops competing and releases the lease if held. */
  stop(): Promise<void>;
}

export interface LeaseTimings {
  /** How long a lease lasts without renewal. @default 15000 */
  leaseDurationMs: number;
  /** The leader steps down if no renewal was confirmed within this long of being sent. @default 10000 */
  renewDeadlineMs: number;
  /** Interval between renewals, and between attempts to acquire. @default 2000 */
  retryPeriodMs: number;
}

export const DEFAULT_LEASE_TIMINGS: LeaseTimings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** Shaped like the driver's errors (`kind`, `retryable`) so the executor reports it like any failed command. */
export class NotLeaderError extends Error {
  readonly code = 'NOT_LEADER';
  readonly kind = 'NotLeader';
  /** The change set is retried, by whichever replica leads by then. */
  readonly retryable = true;
  constructor(identity: string, detail: string) {
    super(`replica ${identity} is not the leader (${detail}); it takes no action until it holds the lease again`);
    this.name = 'NotLeaderError';
  }
}

/** A name for this replica in leases and logs: host, process and a random suffix (two replicas may share a pid namespace). */
export function defaultIdentity(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

function validateTimings(t: LeaseTimings): LeaseTimings {
  for (const [name, value] of Object.entries(t)) {
    if (!(Number.isFinite(value) && value > 0)) throw new TypeError(`leader election ${name} must be a positive number of ms, got ${value}`);
  }
  if (t.renewDeadlineMs >= t.leaseDurationMs) {
    throw new TypeError(`leader election renewDeadlineMs (${t.renewDeadlineMs}) must be shorter than leaseDurationMs (${t.leaseDurationMs}) so that the leader steps down before its lease expires`);
  }
  if (t.retryPeriodMs >= t.renewDeadlineMs) {
    throw new TypeError(`leader election retryPeriodMs (${t.retryPeriodMs}) must be shorter than renewDeadlineMs (${t.renewDeadlineMs}) so that a renewal can be retried before the deadline`);
  }
  return t;
}

/** Bounds a call that may hang (a paused server, a half-open socket); the late outcome is swallowed. */
function within<T>(clock: Clock, ms: number, what: string, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new Error(`${what} got no answer within ${ms} ms`)), ms);
    work.then(
      (value) => { clock.clearTimeout(timer); resolve(value); },
      (err: unknown) => { clock.clearTimeout(timer); reject(err as Error); },
    );
  });
}

/**
 * What every lease-based elector shares: the leadership state, listeners, the guard, and a loop that runs
 * `attempt()` every retry period. A watchdog steps down when no renewal is confirmed within the deadline.
 */
abstract class LeaseElector implements LeaderElector {
  protected readonly timings: LeaseTimings;
  private leader = false;
  private token: number | undefined;
  private readonly listeners = new Set<(leader: boolean) => void>();
  private loopTimer: TimerHandle | undefined;
  private watchdog: TimerHandle | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;
  private lastProblem: string | undefined;

  constructor(
    readonly identity: string,
    protected readonly clock: Clock,
    protected readonly log: Logger,
    timings: Partial<LeaseTimings>,
  ) {
    this.timings = validateTimings({ ...DEFAULT_LEASE_TIMINGS, ...timings });
  }

  /** One round: acquire when not leading, renew when leading. */
  protected abstract attempt(): Promise<void>;
  /** Gives the lease back (best effort) and closes connections. */
  protected abstract release(): Promise<void>;

  async start(): Promise<void> {
    this.stopped = false;
    await this.round();
  }

  isLeader(): boolean {
    return this.leader;
  }

  fencingToken(): number | undefined {
    return this.leader ? this.token : undefined;
  }

  onChange(cb: (leader: boolean) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  assertLeader(token?: number): number {
    if (!this.leader || this.token === undefined) throw new NotLeaderError(this.identity, 'the lease is held elsewhere or could not be confirmed');
    if (token !== undefined && token !== this.token) {
      throw new NotLeaderError(this.identity, `leadership changed since fencing token ${token} (now ${this.token})`);
    }
    return this.token;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.loopTimer) this.clock.clearTimeout(this.loopTimer);
    this.loopTimer = undefined;
    await this.inFlight;
    this.disarm();
    await this.release();
    this.stepDown('stopped');
  }

  /** Marks this replica leader from a claim sent at `sentAt`, with the deadline counted from the send. */
  protected becomeLeader(token: number, sentAt: number): void {
    const changed = !this.leader;
    this.leader = true;
    this.token = token;
    this.confirmed(sentAt);
    if (!changed) return;
    this.log.info({ identity: this.identity, fencingToken: token }, 'leader election: became leader');
    this.notify(true);
  }

  /** Records a renewal confirmed by the server; it was sent at `sentAt`. A late answer after stepping down counts for nothing. */
  protected confirmed(sentAt: number): void {
    if (!this.leader) return;
    this.disarm();
    const remaining = sentAt + this.timings.renewDeadlineMs - this.clock.now();
    this.watchdog = this.clock.setTimeout(() => {
      this.watchdog = undefined;
      this.stepDown(`no renewal confirmed within ${this.timings.renewDeadlineMs} ms`);
      void this.release().catch(() => undefined);
    }, remaining);
  }

  protected stepDown(reason: string): void {
    this.disarm();
    if (!this.leader) return;
    this.leader = false;
    this.log.warn({ identity: this.identity, fencingToken: this.token, reason }, 'leader election: stepped down');
    this.notify(false);
  }

  /** Logs a failed round once per distinct problem, so an outage does not flood the log. */
  protected problem(message: string): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.log.warn({ identity: this.identity, err: message }, 'leader election: attempt failed');
  }

  private disarm(): void {
    if (this.watchdog) this.clock.clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  private notify(leader: boolean): void {
    for (const cb of this.listeners) cb(leader);
  }

  private async round(): Promise<void> {
    const run = this.attempt().then(
      () => { this.lastProblem = undefined; },
      (err: unknown) => this.problem((err as Error).message),
    );
    this.inFlight = run;
    await run;
    this.inFlight = undefined;
    if (!this.stopped) this.loopTimer = this.clock.setTimeout(() => void this.round(), this.timings.retryPeriodMs);
  }
}

// KEYS[1] lease, KEYS[2] token counter; ARGV[1] identity, ARGV[2] lease ms, ARGV[3] highest token seen.
// The floor keeps tokens increasing when Redis lost the counter (restart without persistence): every
// replica learns the holder's token while it waits, and the first to acquire afterwards passes it in.
const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder then return {0, holder} end
local token = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if token <= floor then
  token = floor + 1
  redis.call('SET', KEYS[2], token)
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return {1, token}`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface RedisLeaseOptions {
  redis: Redis;
  /** Disconnect `redis` on stop (it was made for this lease). @default false */
  ownsClient?: boolean;
  /** The lease key; the token counter is `<key>:token`. @default 'otm:leader' */
  key?: string;
  identity?: string;
  timings?: Partial<LeaseTimings>;
  clock?: Clock;
  log: Logger;
}

/** A lease in Redis: `SET key <identity>:<token> NX PX`, renewed by a script that checks ownership. */
export class RedisLease extends LeaseElector {
  private readonly redis: Redis;
  private readonly ownsClient: boolean;
  private readonly key: string;
  private highestToken = 0;
  private value: string | undefined;

  constructor(options: RedisLeaseOptions) {
    super(options.identity ?? defaultIdentity(), options.clock ?? systemClock, options.log, options.timings ?? {});
    this.redis = options.redis;
    this.ownsClient = options.ownsClient ?? false;
    this.key = options.key ?? 'otm:leader';
  }

  override async start(): Promise<void> {
    // A client without an offline queue rejects commands until connected: let the first attempt wait for
    // the connection (as long as a renewal may take) rather than fail and leave the replica idle a period.
    if (this.ownsClient && this.redis.status !== 'ready') {
      await within(this.clock, this.timings.renewDeadlineMs, 'Redis connect', once(this.redis, 'ready')).catch((err: Error) => this.problem(err.message));
    }
    await super.start();
  }

  override async stop(): Promise<void> {
    await super.stop();
    if (this.ownsClient) this.redis.disconnect();
  }

  protected async attempt(): Promise<void> {
    const sentAt = this.clock.now();
    const bound = <T>(what: string, work: Promise<T>) => within(this.clock, this.timings.renewDeadlineMs, `Redis ${what} of ${this.key}`, work);
    if (this.isLeader() && this.value) {
      const renewed = await bound('renewal', this.redis.eval(RENEW, 1, this.key, this.value, this.timings.leaseDurationMs));
      if (renewed === 1) this.confirmed(sentAt);
      else this.stepDown(`the lease ${this.key} is no longer ours (expired, taken over, or Redis lost its data)`);
      return;
    }
    const reply = (await bound('acquisition', this.redis.eval(ACQUIRE, 2, this.key, `${this.key}:token`, this.identity, this.timings.leaseDurationMs, this.highestToken))) as [number, string | number];
    if (reply[0] === 1) {
      const token = Number(reply[1]);
      this.highestToken = token;
      this.value = `${this.identity}:${token}`;
      this.becomeLeader(token, sentAt);
      return;
    }
    const holder = String(reply[1]);
    const token = Number(holder.slice(holder.lastIndexOf(':') + 1));
    if (Number.isSafeInteger(token)) this.highestToken = Math.max(this.highestToken, token);
    // Our own lease from a term we already stepped down from: give it back instead of waiting for it to expire.
    if (holder.startsWith(`${this.identity}:`)) await bound('release', this.redis.eval(RELEASE, 1, this.key, holder));
  }

  protected async release(): Promise<void> {
    const value = this.value;
    if (!value) return;
    this.value = undefined;
    try {
      await within(this.clock, this.timings.retryPeriodMs, `Redis release of ${this.key}`, this.redis.eval(RELEASE, 1, this.key, value));
    } catch (err) {
      // The lease then simply expires after leaseDurationMs.
      this.problem((err as Error).message);
    }
  }
}

export interface PgAdvisoryLeaseOptions {
  connectionString: string;
  /** The advisory lock key (bigint); every replica of one deployment uses the same. @default 0x6f746d6c ('otml') */
  lockKey?: number;
  /** Sequence that numbers leadership terms (created on first use). @default 'otm_leader_token' */
  tokenSequence?: string;
  identity?: string;
  timings?: Partial<LeaseTimings>;
  clock?: Clock;
  log: Logger;
}

export const DEFAULT_ADVISORY_LOCK_KEY = 0x6f746d6c;

/**
 * A session-level PostgreSQL advisory lock held on a dedicated connection. The server frees the lock when
 * the session ends, so leadership ends with the connection: the leader steps down as soon as its connection
 * reports an error or closes, or when a health query is not answered within the renew deadline.
 */
export class PgAdvisoryLease extends LeaseElector {
  private readonly connectionString: string;
  private readonly lockKey: string;
  private readonly tokenSequence: string;
  private client: pg.Client | undefined;

  constructor(options: PgAdvisoryLeaseOptions) {
    super(options.identity ?? defaultIdentity(), options.clock ?? systemClock, options.log, options.timings ?? {});
    const lockKey = options.lockKey ?? DEFAULT_ADVISORY_LOCK_KEY;
    if (!Number.isSafeInteger(lockKey)) throw new TypeError(`leader election lockKey must be an integer, got ${lockKey}`);
    this.lockKey = String(lockKey);
    this.tokenSequence = options.tokenSequence ?? 'otm_leader_token';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.tokenSequence)) {
      throw new TypeError(`leader election tokenSequence must be a lower-case SQL identifier, got ${JSON.stringify(this.tokenSequence)}`);
    }
    this.connectionString = options.connectionString;
  }

  protected async attempt(): Promise<void> {
    const sentAt = this.clock.now();
    const client = await this.connection();
    const query = (text: string, values: unknown[] = []) =>
      within(this.clock, this.timings.renewDeadlineMs, 'PostgreSQL leader lock query', client.query<Record<string, unknown>>(text, values));
    if (this.isLeader()) {
      await query('SELECT 1');
      this.confirmed(sentAt);
      return;
    }
    const locked = await query('SELECT pg_try_advisory_lock($1::bigint) AS ok', [this.lockKey]);
    if (locked.rows[0]?.ok !== true) return;
    await query(`CREATE SEQUENCE IF NOT EXISTS ${this.tokenSequence}`);
    const next = await query(`SELECT nextval('${this.tokenSequence}') AS token`);
    this.becomeLeader(Number(next.rows[0]?.token), sentAt);
  }

  protected async release(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // Ending the session frees the advisory lock; no explicit unlock is needed.
    await within(this.clock, this.timings.retryPeriodMs, 'PostgreSQL disconnect', client.end()).catch((err: Error) => this.problem(err.message));
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new (loadOptional<typeof pg>('pg').Client)({ connectionString: this.connectionString, application_name: 'otree-manager leader election' });
    const lost = (why: string) => {
      if (this.client !== client) return;
      this.client = undefined;
      this.stepDown(`the connection holding the advisory lock ${why}`);
      client.end().catch(() => undefined);
    };
    client.on('error', (err) => lost(`failed: ${err.message}`));
    client.on('end', () => lost('closed'));
    this.client = client;
    try {
      await within(this.clock, this.timings.renewDeadlineMs, 'PostgreSQL connect', client.connect());
    } catch (err) {
      lost('could not be opened');
      throw err;
    }
    return client;
  }
}

/** No election configured: this process is the only replica and always leads. */
export class SingleReplica implements LeaderElector {
  private running = false;
  private readonly listeners = new Set<(leader: boolean) => void>();

  constructor(private readonly log: Logger) {}

  async start(): Promise<void> {
    this.log.info('leader election: neither Redis nor PostgreSQL is configured, running as a single replica; do not start a second one');
    this.running = true;
    for (const cb of this.listeners) cb(true);
  }

  isLeader(): boolean {
    return this.running;
  }

  fencingToken(): number | undefined {
    return this.running ? 1 : undefined;
  }

  onChange(cb: (leader: boolean) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  assertLeader(): number {
    if (!this.running) throw new NotLeaderError('single replica', 'it has not started or has stopped');
    return 1;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const cb of this.listeners) cb(false);
  }
}

export interface LeaderElectionConfig {
  redisUrl?: string;
  /** The Redis lease key, for several deployments sharing one Redis. @default 'otm:leader' */
  redisKey?: string;
  postgresUrl?: string;
  /** The advisory lock key, for several deployments sharing one database. @default DEFAULT_ADVISORY_LOCK_KEY */
  advisoryLockKey?: number;
  identity?: string;
  timings?: Partial<LeaseTimings>;
  log: Logger;
}

/**
 * Picks the election backend: a Redis lease when Redis is configured, else a PostgreSQL advisory lock,
 * else a single replica. A Redis client made here fails commands at once while disconnected, so the
 * renew deadline (not a reconnect queue) decides when the leader steps down; it is closed on stop.
 */
export function createLeaderElector(config: LeaderElectionConfig): LeaderElector {
  const common = { identity: config.identity ?? defaultIdentity(), timings: config.timings ?? {}, log: config.log };
  if (config.redisUrl) {
    const redis = new (loadOptional<{ Redis: typeof Redis }>('ioredis').Redis)(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    redis.on('error', (err: Error) => config.log.debug({ err: err.message }, 'leader election: Redis connection error'));
    return new RedisLease({ ...common, redis, ownsClient: true, key: config.redisKey });
  }
  if (config.postgresUrl) return new PgAdvisoryLease({ ...common, connectionString: config.postgresUrl, lockKey: config.advisoryLockKey });
  return new SingleReplica(config.log);
}
