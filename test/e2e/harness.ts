// End-to-end harness: a temporary "lab" (manifests, state and backup directories, a configuration)
// and a simulated Dokku host whose apps run as real containers, with the daemon started either in
// this process or as a child process (for the tests that kill it). Every name a test creates carries
// a random prefix, so suites can run side by side on one Docker Engine.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import type { Config } from '../../src/config.js';
import { Daemon } from '../../src/engine/daemon.js';
import type { DaemonOptions } from '../../src/engine/daemon.js';
import { createLogger } from '../../src/engine/logger.js';
import { STATE_FILE_NAME } from '../../src/engine/status-file.js';
import type { InstanceStatus } from '../../src/engine/status.js';
import { parseConfig } from '../../src/manifest/index.js';
import type { OTreeInstanceSpec } from '../../src/manifest/index.js';
import { ROOT_LABEL } from '../dokku-sim/containers.js';
import { STARTED_LINE } from './started.js';
import { newSimRoot, readInvocations, readSimState, webPort } from '../dokku-sim/client.js';
import type { Invocation, SimRoot } from '../dokku-sim/client.js';
import { rootIdOf } from '../dokku-sim/state.js';
import { ensureStandinImage, STANDIN_IMAGE } from '../support/image.js';
import { waitFor } from '../support/services.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DOKKU_SIM = join(repo, 'test/dokku-sim/dokku');
const DAEMON_PROCESS = join(repo, 'test/e2e/daemon-process.ts');

/** The environment variable the instances' admin password is read from. */
export const PASSWORD_ENV = 'OTM_E2E_ADMIN_PASSWORD';
export const PASSWORD = 'e2e-admin-password';

export interface LabOptions {
  /** Short tag for temp dirs and app names (letters only), e.g. `conv`. */
  tag: string;
  prune?: boolean;
  /** node-cron schedule (6 fields: seconds first). @default every 10 minutes (no resync during a test) */
  resyncSchedule?: string;
  commandTimeoutSeconds?: number;
  redisUrl?: string;
  postgresUrl?: string;
  leader?: Config['leader'];
  queue?: Partial<Config['queue']>;
  /** The simulated host's global domain: instances get http://NAME.DOMAIN URLs. */
  globalDomain?: string;
  /** More configuration (e.g. secrets, http, web), merged over the lab's. */
  extra?: Record<string, unknown>;
}

export type InstanceOverrides = Partial<Omit<OTreeInstanceSpec, 'otree'>> & { otree?: Partial<OTreeInstanceSpec['otree']> };

/** A lab: its directories, configuration and simulated host. */
export class Lab {
  /** Unique prefix of every app name in this lab, e.g. `conv3f9a`. */
  readonly prefix: string;
  private constructor(
    readonly work: string,
    readonly sim: SimRoot,
    readonly configFile: string,
    readonly config: Config,
    readonly manifestsDir: string,
    readonly stateDir: string,
    prefix: string,
  ) {
    this.prefix = prefix;
  }

  static async create(options: LabOptions): Promise<Lab> {
    await ensureStandinImage();
    const prefix = `${options.tag}${randomBytes(2).toString('hex')}`;
    const work = await mkdtemp(join(tmpdir(), `otm-e2e-${options.tag}-`));
    const sim = await newSimRoot({ version: '0.38.27', docker: '1', prefix: `otm-e2e-sim-${options.tag}-`, ...(options.globalDomain ? { globalDomain: options.globalDomain } : {}) });
    const manifestsDir = join(work, 'manifests');
    const stateDir = join(work, 'state');
    await mkdir(manifestsDir, { recursive: true });
    const raw = {
      hosts: [{ name: 'local', transport: { type: 'local', dokkuPath: DOKKU_SIM }, commandTimeoutSeconds: options.commandTimeoutSeconds ?? 120 }],
      manifestsDir,
      stateDir,
      backupDir: join(work, 'backups'),
      queue: { concurrency: 4, mutationsPerSecond: 50, burst: 50, backoffBaseMs: 200, backoffMaxMs: 2000, ...options.queue },
      resync: { schedule: options.resyncSchedule ?? '0 */10 * * * *', jitterPercent: 0 },
      prune: options.prune ?? false,
      drainSeconds: 5,
      log: { level: 'warn' },
      ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
      ...(options.postgresUrl ? { postgresUrl: options.postgresUrl } : {}),
      ...(options.leader ? { leader: options.leader } : {}),
      ...options.extra,
    };
    const configFile = join(work, 'otm.json');
    await writeFile(configFile, JSON.stringify(raw, null, 2));
    const { config, issues } = parseConfig(JSON.stringify(raw), configFile);
    if (!config) throw new Error(`the e2e configuration is invalid: ${JSON.stringify(issues)}`);
    return new Lab(work, sim, configFile, config as unknown as Config, manifestsDir, stateDir, prefix);
  }

