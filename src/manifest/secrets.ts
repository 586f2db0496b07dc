// Secrets in manifests: where they sit, and how every output hides them.
import type { ManifestObject, SecretRef } from './types.js';

/** What every output prints instead of a secret value. */
export const SECRET_MASK = '********';

/** The dotted paths of the secret references an object holds, with the references themselves. */
export function secretRefs(object: ManifestObject): { path: string; ref: SecretRef }[] {
  if (object.kind !== 'OTreeInstance') return [];
  const found: { path: string; ref: SecretRef }[] = [{ path: 'spec.otree.adminPassword', ref: object.spec.otree.adminPassword }];
  if (object.spec.otree.restKey) found.push({ path: 'spec.otree.restKey', ref: object.spec.otree.restKey });
  return found;
}

/** A copy of `ref` that is safe to print: `value` secrets are masked; file, variable and stored-secret names stay. */
export function maskSecretRef(ref: SecretRef): SecretRef {
  return 'value' in ref ? { value: SECRET_MASK } : { ...ref };
}

/**
 * `scheme://userinfo@` in any text. For ssh the user name is an account (`git@`), not a secret, so only a
 * password after it is masked; for every other scheme the whole userinfo is (`https://TOKEN@host`).
 */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*):\/\/([^\s/?#@:]*)(:[^\s/?#@]*)?@/gi;

/** `text` with the credentials of every URL in it masked; used on specs, events, logs, plans and Dokku's output. */
export function maskUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO, (match, scheme: string, user: string, password: string | undefined) => {
    if (/^(ssh|git\+ssh|ssh\+git)$/i.test(scheme)) return password === undefined ? match : `${scheme}://${user}:${SECRET_MASK}@`;
    return `${scheme}://${SECRET_MASK}@`;
  });
}

/**
 * A stored spec (a row's JSON, defaults not applied, possibly invalid) safe for the audit log: the
 * same masking as maskSecrets, on whatever of those fields is there.
 */
export function maskStoredSpec(spec: unknown): unknown {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) return spec;
  const copy = structuredClone(spec) as Record<string, unknown>;
  const record = (value: unknown): Record<string, unknown> | undefined =>
    (typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined);
  const otree = record(copy.otree);
  for (const field of ['adminPassword', 'restKey']) {
    const ref = record(otree?.[field]);
    if (ref && 'value' in ref) ref.value = SECRET_MASK;
  }
  const env = record(copy.env);
  if (env) for (const key of Object.keys(env)) env[key] = SECRET_MASK;
  const git = record(record(copy.source)?.git);
  if (git && typeof git.url === 'string') git.url = maskUrlCredentials(git.url);
  return copy;
}

/**
 * A deep copy of `object` safe for every output: `value` secrets and spec.env values replaced by
 * SECRET_MASK (the keys stay visible), credentials in the git URL masked.
 */
export function maskSecrets<T extends ManifestObject>(object: T): T {
  const copy = structuredClone(object);
  if (copy.kind === 'OTreeInstance') {
    const { spec } = copy;
    spec.otree.adminPassword = maskSecretRef(spec.otree.adminPassword);
    if (spec.otree.restKey) spec.otree.restKey = maskSecretRef(spec.otree.restKey);
    spec.env = Object.fromEntries(Object.keys(spec.env).map((key) => [key, SECRET_MASK]));
    if ('git' in spec.source) spec.source.git.url = maskUrlCredentials(spec.source.git.url);
  }
  return copy;
}
