// A throwaway OpenSSH server on a loopback port whose only key runs the Dokku simulator as a forced
// command, the way a Dokku host's authorized_keys (written by sshcommand) does. Tests use it to drive
// the ssh transport end to end.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './services.js';
import { SIM_DIR } from '../dokku-sim/client.js';
import { freePort } from '../dokku-sim/containers.js';

export interface SshdHandle {
  host: string;
  port: number;
  user: string;
  identityFile: string;
  knownHostsFile: string;
  /** ssh options that reach this server non-interactively: `ssh ...sshArgs -- dokku-args`. */
  sshArgs: string[];
  stop(): Promise<void>;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${stderr}`))));
  });
}

/** Resolves once the server sends its SSH banner. */
function banner(port: number): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('SSH-') ? true : undefined);
    });
    socket.once('error', () => resolve(undefined));
  });
}

function shellWord(value: string): string {
  if (/["'\n\\]/.test(value)) throw new Error(`cannot put ${JSON.stringify(value)} into an authorized_keys forced command`);
  return `'${value}'`;
}

/**
 * Start sshd on a free 127.0.0.1 port as the current user. `env` is passed to the simulator through the
 * forced command (DOKKU_SIM_ROOT and friends). Like sshcommand, the forced command also sets NAME (the
 * key's name, `admin` by default) and FINGERPRINT, which some plugins read (dokku-acl refuses ssh callers).
 */
export async function startSshd(options: { env: Record<string, string>; keyName?: string }): Promise<SshdHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'otm-sshd-'));
  const hostKey = join(dir, 'host_ed25519');
  const identityFile = join(dir, 'client_ed25519');
  const knownHostsFile = join(dir, 'known_hosts');
  const authorizedKeys = join(dir, 'authorized_keys');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'otm-test-host', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'otm-test-client', '-f', identityFile]);
  const port = await freePort();
  const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  await writeFile(knownHostsFile, `[127.0.0.1]:${port} ${hostPub}\n`);
  const fingerprint = await new Promise<string>((resolve, reject) => {
    const child = spawn('ssh-keygen', ['-l', '-f', `${identityFile}.pub`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('close', () => resolve(out.split(' ')[1] ?? ''));
  });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env, NAME: options.keyName ?? 'admin', FINGERPRINT: fingerprint };
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${shellWord(v)}`).join(' ');
  const forced = `${assignments} exec ${shellWord(join(SIM_DIR, 'ssh-forced-command'))}`;
  const clientPub = (await readFile(`${identityFile}.pub`, 'utf8')).trim();
  await writeFile(authorizedKeys, `command="${forced}",no-agent-forwarding,no-user-rc,no-X11-forwarding,no-port-forwarding ${clientPub}\n`);
  await chmod(authorizedKeys, 0o600);
  const config = join(dir, 'sshd_config');
  await writeFile(config, [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    'PermitRootLogin prohibit-password',
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'LogLevel ERROR',
    '',
  ].join('\n'));
  // sshd refuses to start without its privilege separation directory.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitFor(`sshd on 127.0.0.1:${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`sshd exited ${child.exitCode}: ${log}`);
      return banner(port);
    }, 15_000, 50);
  } catch (err) {
    child.kill();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const user = userInfo().username;
  return {
    host: '127.0.0.1',
    port,
    user,
    identityFile,
    knownHostsFile,
    sshArgs: [
      '-F', '/dev/null', '-p', String(port), '-i', identityFile, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
      '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', `${user}@127.0.0.1`,
    ],
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
