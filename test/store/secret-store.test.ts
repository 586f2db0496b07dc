// The encrypted secret store against real PostgreSQL: nothing readable at rest, tampering and moved
// rows refused, the key file's mode checked, rotation (also through `otm secrets rotate`), audit rows
// for every write and reveal, and the `secrets/<instance>` hint on the desired-state channel.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { loadKeyring, newKeyLine, parseKeyFile, SecretKeyError, SecretStore } from '../../src/desired/secret-store.js';
import { DESIRED_CHANNEL } from '../../src/desired/postgres.js';
import { otm } from '../cli/support.js';
import { waitFor } from '../support/services.js';
import { useMigratedDatabase } from './database.js';

const db = useMigratedDatabase();
const PLAIN = 'plain-admin-password-Vq82zTn';
const by = { actor: 'tester', clientAddress: '127.0.0.1', authMethod: 'token' };

let work: string;
before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'otm-secret-store-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function keyFile(name: string, lines: string[], mode = 0o640): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, `${lines.join('\n')}\n`, { mode });
  await chmod(file, mode);
  return file;
}

async function rawRow(instance: string, name: string): Promise<{ key_id: string; iv: Buffer; ciphertext: Buffer; tag: Buffer } | undefined> {
  const { rows } = await db.pool.query('SELECT key_id, iv, ciphertext, tag FROM otm.secrets WHERE instance = $1 AND name = $2', [instance, name]);
  return rows[0];
}

