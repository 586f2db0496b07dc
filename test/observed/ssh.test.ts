// The ssh transport end to end: the system ssh client, a real sshd on loopback, and the Dokku simulator
// behind the same forced-command re-splitting Dokku does. Hostile values arrive unchanged and unexecuted,
// exit codes pass through, 255 is a transport failure, and commands share one master connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DokkuDriver } from '../../src/observed/driver.js';
import { DokkuError } from '../../src/observed/errors.js';
import { SshTransport } from '../../src/observed/ssh.js';
import type { SshTransportOptions } from '../../src/observed/ssh.js';
import { startSshd } from '../support/sshd.js';
import type { SshdHandle } from '../support/sshd.js';

let root: string;
let controlDir: string;
let sshd: SshdHandle;
let options: SshTransportOptions;
let transport: SshTransport;
let driver: DokkuDriver;
const app = 'otm-ssh-a';

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'otm-ssh-sim-'));
  controlDir = await mkdtemp(join(tmpdir(), 'otm-ssh-ctl-'));
  sshd = await startSshd({ env: { DOKKU_SIM_ROOT: root, DOKKU_SIM_VERSION: '0.38.27', DOKKU_SIM_DOCKER: '0' } });
  options = {
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    knownHostsFile: sshd.knownHostsFile,
    configFile: '/dev/null',
    controlDir,
  };
  transport = new SshTransport(options);
  driver = new DokkuDriver({ host: 'ssh-sim', transport, timeoutMs: 60_000 });
  await driver.run({ cmd: 'apps:create', app });
});

/**
 * Simulator processes of this test's host. A remote command cut off by a timeout keeps running on the
 * server (without a pty nothing signals it), so the test ends the ones it started itself.
 */
async function remoteSimulators(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '');
    if (environ.split('\0').includes(`DOKKU_SIM_ROOT=${root}`)) pids.push(Number(entry));
  }
  return pids;
}

after(async () => {
  await driver?.close();
  for (const pid of await remoteSimulators()) process.kill(pid, 'SIGKILL');
  await sshd?.stop();
  await rm(root, { recursive: true, force: true });
  await rm(controlDir, { recursive: true, force: true });
});

const HOSTILE: Record<string, string> = {
  SPACES: 'a b',
  QUOTE: "it's",
  DOUBLE: '"',
  SEMI: ';',
  BACKTICK: '`touch MARKER`',
  UNICODE: 'ünïcödé ✓ 🎉',
  BACKSLASH: 'a\\b',
  GLOB: '*',
  EMPTY: '',
};

test('hostile words arrive unchanged and unexecuted through quoting alone', async () => {
  const marker = join(root, 'pwned');
  const values = { ...HOSTILE, SUBSHELL: `$(touch ${marker})`, BACKTICK: `\`touch ${marker}\`` };
  const argv = ['--quiet', 'config:set', '--no-restart', app, ...Object.entries(values).map(([k, v]) => `${k}=${v}`)];
  const set = await transport.exec(argv, { timeoutMs: 60_000 });
  assert.equal(set.code, 0, set.stderr);
  const config = (await driver.observeApp(app))?.config ?? {};
  for (const [key, value] of Object.entries(values)) assert.equal(config[key], value, key);
  assert.equal(existsSync(marker), false, 'nothing was executed');
});

test('values with newlines go through config:set --encoded; raw newlines are refused before sending', async () => {
  const values = { MULTI: 'line1\nline2\n', TRICKY: "a'b\"c\n$(x)`y`" };
  await driver.run({ cmd: 'config:set', app, restart: false, pairs: Object.entries(values).map(([key, value]) => ({ key, value })) });
  const config = (await driver.observeApp(app))?.config ?? {};
  assert.equal(config['MULTI'], values.MULTI);
  assert.equal(config['TRICKY'], values.TRICKY);
  await assert.rejects(driver.run({ cmd: 'domains:set', app, domains: ['a\nb'] }), (err: unknown) => err instanceof DokkuError && err.kind === 'Usage');
});

test('exit codes pass through: a missing app is exit 20', async () => {
  const r = await transport.exec(['--quiet', 'apps:exists', 'otm-ssh-missing'], { timeoutMs: 60_000 });
  assert.equal(r.code, 20);
  assert.match(r.stderr, /App otm-ssh-missing does not exist/);
  await assert.rejects(driver.run({ cmd: 'apps:exists', app: 'otm-ssh-missing' }), (err: unknown) => err instanceof DokkuError && err.kind === 'AppMissing');
});

function check(): Promise<string> {
  // What `ssh -O check` says about the master connection the transport keeps in controlDir.
  return new Promise((resolve) => {
    execFile('ssh', ['-F', '/dev/null', '-o', `ControlPath=${join(controlDir, '%C')}`, '-p', String(sshd.port), '-O', 'check', `${sshd.user}@${sshd.host}`],
      (err, _stdout, stderr) => resolve(err ? `down: ${stderr.trim()}` : stderr.trim()));
  });
}

test('commands share one master connection, and close() ends it', async () => {
  await driver.run({ cmd: 'apps:list' });
  const first = await check();
  assert.match(first, /Master running \(pid=\d+\)/);
  assert.equal((await readdir(controlDir)).length, 1, 'one control socket');
  await driver.run({ cmd: 'apps:report', app, json: true });
  await driver.run({ cmd: 'ps:report', app, json: true });
  assert.equal(await check(), first, 'the same master process served the later commands');
  await transport.close();
  assert.match(await check(), /^down:/);
  await driver.run({ cmd: 'apps:exists', app });
  assert.match(await check(), /Master running/, 'the next command opens a new master');
});

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

test('exit 255 is a retryable transport failure: nothing listening, or an unknown host key', async () => {
  const ctl = await mkdtemp(join(tmpdir(), 'otm-ssh-ctl-'));
  try {
    const refused = new DokkuDriver({ host: 'nowhere', transport: new SshTransport({ ...options, port: await closedPort(), controlDir: ctl }) });
    await assert.rejects(refused.version(), (err: unknown) => err instanceof DokkuError && err.kind === 'Transport' && err.retryable && err.exitCode === 255);

    const otherKeys = join(ctl, 'known_hosts');
    await writeFile(otherKeys, `[127.0.0.1]:${sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n`);
    const spoofed = new DokkuDriver({ host: 'spoofed', transport: new SshTransport({ ...options, knownHostsFile: otherKeys, controlDir: ctl }) });
    await assert.rejects(spoofed.run({ cmd: 'apps:list' }), (err: unknown) => err instanceof DokkuError && err.kind === 'Transport' && /host key/i.test(err.dokkuMessage));
  } finally {
    await rm(ctl, { recursive: true, force: true });
  }
});

test('a hung remote call is cut off at its time limit', async () => {
  await writeFile(join(root, 'faults.json'), JSON.stringify({ hang: 'resource:report' }));
  try {
    await assert.rejects(driver.run({ cmd: 'resource:report', app }, { timeoutMs: 2000 }), (err: unknown) => err instanceof DokkuError && err.kind === 'Timeout');
    assert.equal((await remoteSimulators()).length, 1, 'the hung call is the only one left on the server');
  } finally {
    await rm(join(root, 'faults.json'), { force: true });
  }
  await driver.run({ cmd: 'apps:exists', app });
});