  /** The app name of this lab's instance `n` (unique on the shared Docker Engine). */
  app(n: number | string): string {
    return `${this.prefix}-${n}`;
  }

  /** Writes (or rewrites) the manifest of one instance: the stand-in image, oTree 5, no push. */
  async declare(name: string, spec: InstanceOverrides = {}): Promise<void> {
    const { otree, ...rest } = spec;
    const manifest = {
      apiVersion: 'otree-manager/v1',
      kind: 'OTreeInstance',
      metadata: { name },
      spec: {
        owner: 'alice',
        otree: { adminPassword: { fromEnv: PASSWORD_ENV }, ...otree },
        source: { image: { ref: STANDIN_IMAGE } },
        ...rest,
      },
    };
    // JSON is YAML: the watcher reads it like any manifest.
    await writeFile(join(this.manifestsDir, `${name}.yaml`), `${JSON.stringify(manifest, null, 2)}\n`);
  }

  async undeclare(name: string): Promise<void> {
    await rm(join(this.manifestsDir, `${name}.yaml`), { force: true });
  }

  /** Options for an in-process daemon on this lab's host and containers only. */
  daemonOptions(extra: Partial<DaemonOptions> = {}): DaemonOptions {
    return {
      config: this.config,
      logger: createLogger({ level: 'warn' }),
      env: { ...process.env, [PASSWORD_ENV]: PASSWORD },
      dokkuEnv: this.sim.env,
      dockerLabels: { [ROOT_LABEL]: rootIdOf(this.sim.root) },
      ...extra,
    };
  }

  async startDaemon(extra: Partial<DaemonOptions> = {}): Promise<Daemon> {
    const daemon = new Daemon(this.daemonOptions(extra));
    await daemon.start();
    return daemon;
  }

  /** The daemon as a child process (`test/e2e/daemon-process.ts`), for tests that kill it. */
  spawnDaemon(): DaemonProcess {
    return new DaemonProcess(this);
  }

