// Live updates for web UIs: every status change and every event is published as one JSON message on a
// Redis channel (`otm:events` by default). Publishing is best effort: the status store stays the record,
// and a UI that was disconnected reloads from the API and then follows the channel again. Without Redis
// the publisher does nothing. Messages carry only the status model, which holds no secrets (command lines
// in it are already masked).
import type { Redis } from 'ioredis';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import type { Logger } from './logger.js';
import { loadOptional } from './leader.js';
import type { Claim, ClaimRef, InstanceEvent, InstanceStatus, StatusStore } from './status.js';

export const EVENTS_CHANNEL = 'otm:events';

/** Bumped when a message changes incompatibly; subscribers ignore versions they do not know. */
export const EVENTS_MESSAGE_VERSION = 1;

/** One message on the channel, JSON-encoded. `at` is RFC 3339. */
export type EventsMessage =
  /** The instance's whole status after a change; `at` is its `updatedAt`. */
  | { v: 1; type: 'status'; instance: string; at: string; status: InstanceStatus }
  /** An event recorded for the instance; `at` is the event's time. */
  | { v: 1; type: 'event'; instance: string; at: string; event: InstanceEvent }
  /** The instance's status was removed (the instance is gone); `at` is when. */
  | { v: 1; type: 'removed'; instance: string; at: string };

export interface EventsPublisher {
  /** Never rejects: a failed publish is logged, the caller's work goes on. */
  publish(message: EventsMessage): Promise<void>;
  close(): Promise<void>;
}

/** Without Redis there is no channel; status is still served by the API. */
export class NoopEventsPublisher implements EventsPublisher {
  async publish(): Promise<void> {}
  async close(): Promise<void> {}
}

export interface RedisEventsPublisherOptions {
  redis: Redis;
  /** Disconnect `redis` on close (it was made for this publisher). @default false */
  ownsClient?: boolean;
  /** @default EVENTS_CHANNEL */
  channel?: string;
  log: Logger;
}

export class RedisEventsPublisher implements EventsPublisher {
  private readonly redis: Redis;
  private readonly ownsClient: boolean;
  private readonly channel: string;
  private readonly log: Logger;
  private failing = false;

  constructor(options: RedisEventsPublisherOptions) {
    this.redis = options.redis;
    this.ownsClient = options.ownsClient ?? false;
    this.channel = options.channel ?? EVENTS_CHANNEL;
    this.log = options.log;
  }

  async publish(message: EventsMessage): Promise<void> {
    try {
      await this.redis.publish(this.channel, JSON.stringify(message));
      if (this.failing) this.log.info({ channel: this.channel }, 'events channel: publishing again');
      this.failing = false;
    } catch (err) {
      // Once per outage: the store has the data, subscribers catch up from the API.
      if (!this.failing) this.log.warn({ channel: this.channel, err: (err as Error).message }, 'events channel: publishing failed; live updates pause until Redis answers');
      this.failing = true;
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.redis.disconnect();
  }
}

export function createEventsPublisher(config: { redisUrl?: string; channel?: string; log: Logger }): EventsPublisher {
  if (!config.redisUrl) return new NoopEventsPublisher();
  // No offline queue: while Redis is away a publish fails at once instead of piling up stale updates.
  const redis = new (loadOptional<{ Redis: typeof Redis }>('ioredis').Redis)(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', (err: Error) => config.log.debug({ err: err.message }, 'events channel: Redis connection error'));
  return new RedisEventsPublisher({ redis, ownsClient: true, channel: config.channel, log: config.log });
}

/**
 * A status store that publishes each change after storing it, so every writer of status (the controller,
 * the CLI) reaches subscribers without knowing about the channel.
 */
export class PublishingStatusStore implements StatusStore {
  constructor(
    private readonly store: StatusStore,
    private readonly publisher: EventsPublisher,
    private readonly clock: Clock = systemClock,
  ) {}

  get(name: string): Promise<InstanceStatus | undefined> {
    return this.store.get(name);
  }

  list(): Promise<InstanceStatus[]> {
    return this.store.list();
  }

  async put(status: InstanceStatus): Promise<void> {
    await this.store.put(status);
    await this.publisher.publish({ v: EVENTS_MESSAGE_VERSION, type: 'status', instance: status.name, at: status.updatedAt, status });
  }

  async remove(name: string): Promise<void> {
    await this.store.remove(name);
    await this.publisher.publish({ v: EVENTS_MESSAGE_VERSION, type: 'removed', instance: name, at: new Date(this.clock.now()).toISOString() });
  }

  async record(event: InstanceEvent): Promise<void> {
    await this.store.record(event);
    await this.publisher.publish({ v: EVENTS_MESSAGE_VERSION, type: 'event', instance: event.instance, at: event.at, event });
  }

  events(name: string, limit?: number): Promise<InstanceEvent[]> {
    return this.store.events(name, limit);
  }

  claims(instance: string): Promise<Claim[]> {
    return this.store.claims(instance);
  }

  putClaim(claim: Claim): Promise<void> {
    return this.store.putClaim(claim);
  }

  dropClaim(ref: ClaimRef): Promise<void> {
    return this.store.dropClaim(ref);
  }

  dropClaims(instance: string): Promise<void> {
    return this.store.dropClaims(instance);
  }

  async close(): Promise<void> {
    await this.store.close();
    await this.publisher.close();
  }
}
