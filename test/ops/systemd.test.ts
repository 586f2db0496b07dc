// The systemd files as shipped, checked by systemd's own tools in a throwaway root directory:
// `systemd-analyze verify` must pass without a single warning for both units, `systemd-sysusers` and
// `systemd-tmpfiles` must create the users and directories, and the `systemd-analyze security` exposure
// scores must be the ones docs/operations.md states. otm web's unit must be sandboxed at least as tightly
// as the daemon's and must not reach what only the daemon needs (its ssh key, state, backups, Docker).
//
// verify insists that every Exec* binary exists. The root directory therefore gets an empty executable at
// each path the units name (the unit files themselves are copied unchanged) and a copy of the system's
// own units (for the targets the units order themselves after).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const systemdDir = fileURLToPath(new URL('../../systemd/', import.meta.url));
const operationsDoc = fileURLToPath(new URL('../../docs/operations.md', import.meta.url));
const UNIT = 'otree-manager.service';
const WEB_UNIT = 'otree-manager-web.service';

let root: string;

/** Runs a systemd tool; resolves with its exit code and both outputs, whatever the exit code. */
async function systemd(tool: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(tool, args);
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, out: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

function execPaths(unitText: string): string[] {
  const paths = new Set<string>();
  for (const line of unitText.split('\n')) {
    // Exec lines may carry prefixes such as `-` or `+` before the absolute path.
    const match = /^Exec[A-Za-z]*=[-+!@:]*(\/\S+)/.exec(line.trim());
    if (match) paths.add(match[1]!);
  }
  return [...paths];
}

/** Every value a unit assigns to `key`, in order; an empty assignment resets the list, as systemd does. */
function directive(unitText: string, key: string): string[] {
  let values: string[] = [];
  for (const line of unitText.split('\n')) {
    if (!line.startsWith(`${key}=`)) continue;
    const value = line.slice(key.length + 1).trim();
    values = value === '' ? [] : [...values, ...value.split(/\s+/)];
  }
  return values;
}

async function securityScore(unit = UNIT): Promise<number> {
  const { code, out } = await systemd('systemd-analyze', ['security', '--offline=true', `--root=${root}`, unit]);
  assert.equal(code, 0, out);
  const match = new RegExp(`Overall exposure level for ${unit.replaceAll('.', '\\.')}: (\\d+\\.\\d)`).exec(out);
  assert.ok(match, `no overall exposure level in:\n${out}`);
  return Number(match[1]);
}

/** The names of the `systemd-analyze security` checks a unit passes. */
async function passedChecks(unit: string): Promise<Set<string>> {
  const { code, out } = await systemd('systemd-analyze', ['security', '--offline=true', `--root=${root}`, '--json=short', unit]);
  assert.equal(code, 0, out);
  const checks = JSON.parse(out) as { name: string; set: boolean }[];
  return new Set(checks.filter((check) => check.set).map((check) => check.name));
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'otm-systemd-'));
  await cp('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
  await mkdir(join(root, 'etc/systemd/system'), { recursive: true });
  for (const unit of [UNIT, WEB_UNIT]) {
    for (const path of execPaths(await readFile(join(systemdDir, unit), 'utf8'))) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), '#!/bin/sh\n');
      await chmod(join(root, path), 0o755);
    }
    await copyFile(join(systemdDir, unit), join(root, 'etc/systemd/system', unit));
  }
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('systemd-analyze verify accepts both units without any warning', async () => {
  for (const unit of [UNIT, WEB_UNIT]) {
    const { code, out } = await systemd('systemd-analyze', ['verify', `--root=${root}`, unit]);
    assert.equal(code, 0, out);
    assert.equal(out.trim(), '', `verify printed warnings for ${unit}`);
  }
});

test('the security exposure score is the one docs/operations.md states, with and without the local-transport drop-in', async (t) => {
  const score = await securityScore();
  const dropInDir = join(root, 'etc/systemd/system', `${UNIT}.d`);
  await mkdir(dropInDir, { recursive: true });
  await copyFile(join(systemdDir, `${UNIT}.d`, 'local-transport.conf'), join(dropInDir, 'local-transport.conf'));
  t.after(() => rm(dropInDir, { recursive: true, force: true }));
  const verified = await systemd('systemd-analyze', ['verify', `--root=${root}`, UNIT]);
  assert.equal(verified.code, 0, verified.out);
  assert.equal(verified.out.trim(), '', 'verify printed warnings with the drop-in');
  const relaxed = await securityScore();
  t.diagnostic(`systemd-analyze security: ${score} (ssh transport), ${relaxed} (with local-transport.conf)`);
  assert.ok(relaxed > score, 'the drop-in relaxes the sandbox');

  const doc = await readFile(operationsDoc, 'utf8');
  assert.match(doc, new RegExp(`exposure level ${score.toFixed(1).replace('.', '\\.')} `), `docs/operations.md must state the score ${score}`);
  assert.match(doc, new RegExp(`exposure level ${relaxed.toFixed(1).replace('.', '\\.')} `), `docs/operations.md must state the drop-in's score ${relaxed}`);
});

