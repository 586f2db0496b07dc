import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStatusStore, STATE_FILE_NAME, StateFileError } from '../../src/engine/status-file.js';
import type { InstanceEvent, InstanceStatus } from '../../src/engine/status.js';

function status(name: string, overrides: Partial<InstanceStatus> = {}): InstanceStatus {
  return {
    name,
    host: 'default',
    phase: 'Running',
    observedGeneration: 3,
    conditions: [{ type: 'Ready', status: 'True', reason: 'Synced', message: 'in sync', lastTransitionTime: '2026-01-01T00:00:00.000Z' }],
    urls: [`http://${name}.lab.example.org`],
    deferred: [],
    done: { resetDatabase: 1, restart: 0 },
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

function event(instance: string, n: number): InstanceEvent {
  return { instance, at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(), type: 'Normal', reason: 'Reconciled', message: `event ${n}` };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'otm-status-file-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('status and events survive a reopen; reads are copies', () => withDir(async (dir) => {
  const store = await FileStatusStore.open(join(dir, 'state'));
  await store.put(status('bob'));
  await store.put(status('alice', { phase: 'Deploying', lastError: { message: 'boom', code: 'DeployLocked', at: '2026-01-01T00:00:00.000Z' } }));
  await store.record(event('alice', 1));
  const copy = await store.get('alice');
  (copy as InstanceStatus).phase = 'Failed';
  await store.close();
  await assert.rejects(store.get('alice'), /closed/);

  const reopened = await FileStatusStore.open(join(dir, 'state'));
  assert.equal((await reopened.get('alice'))?.phase, 'Deploying');
  assert.equal((await reopened.get('alice'))?.lastError?.code, 'DeployLocked');
  assert.deepEqual((await reopened.list()).map((s) => s.name), ['alice', 'bob']);
  assert.deepEqual(await reopened.events('alice'), [event('alice', 1)]);
  await reopened.remove('alice');
  assert.equal(await reopened.get('alice'), undefined);
  assert.deepEqual(await reopened.events('alice'), []);
  await reopened.close();
  assert.deepEqual((await (await FileStatusStore.open(join(dir, 'state'))).list()).map((s) => s.name), ['bob']);
}));

test('event history is bounded per instance and read newest first', () => withDir(async (dir) => {
  const store = await FileStatusStore.open(dir, { eventsPerInstance: 50 });
  for (let n = 0; n < 60; n++) await store.record(event('alice', n));
  await store.record(event('bob', 0));
  const history = await store.events('alice');
  assert.equal(history.length, 50);
  assert.equal(history[0]?.message, 'event 59');
  assert.equal(history[49]?.message, 'event 10');
  assert.deepEqual((await store.events('alice', 2)).map((e) => e.message), ['event 59', 'event 58']);
  await store.close();
  const onDisk = JSON.parse(await readFile(join(dir, STATE_FILE_NAME), 'utf8')) as { events: Record<string, unknown[]> };
  assert.equal(onDisk.events.alice?.length, 50);
}));

