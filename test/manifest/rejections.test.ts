// Every rejection class of a single manifest, with its exact message and position.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIssue, parseManifests } from '../../src/manifest/index.js';

/** An instance manifest; `spec` lines are inserted at 2-space indentation below `spec:` (line 7 on). */
function instance(specLines: string, name = 'alice-pgg'): string {
  return [
    'apiVersion: otree-manager/v1',
    'kind: OTreeInstance',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  owner: alice',
    specLines,
  ].join('\n');
}

const password = '  otree:\n    adminPassword: { fromEnv: PW }';

interface Case {
  title: string;
  text: string;
  /** Expected `formatIssue` lines with their codes, in order. */
  issues: [string, string][];
  /** How many objects still load (warnings only). */
  accepted?: number;
}

const cases: Case[] = [
  {
    title: 'oTree 5 with more than one web process',
    text: instance(`${password}\n  processes:\n    web: 2`),
    issues: [['m.yaml:10:10 spec.processes.web: oTree 5 runs exactly one web process (got 2)', 'OTREE5_SINGLE_WEB']],
  },
  {
    title: 'Redis on oTree 5 is a warning',
    text: instance(`${password}\n  redis: true`),
    issues: [['m.yaml:9:10 spec.redis: warning: oTree 5 does not use Redis; set redis: false to save the service', 'OTREE5_REDIS_UNUSED']],
    accepted: 1,
  },
  {
    title: 'a worker on oTree 5 is a warning',
    text: instance(`${password}\n  processes: { worker: 1 }`),
    issues: [['m.yaml:9:24 spec.processes.worker: warning: oTree 5 has no worker process (prodserver2of2 only sleeps); set worker: 0 (got 1)', 'OTREE5_WORKER_UNUSED']],
    accepted: 1,
  },
  {
    title: 'oTree 3 without a worker is a warning (reported at spec: processes is absent)',
    text: instance('  otree:\n    version: "3"\n    adminPassword: { fromEnv: PW }'),
    issues: [['m.yaml:5:1 spec.processes.worker: warning: oTree 3 runs bots and page timeouts in the worker process; set worker: 1', 'OTREE3_WORKER_MISSING']],
    accepted: 1,
  },
  {
    title: 'env keys the manager owns',
    text: instance(`${password}\n  env:\n    OTREE_ADMIN_PASSWORD: x\n    DATABASE_URL: y\n    OTM_MANAGED: "1"\n    DOKKU_APP_TYPE: z\n    SENTRY_DSN: fine`),
    issues: [
      ['m.yaml:10:5 spec.env.OTREE_ADMIN_PASSWORD: OTREE_ADMIN_PASSWORD is managed by otree-manager; set spec.otree.adminPassword instead', 'ENV_RESERVED_KEY'],
      ['m.yaml:11:5 spec.env.DATABASE_URL: DATABASE_URL is managed by otree-manager; the PostgreSQL service link sets it', 'ENV_RESERVED_KEY'],
      ['m.yaml:12:5 spec.env.OTM_MANAGED: OTM_MANAGED is managed by otree-manager; remove it from spec.env', 'ENV_RESERVED_KEY'],
      ['m.yaml:13:5 spec.env.DOKKU_APP_TYPE: DOKKU_APP_TYPE is managed by otree-manager; remove it from spec.env', 'ENV_RESERVED_KEY'],
    ],
  },
  {
    title: 'env key Dokku cannot store',
    text: instance(`${password}\n  env:\n    my-key: x`),
    issues: [['m.yaml:10:5 spec.env.my-key: must be an environment variable name: letters, digits and underscores, not starting with a digit (and not __proto__) (got "my-key")', 'ENV_KEY_INVALID']],
  },
  {
    title: 'participant labels oTree rejects',
    text: instance(`${password}\n  rooms:\n    - name: lab\n      displayName: Lab\n      participantLabels: [seat01, seat-02]`),
    issues: [['m.yaml:12:35 spec.rooms[0].participantLabels[1]: must be a participant label oTree accepts: letters, digits and underscores only (got "seat-02")', 'PARTICIPANT_LABEL_INVALID']],
  },
  {
    title: 'two rooms with one name',
    text: instance(`${password}\n  rooms:\n    - { name: lab, displayName: A }\n    - { name: lab, displayName: B }`),
    issues: [['m.yaml:11:15 spec.rooms[1].name: room "lab" is already declared as rooms[0]', 'ROOM_DUPLICATE']],
  },
  {
    title: 'freeze window ending before it starts',
    text: instance(`${password}\n  freezeWindows:\n    - from: "2026-12-01T12:00:00Z"\n      to: "2026-12-01T09:00:00Z"`),
    issues: [['m.yaml:11:11 spec.freezeWindows[0].to: the window must end after it starts (from 2026-12-01T12:00:00Z, to 2026-12-01T09:00:00Z)', 'FREEZE_WINDOW_ORDER']],
  },
  {
    title: 'freeze window of zero length',
    text: instance(`${password}\n  freezeWindows: [{ from: "2026-12-01T12:00:00Z", to: "2026-12-01T12:00:00Z" }]`),
    issues: [['m.yaml:9:55 spec.freezeWindows[0].to: the window must end after it starts (from 2026-12-01T12:00:00Z, to 2026-12-01T12:00:00Z)', 'FREEZE_WINDOW_ORDER']],
  },
  {
    title: 'name with an uppercase letter',
    text: instance(password, 'Alice'),
    issues: [['m.yaml:4:9 metadata.name: must be a Dokku app name valid on every Dokku version: 2 to 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (got "Alice")', 'NAME_INVALID']],
  },
  {
    title: 'name ending with a hyphen',
    text: instance(password, 'alice-'),
    issues: [['m.yaml:4:9 metadata.name: must be a Dokku app name valid on every Dokku version: 2 to 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (got "alice-")', 'NAME_INVALID']],
  },
  {
    title: 'name with a dot (an FQDN to Dokku 0.38)',
    text: instance(password, 'alice.pgg'),
    issues: [['m.yaml:4:9 metadata.name: must be a Dokku app name valid on every Dokku version: 2 to 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (got "alice.pgg")', 'NAME_INVALID']],
  },
  {
    title: 'name longer than a DNS label',
    text: instance(password, `a${'b'.repeat(63)}`),
    issues: [[`m.yaml:4:9 metadata.name: must be a Dokku app name valid on every Dokku version: 2 to 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (got "a${'b'.repeat(63)}")`, 'NAME_INVALID']],
  },
  {
    title: 'name Dokku treats specially',
    text: instance(password, 'tls'),
    issues: [['m.yaml:4:9 metadata.name: "tls" is a name Dokku treats specially (reserved: tls, dokku); choose another', 'NAME_RESERVED']],
  },
  {
    title: 'inline secret is a warning',
    text: instance('  otree:\n    adminPassword: { value: hunter2 }'),
    issues: [['m.yaml:8:29 spec.otree.adminPassword.value: warning: the secret is written in the manifest; prefer fromFile or fromEnv so it stays out of git', 'SECRET_INLINE']],
    accepted: 1,
  },
  {
    title: 'missing required field, reported at its parent',
    text: instance('  otree:\n    version: "5"'),
    issues: [['m.yaml:7:3 spec.otree.adminPassword: required field is missing', 'FIELD_REQUIRED']],
  },
  {
    title: 'misspelt field with a suggestion',
    text: instance(`${password}\n  procesess: { web: 1 }`),
    issues: [['m.yaml:9:3 spec.procesess: unknown field; did you mean "processes"?', 'FIELD_UNKNOWN']],
  },
  {
    title: 'unquoted version number',
    text: instance('  otree:\n    version: 5\n    adminPassword: { fromEnv: PW }'),
    issues: [['m.yaml:8:14 spec.otree.version: must be one of "5", "3" (got 5); quote the value', 'FIELD_ENUM']],
  },
  {
    title: 'wrong type',
    text: instance(`${password}\n  redis: "yes"`),
    issues: [['m.yaml:9:10 spec.redis: must be a boolean (got string)', 'FIELD_TYPE']],
  },
  {
    title: 'number where an env value string is expected',
    text: instance(`${password}\n  env: { WORKERS: 4 }`),
    issues: [['m.yaml:9:19 spec.env.WORKERS: must be a string (got number); quote the value', 'FIELD_TYPE']],
  },
  {
    title: 'two sources at once',
    text: instance(`${password}\n  source:\n    push: {}\n    image: { ref: x }`),
    issues: [['m.yaml:10:5 spec.source: must set exactly one of push, git, image, archive (got 2)', 'FIELD_ONE_OF']],
  },
  {
    title: 'secret with two origins',
    text: instance('  otree:\n    adminPassword: { fromEnv: PW, fromFile: /x }'),
    issues: [['m.yaml:8:20 spec.otree.adminPassword: must set exactly one of fromFile, fromEnv, value, secretRef (got 2)', 'FIELD_ONE_OF']],
  },
  {
    title: 'timestamp that is not RFC 3339',
    text: instance(`${password}\n  expiresAt: "next week"`),
    issues: [['m.yaml:9:14 spec.expiresAt: must be an RFC 3339 date-time such as 2026-12-01T09:00:00Z (got "next week")', 'FIELD_FORMAT']],
  },
  {
    title: 'negative process count',
    text: instance(`${password}\n  processes: { web: -1 }`),
    issues: [['m.yaml:9:21 spec.processes.web: must be >= 0 (got -1)', 'FIELD_RANGE']],
  },
  {
    title: 'backup schedule that is not cron',
    text: instance(`${password}\n  backups: { schedule: "every night" }`),
    issues: [['m.yaml:9:24 spec.backups.schedule: must be a cron expression with 5 or 6 fields, e.g. "0 3 * * *" (got "every night")', 'CRON_INVALID']],
  },
  {
    title: 'a key with no value is reported at the key',
    text: instance(`${password}\n  processes:`),
    issues: [['m.yaml:9:3 spec.processes: must be a mapping (got null)', 'FIELD_TYPE']],
  },
  {
    title: 'label key with a space',
    text: instance(password).replace('  name: alice-pgg', '  name: alice-pgg\n  labels: { "my course": econ101 }'),
    issues: [[`m.yaml:5:13 metadata.labels["my course"]: must be a label key: up to 63 letters, digits, '.', '_', '/' and '-', starting and ending with a letter or digit (got "my course")`, 'LABEL_KEY_INVALID']],
  },
  {
    title: 'domain with a scheme',
    text: instance(`${password}\n  domains: [https://x.example.org]`),
    issues: [['m.yaml:9:13 spec.domains[0]: must be a lowercase domain name such as exp1.lab.example.org (got "https://x.example.org")', 'DOMAIN_INVALID']],
  },
  {
    title: 'memory limit in the wrong unit',
    text: instance(`${password}\n  resources: { memory: 1GB }`),
    issues: [['m.yaml:9:24 spec.resources.memory: must be a memory size such as 512m or 1g (got "1GB")', 'RESOURCE_INVALID']],
  },
  {
    title: 'room name oTree rejects',
    text: instance(`${password}\n  rooms: [{ name: lab-1, displayName: Lab }]`),
    issues: [['m.yaml:9:19 spec.rooms[0].name: must be an oTree room name: letters, digits and underscores (got "lab-1")', 'ROOM_NAME_INVALID']],
  },
  {
    title: 'a top-level field the schema does not know',
    text: `${instance(password)}\nstatus: {}`,
    issues: [['m.yaml:9:1 status: unknown field (allowed: apiVersion, kind, metadata, spec)', 'FIELD_UNKNOWN']],
  },
  {
    title: 'schema and semantic problems are reported together; rules skip the fields with schema problems',
    text: instance(`${password}\n  processes: { web: 2 }\n  env: { OTM_X: "1" }\n  rooms: [{ name: a, displayName: A, participantLabels: [a-b] }, { name: a, displayName: B }]`),
    issues: [
      ['m.yaml:9:21 spec.processes.web: oTree 5 runs exactly one web process (got 2)', 'OTREE5_SINGLE_WEB'],
      ['m.yaml:10:10 spec.env.OTM_X: OTM_X is managed by otree-manager; remove it from spec.env', 'ENV_RESERVED_KEY'],
      ['m.yaml:11:58 spec.rooms[0].participantLabels[0]: must be a participant label oTree accepts: letters, digits and underscores only (got "a-b")', 'PARTICIPANT_LABEL_INVALID'],
    ],
  },
  {
    title: 'unknown kind',
    text: 'apiVersion: otree-manager/v1\nkind: Instance\nmetadata: { name: x }\nspec: {}',
    issues: [['m.yaml:2:7 kind: must be one of OTreeInstance, Experimenter (got "Instance")', 'KIND_UNKNOWN']],
  },
  {
    title: 'unknown apiVersion',
    text: 'apiVersion: otree-manager/v2\nkind: Experimenter\nmetadata: { name: x }\nspec: { displayName: X }',
    issues: [['m.yaml:1:13 apiVersion: must be "otree-manager/v1" (got "otree-manager/v2")', 'API_VERSION_UNKNOWN']],
  },
  {
    title: 'a document that is a list',
    text: '- a\n- b',
    issues: [['m.yaml:1:1: a manifest must be a mapping with apiVersion, kind, metadata and spec (got a list)', 'NOT_AN_OBJECT']],
  },
  {
    title: 'duplicate keys',
    text: instance(`${password}\n  redis: false\n  redis: true`),
    issues: [['m.yaml:10:3: Map keys must be unique', 'YAML_DUPLICATE_KEY']],
  },
  {
    title: 'YAML syntax error',
    text: instance(`${password}\n  env: { A: "x }`),
    issues: [
      ['m.yaml:9:17: Missing closing "quote', 'YAML_SYNTAX'],
      ['m.yaml:9:17: Flow map in block collection must be sufficiently indented and end with a }', 'YAML_SYNTAX'],
    ],
  },
];

describe('manifest rejections', () => {
  for (const { title, text, issues, accepted = 0 } of cases) {
    it(title, () => {
      const result = parseManifests(text, 'm.yaml');
      assert.deepEqual(result.issues.map((issue) => [formatIssue(issue), issue.code]), issues);
      assert.equal(result.objects.length, accepted);
    });
  }
});
