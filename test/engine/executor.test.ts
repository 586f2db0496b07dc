import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { render } from '../../src/reconcile/commands.js';
import type { DokkuCommand } from '../../src/reconcile/commands.js';
import { FakeClock } from '../../src/engine/clock.js';
import { Executor } from '../../src/engine/executor.js';
import type { CommandRunner } from '../../src/engine/executor.js';
import type { PlannedAction } from '../../src/reconcile/action.js';
import { TokenBucket } from '../../src/engine/token-bucket.js';

function action(command: DokkuCommand, extra: Partial<PlannedAction> = {}): PlannedAction {
  const r = render(command);
  return { command, reason: 'test', display: r.display, mutating: r.mutating, disruptive: r.disruptive, ...extra };
}

class DokkuLikeError extends Error {
  constructor(readonly kind: string, readonly retryable: boolean) {
    super(`dokku failed: ${kind}`);
  }
}

type Behaviour = (command: DokkuCommand, opts: { signal?: AbortSignal; outputFile?: string }) => Promise<void>;

/** A runner standing in for the driver: records what ran and behaves per command name. */
class ScriptedRunner implements CommandRunner {
  readonly ran: string[] = [];
  active = 0;
  maxActive = 0;
  constructor(private readonly behaviours: Record<string, Behaviour> = {}) {}
  async run(command: DokkuCommand, opts: { signal?: AbortSignal; outputFile?: string } = {}): Promise<unknown> {
    const name = render(command).name;
    this.ran.push(name);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await this.behaviours[name]?.(command, opts);
    } finally {
      this.active--;
    }
    return undefined;
  }
}

/** Resolves only when the signal aborts, then fails like a killed command. */
const hang: Behaviour = (_c, { signal }) => new Promise((_resolve, reject) => {
  signal?.addEventListener('abort', () => reject(new DokkuLikeError('Timeout', true)), { once: true });
});

const fail = (kind: string, retryable: boolean): Behaviour => async () => { throw new DokkuLikeError(kind, retryable); };

function setup(runner: CommandRunner, bucket = { ratePerSecond: 1000, burst: 1000 }, concurrency = 4) {
  const clock = new FakeClock();
  const executor = new Executor({ runner, bucket: new TokenBucket({ ...bucket, clock }), concurrency, clock });
  return { clock, executor };
}

const app = 'alice';
const create = action({ cmd: 'apps:create', app });
const link = action({ cmd: 'service:link', plugin: 'postgres', service: 'alice-db', app, restart: false });
const setConfig = action({ cmd: 'config:set', app, pairs: [{ key: 'OTREE_ADMIN_PASSWORD', value: 'pw' }], restart: false });
const restart = action({ cmd: 'ps:restart', app });

test('actions run in order and the first failure stops the list, with its kind and retryability', async () => {
  const runner = new ScriptedRunner({ 'config:set': fail('DeployLocked', true) });
  const { executor } = setup(runner);
  const report = await executor.execute([create, link, setConfig, restart]);
  assert.deepEqual(runner.ran, ['apps:create', 'postgres:link', 'config:set']);
  assert.deepEqual(report.outcomes.map((o) => [o.action.display, o.result]), [[create.display, 'applied'], [link.display, 'applied']]);
  assert.equal(report.failure?.index, 2);
  assert.equal(report.failure?.kind, 'DeployLocked');
  assert.equal(report.failure?.retryable, true);
  assert.equal(report.failure?.action, setConfig);
});

test('a terminal error is reported as not retryable, and an unclassified error as retryable', async () => {
  const terminal = await setup(new ScriptedRunner({ 'apps:create': fail('Usage', false) })).executor.execute([create]);
  assert.deepEqual([terminal.failure?.kind, terminal.failure?.retryable], ['Usage', false]);
  const odd = await setup(new ScriptedRunner({ 'apps:create': async () => { throw new TypeError('surprise'); } })).executor.execute([create]);
  assert.deepEqual([odd.failure?.kind, odd.failure?.retryable, odd.failure?.error.message], ['Unknown', true, 'surprise']);
});

test('refusals that mean "already done" count as done and the list goes on; others still fail', async () => {
  const runner = new ScriptedRunner({ 'apps:destroy': fail('AppMissing', false), 'postgres:link': fail('AlreadyLinked', false) });
  const report = await setup(runner).executor.execute([action({ cmd: 'apps:destroy', app: 'gone' }), link, setConfig]);
  assert.equal(report.failure, undefined);
  assert.deepEqual(report.outcomes.map((o) => o.result), ['already-done', 'already-done', 'applied']);
  const strict = await setup(new ScriptedRunner({ 'config:set': fail('AlreadyExists', false) })).executor.execute([setConfig, restart]);
  assert.equal(strict.failure?.kind, 'AlreadyExists', 'only the table\'s pairs are forgiven');
});

