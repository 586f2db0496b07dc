// `make bench`: the daemon against the Dokku simulator, for N = 10, 100 and 1000 instances (`--sizes`).
// For each N: convergence of N new instances, one steady-state resync of N unchanged instances, and
// manifest edits to running instances (restarts they cause, latency from the file write to the first
// Dokku command). Prints a table and writes bench/results.json. Method and figures: docs/benchmark.md.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newSimRoot, SIM_BIN } from '../test/dokku-sim/client.js';
import type { Invocation, SimRoot } from '../test/dokku-sim/client.js';
import type { SimState } from '../test/dokku-sim/state.js';
import type { Answer, Request } from './daemon.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHILD = join(repo, 'dist/bench/daemon.js');
const IMAGE = 'otm-standin/otree:1';
const EXPERIMENTERS = 4;

/** The knobs; documented in docs/benchmark.md. */
const PARAMS = {
  dokkuVersion: '0.38.27',
  latencyMs: 20,
  concurrency: 8,
  mutationsPerSecond: 50,
  burst: 50,
  /** Manifest edits measured for the write-to-first-command latency at N = 100 (3 at other sizes). */
  latencyEdits: 30,
};

const TARGETS = {
  steadyInvocations: 50,
  steadyMutations: 0,
  mutationsPerNewInstance: 8,
  restartsBeforeFirstDeploy: 0,
  restartsPerConfigChange: 1,
  convergenceOverLowerBound: 1.3,
  writeToCommandP99Ms: 500,
  peakRssMbAt1000: 150,
};

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const sizes = (flag('sizes') ?? '10,100,1000').split(',').map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--sizes takes a comma-separated list of instance counts, e.g. --sizes 10,100');
/** Sizes above this start from a seeded host instead of converging from an empty one (see docs/benchmark.md). */
const seedAbove = Number(flag('seed-above') ?? 100);
if (!Number.isInteger(seedAbove)) throw new Error('--seed-above takes an instance count, e.g. --seed-above 1000');
const say = (line = '') => process.stdout.write(`${line}\n`);

const name = (i: number) => `bench-${String(i).padStart(4, '0')}`;
const command = (argv: string[]) => argv.find((a) => !a.startsWith('--')) ?? '';
/** The instance a call is about: the app itself or one of its services (`<app>-pg`). */
const instanceOf = (argv: string[]) => argv.map((a) => /^(bench-\d{4})(-[a-z]+)?$/.exec(a)?.[1]).find(Boolean);
const startOf = (c: Invocation) => Date.parse(c.ts) - c.ms;
const DEPLOYS = new Set(['git:from-image', 'git:sync', 'git:from-archive', 'ps:rebuild']);
const RESTARTING = new Set(['config:set', 'config:unset', 'postgres:link', 'postgres:unlink', 'redis:link', 'redis:unlink']);
/** A call that restarts a running app: ps:restart/ps:rebuild, or a config or link change without --no-restart. */
const restarts = (c: Invocation) => ['ps:restart', 'ps:rebuild'].includes(command(c.argv))
  || (RESTARTING.has(command(c.argv)) && !c.argv.includes('--no-restart'));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const spread = (values: number[]) => ({ p50: round(percentile(values, 50)), p99: round(percentile(values, 99)), max: round(Math.max(...values)) });

/** The simulator's invocation log, read incrementally. */
class InvocationLog {
  private offset = 0;
  private carry = '';
  readonly all: Invocation[] = [];
  constructor(private readonly path: string) {}

  async poll(): Promise<Invocation[]> {
    if (!existsSync(this.path)) return [];
    const file = await open(this.path, 'r');
    try {
      const { size } = await file.stat();
      if (size <= this.offset) return [];
      const buffer = Buffer.alloc(size - this.offset);
      await file.read(buffer, 0, buffer.length, this.offset);
      this.offset = size;
      const lines = (this.carry + buffer.toString('utf8')).split('\n');
      this.carry = lines.pop() ?? '';
      const fresh = lines.filter(Boolean).map((l) => JSON.parse(l) as Invocation);
      this.all.push(...fresh);
      return fresh;
    } finally {
      await file.close();
    }
  }
}

