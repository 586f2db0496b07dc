// The app config the manager owns, and the difference between what it wants and what Dokku has.
// Only managed keys are ever set or unset: keys set by service links, by Dokku or by hand stay untouched.

import type { OTreeInstance } from '../manifest/types.js';
import { OWNERSHIP_MARKER } from '../manifest/reserved.js';
import type { ConfigPair } from './commands.js';

/** Bookkeeping keys: the manager's memory, kept in the app's own config so it survives any crash. */
export const ENV_KEYS_KEY = 'OTM_ENV_KEYS';
export const ROOMS_KEY = 'OTM_ROOMS';
export const RESTART_GENERATION_KEY = 'OTM_RESTART_GENERATION';
export const RESETDB_PENDING_KEY = 'OTM_RESETDB_PENDING';
export const RESETDB_GENERATION_KEY = 'OTM_RESETDB_GENERATION';
/** The git or archive source last deployed by the manager (Dokku's own metadata cannot tell a branch from a sha). */
export const SOURCE_KEY = 'OTM_SOURCE';

export const MARKER_VALUE = 'true';

/** Values that are never secret and help people read a plan. */
const PRINTABLE = new Set<string>([
  OWNERSHIP_MARKER, 'OTREE_PRODUCTION', 'OTREE_AUTH_LEVEL', ENV_KEYS_KEY, ROOMS_KEY,
  RESTART_GENERATION_KEY, RESETDB_PENDING_KEY, RESETDB_GENERATION_KEY,
]);

export interface Secrets {
  adminPassword: string;
  restKey?: string;
}

/** Key → value the app should have; a key mapped to undefined should be absent. */
export type DesiredConfig = Map<string, string | undefined>;

/** A generation recorded in the app's config; 0 when none was recorded. */
export function generation(config: Record<string, string>, key: string): number {
  const n = Number.parseInt(config[key] ?? '', 10);
  return Number.isFinite(n) ? n : 0;
}

/** The one-shot generations already carried out, for InstanceStatus.done. */
export function doneGenerations(config: Record<string, string>): { resetDatabase: number; restart: number } {
  return { resetDatabase: generation(config, RESETDB_GENERATION_KEY), restart: generation(config, RESTART_GENERATION_KEY) };
}

export function isManaged(config: Record<string, string>): boolean {
  const marker = config[OWNERSHIP_MARKER];
  return marker !== undefined && marker !== '';
}

/** The env keys the manager set last time, as recorded in the app (so removed ones can be unset). */
export function recordedEnvKeys(config: Record<string, string>): string[] {
  const recorded = config[ENV_KEYS_KEY];
  return recorded ? recorded.split(',').filter((k) => k !== '') : [];
}

export function desiredConfig(instance: OTreeInstance, secrets: Secrets, observedConfig: Record<string, string>): DesiredConfig {
  const { otree, env, rooms } = instance.spec;
  const desired: DesiredConfig = new Map();
  desired.set(OWNERSHIP_MARKER, MARKER_VALUE);
  desired.set('OTREE_PRODUCTION', otree.production ? '1' : '0');
  // oTree reads an unset OTREE_AUTH_LEVEL as "no login anywhere"; OFF is spelled by leaving it out.
  desired.set('OTREE_AUTH_LEVEL', otree.authLevel === 'OFF' ? undefined : otree.authLevel);
  desired.set('OTREE_ADMIN_PASSWORD', secrets.adminPassword);
  desired.set('OTREE_REST_KEY', secrets.restKey);
  for (const key of recordedEnvKeys(observedConfig)) desired.set(key, undefined);
  const envKeys = Object.keys(env).sort();
  for (const key of envKeys) desired.set(key, env[key]);
  desired.set(ENV_KEYS_KEY, envKeys.length > 0 ? envKeys.join(',') : undefined);
  desired.set(ROOMS_KEY, rooms.length > 0 ? roomsJson(instance) : undefined);
  return desired;
}

/** Rooms as compact JSON in oTree's own settings.ROOMS shape, for the project's settings.py to read. */
export function roomsJson(instance: OTreeInstance): string {
  return JSON.stringify(instance.spec.rooms.map((r) => ({
    name: r.name, display_name: r.displayName, participant_labels: r.participantLabels,
  })));
}

export interface ConfigDiff {
  set: ConfigPair[];
  unset: string[];
}

export function diffConfig(desired: DesiredConfig, observed: Record<string, string>): ConfigDiff {
  const set: ConfigPair[] = [];
  const unset: string[] = [];
  for (const [key, value] of desired) {
    const current = observed[key];
    if (value === undefined) {
      if (current !== undefined) unset.push(key);
    } else if (current !== storedForm(value)) {
      set.push(pair(key, value));
    }
  }
  return { set, unset: unset.sort() };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * The value as Dokku stores it: its env-file writer rewrites integer-looking values (`007` → `7`,
 * `+5` → `5`). Comparing against this form keeps such a value from looking changed on every pass.
 */
export function storedForm(value: string): string {
  if (!/^[+-]?[0-9]+$/.test(value)) return value;
  const n = BigInt(value.startsWith('+') ? value.slice(1) : value);
  return n >= INT64_MIN && n <= INT64_MAX ? n.toString() : value;
}

export function pair(key: string, value: string): ConfigPair {
  return { key, value, secret: !PRINTABLE.has(key) };
}

/** Keys whose change the running processes only see after a restart. */
export function needsRestart(key: string): boolean {
  return key !== OWNERSHIP_MARKER;
}