test('concurrent changes are all written, and a reader never sees a partial file', () => withDir(async (dir) => {
  const store = await FileStatusStore.open(dir);
  const path = join(dir, STATE_FILE_NAME);
  let writing = true;
  let reads = 0;
  const reader = (async () => {
    while (writing || reads === 0) {
      try {
        JSON.parse(await readFile(path, 'utf8'));
        reads++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  })();
  // Ten batches of twenty concurrent changes: each batch coalesces into few writes, the batches into many.
  for (let batch = 0; batch < 10; batch++) {
    await Promise.all(Array.from({ length: 20 }, (_, j) => {
      const i = batch * 20 + j;
      return i % 2 ? store.put(status(`i${i}`)) : store.record(event(`i${i}`, i));
    }));
  }
  writing = false;
  await reader;
  assert.ok(reads > 0);
  await store.close();
  const reopened = await FileStatusStore.open(dir);
  assert.equal((await reopened.list()).length, 100);
  assert.equal((await reopened.events('i100')).length, 1);
  assert.deepEqual((await readdir(dir)).sort(), [STATE_FILE_NAME, `${STATE_FILE_NAME}.bak`], 'the backup and no temp file');
}));

test('a garbage temp file from a crash mid-write neither breaks loading nor stays behind', () => withDir(async (dir) => {
  const store = await FileStatusStore.open(dir);
  await store.put(status('alice'));
  await store.close();
  const leftover = join(dir, `.${STATE_FILE_NAME}.tmp-0123456789ab`);
  await writeFile(leftover, '{"version":1,"instances":{"alice":{"na');
  const reopened = await FileStatusStore.open(dir);
  assert.equal((await reopened.get('alice'))?.done.resetDatabase, 1);
  assert.equal((await readdir(dir)).includes(`.${STATE_FILE_NAME}.tmp-0123456789ab`), false);
}));

test('a damaged state file stops loading with an error naming the file and the backup, and what to do', () => withDir(async (dir) => {
  const store = await FileStatusStore.open(dir);
  await store.put(status('alice'));
  await store.put(status('alice', { phase: 'Stopped' }));
  await store.close();
  const path = join(dir, STATE_FILE_NAME);
  await writeFile(path, '{"version":1,"instan');
  await assert.rejects(FileStatusStore.open(dir), (err: Error) => {
    assert.ok(err instanceof StateFileError);
    assert.ok(err.message.includes(path), err.message);
    assert.ok(err.message.includes(`${path}.bak`), err.message);
    assert.match(err.message, /copy it over/);
    return true;
  });
  // Following the advice: the backup holds the version before the last write.
  await writeFile(path, await readFile(`${path}.bak`));
  assert.equal((await (await FileStatusStore.open(dir)).get('alice'))?.phase, 'Running');
  await writeFile(path, JSON.stringify({ version: 7, instances: {}, events: {} }));
  await assert.rejects(FileStatusStore.open(dir), /format version 7/);
}));

test('claims: recorded per object, replaced by a later state, dropped one by one, with the instance, and kept across a reopen', () => withDir(async (dir) => {
  const stateDir = join(dir, 'state');
  const store = await FileStatusStore.open(stateDir);
  const at = '2026-01-01T00:00:00.000Z';
  await store.putClaim({ instance: 'alice', host: 'lab', kind: 'app', object: 'alice', state: 'creating', at });
  await store.putClaim({ instance: 'alice', host: 'lab', kind: 'postgres', object: 'alice-pg', state: 'creating', at });
  await store.putClaim({ instance: 'alice', host: 'lab', kind: 'app', object: 'alice', state: 'created', at });
  await store.putClaim({ instance: 'bob', host: 'lab', kind: 'app', object: 'bob', state: 'created', at });
  await store.close();

  const reopened = await FileStatusStore.open(stateDir);
  const sorted = async (name: string) => (await reopened.claims(name)).map((c) => `${c.kind}/${c.object}=${c.state}`).sort();
  assert.deepEqual(await sorted('alice'), ['app/alice=created', 'postgres/alice-pg=creating']);
  await reopened.dropClaim({ instance: 'alice', host: 'lab', kind: 'postgres', object: 'alice-pg' });
  assert.deepEqual(await sorted('alice'), ['app/alice=created']);
  await reopened.dropClaims('alice');
  assert.deepEqual(await sorted('alice'), []);
  await reopened.put(status('bob'));
  await reopened.remove('bob');
  assert.deepEqual(await sorted('bob'), []);
  await reopened.close();
}));

test('a status file written before claims existed opens with none', () => withDir(async (dir) => {
  await writeFile(join(dir, STATE_FILE_NAME), JSON.stringify({ version: 1, instances: { bob: status('bob') }, events: {} }));
  const store = await FileStatusStore.open(dir);
  assert.deepEqual(await store.claims('bob'), []);
  assert.equal((await store.get('bob'))?.name, 'bob');
  await store.close();
}));

test('opened read-only: reads what is there, refuses every write, and leaves the directory as it was', () => withDir(async (dir) => {
  const missing = await FileStatusStore.openReadOnly(join(dir, 'absent'));
  assert.deepEqual(await missing.list(), []);
  await assert.rejects(readdir(join(dir, 'absent')), { code: 'ENOENT' });

  const writer = await FileStatusStore.open(dir);
  await writer.put(status('bob'));
  await writer.putClaim({ instance: 'bob', host: 'lab', kind: 'app', object: 'bob', state: 'created', at: '2026-01-01T00:00:00.000Z' });
  await writer.close();
  await writeFile(join(dir, `.${STATE_FILE_NAME}.tmp-1`), 'partial');
  const before = await readFile(join(dir, STATE_FILE_NAME));
  const listing = (await readdir(dir)).sort();

  const reader = await FileStatusStore.openReadOnly(dir);
  assert.deepEqual((await reader.list()).map((s) => s.name), ['bob']);
  assert.deepEqual((await reader.claims('bob')).map((c) => c.state), ['created']);
  await assert.rejects(reader.put(status('carol')), /opened read-only/);
  await assert.rejects(reader.dropClaims('bob'), /opened read-only/);
  await assert.rejects(reader.record(event('bob', 1)), /opened read-only/);
  await reader.close();
  assert.deepEqual(await readFile(join(dir, STATE_FILE_NAME)), before);
  assert.deepEqual((await readdir(dir)).sort(), listing);
}));
