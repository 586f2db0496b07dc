// `otm validate` and `otm schema` as a user runs them: a real process, its exit code and its output.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { count, painter, table } from '../../src/cli/output.js';

const repo = path.join(import.meta.dirname, '../..');
const main = path.join(repo, 'src/cli/main.ts');
// Resolved here so that the command also runs from a working directory outside the repository.
const tsx = import.meta.resolve('tsx');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function otm(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', tsx, main, ...args], {
      cwd: options.cwd ?? repo,
      env: { ...process.env, OTM_CONFIG: '', ...options.env },
    }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code) : 0, stdout, stderr });
    });
  });
}

const instance = (name: string, spec: string) => `apiVersion: otree-manager/v1
kind: OTreeInstance
metadata:
  name: ${name}
spec:
  owner: alice
${spec}`;

let root: string;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'otm-cli-validate-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('otm validate', () => {
  it('accepts the shipped examples: exit 0 and a summary', async () => {
    const run = await otm(['validate', 'manifests']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, 'valid: 7 objects accepted, 0 objects rejected, 0 errors, 0 warnings in 4 files\n');
  });

  it('defaults to ./manifests when no path and no configuration are given', async () => {
    const dir = path.join(root, 'project');
    await mkdir(path.join(dir, 'manifests'), { recursive: true });
    await writeFile(path.join(dir, 'manifests', 'a.yaml'), instance('alice-pgg', '  otree: { adminPassword: { fromEnv: PW } }\n'));
    const run = await otm(['validate'], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, 'valid: 1 object accepted, 0 objects rejected, 0 errors, 0 warnings in 1 file\n');
  });

  it('reports errors as file:line:col path: message and exits 1', async () => {
    const dir = path.join(root, 'invalid');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'alice.yaml'), instance('alice-pgg', '  otree: { adminPassword: { fromEnv: PW } }\n  processes:\n    web: 2\n'));
    await writeFile(path.join(dir, 'bob.yaml'), instance('bob-x', '  otree: { adminPassword: { value: hunter2 } }\n'));
    const run = await otm(['validate', dir], { cwd: root });
    assert.equal(run.code, 1);
    assert.equal(run.stderr, [
      'invalid/alice.yaml:9:10 spec.processes.web: oTree 5 runs exactly one web process (got 2)',
      'invalid/bob.yaml:7:36 spec.otree.adminPassword.value: warning: the secret is written in the manifest; prefer fromFile or fromEnv so it stays out of git',
      'invalid: 1 object accepted, 1 object rejected, 1 error, 1 warning in 2 files',
      '',
    ].join('\n'));
    assert.ok(!run.stderr.includes('\u001b['), 'no colours when not on a terminal');
  });

  it('exits 0 with warnings only, and --print shows the defaulted objects with secrets masked', async () => {
    const file = path.join(root, 'warn.yaml');
    await writeFile(file, instance('bob-x', '  otree: { adminPassword: { value: hunter2 } }\n'));
    const run = await otm(['validate', '--print', file], { cwd: root });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes('hunter2') && !run.stderr.includes('hunter2'));
    const printed = parse(run.stdout) as { spec: Record<string, unknown> };
    assert.deepEqual(printed.spec.otree, { adminPassword: { value: '********' }, version: '5', production: true, authLevel: 'STUDY' });
    assert.deepEqual(printed.spec.processes, { web: 1, worker: 0 });
    assert.match(run.stderr, /^warn\.yaml:7:36 spec\.otree\.adminPassword\.value: warning: /);
  });

  it('-o json prints machine-readable issues and objects', async () => {
    const file = path.join(root, 'json.yaml');
    await writeFile(file, `${instance('alice-pgg', '  otree: { adminPassword: { fromEnv: PW } }\n')}---\n${instance('Bad', '  otree: { adminPassword: { fromEnv: PW } }\n')}`);
    const run = await otm(['validate', '-o', 'json', '--print', file], { cwd: root });
    assert.equal(run.code, 1);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.deepEqual({ ...report, objects: undefined }, {
      valid: false,
      files: 1,
      errors: 1,
      warnings: 0,
      issues: [{
        severity: 'error',
        origin: { source: 'json.yaml', line: 12, column: 9 },
        path: 'metadata.name',
        code: 'NAME_INVALID',
        message: 'must be a Dokku app name valid on every Dokku version: 2 to 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (got "Bad")',
      }],
      objects: undefined,
      rejected: [{ kind: 'OTreeInstance', name: 'Bad', origin: { source: 'json.yaml', line: 9, column: 1 } }],
    });
    const [object] = report.objects as { kind: string; name: string; object: { spec: { state: string } } }[];
    assert.equal(object?.name, 'alice-pgg');
    assert.equal(object?.object.spec.state, 'running');
  });

  it('usage errors exit 2: unknown option, bad output format, unreadable configuration', async () => {
    const unknown = await otm(['validate', '--strict-ish']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option '--strict-ish'/);
    const format = await otm(['validate', '-o', 'xml']);
    assert.equal(format.code, 2);
    assert.match(format.stderr, /Allowed choices are text, json/);
    const config = await otm(['validate'], { env: { OTM_CONFIG: path.join(root, 'absent.yaml') } });
    assert.equal(config.code, 2);
    assert.match(config.stderr, /^otm: cannot read the configuration file .*absent\.yaml \(named by OTM_CONFIG\): ENOENT/);
  });

  it('checks spec.host against the hosts of the configuration file', async () => {
    const file = path.join(root, 'hosted.yaml');
    await writeFile(file, instance('alice-pgg', '  host: lab2\n  otree: { adminPassword: { fromEnv: PW } }\n'));
    const configFile = path.join(root, 'otm.yaml');
    await writeFile(configFile, 'hosts:\n  - { name: lab1, transport: { type: local } }\n');
    const run = await otm(['--config', configFile, 'validate', file], { cwd: root });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^hosted\.yaml:7:9 spec\.host: host "lab2" is not configured \(configured: lab1\)$/m);
  });
});

