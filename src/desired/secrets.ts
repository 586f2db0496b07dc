// Resolving an instance's secret references on the daemon's host. Errors name the instance and field
// and say what to do; they never contain the secret.
//
// `fromFile` is read only below the configured secret directories (`secrets.dirs`, after resolving
// symbolic links), only when it is a regular file, never more than `secrets.maxBytes` of it and never
// for longer than a time limit: a manifest naming /dev/zero, a FIFO or the daemon's ssh key gets an
// error, not the daemon's memory or its credentials.
import { constants } from 'node:fs';
import { open, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { SecretRef } from '../manifest/index.js';

export class SecretError extends Error {
  override name = 'SecretError';
}

/** Where file secrets may be read from and how much of them. The defaults are those of the configuration. */
export interface SecretFileLimits {
  dirs: readonly string[];
  maxBytes: number;
  /** How long opening and reading one file may take. @default 5000 */
  timeoutMs?: number;
}

export const DEFAULT_SECRET_DIRS: readonly string[] = ['/etc/otree-manager/secrets'];
export const DEFAULT_SECRET_MAX_BYTES = 65536;
const DEFAULT_READ_TIMEOUT_MS = 5000;

/** The encrypted store of secrets written through the API (SecretStore), as resolution needs it. */
export interface SecretLookup {
  /** The plaintext of the instance's secret, or undefined when it was never set. */
  get(instance: string, name: string): Promise<string | undefined>;
}

export interface SecretContext {
  /** Who needs the secret, e.g. `instance alice-pgg spec.otree.adminPassword`. */
  field: string;
  /** The environment to read `fromEnv` from (default: the daemon's). */
  env?: NodeJS.ProcessEnv;
  /** For `fromFile`. @default the configuration's defaults */
  limits?: SecretFileLimits;
  /** The instance whose stored secrets `secretRef` names. */
  instance?: string;
  /** For `secretRef`; undefined when no database or no `secrets.keyFile` is configured. */
  store?: SecretLookup;
}

/** The secret's value: a file's content without its trailing newline, an environment variable, a stored secret, or the inline value. */
export async function resolveSecret(ref: SecretRef, context: SecretContext): Promise<string> {
  const { field, env = process.env } = context;
  if ('value' in ref) return ref.value;
  if ('fromEnv' in ref) {
    const value = env[ref.fromEnv];
    if (value === undefined || value === '') {
      throw new SecretError(`${field}: environment variable ${ref.fromEnv} is not set for the daemon; set it (e.g. in the systemd unit's EnvironmentFile) or use fromFile`);
    }
    return value;
  }
  if ('secretRef' in ref) return resolveStored(ref.secretRef, context);
  const value = (await readSecretFile(ref.fromFile, field, context.limits)).replace(/\r?\n$/, '');
  if (value === '') throw new SecretError(`${field}: secret file ${ref.fromFile} is empty; write the secret into it`);
  return value;
}

async function resolveStored(name: string, { field, instance, store }: SecretContext): Promise<string> {
  if (instance === undefined || store === undefined) {
    throw new SecretError(`${field}: secretRef ${name} names a secret stored in the database, but this daemon has no secret store; set postgresUrl and secrets.keyFile in the configuration`);
  }
  let value: string | undefined;
  try {
    value = await store.get(instance, name);
  } catch (err) {
    throw new SecretError(`${field}: cannot read the stored secret ${name}: ${(err as Error).message}`);
  }
  if (value === undefined) {
    throw new SecretError(`${field}: the secret ${name} of instance ${instance} is not set yet; set it with PUT /api/v1/instances/${instance}/secrets/${name} (body {"value": "..."} or {"generate": true})`);
  }
  return value;
}

/** True when `file` is `dir` itself or below it (both real paths). */
function isBelow(file: string, dir: string): boolean {
  const relative = path.relative(dir, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

async function realDirs(dirs: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const dir of dirs) {
    try {
      found.push(await realpath(dir));
    } catch {
      // A configured directory that does not exist holds no secrets.
    }
  }
  return found;
}

/**
 * Reads a secret file within the limits. Every refusal is a SecretError naming the field and the path
 * (never the content).
 */
export async function readSecretFile(file: string, field: string, limits: SecretFileLimits = { dirs: DEFAULT_SECRET_DIRS, maxBytes: DEFAULT_SECRET_MAX_BYTES }): Promise<string> {
  const refuse = (reason: string, what: string): SecretError => new SecretError(`${field}: secret file ${file} ${reason}; ${what}`);
  const allowed = `put the secret in a file below ${limits.dirs.join(' or ')} (secrets.dirs)`;
  if (!path.isAbsolute(file)) throw refuse('is not an absolute path', allowed);

  let real: string;
  try {
    real = await realpath(file);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT') throw refuse('cannot be read: it does not exist', 'create it (readable by the daemon\'s user only) or fix fromFile');
    if (code === 'EACCES') throw refuse('cannot be read: the daemon may not read it', 'make it readable by the daemon\'s user');
    throw refuse(`cannot be read (${code ?? 'error'})`, 'fix fromFile');
  }
  const dirs = await realDirs(limits.dirs);
  if (!dirs.some((dir) => isBelow(real, dir))) throw refuse('is outside the secret directories (after resolving links)', allowed);

  const timeoutMs = limits.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(refuse(`could not be read within ${timeoutMs} ms`, 'use a regular file on a local file system'));
    }, timeoutMs);
  });
  try {
    return await Promise.race([readLimited(real, dirs, limits.maxBytes, refuse, allowed, controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function readLimited(
  real: string,
  dirs: string[],
  maxBytes: number,
  refuse: (reason: string, what: string) => SecretError,
  allowed: string,
  signal: AbortSignal,
): Promise<string> {
  let handle;
  try {
    // O_NOFOLLOW: a link swapped in after realpath is not followed; O_NONBLOCK: a FIFO does not hang the open.
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'ELOOP') throw refuse('is a symbolic link', allowed);
    if (code === 'EACCES') throw refuse('cannot be read: the daemon may not read it', 'make it readable by the daemon\'s user');
    throw refuse(`cannot be opened (${code ?? 'error'})`, 'fix fromFile');
  }
  try {
    // What was opened, not what the path said a moment ago (Linux): still below a secret directory?
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => real);
    if (!dirs.some((dir) => isBelow(opened, dir))) throw refuse('is outside the secret directories (after resolving links)', allowed);
    const stats = await handle.stat();
    if (!stats.isFile()) throw refuse('is not a regular file (a directory, device, FIFO or socket)', allowed);
    if (stats.size > maxBytes) throw refuse(`is larger than ${maxBytes} bytes (secrets.maxBytes)`, 'a secret is a short value: shorten the file or raise secrets.maxBytes');
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    while (length < buffer.length && !signal.aborted) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw refuse(`is larger than ${maxBytes} bytes (secrets.maxBytes)`, 'a secret is a short value: shorten the file or raise secrets.maxBytes');
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}
