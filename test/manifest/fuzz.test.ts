// Property tests: thousands of generated and mutated manifests never crash the loader; every input
// either loads or yields issues with positions, and nothing it accepts violates the schema.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { APP_NAME_PATTERN, ISSUE_CODES, isReservedEnvKey, parseManifests, validateAgainstSchema } from '../../src/manifest/index.js';
import type { ParseResult } from '../../src/manifest/index.js';

const examplesDir = path.join(import.meta.dirname, '../../manifests');
const examples = readdirSync(examplesDir).filter((name) => name.endsWith('.yaml')).map((name) => readFileSync(path.join(examplesDir, name), 'utf8'));

/** The loader's contract, checked on every generated input. */
function assertWellFormed(text: string, result: ParseResult): void {
  const lines = text.split('\n').length;
  for (const issue of result.issues) {
    assert.ok(Object.hasOwn(ISSUE_CODES, issue.code), `catalogued code ${issue.code}`);
    assert.equal(issue.origin.source, 'f.yaml');
    if (issue.code !== 'FILE_TOO_LARGE') {
      assert.ok(issue.origin.line >= 1 && issue.origin.line <= lines + 1, `line ${issue.origin.line} within the text`);
      assert.ok(issue.origin.column >= 1, 'column is known');
    }
    assert.ok(issue.message.length > 0);
  }
  for (const { object } of result.objects) {
    const copy = structuredClone(object);
    assert.deepEqual(validateAgainstSchema(object.kind, copy), [], 'an accepted object satisfies its schema');
    assert.deepEqual(copy, object, 'and already carries every default');
    if (object.kind === 'OTreeInstance') {
      assert.match(object.metadata.name, APP_NAME_PATTERN);
      assert.ok(!(object.spec.otree.version === '5' && object.spec.processes.web > 1));
      assert.ok(Object.keys(object.spec.env).every((key) => !isReservedEnvKey(key)));
    }
  }
  if (result.objects.length === 0 && result.rejected.length > 0) {
    assert.ok(result.issues.some((issue) => issue.severity === 'error'), 'a rejected object has an error');
  }
}

const yamlish = fc.string({ unit: fc.constantFrom(...'ab:- \n\t{}[],&*!|>\'"#%@`?~0123456789'.split('')), maxLength: 200 });

/** Small edits of a valid text: delete, insert, duplicate or swap lines, replace a scalar. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(yamlish, fc.constantFrom(': ', '\n  ', '- ', '&a ', '*a', '"', '---\n', '!!binary ', '2', '-1', 'null', '{}', '[]')) }),
  fc.record({ op: fc.constant('duplicateLine' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('swapLines' as const), at: fc.nat(), other: fc.nat() }),
  fc.record({ op: fc.constant('replaceValue' as const), at: fc.nat(), value: fc.jsonValue({ maxDepth: 2 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(text: string, edit: Mutation): string {
  const lines = text.split('\n');
  const line = (n: number) => n % lines.length;
  switch (edit.op) {
    case 'delete': { const at = edit.at % (text.length + 1); return text.slice(0, at) + text.slice(at + edit.length); }
    case 'insert': { const at = edit.at % (text.length + 1); return text.slice(0, at) + edit.text + text.slice(at); }
    case 'duplicateLine': lines.splice(line(edit.at), 0, lines[line(edit.at)] ?? ''); return lines.join('\n');
    case 'swapLines': {
      const a = line(edit.at), b = line(edit.other);
      [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
      return lines.join('\n');
    }
    case 'replaceValue': {
      const index = line(edit.at);
      lines[index] = (lines[index] ?? '').replace(/:\s.*$/, `: ${JSON.stringify(edit.value)}`);
      return lines.join('\n');
    }
  }
}

/** Mostly a valid value, sometimes an invalid one, so that both paths of the loader are exercised. */
function mostly<T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>): fc.Arbitrary<T | U> {
  return fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: invalid, weight: 1 });
}

