import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PgStatusStore } from '../../src/engine/status-pg.js';
import type { InstanceEvent, InstanceStatus } from '../../src/engine/status.js';
import { useMigratedDatabase } from './database.js';
import { waitFor } from '../support/services.js';

const db = useMigratedDatabase();

function status(name: string, overrides: Partial<InstanceStatus> = {}): InstanceStatus {
  return {
    name,
    host: 'lab',
    phase: 'Running',
    observedGeneration: 3,
    conditions: [{ type: 'Ready', status: 'True', reason: 'InSync', message: 'all processes run', lastTransitionTime: '2026-11-25T10:00:00.000Z' }],
    urls: [`https://${name}.lab.example.org`],
    deferred: [{ action: `dokku ps:restart ${name}`, reason: 'FreezeWindow', until: '2026-11-25T12:00:00.000Z' }],
    done: { resetDatabase: 1, restart: 2 },
    lastSyncedAt: '2026-11-25T10:00:00.000Z',
    updatedAt: '2026-11-25T10:00:01.000Z',
    ...overrides,
  };
}

test('put then get returns the same status, and a second put replaces it', async () => {
  const store = new PgStatusStore(db.pool);
  const first = status('alice-pgg');
  await store.put(first);
  assert.deepEqual(await store.get('alice-pgg'), first);

  const failed = status('alice-pgg', {
    phase: 'Failed',
    observedGeneration: 4,
    lastError: { message: 'dokku apps:create failed: exit 1', code: 'DOKKU_COMMAND_FAILED', at: '2026-11-25T10:05:00.000Z' },
    deferred: [],
    done: { resetDatabase: 2, restart: 2 },
    updatedAt: '2026-11-25T10:05:00.000Z',
  });
  await store.put(failed);
  assert.deepEqual(await store.get('alice-pgg'), failed);
  assert.equal(await store.get('nobody'), undefined);
});

test('list returns every status by name; remove deletes status and events', async () => {
  const store = new PgStatusStore(db.pool);
  await store.put(status('bob-trust'));
  await store.put(status('carol-ultimatum', { lastSyncedAt: undefined }));
  await store.record({ instance: 'bob-trust', at: '2026-11-25T10:00:00.000Z', type: 'Normal', reason: 'Created', message: 'app created' });
  const names = (await store.list()).map((s) => s.name);
  assert.deepEqual(names.filter((n) => n !== 'alice-pgg'), ['bob-trust', 'carol-ultimatum']);
  assert.equal((await store.get('carol-ultimatum'))?.lastSyncedAt, undefined);

  await store.remove('bob-trust');
  assert.equal(await store.get('bob-trust'), undefined);
  assert.deepEqual(await store.events('bob-trust'), []);
});

test('events come back newest first and only the newest N per instance are kept', async () => {
  const store = new PgStatusStore(db.pool, { eventsPerInstance: 5 });
  const event = (instance: string, i: number): InstanceEvent => ({
    instance, at: `2026-11-25T10:00:${String(i).padStart(2, '0')}.000Z`, type: i % 2 ? 'Warning' : 'Normal', reason: `Step${i}`, message: `step ${i}`,
  });
  for (let i = 0; i < 12; i++) await store.record(event('dave-market', i));
  await store.record(event('erin-auction', 0));

  const kept = await store.events('dave-market');
  assert.deepEqual(kept, [11, 10, 9, 8, 7].map((i) => event('dave-market', i)));
  assert.deepEqual(await store.events('dave-market', 2), [11, 10].map((i) => event('dave-market', i)));
  const { rows } = await db.pool.query<{ n: string }>("SELECT count(*) AS n FROM otm.instance_events WHERE instance = 'dave-market'");
  assert.equal(rows[0]?.n, '5');
  assert.deepEqual(await store.events('erin-auction'), [event('erin-auction', 0)]);
  assert.throws(() => new PgStatusStore(db.pool, { eventsPerInstance: 0 }), /eventsPerInstance must be an integer from 1 up, got 0/);
});

test('a status write notifies otm_status with the instance name', async () => {
  const store = new PgStatusStore(db.pool);
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  const heard: string[] = [];
  listener.on('notification', (m) => heard.push(`${m.channel}:${m.payload}`));
  await listener.query('LISTEN otm_status');
  try {
    await store.put(status('frank-lab'));
    await waitFor('otm_status notification', () => (heard.includes('otm_status:frank-lab') ? true : undefined));
  } finally {
    await listener.end();
  }
});

test('claims: one per object on a host, replaced by a later state, dropped one by one and with the instance', async () => {
  const store = new PgStatusStore(db.pool);
  const at = '2026-11-25T10:00:00.000Z';
  await store.putClaim({ instance: 'dave-claims', host: 'lab', kind: 'app', object: 'dave-claims', state: 'creating', at });
  await store.putClaim({ instance: 'dave-claims', host: 'lab', kind: 'postgres', object: 'dave-claims-pg', state: 'creating', at });
  await store.putClaim({ instance: 'dave-claims', host: 'lab', kind: 'app', object: 'dave-claims', state: 'created', at: '2026-11-25T10:00:05.000Z' });
  assert.deepEqual(await store.claims('dave-claims'), [
    { instance: 'dave-claims', host: 'lab', kind: 'app', object: 'dave-claims', state: 'created', at: '2026-11-25T10:00:05.000Z' },
    { instance: 'dave-claims', host: 'lab', kind: 'postgres', object: 'dave-claims-pg', state: 'creating', at },
  ]);
  await store.dropClaim({ instance: 'dave-claims', host: 'lab', kind: 'app', object: 'dave-claims' });
  assert.deepEqual((await store.claims('dave-claims')).map((c) => c.object), ['dave-claims-pg']);
  await store.put(status('dave-claims'));
  await store.remove('dave-claims');
  assert.deepEqual(await store.claims('dave-claims'), []);

  await store.putClaim({ instance: 'erin-claims', host: 'lab', kind: 'redis', object: 'erin-claims-redis', state: 'created', at });
  await store.dropClaims('erin-claims');
  assert.deepEqual(await store.claims('erin-claims'), []);
});
