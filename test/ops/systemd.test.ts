// The systemd files as shipped, checked by systemd's own tools in a throwaway root directory:
// `systemd-analyze verify` must pass without a single warning, `systemd-sysusers` and `systemd-tmpfiles`
// must create the user and directories, and the `systemd-analyze security` exposure score must be the
// one docs/operations.md states.
//
// verify insists that every Exec* binary exists. The root directory therefore gets an empty executable at
// each path the unit names (the unit file itself is copied unchanged) and a copy of the system's own units
// (for the targets the unit orders itself after).
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

async function securityScore(): Promise<number> {
  const { code, out } = await systemd('systemd-analyze', ['security', '--offline=true', `--root=${root}`, UNIT]);
  assert.equal(code, 0, out);
  const match = /Overall exposure level for otree-manager\.service: (\d+\.\d)/.exec(out);
  assert.ok(match, `no overall exposure level in:\n${out}`);
  return Number(match[1]);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'otm-systemd-'));
  await cp('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
  const unitText = await readFile(join(systemdDir, UNIT), 'utf8');
  for (const path of execPaths(unitText)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), '#!/bin/sh\n');
    await chmod(join(root, path), 0o755);
  }
  await mkdir(join(root, 'etc/systemd/system'), { recursive: true });
  await copyFile(join(systemdDir, UNIT), join(root, 'etc/systemd/system', UNIT));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('systemd-analyze verify accepts the unit without any warning', async () => {
  const { code, out } = await systemd('systemd-analyze', ['verify', `--root=${root}`, UNIT]);
  assert.equal(code, 0, out);
  assert.equal(out.trim(), '', 'verify printed warnings');
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

test('systemd-sysusers and systemd-tmpfiles create the user and the backup directory it owns', async () => {
  const users = await systemd('systemd-sysusers', [`--root=${root}`, join(systemdDir, 'otree-manager.sysusers.conf')]);
  assert.equal(users.code, 0, users.out);
  const passwd = await readFile(join(root, 'etc/passwd'), 'utf8');
  const entry = passwd.split('\n').find((line) => line.startsWith('otree-manager:'));
  assert.ok(entry, 'otree-manager is in /etc/passwd');
  const [, , uid, gid, , home, shell] = entry.split(':');
  assert.equal(home, '/var/lib/otree-manager');
  assert.equal(shell, '/usr/sbin/nologin');
  assert.match(await readFile(join(root, 'etc/group'), 'utf8'), /^docker:x:\d+:otree-manager$/m);

  const dirs = await systemd('systemd-tmpfiles', [`--root=${root}`, '--create', join(systemdDir, 'otree-manager.tmpfiles.conf')]);
  assert.equal(dirs.code, 0, dirs.out);
  const backups = await stat(join(root, 'var/backups/otree-manager'));
  assert.ok(backups.isDirectory());
  assert.equal(backups.mode & 0o777, 0o750);
  assert.equal(String(backups.uid), uid);
  assert.equal(String(backups.gid), gid);
});