test('"already exists" from a create is a failure, not done: the object may be someone else\'s, and nothing after it runs', async () => {
  const creates: Array<[string, PlannedAction]> = [
    ['apps:create', create],
    ['postgres:create', action({ cmd: 'service:create', plugin: 'postgres', service: 'alice-pg' })],
    ['redis:create', action({ cmd: 'service:create', plugin: 'redis', service: 'alice-redis' })],
  ];
  for (const [name, createAction] of creates) {
    const runner = new ScriptedRunner({ [name]: fail('AlreadyExists', false) });
    const report = await setup(runner).executor.execute([createAction, link, setConfig]);
    assert.deepEqual([report.failure?.kind, report.failure?.retryable, report.failure?.index], ['AlreadyExists', false, 0], name);
    assert.deepEqual(report.outcomes, [], `${name}: not counted as done`);
    assert.deepEqual(runner.ran, [name], `${name}: nothing after it ran`);
  }
});

test('the around hook wraps each mutating action: it runs first, sees the outcome, may refuse or replace the error', async () => {
  const seen: string[] = [];
  const runner = new ScriptedRunner({ 'ps:restart': fail('DeployLocked', true) });
  const read = action({ cmd: 'apps:report', app, json: true });
  const report = await setup(runner).executor.execute([read, create, setConfig, restart], {
    around: async (a, run) => {
      seen.push(`before ${render(a.command).name}`);
      try {
        await run();
        seen.push(`ok ${render(a.command).name}`);
      } catch (err) {
        seen.push(`failed ${render(a.command).name} ${(err as { kind: string }).kind}`);
        throw Object.assign(new Error('replaced'), { kind: 'Replaced', retryable: false });
      }
    },
  });
  assert.deepEqual(seen, ['before apps:create', 'ok apps:create', 'before config:set', 'ok config:set', 'before ps:restart', 'failed ps:restart DeployLocked']);
  assert.deepEqual([report.failure?.kind, report.failure?.retryable, report.failure?.error.message], ['Replaced', false, 'replaced']);

  const refusing = new ScriptedRunner();
  const refused = await setup(refusing).executor.execute([create, setConfig], {
    around: async () => { throw Object.assign(new Error('claim not recorded'), { kind: 'ClaimFailed', retryable: true }); },
  });
  assert.deepEqual([refused.failure?.kind, refused.failure?.index], ['ClaimFailed', 0]);
  assert.deepEqual(refusing.ran, [], 'a refusing hook runs nothing');
});

test('a dry run returns the masked displays and runs nothing', async () => {
  const runner = new ScriptedRunner();
  const report = await setup(runner).executor.execute([create, setConfig], { dryRun: true });
  assert.deepEqual(runner.ran, []);
  assert.deepEqual(report.outcomes.map((o) => [o.action.display, o.result]), [[create.display, 'dry-run'], [setConfig.display, 'dry-run']]);
  assert.equal(report.outcomes[1]?.action.display.includes('pw'), false);
});

test('each mutating command takes a token; reads do not', async () => {
  const runner = new ScriptedRunner();
  const { clock, executor } = setup(runner, { ratePerSecond: 1, burst: 1 });
  const read = action({ cmd: 'apps:report', app, json: true });
  const done = executor.execute([create, read, read, link, restart]);
  for (let i = 0; i < 5; i++) await tick();
  assert.deepEqual(runner.ran, ['apps:create', 'apps:report', 'apps:report'], 'link waits for the next token');
  clock.advance(1000);
  for (let i = 0; i < 5; i++) await tick();
  assert.deepEqual(runner.ran.slice(3), ['postgres:link']);
  clock.advance(1000);
  const report = await done;
  assert.equal(report.failure, undefined);
  assert.equal(runner.ran.length, 5);
});

test('Dokku calls across instances respect the global concurrency limit', async () => {
  const releases: Array<() => void> = [];
  const runner = new ScriptedRunner({ 'ps:restart': () => new Promise<void>((resolve) => releases.push(resolve)) });
  const { executor } = setup(runner, undefined, 2);
  const runs = ['a', 'b', 'c', 'd', 'e'].map((name) => executor.execute([action({ cmd: 'ps:restart', app: name })]));
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(runner.active, 2);
  assert.equal(executor.inFlight(), 5);
  while (releases.length > 0 || runner.active > 0) {
    releases.shift()?.();
    await tick();
  }
  const reports = await Promise.all(runs);
  assert.ok(reports.every((r) => r.failure === undefined));
  assert.equal(runner.maxActive, 2);
  assert.equal(runner.ran.length, 5);
});

