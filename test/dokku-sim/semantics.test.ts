// Behaviour beyond layouts: restarts, encodings, service links, destroy, deploy lock, sources,
// ssh-keys and acl, as the reference describes them. Runs without Docker (state machine only).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newSimRoot, readSimState } from './client.js';
import type { SimRoot, SimResult } from './client.js';

const roots: SimRoot[] = [];
async function host(version = '0.35.16'): Promise<SimRoot> {
  const sim = await newSimRoot({ version, globalDomain: 'example.com' });
  roots.push(sim);
  return sim;
}

async function ok(sim: SimRoot, argv: string[], stdin?: string): Promise<SimResult> {
  const r = await sim.run(argv, stdin !== undefined ? { stdin } : {});
  assert.equal(r.code, 0, `dokku ${argv.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r;
}

async function deployedApp(version = '0.35.16'): Promise<SimRoot> {
  const sim = await host(version);
  await ok(sim, ['apps:create', 'myapp']);
  await ok(sim, ['git:from-image', 'myapp', 'otm-standin/otree:1']);
  return sim;
}

after(async () => {
  await Promise.all(roots.map((r) => r.destroy()));
});

describe('config', () => {
  it('config:set restarts a deployed app even when the value is unchanged; --no-restart does not', async () => {
    const sim = await deployedApp();
    await ok(sim, ['config:set', 'myapp', 'A=1']);
    const before = (await readSimState(sim.root)).apps.myapp!.containers['web.1']!.id;
    const again = await ok(sim, ['config:set', 'myapp', 'A=1']);
    assert.match(again.stdout, /-----> Restarting app myapp\n-----> Releasing myapp\.\.\.\n/);
    const after = (await readSimState(sim.root)).apps.myapp!.containers['web.1']!.id;
    assert.notEqual(after, before, 'the web container was recreated');
    const quiet = await ok(sim, ['config:set', '--no-restart', 'myapp', 'A=1']);
    assert.doesNotMatch(quiet.stdout, /Restarting/);
    assert.equal((await readSimState(sim.root)).apps.myapp!.containers['web.1']!.id, after);
    const unset = await ok(sim, ['config:unset', 'myapp', 'NOT_THERE']);
    assert.equal(unset.stdout.split('\n')[0], '-----> Skipping NOT_THERE, it is not set in the environment');
    assert.match(unset.stdout, /Restarting app myapp/, 'unset restarts even when nothing changed');
  });

  it('--encoded decodes base64, integers are normalised, keys and pairs are validated', async () => {
    const sim = await host();
    await ok(sim, ['apps:create', 'myapp']);
    const multi = 'line one\nline "two" $HOME';
    await ok(sim, ['config:set', '--encoded', '--no-restart', 'myapp', `MULTI=${Buffer.from(multi).toString('base64')}`, `ZIP=${Buffer.from('007').toString('base64')}`]);
    const json = JSON.parse((await ok(sim, ['config:export', '--format', 'json', 'myapp'])).stdout) as Record<string, string>;
    assert.equal(json.MULTI, multi);
    assert.equal(json.ZIP, '7');
    assert.equal((await ok(sim, ['config:get', 'myapp', 'MULTI'])).stdout, `${multi}\n`);
    const missingKey = await sim.run(['config:get', 'myapp', 'NOPE']);
    assert.deepEqual([missingKey.code, missingKey.stdout, missingKey.stderr], [1, '', '']);
    const badKey = await sim.run(['config:set', 'myapp', 'my-key=1']);
    assert.deepEqual([badKey.code, badKey.stderr], [1, " !     Invalid key name: 'my-key'\n"]);
    const badPair = await sim.run(['config:set', 'myapp', 'FOO']);
    assert.deepEqual([badPair.code, badPair.stderr], [1, ' !     Invalid env pair: FOO\n']);
    const badBase64 = await sim.run(['config:set', '--encoded', 'myapp', 'K=%%%']);
    assert.deepEqual([badBase64.code, badBase64.stderr], [1, " !     illegal base64 data at input byte 0 for key 'K'\n"]);
    const noApp = await sim.run(['config:set', 'ghost', 'A=1']);
    assert.equal(noApp.code, 20);
  });
});

describe('service plugins', () => {
  it('link sets DATABASE_URL / REDIS_URL in the documented shapes and refuses a second link', async () => {
    const sim = await host();
    await ok(sim, ['apps:create', 'myapp']);
    await ok(sim, ['postgres:create', 'test_with_underscores']);
    await ok(sim, ['redis:create', 'cache']);
    await ok(sim, ['postgres:link', '--no-restart', 'test_with_underscores', 'myapp']);
    await ok(sim, ['redis:link', 'cache', 'myapp', '--no-restart']);
    const config = JSON.parse((await ok(sim, ['config:export', '--format', 'json', 'myapp'])).stdout) as Record<string, string>;
    assert.match(config.DATABASE_URL!, /^postgres:\/\/postgres:[0-9a-f]{32}@dokku-postgres-test-with-underscores:5432\/test_with_underscores$/);
    assert.match(config.REDIS_URL!, /^redis:\/\/:[0-9a-f]{64}@dokku-redis-cache:6379$/);
    const again = await sim.run(['postgres:link', 'test_with_underscores', 'myapp']);
    assert.deepEqual([again.code, again.stderr], [1, ' !     Already linked as DATABASE_URL\n']);
    await ok(sim, ['postgres:create', 'second']);
    await ok(sim, ['postgres:link', '-n', 'second', 'myapp']);
    const both = JSON.parse((await ok(sim, ['config:export', '--format', 'json', 'myapp'])).stdout) as Record<string, string>;
    assert.match(both.DOKKU_POSTGRES_AQUA_URL!, /@dokku-postgres-second:5432\/second$/, 'a taken alias falls back to a colour');
    assert.equal((await ok(sim, ['postgres:linked', 'second', 'myapp'])).stdout, '-----> Service second is linked to myapp\n');
    assert.equal((await ok(sim, ['--quiet', 'postgres:app-links', 'myapp'])).stdout, 'second\ntest_with_underscores\n');
    const busy = await sim.run(['--force', 'postgres:destroy', 'second']);
    assert.deepEqual([busy.code, busy.stderr], [1, ' !     Cannot delete linked service\n']);
    await ok(sim, ['postgres:unlink', 'second', 'myapp']);
    const notLinked = await sim.run(['postgres:linked', 'second', 'myapp']);
    assert.deepEqual([notLinked.code, notLinked.stderr], [1, ' !     Service second is not linked to myapp\n']);
    const unlinkAgain = await sim.run(['postgres:unlink', 'second', 'myapp']);
    assert.deepEqual([unlinkAgain.code, unlinkAgain.stderr], [1, ' !     Not linked to app myapp\n']);
    const missing = await sim.run(['postgres:info', 'nope']);
    assert.deepEqual([missing.code, missing.stderr], [1, ' !     Postgres service nope does not exist\n']);
    const exists = await sim.run(['postgres:create', 'second']);
    assert.deepEqual([exists.code, exists.stderr], [1, ' !     Postgres service second already exists\n']);
  });

  it('apps:destroy removes the app from every service, after which the service can be destroyed', async () => {
    const sim = await host();
    await ok(sim, ['apps:create', 'myapp']);
    await ok(sim, ['postgres:create', 'otree-db']);
    await ok(sim, ['postgres:link', 'otree-db', 'myapp']);
    const noForce = await sim.run(['apps:destroy', 'myapp']);
    assert.equal(noForce.code, 1);
    assert.match(noForce.stderr, / ! {5}WARNING: Potentially Destructive Action\n[\s\S]* ! {5}EOF\n$/);
    const destroyed = await ok(sim, ['--force', 'apps:destroy', 'myapp']);
    assert.equal(destroyed.stdout, '-----> Destroying myapp (including all add-ons)\n       Unlinking from otree-db\n-----> Cleaning up...\n-----> Retiring old containers and images\n');
    assert.equal((await ok(sim, ['postgres:links', 'otree-db'])).stdout, '');
    await ok(sim, ['postgres:destroy', 'otree-db', '--force']);
    assert.equal((await sim.run(['apps:exists', 'myapp'])).code, 20);
    assert.equal((await sim.run(['--force', 'apps:destroy', 'myapp'])).code, 20);
    await ok(sim, ['apps:create', 'typed']);
    await ok(sim, ['apps:destroy', 'typed'], 'typed\n');
  });

  it('postgres:export streams a deterministic custom-format dump', async () => {
    const sim = await host();
    await ok(sim, ['postgres:create', 'otree-db']);
    const a = await sim.run(['postgres:export', 'otree-db']);
    const b = await sim.run(['postgres:export', 'otree-db']);
    assert.equal(a.code, 0);
    assert.ok(a.stdout.startsWith('PGDMP'));
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, /otree_db/);
  });
});

describe('deploys', () => {
  it('the deploy lock fails builds with Dokku message (stderr on 0.35, stdout on 0.38) until unlocked', async () => {
    for (const [version, stream] of [['0.35.16', 'stderr'], ['0.38.27', 'stdout']] as const) {
      const sim = await host(version);
      await ok(sim, ['apps:create', 'myapp']);
      assert.equal((await ok(sim, ['apps:lock', 'myapp'])).stdout, '-----> Deploy lock created\n');
      assert.equal((await ok(sim, ['apps:locked', 'myapp'])).stdout, 'Deploy lock exists\n');
      const blocked = await sim.run(['git:from-image', 'myapp', 'otm-standin/otree:1']);
      assert.equal(blocked.code, 1);
      assert.ok(blocked[stream].endsWith(" !     myapp currently has a deploy lock in place. Exiting...\n !     Run 'apps:unlock' to release the existing deploy lock\n"), `${version}: ${blocked[stream]}`);
      assert.equal((await ok(sim, ['apps:report', 'myapp', '--app-locked'])).stdout, 'true\n');
      const unlocked = await ok(sim, ['apps:unlock', 'myapp']);
      assert.equal(unlocked.stdout, '-----> Deploy lock removed\n');
      assert.equal(unlocked.stderr, ' !     A deploy may be in progress.\n !     Removing the app lock will not stop in progress deploys.\n');
      const free = await sim.run(['apps:locked', 'myapp']);
      assert.deepEqual([free.code, free.stderr], [1, ' !     Deploy lock does not exist\n']);
      await ok(sim, ['git:from-image', 'myapp', 'otm-standin/otree:1']);
    }
  });

  it('git:from-image with the same image: "No changes detected", exit 1; another image deploys', async () => {
    const sim = await deployedApp();
    const same = await sim.run(['git:from-image', 'myapp', 'otm-standin/otree:1']);
    assert.deepEqual([same.code, same.stderr], [1, " !     No changes detected, skipping git commit\n !     Call 'ps:rebuild' on app to rebuild the app from existing source\n"]);
    await ok(sim, ['git:from-image', 'myapp', 'otm-standin/otree:2']);
    const report = JSON.parse((await ok(sim, ['apps:report', 'myapp', '--format', 'json'])).stdout) as Record<string, string>;
    assert.equal(report['app-deploy-source-metadata'], 'otm-standin/otree:2');
    assert.match((await ok(sim, ['config:get', 'myapp', 'GIT_REV'])).stdout, /^[0-9a-f]{40}\n$/);
  });

  it('git:sync records the source and builds only with --build; push apps are not deployed', async () => {
    const sim = await host('0.38.27');
    await ok(sim, ['apps:create', 'myapp']);
    const synced = await ok(sim, ['git:sync', 'myapp', 'https://example.org/otree.git', 'main']);
    assert.equal(synced.stdout, '-----> Cloning myapp from https://example.org/otree.git#main\n       Detected branch, setting deploy-branch to main\n');
    assert.equal((await ok(sim, ['ps:report', 'myapp', '--deployed'])).stdout, 'false\n');
    const rebuild = await sim.run(['ps:rebuild', 'ghost']);
    assert.equal(rebuild.code, 20);
    await ok(sim, ['git:sync', '--build', 'myapp', 'https://example.org/otree.git', 'main']);
    const report = JSON.parse((await ok(sim, ['apps:report', 'myapp', '--format', 'json'])).stdout) as Record<string, string>;
    assert.equal(report['deploy-source'], 'git-sync');
    assert.match(report['deploy-source-metadata']!, /^https:\/\/example\.org\/otree\.git#[0-9a-f]{40}$/);
    const unchanged = await ok(sim, ['git:sync', '--build-if-changes', 'myapp', 'https://example.org/otree.git', 'main']);
    assert.match(unchanged.stdout, /Skipping build as no changes were detected/);
  });

  it('life cycle on an undeployed app warns and exits 0; run needs a deploy and returns the command status', async () => {
    const sim = await host();
    await ok(sim, ['apps:create', 'myapp']);
    for (const command of ['ps:stop', 'ps:start', 'ps:restart']) {
      const r = await ok(sim, [command, 'myapp']);
      assert.equal(r.stderr, ' !     App myapp has not been deployed\n');
    }
    const notDeployed = await sim.run(['run', '--no-tty', 'myapp', 'otree', 'resetdb', '--noinput']);
    assert.equal(notDeployed.code, 1);
    assert.match(notDeployed.stderr, /App image \(dokku\/myapp:latest\) not found/);
    await ok(sim, ['git:from-image', 'myapp', 'otm-standin/otree:1']);
    const reset = await ok(sim, ['run', '--no-tty', 'myapp', 'otree', 'resetdb', '--noinput']);
    assert.equal(reset.stderr, 'Database engine: sqlite\nCreated new tables and columns.\n');
    assert.equal((await sim.run(['run', 'myapp', 'sh', '-c', 'exit 3'])).code, 3);
    const rebuilt = await ok(sim, ['ps:rebuild', 'myapp']);
    assert.match(rebuilt.stdout, /Building myapp from Dockerfile/);
  });

  it('domains:clear removes every domain from 0.36.0 and resets to the default before', async () => {
    for (const [version, expected] of [['0.35.16', 'myapp.example.com\n'], ['0.38.27', '\n']] as const) {
      const sim = await host(version);
      await ok(sim, ['apps:create', 'myapp']);
      await ok(sim, ['domains:set', 'myapp', 'a.example.org', 'b.example.org']);
      assert.equal((await ok(sim, ['domains:clear', 'myapp'])).stdout, '-----> Cleared domains in myapp\n');
      assert.equal((await sim.run(['domains:report', 'myapp', '--domains-app-vhosts'])).stdout, version === '0.35.16' ? expected : '\n');
    }
    const sim = await host();
    await ok(sim, ['apps:create', 'myapp']);
    const invalid = await sim.run(['domains:set', 'myapp', 'http://x.com']);
    assert.deepEqual([invalid.code, invalid.stderr], [1, ' !     http://x.com is invalid. exiting...\n']);
  });
});

describe('ssh-keys and acl', () => {
  it('ssh-keys:add reads the key from stdin, prints the fingerprint; list in text and json; remove', async () => {
    const sim = await host();
    const none = await sim.run(['ssh-keys:list']);
    assert.deepEqual([none.code, none.stderr], [1, ' !     No public keys found.\n']);
    const dir = mkdtempSync(join(tmpdir(), 'otm-sim-key-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@lab', '-f', join(dir, 'id')]);
      const pub = readFileSync(join(dir, 'id.pub'), 'utf8');
      const expected = execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'id.pub')], { encoding: 'utf8' }).split(' ')[1];
      const added = await ok(sim, ['ssh-keys:add', 'alice'], pub);
      assert.equal(added.stdout, `${expected}\n`);
      const dup = await sim.run(['ssh-keys:add', 'alice'], { stdin: pub });
      assert.equal(dup.code, 1);
      assert.equal((await ok(sim, ['ssh-keys:list'])).stdout,
        `${expected} NAME="alice" SSHCOMMAND_ALLOWED_KEYS="no-agent-forwarding,no-user-rc,no-X11-forwarding,no-port-forwarding"\n`);
      const json = JSON.parse((await ok(sim, ['ssh-keys:list', '--format', 'json'])).stdout) as { name: string; fingerprint: string }[];
      assert.deepEqual(json.map((k) => [k.name, k.fingerprint]), [['alice', expected]]);
      const invalid = await sim.run(['ssh-keys:add', 'bob'], { stdin: 'ssh-ed25519 notakey\n' });
      assert.deepEqual([invalid.code, invalid.stderr], [1, ' !     Key specified in is not a valid ssh public key\n']);
      await ok(sim, ['ssh-keys:remove', 'alice']);
      assert.equal((await sim.run(['ssh-keys:list'])).code, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('acl:add/remove/list as dokku-acl does (users listed on stderr; duplicate add exits 2)', async () => {
    const sim = await host();
    await ok(sim, ['apps:create', 'myapp']);
    await ok(sim, ['acl:add', 'myapp', 'alice']);
    await ok(sim, ['acl:add', 'myapp', 'bob']);
    const dup = await sim.run(['acl:add', 'myapp', 'alice']);
    assert.deepEqual([dup.code, dup.stderr], [2, 'User already has permissions to push to this repository\n']);
    const list = await ok(sim, ['acl:list', 'myapp']);
    assert.deepEqual([list.stdout, list.stderr], ['', 'alice\nbob\n']);
    await ok(sim, ['acl:remove', 'myapp', 'alice']);
    assert.equal((await ok(sim, ['acl:list', 'myapp'])).stderr, 'bob\n');
    assert.equal((await sim.run(['acl:add', 'ghost', 'alice'])).code, 20);
  });
});