  /** The status file a daemon without PostgreSQL keeps. */
  async statusFile(): Promise<Record<string, InstanceStatus>> {
    try {
      return (JSON.parse(await readFile(join(this.stateDir, STATE_FILE_NAME), 'utf8')) as { instances: Record<string, InstanceStatus> }).instances;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
  }

  invocations(): Promise<Invocation[]> {
    return readInvocations(this.sim.root);
  }

  /** Mutating calls made since `from` (an index into the log), as `command app` strings. */
  async mutationsSince(from: number): Promise<string[]> {
    return (await this.invocations()).slice(from).filter((i) => i.mutating && i.exit === 0).map(commandOf);
  }

  state() {
    return readSimState(this.sim.root);
  }

  /** GET /login on the app's web container, over 127.0.0.1. */
  async login(app: string): Promise<number | undefined> {
    const port = await webPort(this.sim.root, app);
    if (!port) return undefined;
    try {
      return (await fetch(`http://127.0.0.1:${port}/login`)).status;
    } catch {
      return undefined;
    }
  }

  /** The environment the app's web container runs with (the stand-in's /cgi-bin/env). */
  async containerEnv(app: string): Promise<Record<string, string>> {
    const port = await webPort(this.sim.root, app);
    if (!port) throw new Error(`${app} has no web container`);
    const text = await (await fetch(`http://127.0.0.1:${port}/cgi-bin/env`)).text();
    return Object.fromEntries(text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }

  async destroy(): Promise<void> {
    await this.sim.destroy();
    await rm(this.work, { recursive: true, force: true });
  }
}

/** A lab whose instances converged under a running in-process daemon; a test may replace `daemon`. */
export interface RunningLab {
  lab: Lab;
  daemon: Daemon;
  names: string[];
}

/**
 * Registers a `before` that declares `count` instances (through `declare`, default specs otherwise),
 * starts the daemon and waits for them to settle, and an `after` that stops it and removes everything.
 */
export function useConvergedLab(tag: string, count: number, declare: (lab: Lab, name: string, index: number) => Promise<void> = (lab, name) => lab.declare(name)): RunningLab {
  const running = { names: [] } as unknown as RunningLab;
  before(async () => {
    running.lab = await Lab.create({ tag });
    for (let i = 1; i <= count; i++) {
      running.names.push(running.lab.app(i));
      await declare(running.lab, running.lab.app(i), i);
    }
    running.daemon = await running.lab.startDaemon();
    await settle(running.daemon, running.names);
  });
  after(async () => {
    await running.daemon?.stop(2_000);
    await running.lab?.destroy();
  });
  return running;
}

/** `command app` of a logged call, flags dropped: `ps:restart conv1a2b-1`. */
export function commandOf(call: Invocation): string {
  const words = call.argv.filter((a) => !a.startsWith('--'));
  return words.slice(0, 2).join(' ');
}

/** Whether a status says the last pass found nothing left to change for the current generation. */
export function inSync(status: InstanceStatus | undefined, generation = 1): boolean {
  return status !== undefined
    && status.observedGeneration >= generation
    && status.conditions.some((c) => c.type === 'Reconciling' && c.status === 'False');
}

/**
 * Waits until every named instance passes `check` and the daemon is idle (nothing queued, delayed or
 * in progress), seen on two polls in a row so a key between two steps is not mistaken for rest.
 */
export async function settle(daemon: Daemon, names: readonly string[], check: (s: InstanceStatus) => boolean = (s) => inSync(s), timeoutMs = 90_000): Promise<InstanceStatus[]> {
  let calm = 0;
  return waitFor(`${names.join(', ')} to settle`, async () => {
    const statuses = await Promise.all(names.map((n) => daemon.status.get(n)));
    const idle = daemon.queue.len() === 0 && daemon.queue.delayedLen() === 0 && daemon.queue.longestRunningSeconds() === 0;
    calm = statuses.every((s) => s !== undefined && check(s)) && idle ? calm + 1 : 0;
    return calm >= 2 ? (statuses as InstanceStatus[]) : undefined;
  }, timeoutMs, 200);
}

/** The daemon in a child process; its status is read from the state file. */
export class DaemonProcess {
  readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private stderr = '';
  private readonly up: Promise<void>;

  constructor(lab: Lab) {
    this.child = spawn(process.execPath, ['--import', 'tsx', DAEMON_PROCESS, lab.configFile, rootIdOf(lab.sim.root)], {
      cwd: repo,
      env: { ...process.env, ...lab.sim.env, [PASSWORD_ENV]: PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
    this.up = new Promise((resolve, reject) => {
      this.child.stdout!.on('data', () => { if (this.stderr.includes(STARTED_LINE)) resolve(); });
      void this.exited.then((code) => reject(new Error(`the daemon exited (${code}) before it had started:\n${this.stderr}`)));
    });
    this.up.catch(() => undefined);
  }

  /** Resolves once the daemon has finished starting (its signal handler is in place and it has synced once). */
  started(): Promise<void> {
    return this.up;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** What the process logged lately (warnings and errors), for failure messages. */
  output(): string {
    return this.stderr;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

const ALWAYS_RESTARTS = new Set(['ps:restart', 'ps:rebuild', 'ps:start', 'ps:scale', 'git:from-image', 'git:sync', 'git:from-archive']);
const RESTARTS_UNLESS_TOLD = new Set(['config:set', 'config:unset', 'postgres:link', 'postgres:unlink', 'redis:link', 'redis:unlink']);

/** The successful calls that (re)started `app`'s processes, as Dokku does them. */
export function restartsOf(calls: readonly Invocation[], app: string): string[] {
  return calls.filter((call) => {
    const words = call.argv.filter((a) => !a.startsWith('--'));
    if (!call.mutating || call.exit !== 0 || !words.includes(app)) return false;
    const command = words[0]!;
    return ALWAYS_RESTARTS.has(command) || (RESTARTS_UNLESS_TOLD.has(command) && !call.argv.includes('--no-restart'));
  }).map(commandOf);
}
