// Status of each instance, Kubernetes style, and the interface every status store implements
// (a state file when no database is configured, PostgreSQL otherwise).

export type Phase = 'Pending' | 'Deploying' | 'Running' | 'Stopped' | 'Failed' | 'Deleting' | 'Orphaned';

export type ConditionType = 'Ready' | 'Reconciling' | 'Stalled' | 'Degraded' | 'Conflict';

export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  /** CamelCase machine-readable reason, e.g. `FreezeWindow`, `DeployLockHeld`. */
  reason: string;
  message: string;
  /** RFC 3339; changes only when `status` changes. */
  lastTransitionTime: string;
}

export interface DeferredAction {
  /** The printable command (secrets masked). */
  action: string;
  reason: string;
  /** RFC 3339: when the deferral ends (the freeze window's end). */
  until: string;
}

export interface InstanceStatus {
  name: string;
  host: string;
  phase: Phase;
  observedGeneration: number;
  conditions: Condition[];
  urls: string[];
  lastError?: { message: string; code: string; at: string };
  deferred: DeferredAction[];
  /** One-shot generations already carried out (recorded before or atomically with the action). */
  done: { resetDatabase: number; restart: number };
  /** Human summary of the last plan: waiting for a push, expired, orphaned, plugin missing… */
  notes?: string[];
  /** The deletion policy of the last manifest seen, applied if the instance is removed and pruned. */
  deletionPolicy?: 'Retain' | 'Backup' | 'Delete';
  /** RFC 3339 of the last reconcile that ended in sync. */
  lastSyncedAt?: string;
  updatedAt: string;
}

export interface InstanceEvent {
  instance: string;
  /** RFC 3339 */
  at: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** What a claim is for: the instance's app, or one of its services. */
export type ClaimKind = 'app' | 'postgres' | 'redis';

/**
 * The daemon's own record that it is creating (or created) a Dokku object for an instance: its proof of
 * ownership for an object that does not carry the marker yet (an app between `apps:create` and the
 * config:set of OTM_MANAGED, a service before it is linked). Written before the create command runs
 * (`creating`) and after it succeeded (`created`); dropped when Dokku says the name was already taken
 * and once the app is marked and its services linked.
 */
export interface Claim {
  instance: string;
  host: string;
  kind: ClaimKind;
  /** The app or service name. */
  object: string;
  state: 'creating' | 'created';
  /** RFC 3339 */
  at: string;
}

/** Which object a claim is for; a store keeps at most one claim per object. */
export type ClaimRef = Pick<Claim, 'instance' | 'host' | 'kind' | 'object'>;

/** Where status and events are kept. Implementations must make `put` atomic per instance. */
export interface StatusStore {
  get(name: string): Promise<InstanceStatus | undefined>;
  list(): Promise<InstanceStatus[]>;
  put(status: InstanceStatus): Promise<void>;
  remove(name: string): Promise<void>;
  /** Appends an event; stores keep a bounded history per instance. */
  record(event: InstanceEvent): Promise<void>;
  events(name: string, limit?: number): Promise<InstanceEvent[]>;
  /** The instance's claims, on every host. */
  claims(instance: string): Promise<Claim[]>;
  /** Records or replaces the claim for `claim`'s object. */
  putClaim(claim: Claim): Promise<void>;
  dropClaim(ref: ClaimRef): Promise<void>;
  /** Drops every claim of the instance (also done by `remove`). */
  dropClaims(instance: string): Promise<void>;
  close(): Promise<void>;
}
