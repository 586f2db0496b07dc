// What the API shows of desired objects, status and plans. Every manifest object passes through
// maskSecrets here, so an inline `value` secret can never reach a response.
import type { StoredObject } from '../desired/store.js';
import type { InstancePlan } from '../engine/planner.js';
import type { InstanceEvent, InstanceStatus } from '../engine/status.js';
import { maskSecrets } from '../manifest/index.js';
import type { ManifestIssue, ManifestObject } from '../manifest/index.js';
import { apiIssues } from './errors.js';
import type { ApiIssue } from './errors.js';

/** One line of a list: the object's identity, masked spec and labels, and its status when it has one. */
export interface ListItem {
  name: string;
  /** A manifest file (relative to the manifests directory) or `row:<table>/<name>`; null for orphaned instances. */
  source: string | null;
  generation: number | null;
  spec: ManifestObject['spec'] | null;
  labels: Record<string, string>;
  status?: InstanceStatus | null;
}

export interface ObjectView {
  name: string;
  source: string | null;
  generation: number | null;
  object: ManifestObject | null;
  /** Problems the object's sources report (schema, cross-object checks, held-back versions). */
  issues: ApiIssue[];
  status?: InstanceStatus | null;
  events?: InstanceEvent[];
}

export function listItem(stored: StoredObject, status?: InstanceStatus | null): ListItem {
  const object = maskSecrets(stored.declared.object);
  return {
    name: object.metadata.name,
    source: stored.source,
    generation: stored.generation,
    spec: object.spec,
    labels: object.metadata.labels,
    ...(status !== undefined ? { status } : {}),
  };
}

/** A status row whose instance is declared nowhere (removed, not pruned, or never declared). */
export function orphanItem(status: InstanceStatus): ListItem {
  return { name: status.name, source: null, generation: null, spec: null, labels: {}, status };
}

export function objectView(
  name: string,
  stored: StoredObject | undefined,
  issues: readonly ManifestIssue[],
  extra: { status?: InstanceStatus | null; events?: InstanceEvent[] } = {},
): ObjectView {
  return {
    name,
    source: stored?.source ?? null,
    generation: stored?.generation ?? null,
    object: stored ? maskSecrets(stored.declared.object) : null,
    issues: apiIssues(issues),
    ...extra,
  };
}

/** The plan of one instance, in the same shape as `otm plan -o json`. */
export interface PlanView {
  name: string;
  host: string;
  phase: string;
  actions: { command: string; reason: string; mutating: boolean; disruptive: boolean }[];
  deferred: InstancePlan['plan']['deferred'];
  notes: string[];
  blocked?: { reason: string; message: string };
  error?: string;
}

export function planView(p: InstancePlan): PlanView {
  return {
    name: p.name,
    host: p.host,
    phase: p.plan.phase,
    actions: p.plan.actions.map((a) => ({ command: a.display, reason: a.reason, mutating: a.mutating, disruptive: a.disruptive })),
    deferred: p.plan.deferred,
    notes: p.plan.notes,
    ...(p.plan.blocked ? { blocked: p.plan.blocked } : {}),
    ...(p.error !== undefined ? { error: p.error } : {}),
  };
}

/** A Dokku host as admins see it: whether it answers, what it runs, how many apps and instances it has. */
export interface HostView {
  name: string;
  transport: 'local' | 'ssh';
  /** `ok`, or why the host does not answer (its `dokku version` probe). */
  reachable: string;
  /** What `dokku version` printed at the last full observation; null before the first one. */
  version: string | null;
  plugins: { postgres: boolean; redis: boolean; letsencrypt: boolean; acl: boolean } | null;
  /** Apps on the host (all of them, managed or not), at the last observation. */
  apps: number | null;
  /** Instances declared on this host. */
  instances: number;
}
