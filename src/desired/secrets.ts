// Resolving an instance's secret references on the daemon's host. Errors name the instance and field
// and say what to do; they never contain the secret.
import { readFile } from 'node:fs/promises';
import type { SecretRef } from '../manifest/index.js';

export class SecretError extends Error {
  override name = 'SecretError';
}

export interface SecretContext {
  /** Who needs the secret, e.g. `alice-pgg spec.otree.adminPassword`. */
  field: string;
  /** The environment to read `fromEnv` from (default: the daemon's). */
  env?: NodeJS.ProcessEnv;
}

/** The secret's value: a file's content without its trailing newline, an environment variable, or the inline value. */
export async function resolveSecret(ref: SecretRef, { field, env = process.env }: SecretContext): Promise<string> {
  if ('value' in ref) return ref.value;
  if ('fromEnv' in ref) {
    const value = env[ref.fromEnv];
    if (value === undefined || value === '') {
      throw new SecretError(`${field}: environment variable ${ref.fromEnv} is not set for the daemon; set it (e.g. in the systemd unit's EnvironmentFile) or use fromFile`);
    }
    return value;
  }
  let content: string;
  try {
    content = await readFile(ref.fromFile, 'utf8');
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    const reason = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'the daemon may not read it' : (error as Error).message;
    throw new SecretError(`${field}: cannot read secret file ${ref.fromFile}: ${reason}; create it (readable by the daemon's user only) or fix fromFile`);
  }
  const value = content.replace(/\r?\n$/, '');
  if (value === '') throw new SecretError(`${field}: secret file ${ref.fromFile} is empty; write the secret into it`);
  return value;
}
