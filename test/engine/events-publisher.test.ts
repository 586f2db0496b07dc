// The events channel against the shared Redis (a channel of this test's own) and a real PostgreSQL status
// store: what a subscriber receives for each status change, event and removal, and that an unreachable
// Redis neither fails the store nor loses what was stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { PgStatusStore } from '../../src/engine/status-pg.js';
import type { InstanceEvent, InstanceStatus } from '../../src/engine/status.js';
import { FakeClock } from '../../src/engine/clock.js';
import { NoopEventsPublisher, PublishingStatusStore, createEventsPublisher } from '../../src/engine/events-publisher.js';
import type { EventsMessage } from '../../src/engine/events-publisher.js';
import { useMigratedDatabase } from '../store/database.js';
import { REDIS_URL, waitFor } from '../support/services.js';

const db = useMigratedDatabase();
const silent = pino({ level: 'silent' });

const running: InstanceStatus = {
  name: 'alice-pgg',
  host: 'lab',
  phase: 'Running',
  observedGeneration: 2,
  conditions: [{ type: 'Ready', status: 'True', reason: 'InSync', message: 'web 1/1 running', lastTransitionTime: '2026-11-25T10:00:00.000Z' }],
  urls: ['https://alice-pgg.lab.example.org'],
  deferred: [],
  done: { resetDatabase: 0, restart: 0 },
  updatedAt: '2026-11-25T10:00:01.000Z',
};

const deployed: InstanceEvent = { instance: 'alice-pgg', at: '2026-11-25T10:00:02.000Z', type: 'Normal', reason: 'Deployed', message: 'image otm-standin/otree:1 deployed' };

test('each status change, event and removal reaches a subscriber as one JSON message, after it is stored', async (t) => {
  const channel = `otm-test:events:${randomBytes(6).toString('hex')}`;
  const subscriber = new Redis(REDIS_URL);
  const received: EventsMessage[] = [];
  subscriber.on('message', (ch: string, text: string) => { if (ch === channel) received.push(JSON.parse(text) as EventsMessage); });
  await subscriber.subscribe(channel);
  const clock = new FakeClock(Date.parse('2026-11-25T10:05:00.000Z'));
  const publisher = createEventsPublisher({ redisUrl: REDIS_URL, channel, log: silent });
  const store = new PublishingStatusStore(new PgStatusStore(db.pool), publisher, clock);
  t.after(async () => {
    // The store's pool belongs to the test database: close only the connections made here.
    await publisher.close();
    subscriber.disconnect();
  });

  // The publisher's connection may still be opening (a put is stored regardless): warm up with another instance.
  await waitFor('the publisher to reach a subscriber', async () => {
    await store.put({ ...running, name: 'warm-up' });
    return received.length > 0 ? true : undefined;
  });
  await store.put({ ...running, phase: 'Deploying', updatedAt: '2026-11-25T10:00:03.000Z' });
  await store.record(deployed);
  assert.deepEqual(await store.events('alice-pgg'), [deployed], 'the event is stored as well as published');
  await store.remove('alice-pgg');
  const forAlice = () => received.filter((m) => m.instance === 'alice-pgg');
  await waitFor('three messages', () => (forAlice().length >= 3 ? true : undefined));

  assert.deepEqual(forAlice(), [
    { v: 1, type: 'status', instance: 'alice-pgg', at: '2026-11-25T10:00:03.000Z', status: { ...running, phase: 'Deploying', updatedAt: '2026-11-25T10:00:03.000Z' } },
    { v: 1, type: 'event', instance: 'alice-pgg', at: deployed.at, event: deployed },
    { v: 1, type: 'removed', instance: 'alice-pgg', at: '2026-11-25T10:05:00.000Z' },
  ]);
  assert.equal(await store.get('alice-pgg'), undefined);
});

test('with Redis unreachable the store still stores, and without Redis nothing is published', async () => {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  const unreachable = createEventsPublisher({ redisUrl: 'redis://127.0.0.1:1', log });
  const store = new PublishingStatusStore(new PgStatusStore(db.pool), unreachable);
  await store.put({ ...running, name: 'bob-trust' });
  await store.put({ ...running, name: 'bob-trust', phase: 'Stopped' });
  assert.equal((await store.get('bob-trust'))?.phase, 'Stopped');
  const warnings = lines.map((l) => JSON.parse(l) as { msg: string }).filter((l) => /publishing failed/.test(l.msg));
  assert.equal(warnings.length, 1, 'one warning per outage, not one per message');
  await unreachable.close();

  const noop = createEventsPublisher({ log: silent });
  assert.ok(noop instanceof NoopEventsPublisher);
  await new PublishingStatusStore(new PgStatusStore(db.pool), noop).record({ ...deployed, instance: 'bob-trust' });
  assert.equal((await store.events('bob-trust')).length, 1);
});
