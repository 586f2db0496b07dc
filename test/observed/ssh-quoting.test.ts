// The command string the ssh transport sends, re-split exactly as Dokku's ssh entry point does it:
// `xargs -n 1` for ordinary commands, plain word splitting (`set -f; $0 $SSH_ORIGINAL_COMMAND`) for
// commands whose name contains `git`. Uses the real bash and GNU xargs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { posixQuote, remoteCommand, UnsendableArgumentError } from '../../src/observed/ssh.js';

function dokkuXargsSplit(command: string): string[] {
  const out = execFileSync('bash', ['-c', `readarray -t a < <(printf '%s' "$SSH_ORIGINAL_COMMAND" | xargs -n 1); printf '%s\\0' "\${a[@]}"`], {
    env: { ...process.env, SSH_ORIGINAL_COMMAND: command },
  });
  return out.toString('utf8').split('\0').slice(0, -1);
}

function dokkuWordSplit(command: string): string[] {
  const out = execFileSync('bash', ['-c', `set -f; printf '%s\\0' $SSH_ORIGINAL_COMMAND`], {
    env: { ...process.env, SSH_ORIGINAL_COMMAND: command },
  });
  return out.toString('utf8').split('\0').slice(0, -1);
}

const HOSTILE = ['a b', "it's", '"', '$(touch /tmp/x)', ';', '`id`', 'ünïcödé ✓ 🎉', '', '*', '\\', "'", '  lead', 'tab\there', '--no-restart', 'K=a"b\'c'];

test('every hostile word survives Dokku\'s xargs re-split unchanged', () => {
  const argv = ['--quiet', 'config:set', '--no-restart', 'myapp', ...HOSTILE];
  assert.deepEqual(dokkuXargsSplit(remoteCommand(argv)), argv);
});

test('plain words are sent unquoted', () => {
  assert.equal(remoteCommand(['--quiet', 'apps:report', 'my-app.example', '--format', 'json']), '--quiet apps:report my-app.example --format json');
  assert.equal(posixQuote("it's"), `'it'\\''s'`);
});

test('git commands carry plain words through word splitting unchanged', () => {
  const argv = ['git:sync', '--build', 'myapp', 'https://git.example.org/lab/study.git', 'v1.2'];
  assert.deepEqual(dokkuWordSplit(remoteCommand(argv)), argv);
});

test('words Dokku cannot receive intact are refused before anything is sent', () => {
  assert.throws(() => remoteCommand(['config:set', 'myapp', 'A=line1\nline2']), UnsendableArgumentError);
  assert.throws(() => remoteCommand(['git:from-image', 'myapp', 'image with space']), /plain word splitting/);
  assert.throws(() => remoteCommand(['run', 'myapp', 'echo', '-n']), /swallowed/);
});
