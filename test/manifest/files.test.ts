// The file source: directory walks, symlink loops, size limits, stable order, unreadable paths, and the
// shipped examples, on a real temporary file system.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadManifests } from '../../src/desired/files.js';
import { MAX_MANIFEST_BYTES, formatIssue } from '../../src/manifest/index.js';

const instance = (name: string, owner = 'alice') => `apiVersion: otree-manager/v1
kind: OTreeInstance
metadata: { name: ${name} }
spec:
  owner: ${owner}
  otree: { adminPassword: { fromEnv: PW } }
`;

let root: string;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'otm-manifest-files-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function tree(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(root, name);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  return dir;
}

describe('loadManifests', () => {
  it('validates the shipped example manifests with no issue at all', async () => {
    const examples = path.join(import.meta.dirname, '../../manifests');
    const result = await loadManifests([examples], { baseDir: examples, hosts: ['local'] });
    assert.deepEqual(result.issues.map(formatIssue), []);
    assert.deepEqual(result.objects.map(({ object }) => `${object.kind}/${object.metadata.name}`).sort(), [
      'Experimenter/alice', 'Experimenter/bob',
      'OTreeInstance/alice-pgg', 'OTreeInstance/bob-trust-game',
      'OTreeInstance/econ101-lab1', 'OTreeInstance/econ101-lab2', 'OTreeInstance/econ101-lab3',
    ]);
  });

  it('walks a tree in byte order, reads .yaml and .yml, skips hidden entries and other files', async () => {
    const dir = await tree('walk', {
      'b.yaml': instance('b-one'),
      'a/z.yml': instance('a-z'),
      'a/c.yaml': instance('a-c'),
      'notes.txt': 'not a manifest',
      '.git/x.yaml': instance('hidden'),
      '.draft.yaml': instance('draft'),
    });
    const result = await loadManifests([dir], { baseDir: dir });
    assert.deepEqual(result.issues, []);
    assert.deepEqual(result.objects.map(({ object, origin }) => `${origin.source}:${object.metadata.name}`), ['a/c.yaml:a-c', 'a/z.yml:a-z', 'b.yaml:b-one']);
    assert.deepEqual(result.files.map((file) => path.relative(dir, file)), ['a/c.yaml', 'a/z.yml', 'b.yaml']);
  });

  it('follows symlinks but reads each directory once, even in a loop', async () => {
    const dir = await tree('loop', { 'sub/x.yaml': instance('x-one') });
    await symlink(dir, path.join(dir, 'sub', 'back'));
    await symlink(path.join(dir, 'sub'), path.join(dir, 'again'));
    const result = await loadManifests([dir], { baseDir: dir });
    assert.deepEqual(result.issues, []);
    assert.deepEqual(result.objects.map(({ object }) => object.metadata.name), ['x-one']);
  });

  it('reports a dangling manifest symlink, a missing path and an unreadable file, and still loads the rest', async () => {
    const dir = await tree('broken', { 'good.yaml': instance('good-one'), 'secret.yaml': instance('locked-one') });
    await symlink(path.join(dir, 'gone.yaml'), path.join(dir, 'dangling.yaml'));
    await chmod(path.join(dir, 'secret.yaml'), 0o000);
    const result = await loadManifests([dir, path.join(dir, 'missing')], { baseDir: dir });
    const unreadableByUs = process.getuid?.() !== 0;
    assert.deepEqual(result.issues.map(formatIssue), [
      'dangling.yaml: cannot read the file: no such file or directory',
      `missing: cannot read ${path.join(dir, 'missing')}: no such file or directory`,
      ...(unreadableByUs ? ['secret.yaml: cannot read the file: permission denied'] : []),
    ]);
    assert.deepEqual(result.objects.map(({ object }) => object.metadata.name), unreadableByUs ? ['good-one'] : ['good-one', 'locked-one']);
  });

  it('refuses a file over the size limit without parsing it', async () => {
    const dir = await tree('big', { 'big.yaml': `${instance('big-one')}# ${'x'.repeat(MAX_MANIFEST_BYTES)}\n`, 'ok.yaml': instance('ok-one') });
    const result = await loadManifests([dir], { baseDir: dir });
    assert.deepEqual(result.issues.map((issue) => issue.code), ['FILE_TOO_LARGE']);
    assert.equal(result.issues[0]?.origin.source, 'big.yaml');
    assert.deepEqual(result.objects.map(({ object }) => object.metadata.name), ['ok-one']);
  });

  it('runs the cross-file checks: duplicates across files are rejected at the later file', async () => {
    const dir = await tree('dup', { 'a.yaml': instance('same-name'), 'b.yaml': instance('same-name') });
    const result = await loadManifests([path.join(dir, 'b.yaml'), path.join(dir, 'a.yaml')], { baseDir: dir });
    assert.deepEqual(result.issues.map(formatIssue), ['a.yaml:3:19 metadata.name: OTreeInstance "same-name" is already declared at b.yaml:1:1; names must be unique']);
    assert.deepEqual(result.rejected.map(({ origin }) => origin.source), ['a.yaml']);
  });
});
