// Secrets written through the API, stored in otm.secrets encrypted with AES-256-GCM. The keys come
// from `secrets.keyFile`: one `ID:BASE64(32 bytes)` per line; the first line encrypts, every line
// decrypts, so a key is rotated by prepending a new line, running `otm secrets rotate` and then
// removing the old line. The additional authenticated data binds each ciphertext to its instance and
// secret name: a row copied to another instance (or renamed) does not decrypt. Plaintext is never
// logged and never part of an error message.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type pg from 'pg';
import { audit } from '../store/audit.js';
import type { Actor, AuditEntry } from '../store/audit.js';
import { inTransaction } from '../store/pool.js';
import type { SecretLookup } from './secrets.js';

export const SECRET_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const IV_BYTES = 12;
const KEY_BYTES = 32;

export class SecretKeyError extends Error {
  override name = 'SecretKeyError';
}

export interface SecretKey {
  id: string;
  key: Buffer;
}

/** The keys of a key file, the encrypting one first. */
export class Keyring {
  private readonly byId: Map<string, Buffer>;

  constructor(readonly keys: readonly SecretKey[]) {
    if (keys.length === 0) throw new SecretKeyError('a keyring needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  get primary(): SecretKey {
    return this.keys[0]!;
  }

  key(id: string): Buffer | undefined {
    return this.byId.get(id);
  }
}

/** A random key line for a key file: `ID:BASE64`. */
export function newKeyLine(id = `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}${randomBytes(2).toString('hex')}`): string {
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

/** Parses a key file's text; errors say which line is wrong, never what it holds. */
export function parseKeyFile(text: string, file: string): Keyring {
  const keys: SecretKey[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const id = line.slice(0, colon);
    const key = Buffer.from(line.slice(colon + 1), 'base64');
    if (colon <= 0 || !KEY_ID_PATTERN.test(id) || key.length !== KEY_BYTES || !/^[A-Za-z0-9+/]+={0,2}$/.test(line.slice(colon + 1))) {
      throw new SecretKeyError(`line ${index + 1} of the secret key file ${file} (secrets.keyFile) is not ID:BASE64 of 32 bytes; write keys as e.g. \`k1:$(head -c 32 /dev/urandom | base64)\``);
    }
    if (keys.some((k) => k.id === id)) throw new SecretKeyError(`key id ${id} appears twice in the secret key file ${file} (secrets.keyFile); give every key its own id`);
    keys.push({ id, key });
  });
  if (keys.length === 0) throw new SecretKeyError(`the secret key file ${file} (secrets.keyFile) holds no key; add a line ID:BASE64 (32 random bytes), e.g. \`k1:$(head -c 32 /dev/urandom | base64)\``);
  return new Keyring(keys);
}

/** Reads the key file, refusing one that others may read. */
export async function loadKeyring(file: string): Promise<Keyring> {
  let mode: number;
  let text: string;
  try {
    mode = (await stat(file)).mode;
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new SecretKeyError(`cannot read the secret key file ${file} (secrets.keyFile): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; create it (\`make install\` does) readable by the daemon's group only`);
  }
  if ((mode & 0o007) !== 0) {
    throw new SecretKeyError(`the secret key file ${file} (secrets.keyFile) is accessible by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run \`chmod 0640 ${file}\` (owner root, group of the daemon's user)`);
  }
  return parseKeyFile(text, file);
}

export interface Sealed {
  keyId: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

function aad(instance: string, name: string): Buffer {
  return Buffer.from(`otm-secret\0${instance}\0${name}`, 'utf8');
}

export function seal(keyring: Keyring, instance: string, name: string, plaintext: string): Sealed {
  const { id, key } = keyring.primary;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(instance, name));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { keyId: id, iv, ciphertext, tag: cipher.getAuthTag() };
}

export function open(keyring: Keyring, instance: string, name: string, sealed: Sealed): string {
  const key = keyring.key(sealed.keyId);
  if (!key) {
    throw new SecretKeyError(`the secret ${name} of instance ${instance} is encrypted with key ${sealed.keyId}, which is not in secrets.keyFile; put that key back in the file (after the first line) and run \`otm secrets rotate\``);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv);
    decipher.setAAD(aad(instance, name));
    decipher.setAuthTag(sealed.tag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretKeyError(`the secret ${name} of instance ${instance} does not decrypt with key ${sealed.keyId}: the row was changed, copied from another instance, or the key in secrets.keyFile is not the one it was written with; set the secret again`);
  }
}

interface SecretRow {
  key_id: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

const secretAudit = (by: Actor, action: string, instance: string, name: string, details: Record<string, unknown> = {}): AuditEntry => ({
  ...by, action, objectKind: 'secret', objectName: `${instance}/${name}`, details: { instance, secret: name, ...details },
});

/** The store with the keys of `keyFile` (secrets.keyFile). */
export async function openSecretStore(pool: pg.Pool, keyFile: string): Promise<SecretStore> {
  return new SecretStore(pool, await loadKeyring(keyFile));
}

export class SecretStore implements SecretLookup {
  constructor(private readonly pool: pg.Pool, private readonly keyring: Keyring) {}