describe('key file', () => {
  it('refuses a file others may read, a malformed line and an empty file, without quoting the keys', async () => {
    const line = newKeyLine('k1');
    await assert.rejects(loadKeyring(await keyFile('open-keys', [line], 0o644)), (err: unknown) => {
      assert.ok(err instanceof SecretKeyError);
      assert.match(err.message, /is accessible by others \(mode 0644\); run `chmod 0640 /);
      assert.ok(!err.message.includes(line.slice(3)));
      return true;
    });
    await assert.rejects(loadKeyring(await keyFile('short-key', ['k1:c2hvcnQ='])), /line 1 of the secret key file .* is not ID:BASE64 of 32 bytes/);
    await assert.rejects(loadKeyring(await keyFile('no-key', ['# only a comment'])), /holds no key/);
    await assert.rejects(loadKeyring(path.join(work, 'missing')), /cannot read the secret key file .*ENOENT/);
    assert.throws(() => parseKeyFile(`${newKeyLine('a')}\n${newKeyLine('a')}`, 'f'), /key id a appears twice/);
    const keyring = await loadKeyring(await keyFile('good', ['# comment', line, newKeyLine('k0')]));
    assert.deepEqual(keyring.keys.map((k) => k.id), ['k1', 'k0']);
  });
});

describe('SecretStore', () => {
  it('stores the secret encrypted: neither the row nor anything else in the database holds the plaintext', async () => {
    const store = new SecretStore(db.pool, parseKeyFile(newKeyLine('k1'), 'keys'));
    const at = await store.set('alice', 'adminPassword', PLAIN, by);
    assert.ok(at instanceof Date);
    assert.equal(await store.get('alice', 'adminPassword'), PLAIN);
    const row = await rawRow('alice', 'adminPassword');
    assert.ok(row);
    assert.equal(row.key_id, 'k1');
    assert.equal(row.iv.length, 12);
    assert.equal(row.tag.length, 16);
    assert.ok(!row.ciphertext.includes(Buffer.from(PLAIN)));
    // Every table, as text: the plaintext is nowhere (audit rows included).
    const { rows } = await db.pool.query<{ dump: string }>(
      `SELECT string_agg(t::text, ' ') AS dump FROM (
         SELECT s::text AS t FROM otm.secrets s UNION ALL SELECT a::text FROM otm.audit_log a) x`);
    assert.ok(!(rows[0]?.dump ?? '').includes(PLAIN));
    assert.ok(!(rows[0]?.dump ?? '').includes(Buffer.from(PLAIN).toString('hex')));
    // A new IV every time: the same value twice gives two different ciphertexts.
    await store.set('alice', 'adminPassword', PLAIN, by);
    assert.notDeepEqual((await rawRow('alice', 'adminPassword'))?.ciphertext, row.ciphertext);
    assert.equal(await store.get('alice', 'nothing'), undefined);
  });

  it('refuses a wrong key, a tampered ciphertext or tag, and a row moved to another instance or name', async () => {
    const store = new SecretStore(db.pool, parseKeyFile(newKeyLine('k1'), 'keys'));
    await store.set('bob', 'restKey', PLAIN, by);
    const noPlain = (err: unknown) => err instanceof SecretKeyError && !err.message.includes(PLAIN);

    // Another key with the same id: the tag does not verify.
    const wrong = new SecretStore(db.pool, parseKeyFile(newKeyLine('k1'), 'other-keys'));
    await assert.rejects(wrong.get('bob', 'restKey'), (err: unknown) => noPlain(err) && /does not decrypt with key k1/.test((err as Error).message));
    // A key id the file does not have.
    const unknown = new SecretStore(db.pool, parseKeyFile(newKeyLine('k9'), 'other-keys'));
    await assert.rejects(unknown.get('bob', 'restKey'), /encrypted with key k1, which is not in secrets.keyFile/);

    // Flip one bit of the ciphertext, then of the tag.
    await db.pool.query("UPDATE otm.secrets SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) WHERE instance = 'bob'");
    await assert.rejects(store.get('bob', 'restKey'), noPlain);
    await db.pool.query("UPDATE otm.secrets SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) WHERE instance = 'bob'");
    assert.equal(await store.get('bob', 'restKey'), PLAIN);
    await db.pool.query("UPDATE otm.secrets SET tag = set_byte(tag, 3, get_byte(tag, 3) # 128) WHERE instance = 'bob'");
    await assert.rejects(store.get('bob', 'restKey'), noPlain);
    await db.pool.query("UPDATE otm.secrets SET tag = set_byte(tag, 3, get_byte(tag, 3) # 128) WHERE instance = 'bob'");

    // Copied to another instance, or to another secret name of the same instance: the AAD does not match.
    await db.pool.query("INSERT INTO otm.secrets (instance, name, key_id, iv, ciphertext, tag, updated_by) SELECT 'mallory', name, key_id, iv, ciphertext, tag, 'x' FROM otm.secrets WHERE instance = 'bob'");
    await assert.rejects(store.get('mallory', 'restKey'), (err: unknown) => noPlain(err) && /copied from another instance/.test((err as Error).message));
    await db.pool.query("INSERT INTO otm.secrets (instance, name, key_id, iv, ciphertext, tag, updated_by) SELECT instance, 'adminPassword', key_id, iv, ciphertext, tag, 'x' FROM otm.secrets WHERE instance = 'bob' AND name = 'restKey'");
    await assert.rejects(store.get('bob', 'adminPassword'), noPlain);
    assert.equal(await store.get('bob', 'restKey'), PLAIN);
  });

  it('records every write, delete and reveal in the audit log, never with the value', async () => {
    const store = new SecretStore(db.pool, parseKeyFile(newKeyLine('k1'), 'keys'));
    const before = Number((await db.pool.query('SELECT coalesce(max(id), 0) AS id FROM otm.audit_log')).rows[0].id);
    await store.set('carol', 'adminPassword', PLAIN, by);
    assert.equal(await store.reveal('carol', 'adminPassword', { actor: 'dana', clientAddress: '10.0.0.7', authMethod: 'token' }), PLAIN);
    assert.equal(await store.delete('carol', 'adminPassword', by), true);
    assert.equal(await store.delete('carol', 'adminPassword', by), false);
    assert.equal(await store.reveal('carol', 'adminPassword', by), undefined);
    const { rows } = await db.pool.query('SELECT actor, action, object_kind, object_name, client_address, auth_method, details FROM otm.audit_log WHERE id > $1 ORDER BY id', [before]);
    assert.deepEqual(rows.map((r) => [r.actor, r.action, r.object_kind, r.object_name, r.client_address, r.auth_method]), [
      ['tester', 'secret.set', 'secret', 'carol/adminPassword', '127.0.0.1', 'token'],
      ['dana', 'secret.reveal', 'secret', 'carol/adminPassword', '10.0.0.7', 'token'],
      ['tester', 'secret.delete', 'secret', 'carol/adminPassword', '127.0.0.1', 'token'],
    ]);
    assert.ok(!JSON.stringify(rows).includes(PLAIN));
  });

  it('notifies secrets/<instance> on the desired-state channel when a value changes, not when it is re-encrypted', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => { if (m.channel === DESIRED_CHANNEL && m.payload) heard.push(m.payload); });
    await listener.query(`LISTEN ${DESIRED_CHANNEL}`);
    try {
      await db.pool.query('DELETE FROM otm.secrets');
      const line = newKeyLine('k1');
      const store = new SecretStore(db.pool, parseKeyFile(line, 'keys'));
      await store.set('erin', 'adminPassword', PLAIN, by);
      await waitFor('the hint for set', () => heard.includes('secrets/erin') || undefined);
      heard.length = 0;
      assert.equal((await new SecretStore(db.pool, parseKeyFile(`${newKeyLine('k2')}\n${line}`, 'keys')).rotate(by)).rotated, 1);
      await store.delete('erin', 'adminPassword', by);
      // Notifications arrive in commit order: once the delete's hint is here, a rotation hint would be too.
      await waitFor('the hint for delete', () => heard.length > 0 || undefined);
      assert.deepEqual(heard, ['secrets/erin']);
    } finally {
      await listener.end();
    }
  });
});

describe('rotation', () => {
  it('prepend a new key, `otm secrets rotate`, remove the old line: every secret still decrypts, under the new key', async () => {
    await db.pool.query('DELETE FROM otm.secrets');
    const oldLine = newKeyLine('old');
    const oldFile = await keyFile('rotate-keys', [oldLine]);
    const old = new SecretStore(db.pool, await loadKeyring(oldFile));
    await old.set('frank', 'adminPassword', `${PLAIN}-1`, by);
    await old.set('frank', 'restKey', `${PLAIN}-2`, by);
    await old.set('gina', 'adminPassword', `${PLAIN}-3`, by);
    const updatedBefore = (await db.pool.query('SELECT instance, name, updated_at FROM otm.secrets ORDER BY 1, 2')).rows;

    // 1. Prepend the new key: new writes use it, old rows still decrypt.
    const newLine = newKeyLine('new');
    await writeFile(oldFile, `${newLine}\n${oldLine}\n`);
    // 2. Rotate with the command an admin runs.
    const configFile = path.join(work, 'rotate.json');
    await writeFile(configFile, JSON.stringify({ postgresUrl: db.url, secrets: { keyFile: oldFile } }));
    const result = await otm(['--config', configFile, 'secrets', 'rotate']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /3 secrets re-encrypted with key new/);
    assert.ok(!result.stdout.includes(PLAIN) && !result.stderr.includes(PLAIN));
    const { rows } = await db.pool.query<{ key_id: string }>('SELECT DISTINCT key_id FROM otm.secrets');
    assert.deepEqual(rows.map((r) => r.key_id), ['new']);
    // Re-encryption is not a change of value.
    assert.deepEqual((await db.pool.query('SELECT instance, name, updated_at FROM otm.secrets ORDER BY 1, 2')).rows, updatedBefore);

    // 3. Remove the old line: everything decrypts with the new key alone; the old key alone no longer works.
    await writeFile(oldFile, `${newLine}\n`);
    const rotated = new SecretStore(db.pool, await loadKeyring(oldFile));
    assert.equal(await rotated.get('frank', 'adminPassword'), `${PLAIN}-1`);
    assert.equal(await rotated.get('frank', 'restKey'), `${PLAIN}-2`);
    assert.equal(await rotated.get('gina', 'adminPassword'), `${PLAIN}-3`);
    await assert.rejects(new SecretStore(db.pool, parseKeyFile(oldLine, 'old')).get('gina', 'adminPassword'), /encrypted with key new/);
    const audit = await db.pool.query("SELECT object_name, details FROM otm.audit_log WHERE action = 'secrets.rotate' ORDER BY id DESC LIMIT 1");
    assert.deepEqual(audit.rows[0], { object_name: 'new', details: { rotated: 3 } });
    assert.equal(await readFile(oldFile, 'utf8'), `${newLine}\n`);
  });

  it('rotation with a key missing from the file changes nothing and says which key is needed', async () => {
    const configFile = path.join(work, 'rotate-missing.json');
    await writeFile(configFile, JSON.stringify({ postgresUrl: db.url, secrets: { keyFile: await keyFile('unrelated-keys', [newKeyLine('other')]) } }));
    const before = (await db.pool.query('SELECT instance, name, key_id, ciphertext FROM otm.secrets ORDER BY 1, 2')).rows;
    const result = await otm(['--config', configFile, 'secrets', 'rotate']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /encrypted with key new, which is not in secrets\.keyFile/);
    assert.deepEqual((await db.pool.query('SELECT instance, name, key_id, ciphertext FROM otm.secrets ORDER BY 1, 2')).rows, before);
  });
});
