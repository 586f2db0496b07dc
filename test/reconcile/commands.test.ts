// The command catalogue: the argv of every command (global flags first, flags where each Dokku
// subcommand reads them), masking of secrets in the printable form, and lossless base64 values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MASK, maskOutput, render } from '../../src/reconcile/commands.js';
import type { DokkuCommand } from '../../src/reconcile/commands.js';

const argv: Array<[DokkuCommand, string[]]> = [
  [{ cmd: 'version' }, ['version']],
  [{ cmd: 'apps:list' }, ['--quiet', 'apps:list']],
  [{ cmd: 'apps:list', json: true }, ['--quiet', 'apps:list', '--format', 'json']],
  [{ cmd: 'apps:exists', app: 'a' }, ['--quiet', 'apps:exists', 'a']],
  [{ cmd: 'apps:locked', app: 'a' }, ['--quiet', 'apps:locked', 'a']],
  [{ cmd: 'apps:report' }, ['apps:report']],
  [{ cmd: 'apps:report', app: 'a', json: true }, ['apps:report', 'a', '--format', 'json']],
  [{ cmd: 'ps:report', app: 'a' }, ['ps:report', 'a']],
  [{ cmd: 'domains:report' }, ['domains:report']],
  [{ cmd: 'git:report', app: 'a', json: true }, ['git:report', 'a', '--format', 'json']],
  [{ cmd: 'resource:report' }, ['resource:report']],
  [{ cmd: 'ps:scale:read', app: 'a' }, ['--quiet', 'ps:scale', 'a']],
  [{ cmd: 'ps:scale:read', app: 'a', json: true }, ['--quiet', 'ps:scale', 'a', '--format', 'json']],
  [{ cmd: 'config:export', app: 'a' }, ['--quiet', 'config:export', '--format', 'json', 'a']],
  [{ cmd: 'letsencrypt:list' }, ['letsencrypt:list']],
  [{ cmd: 'letsencrypt:active', app: 'a' }, ['--quiet', 'letsencrypt:active', 'a']],
  [{ cmd: 'service:list', plugin: 'postgres' }, ['--quiet', 'postgres:list']],
  [{ cmd: 'service:exists', plugin: 'redis', service: 's' }, ['--quiet', 'redis:exists', 's']],
  [{ cmd: 'service:info', plugin: 'postgres', service: 's' }, ['postgres:info', 's']],
  [{ cmd: 'service:links', plugin: 'postgres', service: 's' }, ['--quiet', 'postgres:links', 's']],
  [{ cmd: 'service:linked', plugin: 'postgres', service: 's', app: 'a' }, ['--quiet', 'postgres:linked', 's', 'a']],
  [{ cmd: 'service:app-links', plugin: 'redis', app: 'a' }, ['--quiet', 'redis:app-links', 'a']],
  [{ cmd: 'plugin:installed', plugin: 'postgres' }, ['plugin:installed', 'postgres']],
  [{ cmd: 'ssh-keys:list' }, ['ssh-keys:list', '--format', 'json']],
  [{ cmd: 'acl:list', app: 'a' }, ['acl:list', 'a']],
  [{ cmd: 'apps:create', app: 'a' }, ['--quiet', 'apps:create', 'a']],
  [{ cmd: 'apps:destroy', app: 'a' }, ['--quiet', '--force', 'apps:destroy', 'a']],
  [{ cmd: 'config:unset', app: 'a', keys: ['K', 'L'], restart: false }, ['--quiet', 'config:unset', '--no-restart', 'a', 'K', 'L']],
  [{ cmd: 'config:unset', app: 'a', keys: ['K'], restart: true }, ['--quiet', 'config:unset', 'a', 'K']],
  [{ cmd: 'ps:scale', app: 'a', scale: { worker: 0, web: 1 }, skipDeploy: true }, ['ps:scale', '--skip-deploy', 'a', 'web=1', 'worker=0']],
  [{ cmd: 'ps:start', app: 'a' }, ['ps:start', 'a']],
  [{ cmd: 'ps:stop', app: 'a' }, ['ps:stop', 'a']],
  [{ cmd: 'ps:restart', app: 'a', process: 'web' }, ['ps:restart', 'a', 'web']],
  [{ cmd: 'ps:rebuild', app: 'a' }, ['ps:rebuild', 'a']],
  [{ cmd: 'domains:set', app: 'a', domains: ['x.org', 'y.org'] }, ['domains:set', 'a', 'x.org', 'y.org']],
  [{ cmd: 'domains:clear', app: 'a' }, ['domains:clear', 'a']],
  [{ cmd: 'domains:remove', app: 'a', domains: ['x.org'] }, ['domains:remove', 'a', 'x.org']],
  [{ cmd: 'git:sync', app: 'a', url: 'https://g.example/r.git', ref: 'main', build: true }, ['git:sync', '--build', 'a', 'https://g.example/r.git', 'main']],
  [{ cmd: 'git:from-image', app: 'a', image: 'img:1' }, ['git:from-image', 'a', 'img:1']],
  [{ cmd: 'git:from-archive', app: 'a', url: 'https://x/a.tar' }, ['git:from-archive', 'a', 'https://x/a.tar']],
  [{ cmd: 'service:create', plugin: 'postgres', service: 's' }, ['postgres:create', 's']],
  [{ cmd: 'service:link', plugin: 'postgres', service: 's', app: 'a', restart: false }, ['postgres:link', 's', 'a', '--no-restart']],
  [{ cmd: 'service:unlink', plugin: 'redis', service: 's', app: 'a', restart: true }, ['redis:unlink', 's', 'a']],
  [{ cmd: 'service:destroy', plugin: 'postgres', service: 's' }, ['--force', 'postgres:destroy', 's']],
  [{ cmd: 'postgres:export', service: 's' }, ['postgres:export', 's']],
  [{ cmd: 'letsencrypt:enable', app: 'a' }, ['letsencrypt:enable', 'a']],
  [{ cmd: 'letsencrypt:disable', app: 'a' }, ['letsencrypt:disable', 'a']],
  [{ cmd: 'resource:limit', app: 'a', memory: '512m', cpu: '1' }, ['resource:limit', '--memory', '512m', '--cpu', '1', 'a']],
  [{ cmd: 'resource:limit-clear', app: 'a' }, ['resource:limit-clear', 'a']],
  [{ cmd: 'run', app: 'a', command: ['otree', 'resetdb', '--noinput'] }, ['run', '--no-tty', 'a', 'otree', 'resetdb', '--noinput']],
  [{ cmd: 'ssh-keys:add', name: 'alice', key: 'ssh-ed25519 AAAA alice' }, ['ssh-keys:add', 'alice']],
  [{ cmd: 'ssh-keys:remove', name: 'alice' }, ['ssh-keys:remove', 'alice']],
  [{ cmd: 'acl:add', app: 'a', user: 'alice' }, ['acl:add', 'a', 'alice']],
  [{ cmd: 'acl:remove', app: 'a', user: 'alice' }, ['acl:remove', 'a', 'alice']],
];

