// Helpers for tests and benchmarks: a fresh simulator root, running the simulator, reading its
// invocation log and the host ports of deployed web processes, and removing what a root created.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rootIdOf } from './state.js';
import type { SimState } from './state.js';
import { ROOT_LABEL } from './containers.js';
import type { Faults } from './faults.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Directory of the `dokku` and `ssh-forced-command` scripts (the source tree, also when running from dist). */
export const SIM_DIR = here.includes(`${join('dist', 'test')}`) ? resolve(here, '../../../test/dokku-sim') : here;
/** The simulator executable: put its directory on PATH, or run it directly. */
export const SIM_BIN = join(SIM_DIR, 'dokku');

export interface SimResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SimRoot {
  root: string;
  /** Environment that points the simulator at this root (merge into process.env). */
  env: Record<string, string>;
  run(argv: string[], options?: { env?: Record<string, string>; stdin?: string }): Promise<SimResult>;
  /** Remove the root and every container it created. */
  destroy(): Promise<void>;
}

/** Run the simulator once. */
export function runSim(argv: string[], env: Record<string, string>, stdin?: string): Promise<SimResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(SIM_BIN, argv, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(stdin ?? '');
  });
}

/** A new, empty simulated host in a temporary directory. */
export async function newSimRoot(options: { version?: string; docker?: '0' | '1' | 'auto'; globalDomain?: string; prefix?: string; env?: Record<string, string> } = {}): Promise<SimRoot> {
  const root = await mkdtemp(join(tmpdir(), options.prefix ?? 'otm-dokku-sim-'));
  const env: Record<string, string> = {
    DOKKU_SIM_ROOT: root,
    DOKKU_SIM_VERSION: options.version ?? '0.35.16',
    DOKKU_SIM_DOCKER: options.docker ?? '0',
    ...(options.globalDomain !== undefined ? { DOKKU_SIM_GLOBAL_DOMAIN: options.globalDomain } : {}),
    ...options.env,
  };
  return {
    root,
    env,
    run: (argv, o = {}) => runSim(argv, { ...env, ...o.env }, o.stdin),
    async destroy() {
      await removeSimContainers(root);
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface Invocation {
  ts: string;
  argv: string[];
  exit: number;
  ms: number;
  mutating: boolean;
}

export async function readInvocations(root: string): Promise<Invocation[]> {
  let text = '';
  try {
    text = await readFile(join(root, 'invocations.jsonl'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Invocation);
}

/** How many calls were made, optionally only those whose command (first non-flag word) is `command`. */
export async function countInvocations(root: string, command?: string): Promise<number> {
  const calls = await readInvocations(root);
  if (!command) return calls.length;
  return calls.filter((c) => c.argv.find((a) => !a.startsWith('--')) === command).length;
}

export async function readSimState(root: string): Promise<SimState> {
  return JSON.parse(await readFile(join(root, 'state.json'), 'utf8')) as SimState;
}

/** The 127.0.0.1 port of the app's `web.1` container, once deployed with Docker. */
export async function webPort(root: string, app: string): Promise<number | undefined> {
  return (await readSimState(root)).apps[app]?.containers['web.1']?.hostPort;
}

/** Replace the root's faults.json (read by every later call). */
export async function setFaults(root: string, faults: Partial<Omit<Faults, 'hang'>> & { hang?: string }): Promise<void> {
  await writeFile(join(root, 'faults.json'), JSON.stringify(faults));
}

/** Remove every container a simulator root created (tests call this in their cleanup). */
export async function removeSimContainers(root: string): Promise<void> {
  let id: string;
  try {
    id = rootIdOf(root);
  } catch {
    return;
  }
  const { default: Docker } = await import('dockerode');
  const docker = new Docker();
  let found: { Id: string }[];
  try {
    found = await docker.listContainers({ all: true, filters: { label: [`${ROOT_LABEL}=${id}`] } });
  } catch {
    return;
  }
  await Promise.all(found.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}
