// Golden outputs, copied from the Dokku CLI reference (not produced by the simulator), for each layout
// and both emulated releases. Values that Dokku makes random (container ids, git shas, service ids)
// are masked on both sides.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { newSimRoot } from './client.js';
import type { SimRoot, SimResult } from './client.js';

const NOW = '1767225600';
const OLD = '0.35.16';
const NEW = '0.38.27';

async function host(version: string, options: { globalDomain?: string; plugins?: string } = {}): Promise<SimRoot> {
  return newSimRoot({
    version,
    globalDomain: options.globalDomain ?? 'example.com',
    env: { DOKKU_SIM_NOW: NOW, ...(options.plugins !== undefined ? { DOKKU_SIM_PLUGINS: options.plugins } : {}) },
  });
}

async function ok(sim: SimRoot, argv: string[], stdin?: string): Promise<SimResult> {
  const r = await sim.run(argv, stdin !== undefined ? { stdin } : {});
  assert.equal(r.code, 0, `dokku ${argv.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r;
}

const lines = (...l: string[]) => `${l.join('\n')}\n`;

describe('golden outputs from the reference', () => {
  const roots: SimRoot[] = [];
  const make = async (version: string, options?: { globalDomain?: string; plugins?: string }) => {
    const sim = await host(version, options);
    roots.push(sim);
    return sim;
  };
  after(async () => {
    await Promise.all(roots.map((r) => r.destroy()));
  });

  describe('apps', () => {
    const sims: Record<string, SimRoot> = {};
    before(async () => {
      for (const v of [OLD, NEW]) {
        const sim = await make(v);
        await ok(sim, ['apps:create', 'myapp']);
        await ok(sim, ['git:from-image', 'myapp', 'registry.example.com/otree:v42']);
        sims[v] = sim;
      }
    });

    it('apps:report in the 0.38.12+ layout (width 33, global-disable-autocreation)', async () => {
      const r = await ok(sims[NEW]!, ['apps:report', 'myapp']);
      assert.equal(r.stdout, lines(
        '=====> myapp app information',
        '       App created at:                  1767225600',
        '       App deploy source:               docker-image',
        '       App deploy source metadata:      registry.example.com/otree:v42',
        '       App dir:                         /home/dokku/myapp',
        '       App global disable autocreation: ',
        '       App locked:                      false',
      ));
    });

    it('apps:report in the pre-0.38.12 layout (width 31)', async () => {
      const r = await ok(sims[OLD]!, ['apps:report', 'myapp']);
      assert.equal(r.stdout, lines(
        '=====> myapp app information',
        '       App created at:                1767225600',
        '       App deploy source:             docker-image',
        '       App deploy source metadata:    registry.example.com/otree:v42',
        '       App dir:                       /home/dokku/myapp',
        '       App locked:                    false',
      ));
    });

    it('apps:report --format json: legacy and un-prefixed keys on 0.38.27, legacy only on 0.35', async () => {
      assert.equal((await ok(sims[NEW]!, ['apps:report', 'myapp', '--format', 'json'])).stdout,
        '{"app-created-at":"1767225600","app-deploy-source":"docker-image","app-deploy-source-metadata":"registry.example.com/otree:v42","app-dir":"/home/dokku/myapp","app-global-disable-autocreation":"","app-locked":"false","created-at":"1767225600","deploy-source":"docker-image","deploy-source-metadata":"registry.example.com/otree:v42","dir":"/home/dokku/myapp","global-disable-autocreation":"","locked":"false"}\n');
      assert.equal((await ok(sims[OLD]!, ['apps:report', 'myapp', '--format', 'json'])).stdout,
        '{"app-created-at":"1767225600","app-deploy-source":"docker-image","app-deploy-source-metadata":"registry.example.com/otree:v42","app-dir":"/home/dokku/myapp","app-locked":"false"}\n');
    });

    it('single-flag mode prints only the value', async () => {
      assert.equal((await ok(sims[OLD]!, ['ps:report', 'myapp', '--deployed'])).stdout, 'true\n');
      assert.equal((await ok(sims[NEW]!, ['apps:report', 'myapp', '--app-deploy-source-metadata'])).stdout, 'registry.example.com/otree:v42\n');
    });

    it('apps:list, with --quiet, and a trailing global flag rejected by pflag (exit 2)', async () => {
      const sim = sims[NEW]!;
      await ok(sim, ['apps:create', 'otree-prod']);
      assert.equal((await ok(sim, ['apps:list'])).stdout, lines('=====> My Apps', 'myapp', 'otree-prod'));
      assert.equal((await ok(sim, ['--quiet', 'apps:list'])).stdout, lines('myapp', 'otree-prod'));
      assert.equal((await ok(sim, ['apps:list', '--format', 'json'])).stdout, '["myapp","otree-prod"]\n');
      const bad = await sim.run(['apps:list', '--quiet']);
      assert.equal(bad.code, 2);
      assert.equal(bad.stderr, lines('Usage of apps:list:', '      --format string   format: [ stdout | json ] (default "stdout")', 'unknown flag: --quiet'));
    });
  });

  it('apps:list with no apps: header, warning on stderr, exit 0', async () => {
    const sim = await make(OLD);
    const r = await ok(sim, ['apps:list']);
    assert.equal(r.stdout, '=====> My Apps\n');
    assert.equal(r.stderr, " !     You haven't deployed any applications yet\n");
  });

  it('ps:report for a deployed app with one web container, both layouts', async () => {
    const mask = (s: string) => s.replace(/\(CID: [0-9a-f]{11}\)/g, '(CID: 3f2a1b4c5d6)');
    const [old, cur] = await Promise.all([make(OLD), make(NEW)]);
    for (const sim of [old, cur]) {
      await ok(sim, ['apps:create', 'myapp']);
      await ok(sim, ['git:from-image', 'myapp', 'registry.example.com/otree:v42']);
    }
    assert.equal(mask((await ok(old, ['ps:report', 'myapp'])).stdout), lines(
      '=====> myapp ps information',
      '       Deployed:                      true',
      '       Processes:                     1',
      '       Ps can scale:                  true',
      '       Ps computed procfile path:     Procfile',
      '       Ps global procfile path:       Procfile',
      '       Ps procfile path:              ',
      '       Ps restart policy:             on-failure:10',
      '       Restore:                       true',
      '       Running:                       true',
      '       Status web 1:                  running (CID: 3f2a1b4c5d6)',
    ));
    assert.equal(mask((await ok(cur, ['ps:report', 'myapp'])).stdout), lines(
      '=====> myapp ps information',
      '       Deployed:                         true',
      '       Processes:                        1',
      '       Ps can scale:                     true',
      '       Ps computed dockerfile start cmd: ',
      '       Ps computed procfile path:        Procfile',
      '       Ps computed restart policy:       on-failure:10',
      '       Ps computed skip deploy:          false',
      '       Ps computed start cmd:            ',
      '       Ps computed stop timeout seconds: 30',
      '       Ps dockerfile start cmd:          ',
      '       Ps global procfile path:          ',
      '       Ps global restart policy:         ',
      '       Ps global skip deploy:            ',
      '       Ps global stop timeout seconds:   ',
      '       Ps procfile path:                 ',
      '       Ps restart policy:                ',
      '       Ps skip deploy:                   ',
      '       Ps start cmd:                     ',
      '       Ps stop timeout seconds:          ',
      '       Restore:                          true',
      '       Running:                          true',
      '       Status web 1:                     running (CID: 3f2a1b4c5d6)',
    ));
    const quiet = await ok(old, ['--quiet', 'ps:report', 'myapp']);
    assert.ok(!quiet.stdout.includes('=====>') && quiet.stdout.startsWith('       Deployed:'), 'quiet reports drop the header only');
  });

  it('ps:scale read: text, --quiet, json; scale set before the first deploy', async () => {
    const sim = await make(NEW);
    await ok(sim, ['apps:create', 'myapp']);
    assert.equal((await ok(sim, ['ps:scale', 'myapp', 'web=1', 'worker=2'])).stdout, '-----> Scaling myapp processes: web=1 worker=2\n');
    assert.equal((await ok(sim, ['ps:scale', 'myapp'])).stdout, lines('-----> Scaling for myapp', 'proctype: qty', '--------: ---', 'web:  1', 'worker: 2'));
    assert.equal((await ok(sim, ['--quiet', 'ps:scale', 'myapp'])).stdout, lines('web:  1', 'worker: 2'));
    assert.equal((await ok(sim, ['ps:scale', 'myapp', '--format', 'json'])).stdout, '[{"process_type":"web","quantity":1},{"process_type":"worker","quantity":2}]\n');
  });

  it('domains:report: bash layout with trailing padding (0.35), Go layout and JSON (0.38.27)', async () => {
    const [old, cur] = await Promise.all([make(OLD), make(NEW)]);
    for (const sim of [old, cur]) {
      await ok(sim, ['apps:create', 'myapp']);
      await ok(sim, ['domains:add', 'myapp', 'otree.example.org']);
    }
    assert.equal((await ok(old, ['domains:report', 'myapp'])).stdout, lines(
      '=====> myapp domains information',
      '       Domains app enabled:           true                     ',
      '       Domains app vhosts:            myapp.example.com otree.example.org',
      '       Domains global enabled:        true                     ',
      '       Domains global vhosts:         example.com              ',
    ));
    assert.equal((await ok(cur, ['domains:report', 'myapp'])).stdout, lines(
      '=====> myapp domains information',
      '       Domains app enabled:           true',
      '       Domains app vhosts:            myapp.example.com otree.example.org',
      '       Domains global enabled:        true',
      '       Domains global vhosts:         example.com',
    ));
    assert.equal((await ok(cur, ['domains:report', 'myapp', '--format', 'json'])).stdout,
      '{"app-enabled":"true","app-vhosts":"myapp.example.com otree.example.org","global-enabled":"true","global-vhosts":"example.com"}\n');
    assert.equal((await ok(old, ['domains:report', 'myapp', '--domains-app-vhosts'])).stdout, 'myapp.example.com otree.example.org\n');
    const badFlag = await old.run(['domains:report', 'myapp', '--format', 'json']);
    assert.equal(badFlag.code, 1, '0.35 bash reports take --format as an (invalid) info flag');
    assert.match(badFlag.stderr, /^ ! {5}Invalid flag passed, valid flags: --domains-app-enabled --domains-app-vhosts/);
  });

  it('git:report: bash layout (0.35) and Go layout (0.38.27)', async () => {
    const mask = (s: string) => s.replace(/[0-9a-f]{40}/g, '6f1c2a0e5b7d4c3a9e8f7d6c5b4a3f2e1d0c9b8a');
    const [old, cur] = await Promise.all([make(OLD), make(NEW)]);
    for (const sim of [old, cur]) {
      await ok(sim, ['apps:create', 'myapp']);
      await ok(sim, ['git:from-image', 'myapp', 'registry.example.com/otree:v42']);
    }
    assert.equal(mask((await ok(old, ['git:report', 'myapp'])).stdout), lines(
      '=====> myapp git information',
      '       Git deploy branch:             master                   ',
      '       Git global deploy branch:      master                   ',
      '       Git keep git dir:              false                    ',
      '       Git rev env var:               GIT_REV                  ',
      '       Git sha:                       6f1c2a0e5b7d4c3a9e8f7d6c5b4a3f2e1d0c9b8a',
      '       Git source image:              registry.example.com/otree:v42',
      '       Git last updated at:           1767225600               ',
    ));
    assert.equal(mask((await ok(cur, ['git:report', 'myapp'])).stdout), lines(
      '=====> myapp git information',
      '       Git computed archive max files: 10000',
      '       Git computed archive max size:  1073741824',
      '       Git computed deploy branch:     master',
      '       Git computed keep git dir:      false',
      '       Git deploy branch:              ',
      '       Git global archive max files:   ',
      '       Git global archive max size:    ',
      '       Git global deploy branch:       ',
      '       Git global keep git dir:        ',
      '       Git keep git dir:               ',
      '       Git last updated at:            1767225600',
      '       Git rev env var:                GIT_REV',
      '       Git sha:                        6f1c2a0e5b7d4c3a9e8f7d6c5b4a3f2e1d0c9b8a',
      '       Git source image:               registry.example.com/otree:v42',
    ));
  });

  describe('config', () => {
    let sim: SimRoot;
    const values: [string, string][] = [
      ['DATABASE_URL', 'postgres://postgres:2f6c…@dokku-postgres-otree-db:5432/otree_db'],
      ['OTREE_ADMIN_PASSWORD', "s3cr3t it's"],
      ['OTREE_PRODUCTION', '1'],
    ];
    before(async () => {
      sim = await make(OLD);
      await ok(sim, ['apps:create', 'myapp']);
      await ok(sim, ['config:set', '--encoded', '--no-restart', 'myapp', ...values.map(([k, v]) => `${k}=${Buffer.from(v).toString('base64')}`)]);
    });

    it('config:export in the exports, json and envfile formats', async () => {
      assert.equal((await ok(sim, ['config:export', 'myapp'])).stdout, lines(
        "export DATABASE_URL='postgres://postgres:2f6c…@dokku-postgres-otree-db:5432/otree_db'",
        "export OTREE_ADMIN_PASSWORD='s3cr3t it'\\''s'",
        "export OTREE_PRODUCTION='1'",
      ));
      assert.equal((await ok(sim, ['config:export', '--format', 'json', 'myapp'])).stdout,
        '{"DATABASE_URL":"postgres://postgres:2f6c…@dokku-postgres-otree-db:5432/otree_db","OTREE_ADMIN_PASSWORD":"s3cr3t it\'s","OTREE_PRODUCTION":"1"}\n');
      assert.equal((await ok(sim, ['config:export', '--format', 'envfile', 'myapp'])).stdout, lines(
        'DATABASE_URL="postgres://postgres:2f6c…@dokku-postgres-otree-db:5432/otree_db"',
        'OTREE_ADMIN_PASSWORD="s3cr3t it\'s"',
        'OTREE_PRODUCTION=1',
      ));
    });

    it('config:show is a columnized table under a header', async () => {
      await ok(sim, ['config:set', '--no-restart', 'myapp', 'REDIS_URL=redis://:9c0d…@dokku-redis-otree-redis:6379']);
      assert.equal((await ok(sim, ['config:show', 'myapp'])).stdout, lines(
        '=====> myapp env vars',
        'DATABASE_URL:          postgres://postgres:2f6c…@dokku-postgres-otree-db:5432/otree_db',
        "OTREE_ADMIN_PASSWORD:  s3cr3t it's",
        'OTREE_PRODUCTION:      1',
        'REDIS_URL:             redis://:9c0d…@dokku-redis-otree-redis:6379',
      ));
    });

    it('config:set prints the changed pairs; --quiet prints nothing', async () => {
      assert.equal((await ok(sim, ['config:set', '--no-restart', 'myapp', 'OTREE_PRODUCTION=1', 'OTREE_AUTH_LEVEL=STUDY'])).stdout,
        lines('-----> Setting config vars', '       OTREE_AUTH_LEVEL:  STUDY', '       OTREE_PRODUCTION:  1'));
      assert.equal((await ok(sim, ['--quiet', 'config:set', '--no-restart', 'myapp', 'OTREE_PRODUCTION=1'])).stdout, '');
    });

    it('empty config exports: json {}, json-list null, shell a single space', async () => {
      await ok(sim, ['apps:create', 'empty']);
      assert.equal((await ok(sim, ['config:export', '--format', 'json', 'empty'])).stdout, '{}\n');
      assert.equal((await ok(sim, ['config:export', '--format', 'json-list', 'empty'])).stdout, 'null\n');
      assert.equal((await ok(sim, ['config:export', '--format', 'shell', 'empty'])).stdout, ' ');
    });
  });

  it('resource:report: 0.38.8+ keys keep the prefix, older ones trim it; JSON key sets', async () => {
    const [old, cur] = await Promise.all([make(OLD), make(NEW)]);
    for (const sim of [old, cur]) {
      await ok(sim, ['apps:create', 'myapp']);
      await ok(sim, ['resource:limit', '--cpu', '1', '--memory', '512m', 'myapp']);
      await ok(sim, ['resource:reserve', '--process-type', 'web', '--memory', '256m', 'myapp']);
    }
    assert.equal((await ok(cur, ['resource:report', 'myapp'])).stdout, lines(
      '=====> myapp resource information',
      '       resource _default_ limit cpu:    1',
      '       resource _default_ limit memory: 512m',
      '       resource web reserve memory:     256m',
    ));
    assert.equal((await ok(old, ['resource:report', 'myapp'])).stdout, lines(
      '=====> myapp resource information',
      '       _default_ limit cpu:             1',
      '       _default_ limit memory:          512m',
      '       web reserve memory:              256m',
    ));
    assert.equal((await ok(cur, ['resource:report', 'myapp', '--format', 'json'])).stdout,
      '{"_default_.limit.cpu":"1","_default_.limit.memory":"512m","resource-_default_.limit.cpu":"1","resource-_default_.limit.memory":"512m","resource-web.reserve.memory":"256m","web.reserve.memory":"256m"}\n');
    assert.equal((await ok(old, ['resource:report', 'myapp', '--format', 'json'])).stdout,
      '{"_default_.limit.cpu":"1","_default_.limit.memory":"512m","web.reserve.memory":"256m"}\n');
  });

  it('postgres:info layout (%-20s %-25s) and the link output', async () => {
    const sim = await make(OLD);
    await ok(sim, ['apps:create', 'myapp']);
    await ok(sim, ['postgres:create', 'otree-db', '--password', '2f6c3b8e9a1d4f7c0b5e8a2d6c9f3b1e']);
    assert.equal((await ok(sim, ['postgres:link', 'otree-db', 'myapp'])).stdout,
      lines('-----> Setting config vars', '       DATABASE_URL:  postgres://postgres:2f6c3b8e9a1d4f7c0b5e8a2d6c9f3b1e@dokku-postgres-otree-db:5432/otree_db'));
    const info = (await ok(sim, ['postgres:info', 'otree-db'])).stdout
      .replace(/(Id: +)[0-9a-f]{64}/, '$18b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c')
      .replace(/(Internal ip: +)172\.17\.0\.\d+ */, '$1172.17.0.5               ');
    assert.equal(info, lines(
      '=====> otree-db postgres service information',
      '       Config dir:          /var/lib/dokku/services/postgres/otree-db/data',
      '       Config options:                               ',
      '       Data dir:            /var/lib/dokku/services/postgres/otree-db/data',
      '       Dsn:                 postgres://postgres:2f6c3b8e9a1d4f7c0b5e8a2d6c9f3b1e@dokku-postgres-otree-db:5432/otree_db',
      '       Exposed ports:       -                        ',
      '       Id:                  8b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c',
      '       Internal ip:         172.17.0.5               ',
      '       Initial network:                              ',
      '       Links:               myapp                    ',
      '       Post create network:                          ',
      '       Post start network:                           ',
      '       Service root:        /var/lib/dokku/services/postgres/otree-db',
      '       Status:              running                  ',
      '       Version:             postgres:18.4            ',
    ));
    assert.equal((await ok(sim, ['postgres:info', 'otree-db', '--dsn'])).stdout, 'postgres://postgres:2f6c3b8e9a1d4f7c0b5e8a2d6c9f3b1e@dokku-postgres-otree-db:5432/otree_db\n');
  });

  it('generic errors: not a dokku command (exit 1), missing app (exit 20), app-name rules per version', async () => {
    const [old, cur] = await Promise.all([make(OLD, { plugins: '' }), make(NEW)]);
    const notCommand = await old.run(['postgres:create', 'otree-db']);
    assert.equal(notCommand.code, 1);
    assert.equal(notCommand.stderr, lines(' !     `postgres:create otree-db` is not a dokku command.', ' !     See `dokku help` for a list of available commands.'));
    const missing = await old.run(['apps:exists', 'nope']);
    assert.deepEqual([missing.code, missing.stdout, missing.stderr], [20, '', ' !     App nope does not exist\n']);
    const oldName = await old.run(['apps:create', 'My_App']);
    assert.deepEqual([oldName.code, oldName.stderr], [1, ' !     App name must begin with lowercase alphanumeric character, and cannot include uppercase characters, colons, or underscores\n']);
    const newName = await cur.run(['apps:create', 'my_app']);
    assert.deepEqual([newName.code, newName.stderr], [1, ' !     App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens\n']);
    assert.equal((await old.run(['apps:create', 'my_app'])).code, 1, 'underscores were never allowed for new apps');
    assert.equal((await ok(cur, ['version'])).stdout, 'dokku version 0.38.27\n');
  });
});
