// Who may do what: the one authorisation table of the API and the web interface, pure and
// table-tested. Every route asks `can` (and `forbiddenChanges` for spec writes) before it reads or
// changes anything; nothing else decides access.
//
// Admins may do everything. Experimenters see and run the instances they own or share
// (spec.collaborators); only an owner deletes an instance, changes who shares it, or reads or sets its
// secrets; nobody but an admin touches another person, the placement of an instance (host, processes,
// resources, domains) or the audit entries of others. A read-scope token only reads. What a person
// may not even see is answered as if it did not exist (404), so names do not leak. People edit their
// own profile (their ssh keys and the name shown for them), nothing else of themselves.
import type { ExperimenterSpec, OTreeInstanceSpec } from '../manifest/types.js';

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

/**
 * `editProfile`: change one's own profile, the fields of PROFILE_FIELDS (forbiddenPersonChanges says which
 * changes of a write are beyond it); `update`: change anything of a person (admins).
 */
export type PersonVerb = 'read' | 'update' | 'editProfile' | 'delete' | 'manageAccess';

export type Access =
  | { kind: 'instance'; verb: InstanceVerb; instance: { owner: string; collaborators: readonly string[] } }
  | { kind: 'instance'; verb: 'create'; instance: { owner: string }; selfService: boolean }
  | { kind: 'person'; verb: PersonVerb; person: string }
  | { kind: 'person'; verb: 'create' }
  | { kind: 'audit'; verb: 'read'; actor: string };

const READ_VERBS: ReadonlySet<string> = new Set(['read', 'plan', 'logs', 'backups', 'secrets']);
/** What collaborators may do besides reading: run the instance, not own it. */
const COLLABORATOR_VERBS: ReadonlySet<InstanceVerb> = new Set(['read', 'plan', 'logs', 'backups', 'update', 'restart', 'resetDatabase', 'deploy', 'backup']);

/** What people may do to themselves. */
const SELF_VERBS: ReadonlySet<PersonVerb> = new Set(['read', 'editProfile', 'manageAccess']);

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
      // People read themselves, edit their own profile and manage their own sessions and tokens; declaring
      // people is an admin's job.
      return access.verb !== 'create' && access.person === who.name && SELF_VERBS.has(access.verb);
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

/** The fields of an Experimenter's spec a person changes on their own profile; everything else of them is an admin's. */
export const PROFILE_FIELDS = ['sshKeys', 'displayName'] as const satisfies readonly (keyof ExperimenterSpec)[];

/**
 * What of a person `who` may not change from `before` to `after` (both with defaults applied), as dotted
 * paths: nothing for an admin; for the person themselves everything but PROFILE_FIELDS (their role,
 * e-mail address, quota, whether they are disabled, their labels, and any field added later); for
 * anyone else every change (the caller has already answered them 404). Empty: the write is allowed.
 */
export function forbiddenPersonChanges(
  who: Principal,
  before: { name: string; labels: Readonly<Record<string, string>>; spec: ExperimenterSpec },
  after: { labels: Readonly<Record<string, string>>; spec: ExperimenterSpec },
): string[] {
  if (who.admin) return [];
  const changed = (a: unknown, b: unknown): boolean => canonical(a) !== canonical(b);
  const own = before.name === who.name;
  const fields = [...new Set([...Object.keys(before.spec), ...Object.keys(after.spec)])].sort() as (keyof ExperimenterSpec)[];
  const refused = fields
    .filter((field) => !(own && (PROFILE_FIELDS as readonly string[]).includes(field)) && changed(before.spec[field], after.spec[field]))
    .map((field) => `spec.${field}`);
  const labels = [...new Set([...Object.keys(before.labels), ...Object.keys(after.labels)])].sort();
  if (labels.some((key) => before.labels[key] !== after.labels[key])) refused.push('metadata.labels');
  return refused;
}

/** JSON with object keys sorted, so that two equal values compare equal whatever order their keys came in. */
function canonical(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, inner: unknown) => (typeof inner === 'object' && inner !== null && !Array.isArray(inner)
    ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : inner));
}