const secret = mostly(
  fc.oneof(fc.record({ fromEnv: fc.constant('PW') }), fc.record({ fromFile: fc.constant('/s/pw') }), fc.record({ value: fc.string({ minLength: 1, maxLength: 8 }) })),
  fc.constantFrom({}, { fromEnv: '1X' }, { fromFile: '' }, { fromEnv: 'A', value: 'b' }),
);
const generatedInstance = fc.record({
  apiVersion: mostly(fc.constant('otree-manager/v1'), fc.constant('v2')),
  kind: mostly(fc.constant('OTreeInstance'), fc.constantFrom('Experimenter', 'Pod')),
  metadata: fc.record({
    name: mostly(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/), fc.constantFrom('tls', 'a', 'Alice', 'x-', 'bob.x', '')),
    labels: fc.dictionary(mostly(fc.constant('course'), fc.constantFrom('x y', '-a')), fc.string({ maxLength: 5 })),
  }, { requiredKeys: ['name'] }),
  spec: fc.record({
    owner: mostly(fc.constant('alice'), fc.constant('Bob')),
    state: mostly(fc.constantFrom('running', 'stopped'), fc.constant('paused')),
    otree: fc.record({
      version: mostly(fc.constantFrom('5', '3'), fc.constant(5)),
      adminPassword: secret,
      authLevel: mostly(fc.constantFrom('STUDY', 'DEMO', 'OFF'), fc.constant('NONE')),
    }, { requiredKeys: ['adminPassword'] }),
    processes: fc.record({ web: mostly(fc.constant(1), fc.integer({ min: -1, max: 4 })), worker: fc.integer({ min: 0, max: 2 }) }, { requiredKeys: [] }),
    redis: mostly(fc.boolean(), fc.constant('yes')),
    env: fc.dictionary(mostly(fc.constantFrom('SENTRY_DSN', 'A'), fc.constantFrom('OTREE_AUTH_LEVEL', 'DATABASE_URL', 'bad-key', 'OTM_X')), mostly(fc.string({ maxLength: 5 }), fc.integer())),
    rooms: fc.array(fc.record({
      name: mostly(fc.constant('lab'), fc.constant('lab 2')),
      displayName: fc.constant('Lab'),
      participantLabels: fc.array(mostly(fc.constantFrom('s1', 'p_3'), fc.constant('s-2')), { maxLength: 3 }),
    }), { maxLength: 1 }),
    freezeWindows: fc.array(fc.record({
      from: mostly(fc.constant('2026-12-01T09:00:00Z'), fc.constant('soon')),
      to: mostly(fc.constant('2026-12-01T12:00:00Z'), fc.constant('2026-12-01T08:00:00Z')),
    }), { maxLength: 2 }),
    source: mostly(fc.constantFrom({ push: {} }, { git: { url: 'https://x/y.git' } }), fc.constantFrom({}, { push: {}, image: { ref: 'x' } })),
  }, { requiredKeys: ['owner', 'otree'] }),
}, { requiredKeys: ['apiVersion', 'kind', 'metadata', 'spec'] });

describe('the loader under generated input', () => {
  it('never crashes on arbitrary YAML-ish text', () => {
    fc.assert(fc.property(yamlish, (text) => assertWellFormed(text, parseManifests(text, 'f.yaml'))), { numRuns: 1500 });
  });

  it('never crashes on mutated example manifests, and accepts nothing the schema rejects', () => {
    const edits = fc.tuple(fc.constantFrom(...examples), fc.array(mutation, { minLength: 1, maxLength: 4 }));
    let accepted = 0;
    fc.assert(fc.property(edits, ([text, mutations]) => {
      const mutated = mutations.reduce(mutate, text);
      const result = parseManifests(mutated, 'f.yaml');
      assertWellFormed(mutated, result);
      accepted += result.objects.length;
    }), { numRuns: 2000 });
    assert.ok(accepted > 0, 'some mutations keep valid objects, so the schema invariant was exercised');
  });

  it('never crashes on generated manifests with valid and invalid fields', () => {
    let accepted = 0;
    fc.assert(fc.property(fc.array(generatedInstance, { minLength: 1, maxLength: 3 }), (documents) => {
      const text = documents.map((document) => stringify(document)).join('---\n');
      const result = parseManifests(text, 'f.yaml');
      assertWellFormed(text, result);
      accepted += result.objects.length;
    }), { numRuns: 1500 });
    assert.ok(accepted > 0, 'some generated manifests are valid, so the schema invariant was exercised');
  });
});
