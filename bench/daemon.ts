// The daemon under measurement, started by bench/run.ts as a child process so that its CPU time and
// peak RSS are its own. It is the Daemon `otm run` builds from the same configuration file, with two
// differences the benchmark needs: no Docker observer (the simulator runs no containers at these
// sizes), and a full resync on request over the IPC channel instead of only on the cron schedule.
//
// Requests (process.send from the parent) and answers:
//   { type: 'status' }  -> { type: 'status', instances, settled, idle, phases }
//   { type: 'resync' }  -> { type: 'resync', ms, cpuMs }   (one shallow resync and the work it queued)
//   { type: 'usage' }   -> { type: 'usage', cpuMs, rssMb, peakRssMb, commandSeconds, commands }
//   { type: 'firstCommand', app, after } -> { type: 'firstCommand', at }: when the daemon handed the first
//     command naming `app` to its transport at or after `after` (epoch ms), or null
import { loadConfig } from '../src/config.js';
import { Daemon } from '../src/engine/daemon.js';
import { createLogger } from '../src/engine/logger.js';

export type Request = { type: 'status' } | { type: 'resync' } | { type: 'usage' } | { type: 'firstCommand'; app: string; after: number };
export type Answer =
  | { type: 'ready' }
  | { type: 'status'; instances: number; settled: number; idle: boolean; phases: Record<string, number> }
  | { type: 'resync'; ms: number; cpuMs: number }
  | { type: 'usage'; cpuMs: number; rssMb: number; peakRssMb: number; commandSeconds: number; commands: number }
  | { type: 'firstCommand'; at: number | null }
  | { type: 'error'; message: string };

const configPath = process.argv[2];
if (!configPath || !process.send) {
  process.stderr.write('usage: started by bench/run.ts with an IPC channel: node dist/bench/daemon.js <config.yaml>\n');
  process.exit(2);
}
const send = (answer: Answer) => process.send!(answer);

const cpuMs = () => {
  const usage = process.resourceUsage();
  return (usage.userCPUTime + usage.systemCPUTime) / 1000;
};

const { config } = await loadConfig({ path: configPath });
const daemon = new Daemon({ config, logger: createLogger({ level: config.log.level }), docker: 'off', deepResyncEvery: 1_000_000 });
await daemon.start();

// When each command left the daemon: the simulator's log only shows when its own process was running,
// which on a busy machine is long after the daemon started it.
const handedOut: Array<{ at: number; command: string }> = [];
for (const { driver } of daemon.hosts) {
  const run = driver.run.bind(driver);
  driver.run = (command, options) => {
    handedOut.push({ at: Date.now(), command: JSON.stringify(command) });
    if (handedOut.length > 2000) handedOut.splice(0, 1000);
    return run(command, options);
  };
}

/** No key waiting, delayed or being worked on. */
const idle = () => daemon.queue.len() === 0 && daemon.queue.delayedLen() === 0 && daemon.queue.longestRunningSeconds() === 0;

async function untilIdle(): Promise<void> {
  while (!idle()) await new Promise((resolve) => setTimeout(resolve, 5));
}

async function status(): Promise<Answer> {
  const statuses = await daemon.status.list();
  const phases: Record<string, number> = {};
  for (const s of statuses) phases[s.phase] = (phases[s.phase] ?? 0) + 1;
  const settled = statuses.filter((s) => s.phase === 'Running'
    && s.conditions.some((c) => c.type === 'Reconciling' && c.status === 'False')
    && s.conditions.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  return { type: 'status', instances: daemon.desired.instances().length, settled, idle: idle(), phases };
}

async function usage(): Promise<Answer> {
  const metric = await daemon.metrics.registry.getSingleMetric('otm_dokku_command_duration_seconds')?.get();
  // A histogram's values carry the series name (`_sum`, `_count`, `_bucket`) beside the labels.
  const values = (metric?.values ?? []) as Array<{ metricName?: string; value: number }>;
  const sum = (name: string) => values.filter((v) => v.metricName === name).reduce((n, v) => n + v.value, 0);
  const memory = process.memoryUsage();
  return {
    type: 'usage',
    cpuMs: cpuMs(),
    rssMb: memory.rss / 2 ** 20,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    commandSeconds: sum('otm_dokku_command_duration_seconds_sum'),
    commands: sum('otm_dokku_command_duration_seconds_count'),
  };
}

async function resync(): Promise<Answer> {
  await untilIdle();
  const started = performance.now();
  const cpu = cpuMs();
  await daemon.controller.resync(1_000_000);
  await untilIdle();
  return { type: 'resync', ms: performance.now() - started, cpuMs: cpuMs() - cpu };
}

function firstCommand(app: string, after: number): Answer {
  const quoted = JSON.stringify(app);
  const found = handedOut.find((c) => c.at >= after && c.command.includes(quoted));
  return { type: 'firstCommand', at: found?.at ?? null };
}

process.on('message', (request: Request) => {
  const handler = request.type === 'status' ? status
    : request.type === 'resync' ? resync
      : request.type === 'firstCommand' ? () => Promise.resolve(firstCommand(request.app, request.after))
        : usage;
  handler().then(send, (err: Error) => send({ type: 'error', message: err.message }));
});
process.once('SIGTERM', () => {
  daemon.stop(5_000).then(() => process.exit(0), () => process.exit(1));
});
send({ type: 'ready' });