describe('otm schema', () => {
  it('prints self-contained schemas that validate the examples', async () => {
    const run = await otm(['schema', 'OTreeInstance']);
    assert.equal(run.code, 0, run.stderr);
    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    const validate = ajv.compile(JSON.parse(run.stdout) as object);
    const example = parse((await import('node:fs')).readFileSync(path.join(repo, 'manifests/full-instance.yaml'), 'utf8')) as unknown;
    assert.ok(validate(example), JSON.stringify(validate.errors));
    assert.ok(!validate({ ...(example as object), kind: 'Experimenter' }));
  });

  it('prints the manifest schema by default and the configuration schema on request', async () => {
    const manifest = JSON.parse((await otm(['schema'])).stdout) as { title: string; $defs: Record<string, unknown> };
    assert.equal(manifest.title, 'otree-manager manifest');
    assert.ok(manifest.$defs.OTreeInstance && manifest.$defs.Experimenter);
    const config = JSON.parse((await otm(['schema', 'config'])).stdout) as { title: string };
    assert.equal(config.title, 'otree-manager configuration');
  });

  it('an unknown schema name is a usage error', async () => {
    const run = await otm(['schema', 'Pod']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown schema; choose one of Manifest, OTreeInstance, Experimenter, Config/);
  });
});

describe('output helpers', () => {
  const terminal = { isTTY: true } as NodeJS.WriteStream;
  const pipe = { isTTY: false } as NodeJS.WriteStream;

  it('colours only on a terminal, and never with NO_COLOR', () => {
    assert.equal(painter(terminal, {})('red', 'x'), '\u001b[31mx\u001b[39m');
    assert.equal(painter(terminal, { NO_COLOR: '1' })('red', 'x'), 'x');
    assert.equal(painter(pipe, {})('red', 'x'), 'x');
  });

  it('aligns table columns', () => {
    assert.equal(table(['NAME', 'STATE'], [['alice-pgg', 'running'], ['b', 'stopped']], painter(pipe, {})), 'NAME       STATE\nalice-pgg  running\nb          stopped');
    assert.equal(count(1, 'file'), '1 file');
    assert.equal(count(2, 'file'), '2 files');
  });
});
