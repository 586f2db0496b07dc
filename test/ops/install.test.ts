// `make install` staged under DESTDIR: the program runs from where it is installed with its production
// dependencies only (the daemon's commands and otm web with its pages), and the configuration directory
// gets the files and modes the units expect.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { parseKeyFile } from '../../src/desired/secret-store.js';
import { createTestDatabase } from '../store/database.js';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const UNITS = ['otree-manager.service', 'otree-manager-web.service'];

let dest: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  dest = await mkdtemp(join(tmpdir(), 'otm-install-'));
  env = { ...process.env, DESTDIR: dest };
  await run('bash', [join(repo, 'scripts/install.sh')], { env, cwd: repo });
}, { timeout: 600_000 });

after(async () => {
  await rm(dest, { recursive: true, force: true });
});

test('scripts/install.sh stages the program, units, users, directories a token and a secret key that are kept on reinstall', { timeout: 600_000 }, async () => {

  const lib = join(dest, 'usr/local/lib/otree-manager');
  assert.equal(await readlink(join(dest, 'usr/local/bin/otm')), '../lib/otree-manager/dist/src/cli/main.js');
  // The installed program runs with production dependencies only (no tsx, no dev packages).
  const { stdout } = await run(join(dest, 'usr/local/bin/otm'), ['schema', 'Config'], { env: { PATH: process.env.PATH ?? '' } });
  assert.equal(JSON.parse(stdout).$schema, 'https://json-schema.org/draft/2020-12/schema');
  await assert.rejects(stat(join(lib, 'node_modules/tsx')), /ENOENT/);

  for (const file of [...UNITS.map((unit) => `etc/systemd/system/${unit}`), 'etc/sysusers.d/otree-manager.conf', 'etc/tmpfiles.d/otree-manager.conf', 'etc/nginx/sites-available/otree-manager.conf']) {
    assert.equal(((await stat(join(dest, file))).mode & 0o777), 0o644, file);
  }
  // Each unit's Documentation= names a manual that was installed.
  for (const unit of UNITS) {
    const documentation = /^Documentation=file:\/\/(\/\S+)$/m.exec(await readFile(join(dest, 'etc/systemd/system', unit), 'utf8'));
    assert.ok(documentation, `${unit} has a Documentation= file`);
    assert.ok((await stat(join(dest, documentation[1]!))).isFile(), `${unit}: ${documentation[1]} is installed`);
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

test('the installed otm web starts as its unit runs it: it migrates an empty database and serves its pages and static files', { timeout: 60_000 }, async (t) => {
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const work = await mkdtemp(join(tmpdir(), 'otm-install-web-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  await mkdir(join(work, 'manifests'));
  await writeFile(join(work, 'config.yaml'), `postgresUrl: ${db.url}\nmanifestsDir: manifests\nweb: { listen: "127.0.0.1:0" }\n`);

  const web = spawn(join(dest, 'usr/local/bin/otm'), ['web', '--config', join(work, 'config.yaml')], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => web.once('exit', resolve));
  t.after(async () => {
    if (web.exitCode === null) web.kill('SIGTERM');
    await exited;
  });
  let stderr = '';
  web.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: web.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; address?: string };
      if (entry.msg === 'otm web listening' && entry.address) resolve(entry.address);
    });
    void exited.then((code) => reject(new Error(`otm web exited with ${code} before listening: ${stderr}`)));
  });

  const signIn = await fetch(`${address}/sign-in`);
  assert.equal(signIn.status, 200);
  assert.match(await signIn.text(), /<form/);
  const style = await fetch(`${address}/static/otm.css`);
  assert.equal(style.status, 200);
  assert.equal(await style.text(), await readFile(join(repo, 'web/static/otm.css'), 'utf8'));

  web.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
});