/** The daemon as a child process, answering one request at a time. */
class Child {
  private waiting: ((answer: Answer) => void) | undefined;
  private readonly exited: Promise<number | null>;
  private constructor(readonly process: ChildProcess) {
    process.on('message', (answer: Answer) => {
      const resolveAnswer = this.waiting;
      this.waiting = undefined;
      resolveAnswer?.(answer);
    });
    this.exited = new Promise((r) => process.once('exit', (code) => r(code)));
  }

  static async start(configPath: string, env: NodeJS.ProcessEnv, logPath: string): Promise<Child> {
    const log = openSync(logPath, 'a');
    const child = new Child(fork(CHILD, [configPath], { env, execArgv: [], stdio: ['ignore', log, log, 'ipc'] }));
    const ready = await Promise.race([child.next(), child.exited.then((code) => ({ type: 'error', message: `the daemon exited with ${code}; see ${logPath}` }) as Answer)]);
    if (ready.type !== 'ready') throw new Error(ready.type === 'error' ? ready.message : `unexpected answer ${ready.type}`);
    return child;
  }

  private next(): Promise<Answer> {
    return new Promise((r) => { this.waiting = r; });
  }

  async ask<T extends Answer['type']>(request: Request & { type: T }): Promise<Extract<Answer, { type: T }>> {
    const answer = this.next();
    this.process.send(request);
    const a = await answer;
    if (a.type === 'error') throw new Error(`the daemon could not answer ${request.type}: ${a.message}`);
    return a as Extract<Answer, { type: T }>;
  }

  async stop(): Promise<void> {
    this.process.kill('SIGTERM');
    await this.exited;
  }
}

function instanceManifest(i: number, env?: Record<string, string>): string {
  const lines = [
    'apiVersion: otree-manager/v1',
    'kind: OTreeInstance',
    'metadata:',
    `  name: ${name(i)}`,
    'spec:',
    `  owner: experimenter-${i % EXPERIMENTERS}`,
    '  otree:',
    '    adminPassword: { fromEnv: OTM_BENCH_ADMIN_PASSWORD }',
    `  source: { image: { ref: "${IMAGE}" } }`,
  ];
  if (env) lines.push('  env:', ...Object.entries(env).map(([k, v]) => `    ${k}: "${v}"`));
  return `${lines.join('\n')}\n`;
}

