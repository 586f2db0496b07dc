// Experimenter manifests: SSH keys are decoded and checked, not only matched by shape.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIssue, parseManifests } from '../../src/manifest/index.js';
import { ECDSA_384, ED25519, RSA_1024 } from './keys.js';

function experimenter(keys: string[], extra = ''): string {
  return [
    'apiVersion: otree-manager/v1',
    'kind: Experimenter',
    'metadata: { name: alice }',
    'spec:',
    '  displayName: Alice',
    '  sshKeys:',
    ...keys.map((key) => `    - ${key}`),
    extra,
  ].join('\n');
}

const ed25519Blob = ED25519.split(' ')[1]!;

const cases: { title: string; keys: string[]; extra?: string; issues: [string, string][] }[] = [
  { title: 'ed25519, ecdsa and a comment are accepted', keys: [ED25519, ECDSA_384], issues: [] },
  {
    title: 'an unsupported key type',
    keys: [`ssh-dss ${ed25519Blob} old`],
    issues: [['k.yaml:7:7 spec.sshKeys[0]: must be one OpenSSH public key line: ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa, then the base64 key, then an optional comment (got "ssh-dss AAAAC3NzaC1lZDI1NTE5AAAAIGEaT4vt3NAcu8+ICLYtT0vOxl5v7beL6875muzZG4N6...)', 'SSH_KEY_INVALID']],
  },
  {
    title: 'a line that names another type than its data',
    keys: [`ssh-rsa ${ed25519Blob}`],
    issues: [['k.yaml:7:7 spec.sshKeys[0]: the key data is a ssh-ed25519 key but the line says ssh-rsa', 'SSH_KEY_INVALID']],
  },
  {
    title: 'truncated key data',
    keys: [`ssh-ed25519 ${ed25519Blob.slice(0, 40)}`],
    issues: [['k.yaml:7:7 spec.sshKeys[0]: the key data is truncated', 'SSH_KEY_INVALID']],
  },
  {
    title: 'an RSA key that is too short',
    keys: [RSA_1024],
    issues: [['k.yaml:7:7 spec.sshKeys[0]: the RSA key has 1024 bits; use at least 2048 (or an ed25519 key)', 'SSH_KEY_INVALID']],
  },
  {
    title: 'an email that is not one',
    keys: [ED25519],
    extra: '  email: alice-at-lab',
    issues: [['k.yaml:8:10 spec.email: must be a valid email (got "alice-at-lab")', 'FIELD_FORMAT']],
  },
  {
    title: 'an unknown role',
    keys: [ED25519],
    extra: '  role: owner',
    issues: [['k.yaml:8:9 spec.role: must be one of "experimenter", "admin" (got "owner")', 'FIELD_ENUM']],
  },
];

describe('experimenter checks', () => {
  for (const { title, keys, extra, issues } of cases) {
    it(title, () => {
      const result = parseManifests(experimenter(keys, extra), 'k.yaml');
      assert.deepEqual(result.issues.map((issue) => [formatIssue(issue), issue.code]), issues);
      assert.equal(result.objects.length, issues.length === 0 ? 1 : 0);
    });
  }
});
