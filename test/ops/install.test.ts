// `make install` staged under DESTDIR: the program runs from where it is installed with its production
// dependencies only, and the configuration directory gets the files and modes the unit expects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseKeyFile } from '../../src/desired/secret-store.js';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');

test('scripts/install.sh stages the program, unit, user, directories a token and a secret key that are kept on reinstall', { timeout: 600_000 }, async (t) => {
  const dest = await mkdtemp(join(tmpdir(), 'otm-install-'));
  t.after(() => rm(dest, { recursive: true, force: true }));
  const env = { ...process.env, DESTDIR: dest };
  await run('bash', [join(repo, 'scripts/install.sh')], { env, cwd: repo });

  const lib = join(dest, 'usr/local/lib/otree-manager');
  assert.equal(await readlink(join(dest, 'usr/local/bin/otm')), '../lib/otree-manager/dist/src/cli/main.js');
  // The installed program runs with production dependencies only (no tsx, no dev packages).
  const { stdout } = await run(join(dest, 'usr/local/bin/otm'), ['schema', 'Config'], { env: { PATH: process.env.PATH ?? '' } });
  assert.equal(JSON.parse(stdout).$schema, 'https://json-schema.org/draft/2020-12/schema');
  await assert.rejects(stat(join(lib, 'node_modules/tsx')), /ENOENT/);

  for (const file of ['etc/systemd/system/otree-manager.service', 'etc/sysusers.d/otree-manager.conf', 'etc/tmpfiles.d/otree-manager.conf', 'etc/nginx/sites-available/otree-manager.conf']) {
    assert.equal(((await stat(join(dest, file))).mode & 0o777), 0o644, file);
  }
  const mode = async (p: string) => (await stat(join(dest, 'etc/otree-manager', p))).mode & 0o777;
  assert.equal(await mode(''), 0o750);
  assert.equal(await mode('ssh'), 0o700);
  assert.equal(await mode('secrets'), 0o750);
  assert.equal(await mode('config.yaml'), 0o640);
  assert.equal(await mode('api-token'), 0o640);
  const token = await readFile(join(dest, 'etc/otree-manager/api-token'), 'utf8');
  assert.match(token, /^[0-9a-f]{64}$/);
  // The key of the encrypted secret store: one valid key, not readable by others, named by the configuration.
  assert.equal(await mode('secrets.key'), 0o640);
  const keyText = await readFile(join(dest, 'etc/otree-manager/secrets.key'), 'utf8');
  assert.match(keyText, /^k\d{8}:[A-Za-z0-9+/]{43}=\n$/);
  assert.equal(parseKeyFile(keyText, 'secrets.key').primary.key.length, 32);
  assert.match(await readFile(join(dest, 'etc/otree-manager/config.yaml'), 'utf8'), /^secrets: \{ dirs: \[\/etc\/otree-manager\/secrets\], keyFile: \/etc\/otree-manager\/secrets\.key \}$/m);

  // The configuration it writes is valid for the installed program.
  const config = join(dest, 'etc/otree-manager/config.yaml');
  const validated = await run(join(dest, 'usr/local/bin/otm'), ['validate', '--config', config, join(repo, 'manifests')]).catch((e: { code: number; stderr: string }) => e);
  assert.equal((validated as { code?: number }).code ?? 0, 0, (validated as { stderr: string }).stderr);

  // A second install keeps the admin's token and configuration.
  await run('bash', [join(repo, 'scripts/install.sh')], { env, cwd: repo });
  assert.equal(await readFile(join(dest, 'etc/otree-manager/api-token'), 'utf8'), token);
  assert.equal(await readFile(join(dest, 'etc/otree-manager/secrets.key'), 'utf8'), keyText);
});