test('every catalogue command renders to the argv Dokku expects', () => {
  for (const [command, expected] of argv) assert.deepEqual(render(command).argv, expected, command.cmd);
});

test('global flags always precede the subcommand', () => {
  for (const [command] of argv) {
    const words = render(command).argv;
    const sub = words.findIndex((w) => !w.startsWith('--'));
    for (const flag of ['--quiet', '--force']) {
      const at = words.indexOf(flag);
      if (at >= 0) assert.ok(at < sub, `${command.cmd}: ${flag} after the subcommand`);
    }
  }
});

test('names, mutation and disruption flags', () => {
  assert.equal(render({ cmd: 'service:link', plugin: 'redis', service: 's', app: 'a', restart: true }).name, 'redis:link');
  assert.equal(render({ cmd: 'ps:scale:read', app: 'a' }).name, 'ps:scale');
  assert.equal(render({ cmd: 'apps:report' }).mutating, false);
  assert.equal(render({ cmd: 'config:set', app: 'a', pairs: [], restart: false }).disruptive, false);
  assert.equal(render({ cmd: 'config:set', app: 'a', pairs: [], restart: true }).disruptive, true);
  assert.equal(render({ cmd: 'ps:rebuild', app: 'a' }).disruptive, true);
  assert.equal(render({ cmd: 'ssh-keys:add', name: 'n', key: 'k' }).stdin, 'k\n');
});

function decodeBase64(b64: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
}

test('config:set sends values base64-encoded and masks secrets in the printable form', () => {
  const r = render({
    cmd: 'config:set', app: 'a', restart: false,
    pairs: [
      { key: 'OTREE_ADMIN_PASSWORD', value: "s3cr3t it's\n$(touch x)" },
      { key: 'OTREE_PRODUCTION', value: '1' },
      { key: 'LABEL', value: 'visible', secret: false },
      { key: 'OTREE_AUTH_LEVEL', value: 'hidden', secret: true },
    ],
  });
  assert.deepEqual(r.argv.slice(0, 5), ['--quiet', 'config:set', '--encoded', '--no-restart', 'a']);
  assert.equal(decodeBase64(r.argv[5]!.split('=').slice(1).join('=')), "s3cr3t it's\n$(touch x)");
  assert.equal(r.display, `dokku --quiet config:set --encoded --no-restart a 'OTREE_ADMIN_PASSWORD=${MASK}' OTREE_PRODUCTION=1 LABEL=visible 'OTREE_AUTH_LEVEL=${MASK}'`);
  assert.ok(!r.display.includes('s3cr3t') && !r.display.includes('hidden'));
});

