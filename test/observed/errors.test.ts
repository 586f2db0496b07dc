// Error classes from exit codes and Dokku's verbatim messages (texts from Dokku's sources), and version gates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, DokkuError, toDokkuError } from '../../src/observed/errors.js';
import type { DokkuErrorKind } from '../../src/observed/errors.js';
import { atLeast, capabilities, parseVersion } from '../../src/observed/version.js';
import type { ExecResult } from '../../src/observed/transport.js';

const result = (code: number, stderr: string, stdout = '', extra: Partial<ExecResult> = {}): ExecResult =>
  ({ code, stdout, stderr, durationMs: 1, timedOut: false, aborted: false, truncated: false, ...extra });

const cases: Array<[string, ExecResult, 'local' | 'ssh', DokkuErrorKind, boolean]> = [
  ['missing app (exit 20)', result(20, ' !     App myapp does not exist\n'), 'local', 'AppMissing', false],
  ['missing service', result(1, ' !     Postgres service otree-db does not exist\n'), 'local', 'ServiceMissing', false],
  ['plugin not installed', result(1, ' !     `redis:list` is not a dokku command.\n !     See `dokku help` for a list of available commands.\n'), 'local', 'PluginMissing', false],
  ['app already exists', result(1, ' !     Name is already taken\n'), 'local', 'AlreadyExists', false],
  ['service already exists', result(1, ' !     Postgres service otree-db already exists\n'), 'local', 'AlreadyExists', false],
  ['acl user already present (exit 2)', result(2, 'User already has permissions to push to this repository\n'), 'local', 'AlreadyExists', false],
  ['already linked', result(1, ' !     Already linked as DATABASE_URL\n'), 'local', 'AlreadyLinked', false],
  ['not linked', result(1, ' !     Not linked to app myapp\n'), 'local', 'NotLinked', false],
  ['deploy lock, merged into stdout on 0.38', result(1, '', '-----> Building\n !     myapp currently has a deploy lock in place. Exiting...\n !     Run \'apps:unlock\' to release the existing deploy lock\n'), 'local', 'DeployLocked', true],
  ['same image again', result(1, ' !     No changes detected, skipping git commit\n !     Call \'ps:rebuild\' on app to rebuild the app from existing source\n'), 'local', 'NoChanges', false],
  ['not deployed', result(1, ' !     App myapp has not been deployed\n'), 'local', 'NotDeployed', false],
  ['pflag unknown flag (exit 2)', result(2, 'Usage of apps:list:\n      --format string   format: [ stdout | json ] (default "stdout")\nunknown flag: --quiet\n'), 'local', 'Usage', false],
  ['invalid flag of a report', result(1, ' !     Invalid flag passed, valid flags: --a, --b\n'), 'local', 'Usage', false],
  ['invalid app name', result(1, ' !     App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens\n'), 'local', 'Usage', false],
  ['ssh transport failure (255)', result(255, 'ssh: connect to host 127.0.0.1 port 1: Connection refused\n'), 'ssh', 'Transport', true],
  ['255 locally is not a transport failure', result(255, 'boom\n'), 'local', 'Unknown', true],
  ['timeout', result(137, '', '', { timedOut: true }), 'ssh', 'Timeout', true],
  ['binary missing', result(-1, '', '', { spawnError: 'spawn dokku ENOENT' }), 'local', 'Transport', true],
  ['anything else', result(1, ' !     something unexpected\n'), 'local', 'Unknown', true],
];

for (const [name, r, transport, kind, retryable] of cases) {
  test(`classify: ${name} → ${kind}`, () => {
    const err = toDokkuError(r, transport, { display: 'dokku x', name: 'x' }, 'lab1');
    assert.ok(err instanceof DokkuError);
    assert.equal(err.kind, kind);
    assert.equal(err.retryable, retryable);
    assert.equal(err.exitCode, r.code);
    assert.match(err.message, /`dokku x` on lab1/);
  });
}

test('classify: success is no error, and the verbatim message keeps every failure line', () => {
  assert.equal(classify(result(0, ' !     App myapp has not been deployed\n'), 'local'), undefined);
  const c = classify(result(1, ' !     line one\n !     line two\n', 'noise\n'), 'local');
  assert.equal(c?.message, 'line one\nline two');
});

test('version: parsing and gates along the timeline', () => {
  const v35 = parseVersion('dokku version 0.35.15\n');
  const v38 = parseVersion('dokku version 0.38.27\n');
  assert.deepEqual({ ...v38 }, { major: 0, minor: 38, patch: 27, raw: 'dokku version 0.38.27' });
  assert.deepEqual({ ...parseVersion('1723456789:0.38.27') }, { major: 0, minor: 38, patch: 27, raw: '1723456789:0.38.27' });
  assert.throws(() => parseVersion('master'), /cannot read a version/);
  assert.ok(atLeast(v38, 0, 38, 27) && !atLeast(v35, 0, 35, 16));
  const c35 = capabilities(v35);
  const c38 = capabilities(v38);
  assert.deepEqual(
    [c35.appsListJson, c35.jsonReport.apps, c35.jsonReport.domains, c35.goDomainsReport, c35.jsonKeyStyle, c35.reportsSucceedWithoutApps, c35.domainsClearRemovesAll],
    [false, true, false, false, 'legacy', false, false]);
  assert.deepEqual(
    [c38.appsListJson, c38.jsonReport.apps, c38.jsonReport.domains, c38.goDomainsReport, c38.jsonKeyStyle, c38.reportsSucceedWithoutApps, c38.domainsClearRemovesAll],
    [true, true, true, true, 'both', true, true]);
  assert.equal(capabilities(parseVersion('0.38.21')).goDomainsReport, false);
  assert.equal(capabilities(parseVersion('0.38.7')).jsonKeyStyle, 'legacy');
});
