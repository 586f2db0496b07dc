// Parsing: multi-document files, defaults, resource limits, masking, and the schema/type agreement.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_ALIAS_COUNT, MAX_MANIFEST_BYTES, SECRET_MASK, formatIssue, maskSecrets, parseManifests, validateAgainstSchema } from '../../src/manifest/index.js';
import type { Experimenter, OTreeInstance } from '../../src/manifest/index.js';

const minimal = `apiVersion: otree-manager/v1
kind: OTreeInstance
metadata:
  name: alice-pgg
spec:
  owner: alice
  otree:
    adminPassword: { fromEnv: ALICE_PW }
`;

describe('parseManifests', () => {
  it('applies every default and shows them on the object', () => {
    const { objects, issues } = parseManifests(minimal, 'm.yaml');
    assert.deepEqual(issues, []);
    assert.deepEqual(objects[0]?.object, {
      apiVersion: 'otree-manager/v1',
      kind: 'OTreeInstance',
      metadata: { name: 'alice-pgg', labels: {} },
      spec: {
        owner: 'alice',
        collaborators: [],
        state: 'running',
        otree: { version: '5', production: true, authLevel: 'STUDY', adminPassword: { fromEnv: 'ALICE_PW' } },
        source: { push: {} },
        processes: { web: 1, worker: 0 },
        database: { deletionPolicy: 'Backup' },
        redis: false,
        domains: [],
        tls: { letsencrypt: false },
        env: {},
        rooms: [],
        lobby: { enabled: true },
        resetDatabase: { generation: 0 },
        restart: { generation: 0 },
        freezeWindows: [],
        resources: {},
        adopt: false,
      },
    } satisfies OTreeInstance);
    assert.deepEqual(objects[0]?.origin, { source: 'm.yaml', line: 1, column: 1 });
  });

  it('defaults inside optional objects and experimenters', () => {
    const text = `${minimal}  source: { git: { url: https://git.example.org/a.git } }
  backups: {}
  rooms: [{ name: lab, displayName: Lab }]
---
apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: alice }
spec: { displayName: Alice }
`;
    const { objects, issues } = parseManifests(text, 'm.yaml');
    assert.deepEqual(issues, []);
    const instance = objects[0]?.object as OTreeInstance;
    assert.deepEqual(instance.spec.source, { git: { url: 'https://git.example.org/a.git', ref: 'main' } });
    assert.deepEqual(instance.spec.backups, { schedule: '0 3 * * *', keep: 7 });
    assert.deepEqual(instance.spec.rooms, [{ name: 'lab', displayName: 'Lab', participantLabels: [] }]);
    assert.deepEqual(objects[1]?.object, {
      apiVersion: 'otree-manager/v1',
      kind: 'Experimenter',
      metadata: { name: 'alice', labels: {} },
      spec: { displayName: 'Alice', role: 'experimenter', disabled: false, sshKeys: [], quota: { instances: 3, webProcesses: 3 } },
    } satisfies Experimenter);
    assert.deepEqual(objects[1]?.origin, { source: 'm.yaml', line: 13, column: 1 });
  });

  it('a bad document never hides the good ones around it', () => {
    const bad = 'apiVersion: otree-manager/v1\nkind: OTreeInstance\nmetadata: { name: bob-x }\nspec: { owner: bob }\n';
    const other = minimal.replace('alice-pgg', 'carol-x');
    const { objects, issues, rejected } = parseManifests(`${minimal}---\n${bad}---\nkey: [unclosed\n---\n${other}---\n`, 'm.yaml');
    assert.deepEqual(objects.map(({ object }) => object.metadata.name), ['alice-pgg', 'carol-x']);
    assert.deepEqual(rejected, [{ kind: 'OTreeInstance', name: 'bob-x', origin: { source: 'm.yaml', line: 10, column: 1 } }]);
    assert.deepEqual(issues.map((issue) => [formatIssue(issue), issue.code]), [
      ['m.yaml:13:1 spec.otree: required field is missing', 'FIELD_REQUIRED'],
      ['m.yaml:16:1: Flow sequence in block collection must be sufficiently indented and end with a ]', 'YAML_SYNTAX'],
    ]);
  });

  it('skips empty documents and comment-only files', () => {
    assert.deepEqual(parseManifests('# nothing yet\n---\n---\n', 'e.yaml'), { objects: [], issues: [], rejected: [] });
    assert.deepEqual(parseManifests('', 'e.yaml'), { objects: [], issues: [], rejected: [] });
  });

  it('rejects a billion-laughs alias bomb without expanding it', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let level = 1; level < 9; level++) {
      const previous = String.fromCharCode(96 + level);
      const name = String.fromCharCode(97 + level);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(',')}]`);
    }
    const { objects, issues } = parseManifests(`${levels.join('\n')}\n`, 'bomb.yaml');
    assert.equal(objects.length, 0);
    assert.deepEqual(issues.map((issue) => [formatIssue(issue), issue.code]), [
      [`bomb.yaml:1:1: the document expands more than ${MAX_ALIAS_COUNT} aliases; write the values out or use fewer anchors`, 'YAML_ALIAS_LIMIT'],
    ]);
  });

  it('accepts a few aliases used by hand', () => {
    const text = `${minimal}  rooms:\n    - { name: a, displayName: A, participantLabels: &seats [s1, s2] }\n    - { name: b, displayName: B, participantLabels: *seats }\n`;
    const { objects, issues } = parseManifests(text, 'm.yaml');
    assert.deepEqual(issues, []);
    assert.deepEqual((objects[0]?.object as OTreeInstance).spec.rooms[1]?.participantLabels, ['s1', 's2']);
  });

  it('refuses text over the size limit', () => {
    const text = `${minimal}# ${'x'.repeat(MAX_MANIFEST_BYTES)}\n`;
    const { objects, issues } = parseManifests(text, 'big.yaml');
    assert.equal(objects.length, 0);
    assert.deepEqual(issues.map((issue) => [formatIssue(issue), issue.code]), [
      [`big.yaml: the file has ${text.length} bytes; the limit is ${MAX_MANIFEST_BYTES} bytes, split it into several files`, 'FILE_TOO_LARGE'],
    ]);
  });

  it('never repeats a secret value in a message', () => {
    const text = minimal.replace('{ fromEnv: ALICE_PW }', '{ value: 12345 }');
    const { issues } = parseManifests(text, 'm.yaml');
    assert.equal(issues.length, 1);
    assert.equal(formatIssue(issues[0]!), 'm.yaml:8:29 spec.otree.adminPassword.value: must be a string (got number); quote the value');
    const quoted = parseManifests(minimal.replace('{ fromEnv: ALICE_PW }', '{ value: "s3cret-pw", extra: 1 }'), 'm.yaml');
    assert.ok(quoted.issues.length > 0);
    assert.ok(quoted.issues.every((issue) => !issue.message.includes('s3cret-pw')));
    const misplaced = parseManifests(minimal.replace('{ fromEnv: ALICE_PW }', '{ fromEnv: "s3cret pw" }'), 'm.yaml');
    assert.deepEqual(misplaced.issues.map(formatIssue), ['m.yaml:8:31 spec.otree.adminPassword.fromEnv: must be an environment variable name']);
  });
});

