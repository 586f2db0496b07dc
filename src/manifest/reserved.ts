// Names the manager owns on a Dokku host. The planner imports these to decide which config keys it may
// set or remove, and the validator rejects manifests that try to claim them.

/** Config key that marks a Dokku app as created (or adopted) by otree-manager. */
export const OWNERSHIP_MARKER = 'OTM_MANAGED';

/** Every key with one of these prefixes belongs to the manager, to oTree's managed settings or to Dokku. */
export const RESERVED_ENV_PREFIXES: readonly string[] = ['OTM_', 'OTREE_', 'DOKKU_'];

/** Keys set by the service links (postgres:link, redis:link). */
export const RESERVED_ENV_KEYS: readonly string[] = ['DATABASE_URL', 'REDIS_URL'];

/** True when `key` may not appear in an instance's spec.env because the manager sets it. */
export function isReservedEnvKey(key: string): boolean {
  return RESERVED_ENV_KEYS.includes(key) || RESERVED_ENV_PREFIXES.some((prefix) => key.startsWith(prefix));
}

/** What to say when a manifest sets a reserved key: where the value should come from instead. */
export function reservedEnvKeyAdvice(key: string): string {
  switch (key) {
    case 'OTREE_ADMIN_PASSWORD': return 'set spec.otree.adminPassword instead';
    case 'OTREE_REST_KEY': return 'set spec.otree.restKey instead';
    case 'OTREE_AUTH_LEVEL': return 'set spec.otree.authLevel instead';
    case 'OTREE_PRODUCTION': return 'set spec.otree.production instead';
    case 'DATABASE_URL': return 'the PostgreSQL service link sets it';
    case 'REDIS_URL': return 'the Redis service link sets it (spec.redis: true)';
    default: return 'remove it from spec.env';
  }
}

/**
 * Dokku app names every Dokku version accepts (0.30–0.38 rules intersected) and that fit one DNS label,
 * since the default vhost is `<name>.<baseDomain>`.
 */
export const APP_NAME_PATTERN = /^[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/**
 * Names that match APP_NAME_PATTERN but that Dokku treats specially:
 * - `tls`: Dokku's root directory keeps the global certificate in `tls/`, and `apps:list` skips that
 *   directory, so an app of that name would exist but never be listed.
 * - `dokku`: the Dokku system user and the `dokku.` prefix of plugin service containers; an app of that
 *   name makes `git push dokku@host:dokku` and container listings ambiguous.
 * `--global` (config and report scope) and `_default_` (resource process type) cannot match the pattern.
 */
export const RESERVED_APP_NAMES: readonly string[] = ['tls', 'dokku'];

export interface ServiceNames {
  postgres: string;
  redis: string;
}

/** The PostgreSQL and Redis service names of an instance (Dokku service names: `^[A-Za-z0-9_-]+$`). */
export function serviceNames(instanceName: string): ServiceNames {
  return { postgres: `${instanceName}-pg`, redis: `${instanceName}-redis` };
}
