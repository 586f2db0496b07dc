// Reading `fromFile` secrets within their limits, on a real temporary file system: only below the
// secret directories (symbolic links resolved), only regular files, never more than maxBytes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { readSecretFile, resolveSecret, SecretError } from '../../src/desired/secrets.js';
import type { SecretFileLimits } from '../../src/desired/secrets.js';

const run = promisify(execFile);
const SECRET = 'file-secret-Xw93kLq';

let root: string;
let dir: string;
let outside: string;
let limits: SecretFileLimits;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'otm-secrets-'));
  dir = path.join(root, 'secrets');
  outside = path.join(root, 'elsewhere');
  await mkdir(dir);
  await mkdir(outside);
  await writeFile(path.join(dir, 'pw'), `${SECRET}\n`, { mode: 0o600 });
  await writeFile(path.join(outside, 'ssh-key'), SECRET);
  limits = { dirs: [dir], maxBytes: 64 };
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Asserts a SecretError that names the field, says what to do, and does not contain the secret. */
async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SecretError, String(error));
    assert.match(error.message, /^instance alice spec\.otree\.adminPassword: /);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes(SECRET), error.message);
    return true;
  });
}

const field = 'instance alice spec.otree.adminPassword';

describe('fromFile limits', () => {
  it('reads a regular file below a secret directory, without its trailing newline', async () => {
    assert.equal(await resolveSecret({ fromFile: path.join(dir, 'pw') }, { field, limits }), SECRET);
    // A link that stays inside the directory is fine.
    await symlink(path.join(dir, 'pw'), path.join(dir, 'pw-link'));
    assert.equal(await resolveSecret({ fromFile: path.join(dir, 'pw-link') }, { field, limits }), SECRET);
  });

  it('refuses files outside the directories, `..` and links that lead out', async () => {
    await refused(readSecretFile(path.join(outside, 'ssh-key'), field, limits), /outside the secret directories.*below .*secrets \(secrets\.dirs\)/);
    await refused(readSecretFile(`${dir}/../elsewhere/ssh-key`, field, limits), /outside the secret directories/);
    await symlink(path.join(outside, 'ssh-key'), path.join(dir, 'escape'));
    await refused(readSecretFile(path.join(dir, 'escape'), field, limits), /outside the secret directories \(after resolving links\)/);
    // A directory link: the directory itself is resolved too.
    await symlink(outside, path.join(dir, 'subdir-escape'));
    await refused(readSecretFile(path.join(dir, 'subdir-escape', 'ssh-key'), field, limits), /outside the secret directories/);
    // A secret directory that is itself a link to elsewhere counts as that elsewhere.
    const linkedDir = path.join(root, 'linked-secrets');
    await symlink(dir, linkedDir);
    assert.equal(await readSecretFile(path.join(dir, 'pw'), field, { dirs: [linkedDir], maxBytes: 64 }), `${SECRET}\n`);
    await refused(readSecretFile('relative/pw', field, limits), /not an absolute path/);
    await refused(readSecretFile('/proc/self/environ', field, limits), /outside the secret directories/);
  });

  it('refuses what is not a regular file: a FIFO (without blocking), a directory, /dev/zero', async () => {
    const fifo = path.join(dir, 'fifo');
    await run('mkfifo', [fifo]);
    await refused(readSecretFile(fifo, field, limits), /is not a regular file/);
    await mkdir(path.join(dir, 'a-directory'));
    await refused(readSecretFile(path.join(dir, 'a-directory'), field, limits), /is not a regular file/);
    // /dev/zero is outside the default directories, and not a regular file even where it is allowed.
    await refused(readSecretFile('/dev/zero', field, limits), /outside the secret directories/);
    await refused(readSecretFile('/dev/zero', field, { dirs: ['/dev'], maxBytes: 64 }), /is not a regular file/);
    await symlink('/dev/zero', path.join(dir, 'zero'));
    await refused(readSecretFile(path.join(dir, 'zero'), field, { dirs: [dir, '/dev'], maxBytes: 64 }), /is not a regular file/);
  });

  it('refuses a file larger than maxBytes and one that does not exist; an empty one is an error too', async () => {
    const big = path.join(dir, 'big');
    await writeFile(big, 'x'.repeat(65));
    await refused(readSecretFile(big, field, limits), /is larger than 64 bytes \(secrets\.maxBytes\)/);
    await writeFile(path.join(dir, 'exact'), 'y'.repeat(64));
    assert.equal((await readSecretFile(path.join(dir, 'exact'), field, limits)).length, 64);
    await refused(readSecretFile(path.join(dir, 'missing'), field, limits), /does not exist; create it/);
    await writeFile(path.join(dir, 'empty'), '\n');
    await refused(resolveSecret({ fromFile: path.join(dir, 'empty') }, { field, limits }), /is empty/);
  });

  it('the default directory is /etc/otree-manager/secrets', async () => {
    await refused(resolveSecret({ fromFile: path.join(dir, 'pw') }, { field }), /below \/etc\/otree-manager\/secrets \(secrets\.dirs\)/);
  });
});

describe('secretRef', () => {
  it('is looked up in the store of the instance, with a clear error when it is not set or there is no store', async () => {
    const store = { get: async (instance: string, name: string) => (instance === 'alice' && name === 'adminPassword' ? SECRET : undefined) };
    assert.equal(await resolveSecret({ secretRef: 'adminPassword' }, { field, instance: 'alice', store }), SECRET);
    await refused(resolveSecret({ secretRef: 'restKey' }, { field, instance: 'alice', store }),
      /the secret restKey of instance alice is not set yet; set it with PUT \/api\/v1\/instances\/alice\/secrets\/restKey/);
    await refused(resolveSecret({ secretRef: 'adminPassword' }, { field, instance: 'alice' }), /no secret store; set postgresUrl and secrets\.keyFile/);
  });
});
