// The simulated host's state: one JSON document under DOKKU_SIM_ROOT, changed only inside a
// transaction that holds the root's lock file, so concurrent invocations never lose an update.
// Writes go to a temporary file renamed into place, so readers outside the lock see whole documents.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export interface ContainerRecord {
  /** Docker container id, or a made-up one when no Docker Engine is used. */
  id: string;
  /** Host port on 127.0.0.1 that forwards to the web process's $PORT. */
  hostPort?: number;
  /** Whether `ps:stop` left it stopped. */
  state: 'running' | 'exited';
}

export interface AppState {
  createdAt: number;
  config: Record<string, string>;
  /** App vhosts (domains). */
  domains: string[];
  /** The ps scale property: process type → count. */
  scale: Record<string, number>;
  deployed: boolean;
  /** `ps:stop` was the last word (Dokku's `restore=false`). */
  stopped: boolean;
  deploySource: string;
  deploySourceMetadata: string;
  /** The image the app's processes run. */
  image: string;
  gitSha: string;
  sourceImage: string;
  gitLastUpdatedAt: string;
  /** git:sync remote, recorded for reports. */
  gitRemote: string;
  /** The `.deploy.lock` file exists (apps:lock, or a build in progress). */
  lockFile: boolean;
  /** Pid of the build holding the deploy lock, when one is running. */
  lockPid?: number;
  /** resource properties `<proctype>.<limit|reserve>.<key>`. */
  resources: Record<string, string>;
  letsencrypt: { active: boolean; expiration: number };
  acl: string[];
  /** dyno (`web.1`) → container. */
  containers: Record<string, ContainerRecord>;
}

export interface ServiceState {
  password: string;
  createdAt: number;
  id: string;
  links: string[];
}

export type ServicePlugin = 'postgres' | 'redis';

export interface SshKey {
  name: string;
  fingerprint: string;
  key: string;
}

export interface SimState {
  apps: Record<string, AppState>;
  services: Record<ServicePlugin, Record<string, ServiceState>>;
  sshKeys: SshKey[];
  letsencryptEmail: string;
}

export function emptyState(): SimState {
  return { apps: {}, services: { postgres: {}, redis: {} }, sshKeys: [], letsencryptEmail: 'ops@example.org' };
}

export function newApp(now: number): AppState {
  return {
    createdAt: now, config: {}, domains: [], scale: {}, deployed: false, stopped: false,
    deploySource: '', deploySourceMetadata: '', image: '', gitSha: '', sourceImage: '', gitLastUpdatedAt: '',
    gitRemote: '', lockFile: false, resources: {}, letsencrypt: { active: false, expiration: 0 }, acl: [], containers: {},
  };
}

/** A short id of a simulator root, used in container names and labels. */
export function rootIdOf(root: string): string {
  return createHash('sha256').update(realpathSync(root)).digest('hex').slice(0, 10);
}

const STATE_FILE = 'state.json';
const LOCK_FILE = 'state.lock';
/** An empty lock file older than this (its creator died before writing its pid) is taken over. */
const STALE_MS = 30_000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** An exclusive lock file (O_EXCL) with its holder's pid; waits, and takes over locks whose holder died. */
export function lockFile(path: string, timeoutMs = 60_000): () => void {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    breakIfStale(path);
    if (Date.now() > deadline) throw new Error(`could not lock ${path} within ${timeoutMs} ms; remove it if no simulator process is running`);
    sleepSync(Math.min(2 + attempt, 20));
  }
}

function breakIfStale(path: string): void {
  let holder: string;
  let age: number;
  try {
    holder = readFileSync(path, 'utf8');
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    return;
  }
  const pid = Number(holder);
  // A live holder keeps its lock however long it works; an empty file is a holder between open and
  // write, stale only when old.
  const dead = holder !== '' && (!Number.isInteger(pid) || pid <= 0 || !alive(pid));
  if (dead || (holder === '' && age > STALE_MS)) {
    try {
      if (readFileSync(path, 'utf8') === holder) rmSync(path, { force: true });
    } catch { /* someone else broke it first */ }
  }
}

export class Store {
  constructor(readonly root: string) {
    if (!existsSync(root)) mkdirSync(root, { recursive: true });
  }

  /** The current state, without locking (writes are atomic renames). */
  read(): SimState {
    try {
      return JSON.parse(readFileSync(join(this.root, STATE_FILE), 'utf8')) as SimState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
      throw err;
    }
  }

  /** Read-modify-write under the root lock. `fn` may throw to abandon its changes. */
  transact<T>(fn: (state: SimState) => T): T {
    const release = lockFile(join(this.root, LOCK_FILE));
    try {
      const state = this.read();
      const result = fn(state);
      const tmp = join(this.root, `${STATE_FILE}.${process.pid}.tmp`);
      writeFileSync(tmp, JSON.stringify(state));
      renameSync(tmp, join(this.root, STATE_FILE));
      return result;
    } finally {
      release();
    }
  }

  /** A lock serialising container work on one app without blocking the rest of the host. */
  lockApp(app: string): () => void {
    const dir = join(this.root, 'locks');
    mkdirSync(dir, { recursive: true });
    return lockFile(join(dir, `${app}.lock`), 120_000);
  }
}