test('an export is verified and renamed into place before the destroy that needs it runs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'otm-executor-'));
  try {
    const file = join(dir, 'alice-db.dump');
    const runner = new ScriptedRunner({
      'postgres:export': async (_c, { outputFile }) => {
        assert.notEqual(outputFile, file, 'the runner writes a temp name, never the final one');
        await writeFile(outputFile as string, Buffer.concat([Buffer.from('PGDMP'), Buffer.alloc(64, 1)]));
      },
    });
    const exportDb = action({ cmd: 'postgres:export', service: 'alice-db' }, { outputFile: file });
    const destroy = action({ cmd: 'service:destroy', plugin: 'postgres', service: 'alice-db' }, { requires: 'verified-backup' });
    const report = await setup(runner).executor.execute([exportDb, destroy]);
    assert.equal(report.failure, undefined);
    assert.deepEqual(runner.ran, ['postgres:export', 'postgres:destroy']);
    assert.equal((await readFile(file)).subarray(0, 5).toString(), 'PGDMP');
    assert.deepEqual(await readdir(dir), ['alice-db.dump'], 'no temp file left');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an empty or foreign export stops the list, leaves no file that looks complete, and is retried', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'otm-executor-'));
  try {
    for (const content of [Buffer.alloc(0), Buffer.from('ERROR: pg_dump: connection refused\n')]) {
      const file = join(dir, 'alice-db.dump');
      const runner = new ScriptedRunner({ 'postgres:export': async (_c, { outputFile }) => { await writeFile(outputFile as string, content); } });
      const exportDb = action({ cmd: 'postgres:export', service: 'alice-db' }, { outputFile: file });
      const destroy = action({ cmd: 'service:destroy', plugin: 'postgres', service: 'alice-db' }, { requires: 'verified-backup' });
      const report = await setup(runner).executor.execute([exportDb, destroy]);
      assert.equal(report.failure?.kind, 'BackupInvalid');
      assert.equal(report.failure?.retryable, true);
      assert.match(report.failure?.error.message ?? '', /alice-db\.dump/);
      assert.deepEqual(runner.ran, ['postgres:export'], 'the destroy never ran');
      assert.deepEqual(await readdir(dir), [], 'neither the final file nor the temp file is left');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an action that needs a verified export refuses to run without one', async () => {
  const runner = new ScriptedRunner();
  const destroy = action({ cmd: 'service:destroy', plugin: 'postgres', service: 'alice-db' }, { requires: 'verified-backup' });
  const report = await setup(runner).executor.execute([destroy]);
  assert.deepEqual([report.failure?.kind, report.failure?.retryable], ['BackupMissing', false]);
  assert.deepEqual(runner.ran, []);
});

test('shutdown lets running commands finish within the grace period, then kills them; nothing new starts', async () => {
  const runner = new ScriptedRunner({ 'ps:rebuild': hang });
  const { clock, executor } = setup(runner, { ratePerSecond: 1, burst: 1 });
  const rebuilding = executor.execute([action({ cmd: 'ps:rebuild', app }), restart]);
  const waitingForToken = executor.execute([action({ cmd: 'ps:restart', app: 'bob' })]);
  for (let i = 0; i < 5; i++) await tick();
  assert.deepEqual(runner.ran, ['ps:rebuild']);
  let stopped = false;
  const stopping = executor.shutdown(30_000).then(() => { stopped = true; });
  const waited = await waitingForToken;
  assert.deepEqual([waited.failure?.kind, waited.failure?.retryable], ['ShuttingDown', true]);
  clock.advance(29_999);
  await tick();
  assert.equal(stopped, false, 'the rebuild still has time');
  clock.advance(1);
  await stopping;
  const report = await rebuilding;
  assert.deepEqual([report.failure?.kind, report.failure?.index], ['Timeout', 0]);
  const after = await executor.execute([create]);
  assert.equal(after.failure?.kind, 'ShuttingDown');
  assert.deepEqual(runner.ran, ['ps:rebuild'], 'neither the rest of the list nor later lists ran');
});

test('the caller\'s signal cancels one execution without touching others', async () => {
  const runner = new ScriptedRunner({ 'ps:rebuild': hang });
  const { executor } = setup(runner);
  const controller = new AbortController();
  const cancelled = executor.execute([action({ cmd: 'ps:rebuild', app }), restart], { signal: controller.signal });
  await tick();
  controller.abort(new Error('reconcile took too long'));
  const report = await cancelled;
  assert.equal(report.failure?.kind, 'Timeout');
  assert.equal((await executor.execute([create])).failure, undefined);
});

test('a guard that throws before a mutating command stops the list there; reads do not consult it', async () => {
  const runner = new ScriptedRunner();
  const { executor } = setup(runner);
  let leading = true;
  let checks = 0;
  const guard = (): void => {
    checks++;
    if (!leading) throw Object.assign(new Error('this replica lost the lease'), { kind: 'NotLeader', retryable: true });
  };
  const read = action({ cmd: 'apps:report', app, json: true });
  const first = await executor.execute([read, create], { guard });
  assert.equal(first.failure, undefined);
  assert.equal(checks, 1, 'only the mutating command asked');
  leading = false;
  const second = await executor.execute([read, link, restart], { guard });
  assert.deepEqual([second.failure?.kind, second.failure?.retryable, second.failure?.index], ['NotLeader', true, 1]);
  assert.deepEqual(runner.ran, ['apps:report', 'apps:create', 'apps:report'], 'nothing ran after the lease was lost');
});
