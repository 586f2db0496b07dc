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

/** A deep copy of `object` with every `value` secret replaced by SECRET_MASK; used by every output. */
export function maskSecrets<T extends ManifestObject>(object: T): T {
  const copy = structuredClone(object);
  if (copy.kind === 'OTreeInstance') {
    copy.spec.otree.adminPassword = maskSecretRef(copy.spec.otree.adminPassword);
    if (copy.spec.otree.restKey) copy.spec.otree.restKey = maskSecretRef(copy.spec.otree.restKey);
  }
  return copy;
}
