// The daemon's configuration file and secret resolution, on a real temporary file system.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig, redactUrl } from '../../src/config.js';
import { SecretError, resolveSecret } from '../../src/desired/secrets.js';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'otm-config-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadConfig', () => {
  it('works without any file: every default, paths relative to the working directory', async () => {
    const { config, file } = await loadConfig({ env: {}, cwd: root });
    assert.equal(file, undefined);
    assert.deepEqual(config, {
      hosts: [{ name: 'local', transport: { type: 'local', dokkuPath: 'dokku' }, commandTimeoutSeconds: 900 }],
      manifestsDir: path.join(root, 'manifests'),
      stateDir: path.join(root, '.state'),
      backupDir: path.join(root, '.state/backups'),
      http: { listen: '127.0.0.1:9280' },
      queue: { concurrency: 4, mutationsPerSecond: 2, burst: 10, backoffBaseMs: 1000, backoffMaxMs: 300000 },
      resync: { schedule: '*/10 * * * *', jitterPercent: 10 },
      rows: { allowedDomains: [] },
      prune: false,
      drainSeconds: 30,
      secrets: { dirs: ['/etc/otree-manager/secrets'], maxBytes: 65536 },
      log: { level: 'info' },
      web: {
        listen: '127.0.0.1:9281',
        trustProxy: ['127.0.0.1', '::1'],
        selfService: false,
        session: { idleMinutes: 120, absoluteHours: 12 },
        signInLimit: { perAccount: 5, perAddress: 20, windowMinutes: 15 },
        timeZone: 'UTC',
        links: { inviteHours: 72, resetMinutes: 60 },
        daemon: {},
      },
    });
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.hosts[0]?.transport));
  });

  it('reads the file named by OTM_CONFIG; relative paths follow the file; ssh transports get their defaults', async () => {
    const file = path.join(root, 'otm.yaml');
    await writeFile(file, [
      'hosts:',
      '  - name: lab1',
      '    transport: { type: ssh, host: dokku.lab.example.org, identityFile: keys/id_ed25519 }',
      'manifestsDir: desired',
      'postgresUrl: postgres://otm:pw@127.0.0.1:5432/otm',
      'prune: true',
      'baseDomain: lab.example.org',
    ].join('\n'));
    const { config, file: used } = await loadConfig({ env: { OTM_CONFIG: file } });
    assert.equal(used, file);
    assert.deepEqual(config.hosts, [{
      name: 'lab1',
      transport: { type: 'ssh', host: 'dokku.lab.example.org', port: 22, user: 'dokku', identityFile: path.join(root, 'keys/id_ed25519') },
      commandTimeoutSeconds: 900,
    }]);
    assert.equal(config.manifestsDir, path.join(root, 'desired'));
    assert.equal(config.prune, true);
    assert.equal(redactUrl(config.postgresUrl ?? ''), 'postgres://otm:********@127.0.0.1:5432/otm');
  });

  it('reports every problem of an invalid file with its position', async () => {
    const file = path.join(root, 'bad.yaml');
    await writeFile(file, [
      'hosts:',
      '  - name: lab1',
      '    transport: { type: ssh, port: 22 }',
      'queue: { concurency: 2 }',
      'log: { level: loud }',
    ].join('\n'));
    await assert.rejects(loadConfig({ path: file, env: {} }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.issues.map((issue) => `${issue.origin.line}:${issue.origin.column} ${issue.path}: ${issue.message}`), [
        '3:5 hosts[0].transport.host: required field is missing',
        '4:10 queue.concurency: unknown field; did you mean "concurrency"?',
        '5:15 log.level: must be one of "trace", "debug", "info", "warn", "error", "fatal" (got "loud")',
      ]);
      return true;
    });
  });

  it('names a missing file and where it was named', async () => {
    await assert.rejects(loadConfig({ env: { OTM_CONFIG: path.join(root, 'nope.yaml') } }), {
      name: 'ConfigError',
      message: `cannot read the configuration file ${path.join(root, 'nope.yaml')} (named by OTM_CONFIG): ENOENT; create it or point to another file`,
    });
  });

  it('refuses two hosts with one name', async () => {
    const file = path.join(root, 'twice.yaml');
    await writeFile(file, 'hosts:\n  - { name: a, transport: { type: local } }\n  - { name: a, transport: { type: local } }\n');
    await assert.rejects(loadConfig({ path: file }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.issues.map((issue) => `${issue.origin.line}:${issue.origin.column} ${issue.path}: ${issue.message}`), [
        '3:13 hosts[1].name: host "a" is declared twice; give every host its own name',
      ]);
      return true;
    });
  });

  it('refuses a time zone the system does not know, naming web.timeZone', async () => {
    const file = path.join(root, 'zone.yaml');
    await writeFile(file, 'web: { timeZone: Mars/Olympus_Mons }\n');
    await assert.rejects(loadConfig({ path: file }), (error: unknown) => error instanceof ConfigError && /web\.timeZone "Mars\/Olympus_Mons" is not a time zone/.test(error.message));
    await writeFile(file, 'web: { timeZone: Europe/Berlin }\n');
    assert.equal((await loadConfig({ path: file })).config.web.timeZone, 'Europe/Berlin');
  });
});

describe('resolveSecret', () => {
  it('reads a file without its trailing newline, an environment variable, or the inline value', async () => {
    const file = path.join(root, 'pw');
    await writeFile(file, 'correct horse\n');
    assert.equal(await resolveSecret({ fromFile: file }, { field: 'a spec.otree.adminPassword', limits: { dirs: [root], maxBytes: 65536 } }), 'correct horse');
    assert.equal(await resolveSecret({ fromEnv: 'PW' }, { field: 'a', env: { PW: 'from-env' } }), 'from-env');
    assert.equal(await resolveSecret({ value: 'inline' }, { field: 'a' }), 'inline');
  });

  it('says which instance and field need what, without the secret', async () => {
    await assert.rejects(resolveSecret({ fromEnv: 'NOT_SET' }, { field: 'alice-pgg spec.otree.adminPassword', env: {} }), {
      name: 'SecretError',
      message: 'alice-pgg spec.otree.adminPassword: environment variable NOT_SET is not set for the daemon; set it (e.g. in the systemd unit\'s EnvironmentFile) or use fromFile',
    });
    const missing = path.join(root, 'missing-pw');
    await assert.rejects(resolveSecret({ fromFile: missing }, { field: 'alice-pgg spec.otree.restKey', limits: { dirs: [root], maxBytes: 65536 } }), {
      message: `alice-pgg spec.otree.restKey: secret file ${missing} cannot be read: it does not exist; create it (readable by the daemon's user only) or fix fromFile`,
    });
    const empty = path.join(root, 'empty-pw');
    await writeFile(empty, '\n');
    await assert.rejects(resolveSecret({ fromFile: empty }, { field: 'x', limits: { dirs: [root], maxBytes: 65536 } }), (error: unknown) => error instanceof SecretError && /is empty/.test(error.message));
  });
});