function experimenters(n: number): string {
  return Array.from({ length: EXPERIMENTERS }, (_, e) => [
    'apiVersion: otree-manager/v1',
    'kind: Experimenter',
    'metadata:',
    `  name: experimenter-${e}`,
    'spec:',
    `  displayName: Experimenter ${e}`,
    `  email: experimenter-${e}@lab.example.org`,
    `  quota: { instances: ${n}, webProcesses: ${n} }`,
    '  sshKeys: []',
  ].join('\n')).join('\n---\n');
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const settledAll = (child: Child, n: number) => async () => {
  const s = await child.ask({ type: 'status' });
  return s.settled === n && s.idle ? s : undefined;
};

interface SizeResult {
  n: number;
  /** Absent when the host was seeded (N above --seed-above). */
  convergence?: {
    wallSeconds: number; lowerBoundSeconds: number; ratio: number;
    bounds: { rateLimit: number; serialChain: number; throughput: number };
    invocations: number; mutations: number;
    mutationsPerInstance: { max: number; mean: number };
    restartsBeforeFirstDeploy: number;
    perCallOverheadMs: number;
  };
  /** Seeded hosts only: the daemon's start (a deep read of every app) over N converged instances. */
  seededStart?: { invocations: number; mutations: number; wallSeconds: number };
  steadyState: { invocations: number; mutations: number; byCommand: Record<string, number>; wallMs: number; cpuMs: number };
  configChange: {
    edits: number; restarts: number[];
    /** To the daemon starting the command. */
    writeToFirstCommandMs: { p50: number; p99: number; max: number };
    /** To the simulator's process running it (adds the process start). */
    writeToSimulatorMs: { p50: number; p99: number; max: number };
  };
  daemon: { cpuSeconds: number; rssMb: number; peakRssMb: number };
}

/** What converging the instances in `calls` took, from the simulator's log and the daemon's own timing. */
function convergenceOf(calls: Invocation[], commandSeconds: number): NonNullable<SizeResult['convergence']> {
  const mutations = calls.filter((c) => c.mutating);
  const first = Math.min(...calls.map(startOf));
  const last = Math.max(...calls.map((c) => Date.parse(c.ts)));
  // The simulator's `ms` starts once its process runs; the daemon's own timing includes starting it.
  const perCallOverheadMs = Math.max(0, (commandSeconds * 1000 - calls.reduce((s, c) => s + c.ms, 0)) / calls.length);
  const perInstance = new Map<string, Invocation[]>();
  for (const c of calls) {
    const inst = instanceOf(c.argv);
    if (inst) perInstance.set(inst, [...(perInstance.get(inst) ?? []), c]);
  }
  const mutationCounts = [...perInstance.values()].map((cs) => cs.filter((c) => c.mutating).length);
  let restartsBeforeDeploy = 0;
  for (const cs of perInstance.values()) {
    const deployAt = cs.findIndex((c) => DEPLOYS.has(command(c.argv)));
    restartsBeforeDeploy += (deployAt < 0 ? cs : cs.slice(0, deployAt)).filter(restarts).length;
  }
  // Lower bounds on the wall time: the token bucket; one instance's changes, which run one after
  // another; and all changes, at most `concurrency` at a time. Reads are left out: they are not
  // rate-limited and run beside the changes, so they bound nothing.
  const cost = (cs: Invocation[]) => cs.filter((c) => c.mutating).reduce((s, c) => s + c.ms + perCallOverheadMs, 0) / 1000;
  const bounds = {
    rateLimit: Math.max(0, mutations.length - PARAMS.burst) / PARAMS.mutationsPerSecond,
    serialChain: Math.max(...[...perInstance.values()].map(cost)),
    throughput: cost(mutations) / PARAMS.concurrency,
  };
  const lowerBound = Math.max(bounds.rateLimit, bounds.serialChain, bounds.throughput);
  const wallSeconds = (last - first) / 1000;
  return {
    wallSeconds: round(wallSeconds), lowerBoundSeconds: round(lowerBound), ratio: round(wallSeconds / lowerBound, 2),
    bounds: { rateLimit: round(bounds.rateLimit), serialChain: round(bounds.serialChain), throughput: round(bounds.throughput) },
    invocations: calls.length, mutations: mutations.length,
    mutationsPerInstance: { max: Math.max(...mutationCounts), mean: round(mutations.length / perInstance.size, 2) },
    restartsBeforeFirstDeploy: restartsBeforeDeploy,
    perCallOverheadMs: round(perCallOverheadMs),
  };
}

/**
 * Turns a host converged with one instance per experimenter into N converged instances, each a copy of
 * the instance with the same owner under its own name: what N convergences would leave, without them.
 */
async function seedHost(root: string, n: number): Promise<void> {
  const path = join(root, 'state.json');
  const state = JSON.parse(await readFile(path, 'utf8')) as SimState;
  for (let i = EXPERIMENTERS; i < n; i++) {
    const template = name(i % EXPERIMENTERS);
    const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value).replaceAll(template, name(i))) as T;
    state.apps[name(i)] = copy(state.apps[template]!);
    state.services.postgres[`${name(i)}-pg`] = copy(state.services.postgres[`${template}-pg`]!);
  }
  await writeFile(path, JSON.stringify(state));
}