describe('maskSecrets', () => {
  it('masks value secrets and keeps file and variable names', () => {
    const text = minimal.replace('{ fromEnv: ALICE_PW }', '{ value: hunter2 }\n    restKey: { fromFile: /etc/otm/rest }');
    const instance = parseManifests(text, 'm.yaml').objects[0]!.object as OTreeInstance;
    const masked = maskSecrets(instance);
    assert.deepEqual(masked.spec.otree.adminPassword, { value: SECRET_MASK });
    assert.deepEqual(masked.spec.otree.restKey, { fromFile: '/etc/otm/rest' });
    assert.deepEqual(instance.spec.otree.adminPassword, { value: 'hunter2' }, 'the original is untouched');
    assert.ok(!JSON.stringify(masked).includes('hunter2'));
  });
});

describe('schemas and types agree', () => {
  /** Every key path of a value, e.g. `spec.otree.version`, descending into the first element of lists. */
  function keyPaths(value: unknown, prefix = ''): string[] {
    if (Array.isArray(value)) return value.length > 0 ? keyPaths(value[0], `${prefix}[]`) : [];
    if (!value || typeof value !== 'object') return [];
    return Object.entries(value).flatMap(([key, child]) => [`${prefix}${key}`, ...keyPaths(child, `${prefix}${key}.`)]);
  }

  it('a fully populated instance round-trips through the schema and has every key of the type', () => {
    // `satisfies Required<…>` makes the compiler list every optional key of the type, so a key added to
    // the type without the schema (or the other way round) fails here.
    const spec = {
      owner: 'alice', collaborators: ['bob'], state: 'running',
      otree: { version: '3', production: false, authLevel: 'DEMO', adminPassword: { fromFile: '/s/pw' }, restKey: { fromEnv: 'REST' } },
      source: { image: { ref: 'registry.example.org/alice/pgg:1' } },
      processes: { web: 2, worker: 1 }, database: { deletionPolicy: 'Retain' }, redis: true,
      domains: ['pgg.lab.example.org'], tls: { letsencrypt: true }, env: { SENTRY_DSN: 'x' },
      rooms: [{ name: 'lab', displayName: 'Lab', participantLabels: ['s1'] }], lobby: { enabled: false },
      resetDatabase: { generation: 2 }, restart: { generation: 1 },
      freezeWindows: [{ from: '2026-12-01T09:00:00Z', to: '2026-12-01T12:00:00Z' }],
      expiresAt: '2027-01-01T00:00:00Z', backups: { schedule: '0 3 * * *', keep: 3 },
      resources: { memory: '1g', cpu: '1' }, host: 'lab1', adopt: true,
    } satisfies Required<OTreeInstance['spec']>;
    const instance = {
      apiVersion: 'otree-manager/v1', kind: 'OTreeInstance',
      metadata: { name: 'alice-pgg', labels: { course: 'x' }, annotations: { note: 'y' } }, spec,
    } satisfies Required<OTreeInstance>;
    const copy = structuredClone(instance);
    assert.deepEqual(validateAgainstSchema('OTreeInstance', copy), []);
    assert.deepEqual(copy, instance, 'nothing added: every key already present');
    assert.deepEqual(keyPaths(copy).sort(), keyPaths(instance).sort());
  });

  it('a fully populated experimenter round-trips through the schema', () => {
    const experimenter = {
      apiVersion: 'otree-manager/v1', kind: 'Experimenter',
      metadata: { name: 'alice', labels: {}, annotations: {} },
      spec: { displayName: 'Alice', email: 'alice@lab.example.org', role: 'admin', disabled: true, sshKeys: [], quota: { instances: 1, webProcesses: 1 } },
    } satisfies Required<Experimenter> & { spec: Required<Experimenter['spec']> };
    const copy = structuredClone(experimenter);
    assert.deepEqual(validateAgainstSchema('Experimenter', copy), []);
    assert.deepEqual(copy, experimenter);
  });

  it('the schema knows no field the type lacks', () => {
    const { objects } = parseManifests(minimal, 'm.yaml');
    const unknown = structuredClone(objects[0]!.object) as unknown as { spec: Record<string, unknown> };
    unknown.spec.replicas = 2;
    assert.deepEqual(validateAgainstSchema('OTreeInstance', unknown).map((problem) => problem.code), ['FIELD_UNKNOWN']);
  });
});
