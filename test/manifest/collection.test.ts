// Cross-object checks: unique names and domains, declared owners, configured hosts, quotas.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkCollection, formatIssue, parseManifests } from '../../src/manifest/index.js';
import type { CollectionOptions, Declared } from '../../src/manifest/index.js';

function instance(name: string, owner: string, extra = ''): string {
  return `apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: ${name} }
spec:
  owner: ${owner}
  otree: { adminPassword: { fromEnv: PW } }
${extra}`;
}

function experimenter(name: string, quota = ''): string {
  return `apiVersion: otree-manager/v1
kind: Experimenter
metadata: { name: ${name} }
spec:
  displayName: ${name}
${quota}`;
}

/** Parses each file and runs the collection checks over all objects, as the file loader does. */
function check(files: Record<string, string[]>, options?: CollectionOptions) {
  const objects: Declared[] = [];
  for (const [source, documents] of Object.entries(files)) {
    const parsed = parseManifests(documents.join('---\n'), source);
    assert.deepEqual(parsed.issues, [], `${source} parses cleanly`);
    objects.push(...parsed.objects);
  }
  const result = checkCollection(objects, options);
  return {
    names: result.objects.map(({ object }) => `${object.kind}/${object.metadata.name}`),
    issues: result.issues.map((issue) => [formatIssue(issue), issue.code]),
    rejected: result.rejected.map(({ name }) => name),
  };
}

describe('checkCollection', () => {
  it('rejects the later of two objects with the same kind and name, pointing at the first', () => {
    const result = check({ 'a.yaml': [instance('alice-pgg', 'alice')], 'b.yaml': [experimenter('alice'), instance('alice-pgg', 'alice')] });
    assert.deepEqual(result.issues, [['b.yaml:9:19 metadata.name: OTreeInstance "alice-pgg" is already declared at a.yaml:1:1; names must be unique', 'DUPLICATE_NAME']]);
    assert.deepEqual(result.names, ['OTreeInstance/alice-pgg', 'Experimenter/alice']);
    assert.deepEqual(result.rejected, ['alice-pgg']);
  });

  it('allows an instance and an experimenter to share a name', () => {
    assert.deepEqual(check({ 'a.yaml': [experimenter('alice'), instance('alice', 'alice')] }).issues, []);
  });

  it('requires declared owners once any experimenter is declared', () => {
    const result = check({ 'a.yaml': [experimenter('alice'), instance('bob-x', 'bob')] });
    assert.deepEqual(result.issues, [['a.yaml:11:10 spec.owner: owner "bob" is not a declared Experimenter; add an Experimenter manifest for them or fix the name', 'OWNER_UNDECLARED']]);
    assert.deepEqual(result.rejected, ['bob-x']);
  });

  it('warns of collaborators who are not declared people or own the instance; the instance stays', () => {
    const result = check({ 'a.yaml': [experimenter('alice'), experimenter('bob'), instance('alice-x', 'alice', '  collaborators: [bob, carol, alice]')] });
    assert.deepEqual(result.issues.map(([, code]) => code), ['COLLABORATOR_UNDECLARED', 'COLLABORATOR_UNDECLARED']);
    assert.match(result.issues[0]![0]!, /spec\.collaborators\[1\]: warning: collaborator "carol" is not a declared Experimenter/);
    assert.match(result.issues[1]![0]!, /spec\.collaborators\[2\]: warning: "alice" owns this instance/);
    assert.deepEqual(result.rejected, []);
  });

  it('does not require owners when no experimenter is declared', () => {
    assert.deepEqual(check({ 'a.yaml': [instance('bob-x', 'bob')] }).issues, []);
  });

  it('rejects a domain claimed twice', () => {
    const result = check({ 'a.yaml': [instance('a-one', 'a', '  domains: [x.lab.example.org]\n'), instance('a-two', 'a', '  domains: [y.lab.example.org, x.lab.example.org]\n')] });
    assert.deepEqual(result.issues, [['a.yaml:15:32 spec.domains[1]: domain x.lab.example.org is already claimed by instance "a-one" (a.yaml:1:1)', 'DOMAIN_DUPLICATE']]);
    assert.deepEqual(result.rejected, ['a-two']);
  });

  it('rejects unknown hosts only when the configured hosts are given', () => {
    const files = { 'a.yaml': [instance('a-one', 'a', '  host: lab2\n')] };
    assert.deepEqual(check(files).issues, []);
    assert.deepEqual(check(files, { hosts: ['lab1'] }).issues, [['a.yaml:7:9 spec.host: host "lab2" is not configured (configured: lab1)', 'HOST_UNKNOWN']]);
  });

  it('warns (and keeps the instances) when an experimenter exceeds a quota', () => {
    const result = check({
      'a.yaml': [experimenter('alice', '  quota: { instances: 1, webProcesses: 1 }\n'), instance('a-one', 'alice'), instance('a-two', 'alice')],
    });
    assert.deepEqual(result.issues, [
      ['a.yaml:19:10 spec.owner: warning: "alice" owns 2 instances but their quota is 1; raise spec.quota.instances of the Experimenter or remove an instance', 'QUOTA_EXCEEDED'],
      ['a.yaml:19:10 spec.owner: warning: "alice" runs 2 web processes but their quota is 1; raise spec.quota.webProcesses of the Experimenter', 'QUOTA_EXCEEDED'],
    ]);
    assert.deepEqual(result.rejected, []);
    assert.equal(result.names.length, 3);
  });
});
