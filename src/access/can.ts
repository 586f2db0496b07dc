// Who may do what: the one authorisation table of the API and the web interface, pure and
// table-tested. Every route asks `can` (and `forbiddenChanges` for spec writes) before it reads or
// changes anything; nothing else decides access.
//
// Admins may do everything. Experimenters see and run the instances they own or share
// (spec.collaborators); only an owner deletes an instance, changes who shares it, or reads or sets its
// secrets; nobody but an admin touches another person, the placement of an instance (host, processes,
// resources, domains) or the audit entries of others. A read-scope token only reads. What a person
// may not even see is answered as if it did not exist (404), so names do not leak.
import type { OTreeInstanceSpec } from '../manifest/types.js';

/** Someone proven to be who they are: a person, or the daemon's admin token (automation, the CLI on the manager). */
export interface Principal {
  /** The person's name; for the admin token, the author it names (X-Otm-Author) or `api`. */
  name: string;
  admin: boolean;
  /** `read`: a read-scope personal token; it may only read. */
  scope: 'read' | 'write';
  /** How they proved it: a browser session, a personal token, or the daemon's admin token. */
  via: 'session' | 'token' | 'admin-token';
}

export type InstanceVerb =
  | 'read' | 'plan' | 'logs' | 'backups'
  | 'update' | 'restart' | 'resetDatabase' | 'deploy' | 'backup'
  | 'delete' | 'share' | 'secrets' | 'revealSecret' | 'writeSecret';

export type PersonVerb = 'read' | 'update' | 'delete' | 'manageAccess';

export type Access =
  | { kind: 'instance'; verb: InstanceVerb; instance: { owner: string; collaborators: readonly string[] } }
  | { kind: 'instance'; verb: 'create'; instance: { owner: string }; selfService: boolean }
  | { kind: 'person'; verb: PersonVerb; person: string }
  | { kind: 'person'; verb: 'create' }
  | { kind: 'audit'; verb: 'read'; actor: string };

const READ_VERBS: ReadonlySet<string> = new Set(['read', 'plan', 'logs', 'backups', 'secrets']);
/** What collaborators may do besides reading: run the instance, not own it. */
const COLLABORATOR_VERBS: ReadonlySet<InstanceVerb> = new Set(['read', 'plan', 'logs', 'backups', 'update', 'restart', 'resetDatabase', 'deploy', 'backup']);

/** Whether `who` may do `access`. */
export function can(who: Principal, access: Access): boolean {
  if (who.scope === 'read' && !READ_VERBS.has(access.verb)) return false;
  if (who.admin) return true;
  switch (access.kind) {
    case 'instance': {
      if (access.verb === 'create') return access.selfService && access.instance.owner === who.name;
      if (access.instance.owner === who.name) return true;
      return access.instance.collaborators.includes(who.name) && COLLABORATOR_VERBS.has(access.verb);
    }
    case 'person':
      // People read themselves and manage their own sessions and tokens; declaring people is an admin's job.
      return access.verb !== 'create' && access.person === who.name && (access.verb === 'read' || access.verb === 'manageAccess');
    case 'audit':
      return access.actor === who.name;
  }
}

/** Whether `who` may know the instance exists at all; when not, every answer about it is a 404. */
export function canSee(who: Principal, instance: { owner: string; collaborators: readonly string[] }): boolean {
  return can({ ...who, scope: 'read' }, { kind: 'instance', verb: 'read', instance });
}

/** Fields of an instance's spec that only an admin sets: where it runs and how big it is. */
const ADMIN_FIELDS = ['host', 'processes', 'resources', 'domains'] as const satisfies readonly (keyof OTreeInstanceSpec)[];
/** Fields only the owner (or an admin) changes: whose it is, who shares it, and its secrets. */
const OWNER_FIELDS = ['owner', 'collaborators'] as const satisfies readonly (keyof OTreeInstanceSpec)[];
const OWNER_SECRET_FIELDS = ['adminPassword', 'restKey'] as const satisfies readonly (keyof OTreeInstanceSpec['otree'])[];

/**
 * The spec fields `who` may not change from `before` to `after` (both with defaults applied; `before`
 * undefined for a new instance, whose `defaults` are the values of a minimal spec), as dotted paths.
 * Empty: the write is allowed field by field (the caller has checked `can` for the verb).
 */
export function forbiddenChanges(who: Principal, before: OTreeInstanceSpec | undefined, after: OTreeInstanceSpec, defaults: Partial<OTreeInstanceSpec>): string[] {
  if (who.admin) return [];
  const base: Partial<OTreeInstanceSpec> = before ?? defaults;
  const changed = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) !== JSON.stringify(b ?? null);
  const refused = ADMIN_FIELDS.filter((field) => changed(base[field], after[field])).map((field) => `spec.${field}`);
  if (before === undefined) {
    // A new instance is the creator's own: it may name collaborators and secrets, never another owner.
    if (after.owner !== who.name) refused.push('spec.owner');
    return refused;
  }
  if (before.owner !== who.name) {
    refused.push(...OWNER_FIELDS.filter((field) => changed(before[field], after[field])).map((field) => `spec.${field}`));
    refused.push(...OWNER_SECRET_FIELDS.filter((field) => changed(before.otree[field], after.otree[field])).map((field) => `spec.otree.${field}`));
  } else if (after.owner !== before.owner) {
    refused.push('spec.owner');
  }
  return refused;
}