async function measure(n: number): Promise<SizeResult> {
  const work = await mkdtemp(join(tmpdir(), 'otm-bench-'));
  const sim: SimRoot = await newSimRoot({
    version: PARAMS.dokkuVersion, docker: '0', globalDomain: 'lab.example.org', prefix: 'otm-bench-sim-',
    env: { DOKKU_SIM_LATENCY_MS: String(PARAMS.latencyMs) },
  });
  let child: Child | undefined;
  try {
    const manifests = join(work, 'manifests');
    await mkdir(manifests);
    await writeFile(join(manifests, 'experimenters.yaml'), experimenters(n));
    const configPath = join(work, 'config.yaml');
    await writeFile(configPath, JSON.stringify({
      hosts: [{ name: 'local', transport: { type: 'local', dokkuPath: SIM_BIN } }],
      manifestsDir: manifests,
      stateDir: join(work, 'state'),
      backupDir: join(work, 'backups'),
      baseDomain: 'lab.example.org',
      queue: { concurrency: PARAMS.concurrency, mutationsPerSecond: PARAMS.mutationsPerSecond, burst: PARAMS.burst },
      // Resyncs are requested by the benchmark; the schedule only has to stay out of the way.
      resync: { schedule: '0 0 1 1 *', jitterPercent: 0 },
      log: { level: 'warn' },
    }, null, 2));
    const log = new InvocationLog(join(sim.root, 'invocations.jsonl'));

    // 1. Convergence of N new instances (of one per experimenter when the host is seeded).
    const seeded = n > seedAbove;
    const converging = seeded ? Math.min(n, EXPERIMENTERS) : n;
    for (let i = 0; i < converging; i++) await writeFile(join(manifests, `${name(i)}.yaml`), instanceManifest(i));
    say(`N=${n}: converging ${converging} new instances…`);
    const env = { ...process.env, ...sim.env, OTM_BENCH_ADMIN_PASSWORD: 'bench-admin-password' };
    child = await Child.start(configPath, env, join(work, 'daemon.log'));
    await waitFor(`${converging} instances to be Running and in sync`, 60 * 60_000, settledAll(child, converging), 300);
    await log.poll();
    const convergence = seeded ? undefined : convergenceOf([...log.all], (await child.ask({ type: 'usage' })).commandSeconds);
    let seededStart: SizeResult['seededStart'];
    if (seeded) {
      await child.stop();
      child = undefined;
      say(`N=${n}: seeding the host with ${n} converged instances, starting the daemon over it…`);
      await seedHost(sim.root, n);
      for (let i = converging; i < n; i++) await writeFile(join(manifests, `${name(i)}.yaml`), instanceManifest(i));
      const started = Date.now();
      await log.poll();
      child = await Child.start(configPath, env, join(work, 'daemon.log'));
      await waitFor(`${n} seeded instances to be found in sync`, 60 * 60_000, settledAll(child, n), 2000);
      const calls = await log.poll();
      seededStart = { invocations: calls.length, mutations: calls.filter((c) => c.mutating).length, wallSeconds: round((Date.now() - started) / 1000) };
    }

    // 2. One steady-state resync of N unchanged instances (shallow: the deep one ran at start).
    say(`N=${n}: steady-state resync…`);
    await log.poll();
    const resync = await child.ask({ type: 'resync' });
    const steadyCalls = await log.poll();
    const byCommand: Record<string, number> = {};
    for (const c of steadyCalls) byCommand[command(c.argv)] = (byCommand[command(c.argv)] ?? 0) + 1;

    // 3. Manifest edits to running instances: restarts each causes, and write-to-first-command latency.
    const edits = n >= 100 && n < 1000 ? PARAMS.latencyEdits : 3;
    say(`N=${n}: ${edits} manifest edits…`);
    const latencies: number[] = [];
    const simLatencies: number[] = [];
    const restartCounts: number[] = [];
    for (let k = 0; k < edits; k++) {
      const i = (k * 7919) % n;
      await log.poll();
      const written = Date.now();
      await writeFile(join(manifests, `${name(i)}.yaml`), instanceManifest(i, { BENCH_EDIT: String(k) }));
      const firstCall = await waitFor(`a Dokku command for ${name(i)} after its manifest changed`, 60_000, async () => {
        await log.poll();
        return log.all.find((c) => instanceOf(c.argv) === name(i) && startOf(c) >= written);
      }, 10);
      simLatencies.push(startOf(firstCall) - written);
      const handed = await child.ask({ type: 'firstCommand', app: name(i), after: written });
      if (handed.at === null) throw new Error(`the daemon reports no command for ${name(i)} although the simulator ran one`);
      latencies.push(handed.at - written);
      await waitFor(`${name(i)} to be in sync again`, 120_000, settledAll(child, n));
      await log.poll();
      restartCounts.push(log.all.filter((c) => instanceOf(c.argv) === name(i) && startOf(c) >= written && restarts(c)).length);
    }
    const end = await child.ask({ type: 'usage' });
    return {
      n,
      ...(convergence ? { convergence } : {}),
      ...(seededStart ? { seededStart } : {}),
      steadyState: {
        invocations: steadyCalls.length, mutations: steadyCalls.filter((c) => c.mutating).length, byCommand,
        wallMs: round(resync.ms), cpuMs: round(resync.cpuMs),
      },
      configChange: {
        edits, restarts: restartCounts,
        writeToFirstCommandMs: spread(latencies),
        writeToSimulatorMs: spread(simLatencies),
      },
      daemon: { cpuSeconds: round(end.cpuMs / 1000), rssMb: round(end.rssMb), peakRssMb: round(end.peakRssMb) },
    };
  } finally {
    await child?.stop();
    await sim.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

function verdicts(results: SizeResult[]): Array<{ target: string; n: number; value: number | string; pass: boolean }> {
  const out: Array<{ target: string; n: number; value: number | string; pass: boolean }> = [];
  for (const r of results) {
    out.push({ target: `steady-state resync: Dokku invocations <= ${TARGETS.steadyInvocations}`, n: r.n, value: r.steadyState.invocations, pass: r.steadyState.invocations <= TARGETS.steadyInvocations });
    out.push({ target: 'steady-state resync: no mutating call', n: r.n, value: r.steadyState.mutations, pass: r.steadyState.mutations === TARGETS.steadyMutations });
    const c = r.convergence;
    if (c) {
      out.push({ target: `new instance: <= ${TARGETS.mutationsPerNewInstance} mutating commands`, n: r.n, value: c.mutationsPerInstance.max, pass: c.mutationsPerInstance.max <= TARGETS.mutationsPerNewInstance });
      out.push({ target: 'new instance: no restart before its first deploy', n: r.n, value: c.restartsBeforeFirstDeploy, pass: c.restartsBeforeFirstDeploy === 0 });
      out.push({ target: `convergence wall time <= ${TARGETS.convergenceOverLowerBound}x lower bound`, n: r.n, value: c.ratio, pass: c.ratio <= TARGETS.convergenceOverLowerBound });
    }
    out.push({ target: 'config change to a running instance: exactly one restart', n: r.n, value: r.configChange.restarts.join(','), pass: r.configChange.restarts.every((x) => x === TARGETS.restartsPerConfigChange) });
    out.push({ target: `manifest write to first Dokku command: p99 < ${TARGETS.writeToCommandP99Ms} ms`, n: r.n, value: r.configChange.writeToFirstCommandMs.p99, pass: r.configChange.writeToFirstCommandMs.p99 < TARGETS.writeToCommandP99Ms });
    if (r.n >= 1000) out.push({ target: `peak RSS < ${TARGETS.peakRssMbAt1000} MB at 1000 instances`, n: r.n, value: r.daemon.peakRssMb, pass: r.daemon.peakRssMb < TARGETS.peakRssMbAt1000 });
  }
  return out;
}

function table(results: SizeResult[]): string {
  const rows: string[][] = [['', ...results.map((r) => `N=${r.n}`)]];
  const row = (label: string, f: (r: SizeResult) => string | number) => rows.push([label, ...results.map((r) => String(f(r)))]);
  const seededNote = (r: SizeResult) => (r.seededStart ? 'seeded' : '');
  const conv = (f: (c: NonNullable<SizeResult['convergence']>) => string | number) => (r: SizeResult) => (r.convergence ? f(r.convergence) : seededNote(r));
  row('convergence wall (s)', conv((c) => c.wallSeconds));
  row('  lower bound (s): rate/chain/throughput', conv((c) => `${c.lowerBoundSeconds} (${c.bounds.rateLimit}/${c.bounds.serialChain}/${c.bounds.throughput})`));
  row('  wall / lower bound', conv((c) => c.ratio));
  row('  Dokku invocations (mutating)', conv((c) => `${c.invocations} (${c.mutations})`));
  row('  mutating per instance (max, mean)', conv((c) => `${c.mutationsPerInstance.max}, ${c.mutationsPerInstance.mean}`));
  row('  restarts before first deploy', conv((c) => c.restartsBeforeFirstDeploy));
  row('  per-call process overhead (ms)', conv((c) => c.perCallOverheadMs));
  row('start over seeded host: calls (mutating), s', (r) => (r.seededStart ? `${r.seededStart.invocations} (${r.seededStart.mutations}), ${r.seededStart.wallSeconds}` : ''));
  row('steady resync: Dokku invocations', (r) => r.steadyState.invocations);
  row('steady resync: mutating calls', (r) => r.steadyState.mutations);
  row('steady resync: wall (ms)', (r) => r.steadyState.wallMs);
  row('steady resync: daemon CPU (ms)', (r) => r.steadyState.cpuMs);
  row('config change: restarts per edit', (r) => [...new Set(r.configChange.restarts)].join(','));
  row('write -> first command p50/p99 (ms)', (r) => `${r.configChange.writeToFirstCommandMs.p50}/${r.configChange.writeToFirstCommandMs.p99} (${r.configChange.edits} edits)`);
  row('  -> simulator running it p50/p99 (ms)', (r) => `${r.configChange.writeToSimulatorMs.p50}/${r.configChange.writeToSimulatorMs.p99}`);
  row('daemon CPU total (s)', (r) => r.daemon.cpuSeconds);
  row('daemon RSS now / peak (MB)', (r) => `${r.daemon.rssMb} / ${r.daemon.peakRssMb}`);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

async function main(): Promise<void> {
  for (const built of [CHILD, join(repo, 'dist/test/dokku-sim/main.js')]) {
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`make build\` first (\`make bench\` does)`);
  }
  const resultsFile = join(repo, 'bench/results.json');
  // Sizes not measured in this run keep their figures from the last run that measured them.
  const earlier = existsSync(resultsFile) ? (JSON.parse(await readFile(resultsFile, 'utf8')) as { results?: SizeResult[] }).results ?? [] : [];
  const results: SizeResult[] = [];
  for (const n of sizes) results.push(await measure(n));
  results.push(...earlier.filter((r) => !sizes.includes(r.n)));
  results.sort((a, b) => a.n - b.n);
  const checks = verdicts(results);
  say();
  say(table(results));
  say();
  for (const c of checks) say(`${c.pass ? 'pass' : 'MISS'}  N=${c.n}  ${c.target}: ${c.value}`);
  await writeFile(resultsFile, `${JSON.stringify({
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', memoryGb: round(totalmem() / 2 ** 30), loadAverage: loadavg().map((l) => round(l, 2)) },
    node: process.version,
    parameters: PARAMS,
    targets: TARGETS,
    results,
    checks,
  }, null, 2)}\n`);
  say('\nwritten: bench/results.json');
}

await main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.message}\n`);
  process.exitCode = 1;
});
