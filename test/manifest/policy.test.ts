// The row policy, as a table: what a database row may ask for, and the code and field of each refusal.
// Then the same through validateRow, the function every row read and write goes through, with rows as
// PostgreSQL hands them over (JSON.parse, so `__proto__` arrives as an own key).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateRow } from '../../src/desired/rows.js';
import { maskSecrets, maskUrlCredentials, rowPolicyProblems, SECRET_MASK } from '../../src/manifest/index.js';
import type { OTreeInstanceSpec, RowPolicyOptions } from '../../src/manifest/index.js';
import { instance } from '../reconcile/fixtures.js';

const POLICY: RowPolicyOptions = {
  baseDomain: 'lab.example.org',
  allowedDomains: ['experiments.example.net'],
  reservedDomains: ['otm.lab.example.org', 'dokku.lab.example.org'],
};

const ALLOWED = { otree: { version: '5', production: true, authLevel: 'STUDY', adminPassword: { value: 'x' } } } as const;

const cases: Array<[string, Partial<OTreeInstanceSpec>, Array<[string, string]>]> = [
  ['a plain instance below the base domain', { ...ALLOWED, domains: ['pgg.lab.example.org'] }, []],
  ['an allowed extra domain and one below it', { ...ALLOWED, domains: ['experiments.example.net', 'a.experiments.example.net'] }, []],
  ['fromFile', { otree: { ...ALLOWED.otree, adminPassword: { fromFile: '/etc/otree-manager/ssh/id_ed25519' } } },
    [['spec.otree.adminPassword.fromFile', 'ROW_SECRET_SOURCE']]],
  ['fromEnv for the REST key', { otree: { ...ALLOWED.otree, restKey: { fromEnv: 'OTM_API_TOKEN' } } },
    [['spec.otree.restKey.fromEnv', 'ROW_SECRET_SOURCE']]],
  ['adopt', { ...ALLOWED, adopt: true }, [['spec.adopt', 'ROW_ADOPT']]],
  ['an archive path on the host', { ...ALLOWED, source: { archive: { path: '/etc/shadow' } } }, [['spec.source.archive.path', 'ROW_ARCHIVE_PATH']]],
  ['https git', { ...ALLOWED, source: { git: { url: 'https://github.com/lab/x.git', ref: 'main' } } }, []],
  ['ssh git with a user', { ...ALLOWED, source: { git: { url: 'ssh://git@github.com:22/lab/x.git', ref: 'main' } } }, []],
  ['scp-style git', { ...ALLOWED, source: { git: { url: 'git@github.com:lab/x.git', ref: 'v1' } } }, []],
  ['a local path', { ...ALLOWED, source: { git: { url: '/home/dokku/other-app', ref: 'main' } } }, [['spec.source.git.url', 'ROW_GIT_URL']]],
  ['file://', { ...ALLOWED, source: { git: { url: 'file:///var/lib/dokku', ref: 'main' } } }, [['spec.source.git.url', 'ROW_GIT_URL']]],
  ['gopher://', { ...ALLOWED, source: { git: { url: 'gopher://evil.example/x', ref: 'main' } } }, [['spec.source.git.url', 'ROW_GIT_URL']]],
  ['plain http', { ...ALLOWED, source: { git: { url: 'http://github.com/lab/x.git', ref: 'main' } } }, [['spec.source.git.url', 'ROW_GIT_URL']]],
  ['a token in an https URL', { ...ALLOWED, source: { git: { url: 'https://ghp_abc@github.com/lab/x.git', ref: 'main' } } },
    [['spec.source.git.url', 'ROW_GIT_CREDENTIALS']]],
  ['a password in an ssh URL', { ...ALLOWED, source: { git: { url: 'ssh://git:pw@github.com/lab/x.git', ref: 'main' } } },
    [['spec.source.git.url', 'ROW_GIT_CREDENTIALS']]],
  ['a domain elsewhere', { ...ALLOWED, domains: ['pgg.lab.example.org', 'bank.example.com'] }, [['spec.domains[1]', 'ROW_DOMAIN_NOT_ALLOWED']]],
  ['a look-alike suffix', { ...ALLOWED, domains: ['evillab.example.org'] }, [['spec.domains[0]', 'ROW_DOMAIN_NOT_ALLOWED']]],
  ['the manager\'s own host name', { ...ALLOWED, domains: ['otm.lab.example.org'] }, [['spec.domains[0]', 'ROW_DOMAIN_RESERVED']]],
  ['a Dokku host\'s name', { ...ALLOWED, domains: ['dokku.lab.example.org'] }, [['spec.domains[0]', 'ROW_DOMAIN_RESERVED']]],
  ['the base domain itself', { ...ALLOWED, domains: ['lab.example.org'] }, [['spec.domains[0]', 'ROW_DOMAIN_RESERVED']]],
];