test('otm web\'s unit passes every sandboxing check the daemon\'s passes, and more; its score is the one docs/operations.md states', async (t) => {
  const daemon = await passedChecks(UNIT);
  const web = await passedChecks(WEB_UNIT);
  assert.deepEqual([...daemon].filter((check) => !web.has(check)), [], 'checks the daemon\'s unit passes and otm web\'s does not');
  assert.ok(web.has('PrivateUsers='), 'otm web runs in its own user namespace');
  assert.ok(web.has('UMask='), 'otm web creates no file others could read');
  assert.ok(web.has('SupplementaryGroups='), 'the unit adds no groups (such as docker) to its user');

  const score = await securityScore(WEB_UNIT);
  t.diagnostic(`systemd-analyze security: ${score} (otm web)`);
  assert.ok(score < await securityScore(UNIT), 'otm web is exposed less than the daemon');
  const doc = await readFile(operationsDoc, 'utf8');
  assert.match(doc, new RegExp(`\\| \`${WEB_UNIT.replaceAll('.', '\\.')}\` \\| exposure level ${score.toFixed(1).replace('.', '\\.')} `), `docs/operations.md must state otm web's score ${score}`);
});

test('otm web runs as its own user and cannot reach what only the daemon needs: the ssh key, its state and backups, Docker', async () => {
  const daemon = await readFile(join(systemdDir, UNIT), 'utf8');
  const web = await readFile(join(systemdDir, WEB_UNIT), 'utf8');
  assert.deepEqual(directive(web, 'User'), ['otree-manager-web']);
  assert.notDeepEqual(directive(web, 'User'), directive(daemon, 'User'));
  assert.deepEqual(directive(web, 'SupplementaryGroups'), []);
  // Nothing writable: no directories of its own and no exceptions to ProtectSystem=strict.
  assert.deepEqual(directive(web, 'ProtectSystem'), ['strict']);
  for (const key of ['ReadWritePaths', 'StateDirectory', 'CacheDirectory', 'LogsDirectory', 'RuntimeDirectory']) assert.deepEqual(directive(web, key), [], key);

  const hidden = directive(web, 'InaccessiblePaths').map((path) => path.replace(/^-/, ''));
  const daemonWrites = [...directive(daemon, 'StateDirectory').map((name) => `/var/lib/${name}`), ...directive(daemon, 'ReadWritePaths')];
  assert.ok(daemonWrites.length > 0);
  for (const path of [...daemonWrites, '/etc/otree-manager/ssh', '/etc/otree-manager/secrets', '/run/docker.sock']) {
    assert.ok(hidden.includes(path), `otm web's unit must hide ${path} (InaccessiblePaths=)`);
  }
  assert.match(web, /^After=.*\botree-manager\.service\b/m);
  assert.match(web, /^After=.*\bpostgresql\.service\b/m);
  assert.match(web, /^After=.*\bnetwork-online\.target\b/m);
  assert.deepEqual(directive(web, 'Restart'), ['on-failure']);
});

test('systemd-sysusers and systemd-tmpfiles create the users and the backup directory the daemon owns', async () => {
  const users = await systemd('systemd-sysusers', [`--root=${root}`, join(systemdDir, 'otree-manager.sysusers.conf')]);
  assert.equal(users.code, 0, users.out);
  const passwd = await readFile(join(root, 'etc/passwd'), 'utf8');
  const entry = passwd.split('\n').find((line) => line.startsWith('otree-manager:'));
  assert.ok(entry, 'otree-manager is in /etc/passwd');
  const [, , uid, gid, , home, shell] = entry.split(':');
  assert.equal(home, '/var/lib/otree-manager');
  assert.equal(shell, '/usr/sbin/nologin');
  const groups = await readFile(join(root, 'etc/group'), 'utf8');
  assert.match(groups, /^docker:x:\d+:otree-manager$/m, 'only the daemon\'s user is in docker');
  // otm web's user: its own group, and the daemon's group for the shared configuration files.
  const web = passwd.split('\n').find((line) => line.startsWith('otree-manager-web:'));
  assert.ok(web, 'otree-manager-web is in /etc/passwd');
  assert.equal(web.split(':')[6], '/usr/sbin/nologin');
  assert.notEqual(web.split(':')[2], uid);
  assert.match(groups, /^otree-manager:x:\d+:otree-manager-web$/m);

  const dirs = await systemd('systemd-tmpfiles', [`--root=${root}`, '--create', join(systemdDir, 'otree-manager.tmpfiles.conf')]);
  assert.equal(dirs.code, 0, dirs.out);
  const backups = await stat(join(root, 'var/backups/otree-manager'));
  assert.ok(backups.isDirectory());
  assert.equal(backups.mode & 0o777, 0o750);
  assert.equal(String(backups.uid), uid);
  assert.equal(String(backups.gid), gid);
});
