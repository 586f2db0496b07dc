// `otm export` against the Dokku simulator: apps made by hand become manifests that validate, carry
// the app's own settings and never its admin password or service URLs.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { OTreeInstance } from '../../src/manifest/index.js';
import { newSimRoot, SIM_BIN } from '../dokku-sim/client.js';
import type { SimRoot } from '../dokku-sim/client.js';
import { otm } from './support.js';

let sim: SimRoot;
let work: string;
let configFile: string;

async function sh(argv: string[]): Promise<void> {
  const result = await sim.run(argv);
  assert.equal(result.code, 0, `dokku ${argv.join(' ')}: ${result.stderr}`);
}

before(async () => {
  sim = await newSimRoot({ version: '0.38.27', docker: '0', prefix: 'otm-cli-export-sim-' });
  work = await mkdtemp(path.join(tmpdir(), 'otm-cli-export-'));
  configFile = path.join(work, 'otm.json');
  await writeFile(configFile, JSON.stringify({ hosts: [{ name: 'lab1', transport: { type: 'local', dokkuPath: SIM_BIN } }] }));
  // An oTree 5 study deployed from an image, with its own settings and a database link.
  await sh(['apps:create', 'alpha-one']);
  await sh(['config:set', '--no-restart', 'alpha-one', 'OTREE_PRODUCTION=1', 'OTREE_AUTH_LEVEL=DEMO', 'OTREE_ADMIN_PASSWORD=hunter2-secret', 'SENTRY_DSN=https://k@sentry.example.org/3']);
  await sh(['domains:set', 'alpha-one', 'alpha.lab.example.org']);
  await sh(['postgres:create', 'alpha-one-pg']);
  await sh(['postgres:link', 'alpha-one-pg', 'alpha-one']);
  await sh(['git:from-image', 'alpha-one', 'otm-standin/otree:1']);
  // An oTree 3 project with two web processes, a worker and Redis, never deployed.
  await sh(['apps:create', 'beta-two']);
  await sh(['ps:scale', 'beta-two', 'web=2', 'worker=1']);
  await sh(['redis:create', 'beta-two-redis']);
  await sh(['redis:link', 'beta-two-redis', 'beta-two']);
  // Stopped on purpose, and one the daemon already manages.
  await sh(['apps:create', 'gamma-three']);
  await sh(['git:from-image', 'gamma-three', 'otm-standin/otree:1']);
  await sh(['ps:stop', 'gamma-three']);
  await sh(['apps:create', 'managed-one']);
  await sh(['config:set', '--no-restart', 'managed-one', 'OTM_MANAGED=1']);
});

after(async () => {
  await sim.destroy();
  await rm(work, { recursive: true, force: true });
});

const env = () => sim.env;

function instances(text: string): OTreeInstance[] {
  return parseAllDocuments(text).map((document) => document.toJS() as OTreeInstance);
}

describe('otm export', () => {
  it('prints one adopting manifest per unmanaged app and leaves the managed one out', async () => {
    const run = await otm(['--config', configFile, 'export'], { env: env() });
    assert.equal(run.code, 0, run.stderr);
    const exported = instances(run.stdout);
    assert.deepEqual(exported.map((m) => m.metadata.name), ['alpha-one', 'beta-two', 'gamma-three']);
    assert.match(run.stderr, /^exported 3 apps from lab1; 1 managed app left out \(--all includes them\)\n/);

    const alpha = exported[0]!;
    assert.equal(alpha.spec.adopt, true);
    assert.equal(alpha.spec.host, 'lab1');
    assert.deepEqual(alpha.spec.otree, { version: '5', production: true, authLevel: 'DEMO', adminPassword: { fromEnv: 'ALPHA_ONE_ADMIN_PASSWORD' } });
    assert.deepEqual(alpha.spec.source, { image: { ref: 'otm-standin/otree:1' } });
    assert.deepEqual(alpha.spec.domains, ['alpha.lab.example.org']);
    assert.deepEqual(alpha.spec.env, { SENTRY_DSN: 'https://k@sentry.example.org/3' });
    assert.deepEqual(alpha.spec.database, { deletionPolicy: 'Retain' });
    assert.equal(alpha.spec.state, 'running');

    const beta = exported[1]!;
    assert.equal(beta.spec.otree.version, '3');
    assert.deepEqual(beta.spec.processes, { web: 2, worker: 1 });
    assert.equal(beta.spec.redis, true);
    assert.deepEqual(beta.spec.source, { push: {} });
    assert.equal(beta.spec.otree.authLevel, 'OFF');
    assert.equal(beta.spec.otree.production, false);

    assert.equal(exported[2]!.spec.state, 'stopped');
  });

  it('never copies the admin password, the database URL or the Redis URL', async () => {
    const run = await otm(['--config', configFile, 'export', '--all'], { env: env() });
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /hunter2-secret|DATABASE_URL|REDIS_URL|postgres:\/\/|redis:\/\//);
    assert.match(run.stdout, /the admin password is not copied: give the daemon the environment variable ALPHA_ONE_ADMIN_PASSWORD/);
    assert.deepEqual(instances(run.stdout).map((m) => m.metadata.name), ['alpha-one', 'beta-two', 'gamma-three', 'managed-one']);
  });

  it('writes one file per app that `otm validate` accepts, and refuses to overwrite them', async () => {
    const out = path.join(work, 'exported');
    const run = await otm(['--config', configFile, 'export', '-o', out, '--owner', 'alice'], { env: env() });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['alpha-one.yaml', 'beta-two.yaml', 'gamma-three.yaml']);
    assert.equal(instances(await readFile(path.join(out, 'beta-two.yaml'), 'utf8'))[0]!.spec.owner, 'alice');

    const validate = await otm(['--config', configFile, 'validate', out], { env: env() });
    assert.equal(validate.code, 0, validate.stderr);
    assert.equal(validate.stderr, 'valid: 3 objects accepted, 0 objects rejected, 0 errors, 0 warnings in 3 files\n');

    const again = await otm(['--config', configFile, 'export', '-o', out], { env: env() });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^otm: not overwriting .*alpha-one\.yaml, .*beta-two\.yaml, .*gamma-three\.yaml: remove them or choose another --output-dir\n$/);
  });

  it('names the configured hosts when --host names none of them', async () => {
    const run = await otm(['--config', configFile, 'export', '--host', 'elsewhere'], { env: env() });
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'otm: no host named elsewhere in the configuration (configured: lab1); pass one of them with --host\n');
  });

  it('says which host it could not read', async () => {
    const broken = path.join(work, 'broken.json');
    await writeFile(broken, JSON.stringify({ hosts: [{ name: 'lab1', transport: { type: 'local', dokkuPath: path.join(work, 'no-such-dokku') } }] }));
    const run = await otm(['--config', broken, 'export'], { env: env() });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^otm: cannot read the Dokku host lab1: /);
  });
});