describe('rowPolicyProblems', () => {
  for (const [name, spec, expected] of cases) {
    test(name, () => {
      const problems = rowPolicyProblems(instance({ domains: [], ...spec }), POLICY);
      assert.deepEqual(problems.map((p) => [p.path, p.code]), expected);
      for (const p of problems) assert.doesNotMatch(p.message, /id_ed25519|OTM_API_TOKEN|ghp_abc|:pw@/, 'a refusal never repeats what it refuses');
    });
  }

  test('without a base domain or allowed domains, rows declare no domains at all', () => {
    assert.deepEqual(rowPolicyProblems(instance({ ...ALLOWED, domains: ['x.example.org'] }), {}).map((p) => p.code), ['ROW_DOMAIN_NOT_ALLOWED']);
    assert.deepEqual(rowPolicyProblems(instance({ ...ALLOWED, domains: [] }), {}), []);
  });
});

describe('validateRow', () => {
  const spec = (extra: string): unknown => JSON.parse(`{"owner": "alice", "otree": {"adminPassword": {"value": "pw"}}${extra}}`);

  test('a row that breaks the policy is rejected with the code and field, like an invalid one', () => {
    const result = validateRow('instances', 'alice-pgg', spec(', "adopt": true, "source": {"git": {"url": "file:///etc", "ref": "main"}}'), {}, POLICY);
    assert.equal(result.objects.length, 0);
    assert.deepEqual(result.rejected?.map((r) => r.name), ['alice-pgg']);
    assert.deepEqual(result.issues.filter((i) => i.severity === 'error').map((i) => [i.path, i.code]),
      [['spec.adopt', 'ROW_ADOPT'], ['spec.source.git.url', 'ROW_GIT_URL']]);
  });

  test('values Dokku would read as flags are refused by the schema, for rows and files alike', () => {
    for (const [extra, path] of [
      [', "source": {"git": {"url": "https://github.com/lab/x.git", "ref": "--trace"}}', 'spec.source.git.ref'],
      [', "source": {"image": {"ref": "--force"}}', 'spec.source.image.ref'],
      [', "source": {"git": {"url": "-uhttps://x", "ref": "main"}}', 'spec.source.git.url'],
    ] as const) {
      const result = validateRow('instances', 'alice-pgg', spec(extra), {}, POLICY);
      assert.equal(result.objects.length, 0, extra);
      assert.ok(result.issues.some((i) => i.code === 'ARGUMENT_INVALID' && i.path === path), `${path}: ${JSON.stringify(result.issues)}`);
    }
  });

  test('an env key __proto__ is refused, as the API refuses it', () => {
    const result = validateRow('instances', 'alice-pgg', spec(', "env": {"__proto__": "x"}'), {}, POLICY);
    assert.equal(result.objects.length, 0);
    assert.ok(result.issues.some((i) => i.code === 'ENV_KEY_INVALID' && i.path === 'spec.env.__proto__'), JSON.stringify(result.issues));
  });

  test('a row may declare experimenters but never an admin', () => {
    const person = (role: string) => validateRow('experimenters', 'mallory', { displayName: 'M', role }, {}, POLICY);
    assert.equal(person('experimenter').objects.length, 1);
    const admin = person('admin');
    assert.equal(admin.objects.length, 0);
    assert.deepEqual(admin.issues.map((i) => [i.path, i.code]), [['spec.role', 'ROW_ADMIN_ROLE']]);
  });

  test('a row within the policy passes', () => {
    const result = validateRow('instances', 'alice-pgg', spec(', "domains": ["pgg.lab.example.org"]'), {}, POLICY);
    assert.equal(result.objects.length, 1);
  });
});

describe('masking', () => {
  test('env values and URL credentials are masked in every shown spec; keys stay visible', () => {
    const shown = maskSecrets(instance({ source: { git: { url: 'https://tok@github.com/lab/x.git', ref: 'main' } } }));
    assert.deepEqual(shown.spec.env, { SENTRY_DSN: SECRET_MASK });
    assert.ok('git' in shown.spec.source && shown.spec.source.git.url === `https://${SECRET_MASK}@github.com/lab/x.git`);
  });

  test('maskUrlCredentials keeps ssh account names and hides every other userinfo', () => {
    assert.equal(maskUrlCredentials('clone git@github.com:a/b and ssh://git@h/x and https://u:p@h/x and https://t@h/y'),
      `clone git@github.com:a/b and ssh://git@h/x and https://${SECRET_MASK}@h/x and https://${SECRET_MASK}@h/y`);
  });
});
