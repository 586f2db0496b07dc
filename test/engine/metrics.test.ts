import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register as globalRegistry } from 'prom-client';
import { FakeClock } from '../../src/engine/clock.js';
import { BoundedLabel, EngineMetrics } from '../../src/engine/metrics.js';
import { WorkQueue } from '../../src/engine/workqueue.js';

const NAMES = [
  'otm_reconcile_total', 'otm_reconcile_duration_seconds', 'otm_workqueue_depth', 'otm_workqueue_adds_total',
  'otm_workqueue_retries_total', 'otm_workqueue_queue_duration_seconds', 'otm_workqueue_work_duration_seconds',
  'otm_workqueue_longest_running_processor_seconds', 'otm_dokku_commands_total', 'otm_dokku_command_duration_seconds',
  'otm_instances', 'otm_drift_detected_total', 'otm_deferred_actions', 'otm_leader',
  'otm_last_full_resync_timestamp_seconds', 'otm_build_info',
];

/** The value of one sample line, e.g. `otm_leader 1`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('the exposition carries every metric, with HELP and TYPE, on a private registry', async () => {
  const metrics = new EngineMetrics({ version: '1.2.3' });
  const text = await metrics.exposition();
  for (const name of NAMES) {
    assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), `${name} has help`);
    assert.match(text, new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'), `${name} has a type`);
  }
  assert.ok(text.includes('otm_process_cpu_seconds_total'), 'process metrics carry the prefix too');
  assert.match(text, /^# TYPE otm_nodejs_active_handles gauge$/m);
  assert.doesNotMatch(text, /^# TYPE \S+_total gauge$/m, 'no gauge ends in _total');
  assert.equal(sample(text, 'otm_build_info{version="1.2.3"}'), 1);
  assert.equal(sample(text, 'otm_reconcile_total{result="deferred"}'), 0, 'every result is present from the start');
  assert.equal(sample(text, 'otm_instances{phase="Orphaned"}'), 0);
  assert.equal((await globalRegistry.metrics()).includes('otm_'), false, 'nothing leaks into the global registry');
  assert.match(metrics.contentType, /^text\/plain/);
});

test('recording through the typed methods moves the right series', async () => {
  const clock = new FakeClock();
  const metrics = new EngineMetrics({ version: 'test', processMetrics: false });
  const queue = new WorkQueue({ clock, hooks: metrics.workQueueHooks, backoff: { jitter: 0 } });
  metrics.watchWorkQueue(queue);
  queue.add('alice');
  queue.add('alice');
  queue.add('bob');
  clock.advance(2000);
  const key = await queue.get();
  clock.advance(7000);
  queue.addRateLimited('carol');
  metrics.reconcileFinished('success', 1.5);
  metrics.reconcileFinished('error', 0.2);
  metrics.reconcileFinished('error', 0.3);
  metrics.commandFinished('h1', 'postgres:link', 'ok', 2);
  metrics.commandFinished('h1', 'apps:create', 'DeployLocked', 1);
  metrics.watchInstances({ phases: () => ['Running', 'Running', 'Stopped'], deferredCount: () => 4 });
  metrics.driftDetected();
  metrics.setLeader(true);
  metrics.fullResyncSucceeded(1_700_000_000_000);
  const text = await metrics.exposition();
  assert.equal(sample(text, 'otm_workqueue_adds_total'), 2, 'the duplicate add of alice collapsed');
  assert.equal(sample(text, 'otm_workqueue_depth'), 1);
  assert.equal(sample(text, 'otm_workqueue_retries_total'), 1);
  assert.equal(sample(text, 'otm_workqueue_queue_duration_seconds_count'), 1);
  assert.equal(sample(text, 'otm_workqueue_queue_duration_seconds_sum'), 2);
  assert.equal(sample(text, 'otm_workqueue_longest_running_processor_seconds'), 7);
  queue.done(key as string);
  assert.equal(sample(await metrics.exposition(), 'otm_workqueue_work_duration_seconds_sum'), 7);
  assert.equal(sample(text, 'otm_reconcile_total{result="error"}'), 2);
  assert.equal(sample(text, 'otm_reconcile_duration_seconds_count'), 3);
  assert.equal(sample(text, 'otm_dokku_commands_total{host="h1",command="apps:create",outcome="DeployLocked"}'), 1);
  assert.equal(sample(text, 'otm_dokku_commands_total{host="h1",command="postgres:link",outcome="success"}'), 1);
  assert.equal(sample(text, 'otm_dokku_command_duration_seconds_sum{host="h1",command="postgres:link"}'), 2);
  assert.equal(sample(text, 'otm_instances{phase="Running"}'), 2);
  assert.equal(sample(text, 'otm_instances{phase="Pending"}'), 0);
  assert.equal(sample(text, 'otm_drift_detected_total'), 1);
  assert.equal(sample(text, 'otm_deferred_actions'), 4);
  assert.equal(sample(text, 'otm_leader'), 1);
  assert.equal(sample(text, 'otm_last_full_resync_timestamp_seconds'), 1_700_000_000);
});

test('label values stay bounded: odd values and overflow collapse into "other"', async () => {
  const metrics = new EngineMetrics({ version: 'test', processMetrics: false });
  const secret = 'postgres://postgres:hunter2@db:5432/x';
  metrics.commandFinished('h1', 'config:set', `failed: ${secret}`, 1);
  metrics.commandFinished('h1', secret, 'Transport', 1);
  for (let i = 0; i < 1000; i++) metrics.commandFinished('h1', `cmd-${i}`, `kind-${i}`, 0.1);
  const text = await metrics.exposition();
  assert.equal(text.includes('hunter2'), false, 'no message or secret reaches a label');
  const series = text.split('\n').filter((l) => l.startsWith('otm_dokku_commands_total{'));
  const commands = new Set(series.map((l) => /command="([^"]*)"/.exec(l)?.[1]));
  const outcomes = new Set(series.map((l) => /outcome="([^"]*)"/.exec(l)?.[1]));
  assert.ok(commands.size <= 101, `commands bounded, got ${commands.size}`);
  assert.ok(outcomes.size <= 31, `outcomes bounded, got ${outcomes.size}`);
  assert.ok(commands.has('other') && outcomes.has('other'));
  assert.equal(sample(text, 'otm_dokku_commands_total{host="h1",command="config:set",outcome="other"}'), 1);
});

test('BoundedLabel keeps values it has already admitted after the limit is reached', () => {
  const label = new BoundedLabel(2, /^[a-z]+$/);
  assert.deepEqual(['a', 'b', 'c', 'a', 'B'].map((v) => label.value(v)), ['a', 'b', 'other', 'a', 'other']);
});