  /** Encrypts and stores (or replaces) a secret, audited; returns when it was written. */
  async set(instance: string, name: string, value: string, by: Actor, details: Record<string, unknown> = {}): Promise<Date> {
    if (!SECRET_NAME_PATTERN.test(name)) throw new TypeError(`secret name ${JSON.stringify(name)} is not valid`);
    if (value === '') throw new TypeError('a secret cannot be empty');
    const sealed = seal(this.keyring, instance, name, value);
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ updated_at: Date }>(
        `INSERT INTO otm.secrets (instance, name, key_id, iv, ciphertext, tag, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp(), $7)
         ON CONFLICT (instance, name) DO UPDATE SET key_id = EXCLUDED.key_id, iv = EXCLUDED.iv,
           ciphertext = EXCLUDED.ciphertext, tag = EXCLUDED.tag, updated_at = clock_timestamp(), updated_by = EXCLUDED.updated_by
         RETURNING updated_at`,
        [instance, name, sealed.keyId, sealed.iv, sealed.ciphertext, sealed.tag, by.actor],
      );
      await audit(client, secretAudit(by, 'secret.set', instance, name, { keyId: sealed.keyId, ...details }));
      return rows[0]!.updated_at;
    });
  }

  /** The plaintext, for the planner (not audited: it goes to the app, not to a person). */
  async get(instance: string, name: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<SecretRow>('SELECT key_id, iv, ciphertext, tag FROM otm.secrets WHERE instance = $1 AND name = $2', [instance, name]);
    const row = rows[0];
    if (!row) return undefined;
    return open(this.keyring, instance, name, { keyId: row.key_id, iv: row.iv, ciphertext: row.ciphertext, tag: row.tag });
  }

  /** The plaintext shown to a person: recorded in the audit log before it is returned. */
  async reveal(instance: string, name: string, by: Actor): Promise<string | undefined> {
    const value = await this.get(instance, name);
    if (value === undefined) return undefined;
    await audit(this.pool, secretAudit(by, 'secret.reveal', instance, name));
    return value;
  }

  /** Audited; false when there was no such secret (nothing recorded then). */
  async delete(instance: string, name: string, by: Actor): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const result = await client.query('DELETE FROM otm.secrets WHERE instance = $1 AND name = $2', [instance, name]);
      if (result.rowCount !== 1) return false;
      await audit(client, secretAudit(by, 'secret.delete', instance, name));
      return true;
    });
  }

  /** The names (and times) of an instance's secrets, never their values. */
  async list(instance: string): Promise<{ name: string; updatedAt: Date; updatedBy: string }[]> {
    const { rows } = await this.pool.query<{ name: string; updated_at: Date; updated_by: string }>(
      'SELECT name, updated_at, updated_by FROM otm.secrets WHERE instance = $1 ORDER BY name', [instance]);
    return rows.map((r) => ({ name: r.name, updatedAt: r.updated_at, updatedBy: r.updated_by }));
  }

  /**
   * Re-encrypts every stored secret with the first key of the key file, in one transaction: either
   * every row moves to the new key or none does. Returns how many rows were re-encrypted.
   */
  async rotate(by: Actor): Promise<{ rotated: number; keyId: string }> {
    const keyId = this.keyring.primary.id;
    const rotated = await inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<SecretRow & { instance: string; name: string }>(
        'SELECT instance, name, key_id, iv, ciphertext, tag FROM otm.secrets ORDER BY instance, name FOR UPDATE');
      let count = 0;
      for (const row of rows) {
        const plaintext = open(this.keyring, row.instance, row.name, { keyId: row.key_id, iv: row.iv, ciphertext: row.ciphertext, tag: row.tag });
        const sealed = seal(this.keyring, row.instance, row.name, plaintext);
        // updated_at/updated_by describe the secret's value, which does not change here.
        await client.query('UPDATE otm.secrets SET key_id = $3, iv = $4, ciphertext = $5, tag = $6 WHERE instance = $1 AND name = $2',
          [row.instance, row.name, sealed.keyId, sealed.iv, sealed.ciphertext, sealed.tag]);
        count++;
      }
      await audit(client, { ...by, action: 'secrets.rotate', objectKind: 'secret-key', objectName: keyId, details: { rotated: count } });
      return count;
    });
    return { rotated, keyId };
  }
}
