// The local transport against a stand-in `dokku` script: argv delivered unchanged without a shell,
// exit codes and the two output streams kept apart, stdin, the output cap, streaming to a file, and
// time limits that kill the whole process tree.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTransport } from '../../src/observed/local.js';
import { classify } from '../../src/observed/errors.js';
import { waitFor } from '../support/services.js';

let dir: string;
let transport: LocalTransport;

const SCRIPT = `#!/bin/sh
case "$1" in
  args) shift; for a in "$@"; do printf '%s\\0' "$a"; done ;;
  fail) echo "out"; echo " !     App $2 does not exist" >&2; exit 20 ;;
  stdin) cat ;;
  big) head -c 100000 /dev/zero | tr '\\0' x ;;
  binary) printf '\\000\\001\\377PGDMP' ;;
  hang) sleep 300 & echo "$$ $!" > "$2"; wait ;;
esac
`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie has exited; it only waits to be reaped.
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return !/^\d+ \(.*\) Z/.test(stat);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otm-transport-'));
  await writeFile(join(dir, 'dokku'), SCRIPT);
  await chmod(join(dir, 'dokku'), 0o755);
  transport = new LocalTransport({ dokkuPath: join(dir, 'dokku') });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('arguments arrive unchanged and unexecuted: no shell is involved', async () => {
  const marker = join(dir, 'pwned');
  const hostile = ['a b', "it's", '"', `$(touch ${marker})`, ';', '`touch x`', 'line1\nline2', 'ünï ✓', '', '*'];
  const r = await transport.exec(['args', ...hostile], { timeoutMs: 10_000 });
  assert.equal(r.code, 0);
  assert.deepEqual(r.stdout.split('\0').slice(0, -1), hostile);
  assert.equal(existsSync(marker), false);
});

test('exit codes pass through and stdout and stderr stay separate', async () => {
  const r = await transport.exec(['fail', 'myapp'], { timeoutMs: 10_000 });
  assert.equal(r.code, 20);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, ' !     App myapp does not exist\n');
  assert.equal(classify(r, 'local')?.kind, 'AppMissing');
});

test('stdin is delivered, and closed when absent', async () => {
  assert.equal((await transport.exec(['stdin'], { stdin: 'ssh-ed25519 AAAA alice\n', timeoutMs: 10_000 })).stdout, 'ssh-ed25519 AAAA alice\n');
  assert.equal((await transport.exec(['stdin'], { timeoutMs: 10_000 })).stdout, '');
});

test('output beyond the cap is cut and flagged', async () => {
  const capped = new LocalTransport({ dokkuPath: join(dir, 'dokku'), outputCap: 1000 });
  const r = await capped.exec(['big'], { timeoutMs: 10_000 });
  assert.equal(r.code, 0);
  assert.equal(r.stdout.length, 1000);
  assert.equal(r.truncated, true);
});

test('execToFile streams stdout byte for byte into a file', async () => {
  const path = join(dir, 'dump');
  const r = await transport.execToFile(['binary'], path, { timeoutMs: 10_000 });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '');
  assert.deepEqual([...(await readFile(path))], [0, 1, 255, ...Buffer.from('PGDMP')]);
});

test('a hung call is killed at its time limit, with everything it started', async () => {
  const pids = join(dir, 'pids');
  const r = await transport.exec(['hang', pids], { timeoutMs: 1000 });
  assert.equal(r.timedOut, true);
  assert.equal(classify(r, 'local')?.kind, 'Timeout');
  const [shell, sleeper] = (await readFile(pids, 'utf8')).trim().split(' ').map(Number);
  await waitFor('the hung script and its child to be gone', () => (!alive(shell!) && !alive(sleeper!) ? true : undefined), 10_000);
});

test('an aborted call is killed too', async () => {
  const pids = join(dir, 'pids-abort');
  const controller = new AbortController();
  const running = transport.exec(['hang', pids], { timeoutMs: 60_000, signal: controller.signal });
  await waitFor('the hung script to start', () => (existsSync(pids) && readFileSync(pids, 'utf8').includes(' ') ? true : undefined));
  controller.abort();
  const r = await running;
  assert.equal(r.aborted, true);
  const [shell, sleeper] = readFileSync(pids, 'utf8').trim().split(' ').map(Number);
  await waitFor('the aborted script and its child to be gone', () => (!alive(shell!) && !alive(sleeper!) ? true : undefined), 10_000);
});

test('a missing dokku binary is a transport failure', async () => {
  const missing = new LocalTransport({ dokkuPath: join(dir, 'no-such-dokku') });
  const r = await missing.exec(['version'], { timeoutMs: 10_000 });
  assert.match(r.spawnError ?? '', /ENOENT/);
  assert.equal(classify(r, 'local')?.kind, 'Transport');
});
