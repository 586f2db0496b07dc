// Instances that disappeared from desired state. Nothing is deleted unless the daemon runs with prune
// enabled, and an app without the ownership marker is never touched at all. With prune, the database
// follows the instance's deletionPolicy, and the app goes last, so an interrupted removal can always
// be finished by the next pass.

import type { DeletionPolicy } from '../manifest/types.js';
import { serviceNames } from '../manifest/reserved.js';
import type { ObservedApp, ObservedService } from '../observed/types.js';
import { planned } from './action.js';
import type { Plan, PlannedAction } from './action.js';
import type { ServicePlugin } from './commands.js';
import { isManaged } from './config.js';

export interface RemovalInput {
  /** The app name (the instance's former metadata.name). */
  name: string;
  /** undefined: the app is already gone. */
  observed: ObservedApp | undefined;
  services: ReadonlyMap<string, ObservedService>;
  /** The policy from the instance's last known manifest; Retain when unknown. */
  deletionPolicy?: DeletionPolicy;
  prune: boolean;
  now: Date;
  /** Directory on the daemon's host where database exports are written. */
  backupDir: string;
}

/** `20261201T100000Z`: sortable, and free of characters file systems dislike. */
function stamp(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

export function backupFile(backupDir: string, service: string, now: Date): string {
  return `${backupDir.replace(/\/+$/, '')}/${service}-${stamp(now)}.dump`;
}

export function planRemoval(input: RemovalInput): Plan {
  const { name, observed } = input;
  if (!observed) {
    return { actions: [], deferred: [], phase: 'Deleting', notes: [`app ${name} no longer exists; its services are left as they are`] };
  }
  if (!isManaged(observed.config)) {
    return { actions: [], deferred: [], phase: 'Orphaned', notes: [`app ${name} is not declared and not managed by otree-manager; it is never modified or removed`] };
  }
  if (!input.prune) {
    return { actions: [], deferred: [], phase: 'Orphaned', notes: [`instance ${name} is no longer declared; its app is kept because pruning is off (enable prune to remove it)`] };
  }

  const policy = input.deletionPolicy ?? 'Retain';
  const names = serviceNames(name);
  const notes: string[] = [];
  const actions: PlannedAction[] = [];
  const exporting = policy === 'Backup' && input.services.has(`postgres/${names.postgres}`);
  // After an export, nothing irreversible runs unless the executor has verified the dump.
  const requires = exporting ? { requires: 'verified-backup' as const } : {};
  if (exporting) {
    actions.push(planned({ cmd: 'postgres:export', service: names.postgres },
      `deletionPolicy Backup: export ${names.postgres} before anything is destroyed`,
      { outputFile: backupFile(input.backupDir, names.postgres, input.now) }));
  }
  for (const plugin of ['postgres', 'redis'] as ServicePlugin[]) {
    const service = names[plugin];
    const observedService = input.services.get(`${plugin}/${service}`);
    const linked = observed.links[plugin].includes(service);
    if (linked) {
      actions.push(planned({ cmd: 'service:unlink', plugin, service, app: name, restart: false },
        `instance ${name} is removed: unlink ${service}`, requires));
    }
    if (!observedService) continue;
    if (policy === 'Retain') {
      notes.push(`deletionPolicy Retain: ${plugin} service ${service} is kept`);
      continue;
    }
    const others = observedService.links.filter((a) => a !== name);
    if (others.length > 0) {
      notes.push(`${plugin} service ${service} is also linked to ${others.join(', ')}; it is kept`);
      continue;
    }
    actions.push(planned({ cmd: 'service:destroy', plugin, service },
      plugin === 'redis' ? `instance ${name} is removed; its Redis holds only queues and caches` : `deletionPolicy ${policy}: destroy ${service}`, requires));
  }
  actions.push(planned({ cmd: 'apps:destroy', app: name }, `instance ${name} is no longer declared and pruning is on`, requires));
  return { actions, deferred: [], phase: 'Deleting', notes };
}
