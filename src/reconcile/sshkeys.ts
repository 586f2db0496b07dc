// Experimenters' ssh keys in Dokku, and who may push to which app.
//
// Dokku refuses a second key under a name it already has and a key it already has under another name,
// and dokku-acl grants pushes by the NAME of the key that connected. So every key of an experimenter
// gets its own name, `otm-<experimenter>-<fingerprint prefix>`, and an instance's ACL lists all of
// its owner's key names. The `otm-` prefix is how the manager recognises what it added: keys and ACL
// entries without it were added by hand and are never removed.

import type { ExperimenterRole } from '../manifest/types.js';
import { planned } from './action.js';
import type { PlannedAction } from './action.js';

export const MANAGED_KEY_PREFIX = 'otm-';

export interface ExperimenterKey {
  /** `SHA256:…` as `ssh-keygen -l` and `ssh-keys:list` print it (computed by the caller). */
  fingerprint: string;
  /** The OpenSSH public key line. */
  key: string;
}

export interface ExperimenterKeys {
  name: string;
  role: ExperimenterRole;
  keys: ExperimenterKey[];
}

export function isManagedKeyName(name: string): boolean {
  return name.startsWith(MANAGED_KEY_PREFIX);
}

/** The Dokku key name (and ACL user) of one of an experimenter's keys. */
export function keyName(experimenter: string, fingerprint: string): string {
  const digest = fingerprint.replace(/^SHA256:/, '').replace(/[^A-Za-z0-9]/g, '').slice(0, 12);
  return `${MANAGED_KEY_PREFIX}${experimenter}-${digest}`;
}

/** The key names an instance's owner pushes with: its ACL users. */
export function ownerKeyNames(experimenter: ExperimenterKeys | undefined): string[] {
  if (!experimenter) return [];
  return [...new Set(experimenter.keys.map((k) => keyName(experimenter.name, k.fingerprint)))].sort();
}

export interface SshKeyPlan {
  actions: PlannedAction[];
  notes: string[];
}

/**
 * Adds the keys experimenters declare and removes keys the manager added that are no longer declared.
 * `observed` is `ssh-keys:list`: key name → fingerprints.
 */
export function planSshKeys(experimenters: readonly ExperimenterKeys[], observed: ReadonlyMap<string, readonly string[]>): SshKeyPlan {
  const notes: string[] = [];
  const wanted = new Map<string, { owner: string; key: ExperimenterKey }>();
  for (const e of experimenters) {
    for (const k of e.keys) {
      const name = keyName(e.name, k.fingerprint);
      // Dokku gives a key whose name contains "admin" the right to manage other keys.
      if (name.includes('admin') && e.role !== 'admin') {
        notes.push(`experimenter ${e.name}: key ${k.fingerprint} not installed, because its Dokku key name ${name} would contain "admin", which Dokku treats as an administrator; rename the experimenter`);
        continue;
      }
      wanted.set(name, { owner: e.name, key: k });
    }
  }

  const holderOf = new Map<string, string>();
  for (const [name, fingerprints] of observed) for (const fp of fingerprints) holderOf.set(fp, name);

  const removals: PlannedAction[] = [];
  const additions: PlannedAction[] = [];
  const removed = new Set<string>();
  for (const [name, fingerprints] of [...observed].sort(([a], [b]) => a.localeCompare(b))) {
    if (!isManagedKeyName(name)) continue;
    const want = wanted.get(name);
    if (want && fingerprints.includes(want.key.fingerprint)) continue;
    const reason = want
      ? `key ${name} holds a different key than experimenter ${want.owner} declares`
      : `key ${name} is no longer declared by any experimenter`;
    removals.push(planned({ cmd: 'ssh-keys:remove', name }, reason));
    removed.add(name);
  }
  for (const [name, { owner, key }] of [...wanted].sort(([a], [b]) => a.localeCompare(b))) {
    const holder = holderOf.get(key.fingerprint);
    if (holder === name) continue;
    if (holder !== undefined && !removed.has(holder)) {
      notes.push(isManagedKeyName(holder)
        ? `experimenter ${owner}: key ${key.fingerprint} is already installed for another experimenter as ${holder}; Dokku accepts a key only once, so declare it for one experimenter only`
        : `experimenter ${owner}: key ${key.fingerprint} is already installed by hand as ${holder}, and Dokku accepts a key only once; remove it (dokku ssh-keys:remove ${holder}) so the manager can install it as ${name}`);
      continue;
    }
    additions.push(planned({ cmd: 'ssh-keys:add', name, key: key.key }, `experimenter ${owner} declares key ${key.fingerprint}`));
  }
  return { actions: [...removals, ...additions], notes };
}
