// The Docker observer: what the containers Dokku runs are really doing. Dokku labels every container it
// deploys (`com.dokku.app-name`, `com.dokku.process-type`, `com.dokku.dyno`, `com.dokku.container-type`),
// so one filtered list finds them all; an inspect per container adds what only inspect knows (restart
// count, exit code, health, the environment). The event subscription only says which app changed: the
// engine then observes that app afresh, so a lost or repeated event costs nothing but a relist.
import Docker from 'dockerode';
import type { Logger } from 'pino';
import type { ObservedContainer } from './types.js';
import { ExponentialBackoff, type BackoffOptions } from '../engine/backoff.js';
import { systemClock, type Clock } from '../engine/clock.js';

export const DOKKU_LABELS = {
  app: 'com.dokku.app-name',
  processType: 'com.dokku.process-type',
  containerType: 'com.dokku.container-type',
  dyno: 'com.dokku.dyno',
} as const;

/** The container actions that can change what an app looks like. */
export const WATCHED_ACTIONS = ['start', 'restart', 'die', 'oom', 'health_status', 'pause', 'unpause', 'destroy'] as const;

export interface ContainerEvent {
  app: string;
  /** The Docker action, e.g. `die`, or `health_status: healthy`. */
  action: string;
  containerId: string;
  processType?: string;
  dyno?: string;
  /** Present on `die`. */
  exitCode?: number;
  /** Seconds since the epoch, as the Engine stamped the event. */
  time: number;
}

export interface SubscribeHooks {
  /** The stream came back after a break: events may have been missed, so relist everything. */
  onReconnect?: () => void;
  /** The stream broke or could not be opened; the observer retries after `retryInMs`. */
  onDisconnect?: (err: Error | undefined, retryInMs: number) => void;
}

export interface Subscription {
  /** Resolves once the first event stream is open (events from then on are delivered). */
  readonly ready: Promise<void>;
  /** Closes the stream and stops reconnecting; resolves when nothing is left running. */
  stop(): Promise<void>;
}

export interface DockerObserverOptions {
  /** @default a client for `DOCKER_HOST` or `/var/run/docker.sock` */
  docker?: Docker;
  logger?: Logger;
  /** Extra labels every observed container must carry (e.g. to share an Engine with other tools). */
  labelFilter?: Record<string, string>;
  /** How long to wait between attempts to reopen the event stream. @default 250 ms doubling up to 15 s */
  reconnectBackoff?: BackoffOptions;
  clock?: Clock;
  /** Containers inspected at once while listing. @default 8 */
  inspectConcurrency?: number;
}

const CONTAINER_STATES: ReadonlySet<ObservedContainer['state']> = new Set(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']);
const HEALTH_STATES: ReadonlySet<string> = new Set(['starting', 'healthy', 'unhealthy']);
/** Docker's zero time: the container was never started. */
const NEVER = '0001-01-01T00:00:00Z';

/** Turns `KEY=VALUE` lines into a record; a line without `=` is a key with an empty value, as Docker treats it. */
export function parseEnv(lines: readonly string[] | null | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of lines ?? []) {
    const eq = line.indexOf('=');
    if (eq === -1) env[line] = '';
    else env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

/** The normalised view of one `docker container inspect` answer, or undefined when Dokku did not label it. */
export function toObservedContainer(info: Docker.ContainerInspectInfo): ObservedContainer | undefined {
  const labels = info.Config.Labels ?? {};
  const app = labels[DOKKU_LABELS.app];
  if (!app) return undefined;
  const state = CONTAINER_STATES.has(info.State.Status as ObservedContainer['state']) ? (info.State.Status as ObservedContainer['state']) : 'dead';
  const health = info.State.Health?.Status;
  const processType = labels[DOKKU_LABELS.processType] ?? '';
  const container: ObservedContainer = {
    id: info.Id,
    app,
    processType,
    dyno: labels[DOKKU_LABELS.dyno] ?? processType,
    state,
    restartCount: info.RestartCount,
    exitCode: info.State.ExitCode,
    oomKilled: info.State.OOMKilled,
    env: parseEnv(info.Config.Env),
  };
  if (health && HEALTH_STATES.has(health)) container.health = health as NonNullable<ObservedContainer['health']>;
  if (info.State.StartedAt && info.State.StartedAt !== NEVER) container.startedAt = info.State.StartedAt;
  return container;
}

interface RawEvent {
  Type?: string;
  Action?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
}

/** The app event carried by one decoded Engine event, or undefined when it is not about a Dokku container. */
export function toContainerEvent(raw: RawEvent): ContainerEvent | undefined {
  const attributes = raw.Actor?.Attributes ?? {};
  const app = attributes[DOKKU_LABELS.app];
  if (raw.Type !== 'container' || !app || !raw.Action) return undefined;
  const event: ContainerEvent = {
    app,
    action: raw.Action,
    containerId: raw.Actor?.ID ?? raw.id ?? '',
    time: raw.time ?? 0,
  };
  const processType = attributes[DOKKU_LABELS.processType];
  const dyno = attributes[DOKKU_LABELS.dyno];
  if (processType) event.processType = processType;
  if (dyno) event.dyno = dyno;
  if (attributes.exitCode !== undefined && /^-?\d+$/.test(attributes.exitCode)) event.exitCode = Number(attributes.exitCode);
  return event;
}

/**
 * Splits a byte stream into newline-terminated JSON documents. Chunks may end anywhere (inside a line,
 * inside a multi-byte character), so the unfinished tail waits for the next chunk.
 */
export class JsonLineDecoder {
  private readonly text = new TextDecoder();
  private pending = '';

  /** The documents completed by `chunk`; lines that are not JSON objects are passed to `onInvalid`. */
  push(chunk: Uint8Array | string, onInvalid: (line: string, err: Error) => void): unknown[] {
    this.pending += typeof chunk === 'string' ? chunk : this.text.decode(chunk, { stream: true });
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    const documents: unknown[] = [];
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        documents.push(JSON.parse(line));
      } catch (err) {
        onInvalid(line, err as Error);
      }
    }
    return documents;
  }
}