test('any value round-trips through --encoded and never appears in the printable form', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', minLength: 3 }), (value) => {
    const r = render({ cmd: 'config:set', app: 'a', restart: true, pairs: [{ key: 'SECRET_KEY', value }] });
    const word = r.argv[r.argv.length - 1]!;
    assert.ok(word.startsWith('SECRET_KEY='));
    assert.match(word.slice('SECRET_KEY='.length), /^[A-Za-z0-9+/]*={0,2}$/);
    assert.equal(decodeBase64(word.slice('SECRET_KEY='.length)), value);
    // The printable form is the same whatever the value: nothing of it can leak.
    assert.equal(r.display, `dokku --quiet config:set --encoded a 'SECRET_KEY=${MASK}'`);
  }));
  for (const value of ['a b', "it's", '"', '$(touch /tmp/x)', ';', '`id`', 'line1\nline2', 'ünïcödé ✓ 🎉', '']) {
    const r = render({ cmd: 'config:set', app: 'a', restart: false, pairs: [{ key: 'K', value }] });
    assert.equal(decodeBase64(r.argv[r.argv.length - 1]!.slice(2)), value);
  }
});

test('the printable form quotes words for a POSIX shell', () => {
  const r = render({ cmd: 'run', app: 'a', command: ['sh', '-c', "echo it's"] });
  assert.equal(r.display, `dokku run --no-tty a sh -c 'echo it'\\''s'`);
});

test('a value that Dokku would read as a flag is never rendered, whatever its source', () => {
  const hostile: DokkuCommand[] = [
    { cmd: 'git:sync', app: 'a', url: 'https://example.org/r.git', ref: '--trace', build: true },
    { cmd: 'git:sync', app: 'a', url: '--upload-pack=touch /tmp/x', ref: 'main', build: true },
    { cmd: 'git:from-image', app: 'a', image: '--force' },
    { cmd: 'git:from-archive', app: 'a', url: '-v' },
    { cmd: 'domains:set', app: 'a', domains: ['ok.example.org', '--global'] },
    { cmd: 'acl:add', app: 'a', user: '--all' },
    { cmd: 'apps:create', app: '--force' },
    { cmd: 'config:set', app: 'a', pairs: [{ key: '--trace', value: 'x' }], restart: false },
  ];
  for (const command of hostile) {
    assert.throws(() => render(command), /starts with "-" and Dokku would read it as a flag/, JSON.stringify(command));
  }
  // A value may contain a dash anywhere but at its start, and our own flags still render.
  assert.deepEqual(render({ cmd: 'git:sync', app: 'a-b', url: 'https://example.org/r.git', ref: 'release-1', build: true }).argv,
    ['git:sync', '--build', 'a-b', 'https://example.org/r.git', 'release-1']);
});

test('credentials inside a URL never reach the printable form; the argv keeps them for Dokku', () => {
  const command: DokkuCommand = { cmd: 'git:sync', app: 'a', url: 'https://ghp_TOKEN123@github.com/lab/x.git', ref: 'main', build: false };
  const rendered = render(command);
  assert.equal(rendered.display, 'dokku git:sync a https://********@github.com/lab/x.git main');
  assert.ok(rendered.argv.includes('https://ghp_TOKEN123@github.com/lab/x.git'));
  assert.equal(render({ cmd: 'git:sync', app: 'a', url: 'ssh://git:hunter2@example.org/x.git', ref: 'main', build: false }).display,
    'dokku git:sync a ssh://git:********@example.org/x.git main');
});

test('Dokku output is masked: the command\'s secret values (plain and as sent) and URL credentials', () => {
  const rendered = render({ cmd: 'config:set', app: 'a', pairs: [{ key: 'OTREE_ADMIN_PASSWORD', value: 's3cret-pw' }], restart: false });
  const encoded = rendered.argv.at(-1)!.split('=')[1]!;
  const output = `Invalid env pair OTREE_ADMIN_PASSWORD=${encoded} (s3cret-pw) from https://user:pw@example.org/x`;
  assert.equal(maskOutput(output, rendered.secrets), `Invalid env pair OTREE_ADMIN_PASSWORD=${MASK} (${MASK}) from https://${MASK}@example.org/x`);
});