/** Runs `work` over `items` with at most `limit` calls in flight, keeping the order of `items`. */
async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number }).statusCode === 404;
}

export class DockerObserver {
  private readonly docker: Docker;
  private readonly logger: Logger | undefined;
  private readonly labels: string[];
  private readonly backoffOptions: BackoffOptions;
  private readonly clock: Clock;
  private readonly inspectConcurrency: number;

  constructor(options: DockerObserverOptions = {}) {
    this.docker = options.docker ?? new Docker();
    this.logger = options.logger;
    this.labels = [
      DOKKU_LABELS.app,
      // One-off `dokku run` containers are not the app's processes.
      `${DOKKU_LABELS.containerType}=deploy`,
      ...Object.entries(options.labelFilter ?? {}).map(([key, value]) => `${key}=${value}`),
    ];
    this.backoffOptions = { baseMs: 250, capMs: 15_000, ...options.reconnectBackoff };
    this.clock = options.clock ?? systemClock;
    this.inspectConcurrency = options.inspectConcurrency ?? 8;
    if (!(Number.isInteger(this.inspectConcurrency) && this.inspectConcurrency >= 1)) {
      throw new TypeError(`inspectConcurrency must be a whole number from 1 up, got ${options.inspectConcurrency}`);
    }
  }

  /**
   * Every deployed Dokku container (running or not), grouped by app; with `app`, only that app's.
   * One list call, then one inspect per container. A container removed between the two is left out.
   */
  async listContainers(app?: string): Promise<Map<string, ObservedContainer[]>> {
    const label = app === undefined ? this.labels : [...this.labels, `${DOKKU_LABELS.app}=${app}`];
    const summaries = await this.docker.listContainers({ all: true, filters: { label } });
    const inspected = await mapBounded(summaries, this.inspectConcurrency, async (summary) => {
      try {
        return toObservedContainer(await this.docker.getContainer(summary.Id).inspect());
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
    const byApp = new Map<string, ObservedContainer[]>();
    for (const container of inspected) {
      if (!container) continue;
      const list = byApp.get(container.app) ?? [];
      list.push(container);
      byApp.set(container.app, list);
    }
    for (const list of byApp.values()) list.sort((a, b) => a.dyno.localeCompare(b.dyno) || a.id.localeCompare(b.id));
    return byApp;
  }

  /**
   * Streams the Engine's container events for Dokku apps and calls `onAppChanged` for each. When the
   * stream breaks (the Engine restarted, the socket closed) it is reopened with exponential backoff,
   * asking for the events since the last one seen, and `hooks.onReconnect` fires.
   */
  subscribe(onAppChanged: (app: string, event: ContainerEvent) => void, hooks: SubscribeHooks = {}): Subscription {
    const abort = new AbortController();
    const backoff = new ExponentialBackoff(this.backoffOptions);
    let markReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => { markReady = resolve; });
    let lastEventTime: number | undefined;
    let opened = false;

    const openOnce = async (): Promise<Error | undefined> => {
      const query: Record<string, unknown> = {
        filters: { type: ['container'], label: this.labels, event: [...WATCHED_ACTIONS] },
        abortSignal: abort.signal,
      };
      // Whole seconds (timeNano does not survive JSON numbers): the last second's events come again, harmlessly.
      if (lastEventTime !== undefined) query.since = String(lastEventTime);
      const stream = (await this.docker.getEvents(query)) as NodeJS.ReadableStream;
      backoff.forget('events');
      if (opened) hooks.onReconnect?.();
      opened = true;
      markReady();
      return new Promise((resolve) => {
        const decoder = new JsonLineDecoder();
        let failure: Error | undefined;
        stream.on('data', (chunk: Buffer) => {
          const documents = decoder.push(chunk, (line, err) => this.logger?.warn({ err, bytes: line.length }, 'docker events: skipped a line that is not JSON'));
          for (const document of documents) {
            const event = toContainerEvent(document as RawEvent);
            if (!event) continue;
            lastEventTime = event.time;
            try {
              onAppChanged(event.app, event);
            } catch (err) {
              // A failing listener must not end the stream for every other app.
              this.logger?.error({ err, app: event.app, action: event.action }, 'handling a docker event failed');
            }
          }
        });
        stream.on('error', (err: Error) => { failure = err; });
        stream.on('end', () => resolve(failure));
        stream.on('close', () => resolve(failure));
      });
    };

    const loop = async (): Promise<void> => {
      while (!abort.signal.aborted) {
        let failure: Error | undefined;
        try {
          failure = await openOnce();
        } catch (err) {
          failure = err as Error;
        }
        if (abort.signal.aborted) return;
        const delay = backoff.next('events');
        this.logger?.warn({ err: failure, retryInMs: delay }, 'docker events stream closed; reopening');
        hooks.onDisconnect?.(failure, delay);
        await this.sleep(delay, abort.signal);
      }
    };

    const running = loop();
    return {
      ready,
      stop: async () => {
        abort.abort();
        await running;
      },
    };
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.clock.clearTimeout(timer);
        resolve();
      };
      const timer = this.clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
