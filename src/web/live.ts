// Live pages: one server-sent event stream per tab (GET /events), authorised like every read. The
// controller's status writes and events reach otm web as PostgreSQL notifications (otm_status), its own
// and others' desired-state writes through the row source; each only names an instance, and the
// stream sends that instance's parts, rendered again from the stores, to the tabs that may see it.
// Missed notifications cost nothing: a stream sends every part it shows when it (re)connects.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Clock } from '../engine/clock.js';
import { connectionConfig } from '../store/pool.js';
import { principalOf } from '../http/principal.js';
import type { PageContext } from './context.js';
import type { LiveParts } from './pages.js';

/** Names an instance whose status, events or desired state changed; `*` when anything may have. */
export type ChangeListener = (name: string) => void;

export class InstanceChanges {
  private readonly listeners = new Set<ChangeListener>();

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(name: string): void {
    for (const listener of this.listeners) listener(name);
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}

export const STATUS_CHANNEL = 'otm_status';
/** A comment line keeps proxies from closing an idle stream. */
const KEEP_ALIVE_MS = 25_000;
/** How long a stream trusts its session before reading it again. */
const SESSION_RECHECK_MS = 60_000;
const RECONNECT_MS = 5_000;

/**
 * LISTENs on otm_status with one dedicated connection and emits each instance it names; after a lost
 * connection it reconnects and emits `*`, so every stream refreshes what it shows.
 */
export function listenForStatus(options: { url: string; changes: InstanceChanges; log: Logger; clock: Clock }): { stop(): Promise<void> } {
  let stopped = false;
  let client: pg.Client | undefined;
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  let first = true;
  const connect = async (): Promise<void> => {
    const next = new pg.Client({ ...connectionConfig(options.url, 'otree-manager-web-live'), keepAlive: true });
    client = next;
    const retry = (err?: Error) => {
      if (stopped || client !== next) return;
      options.log.warn({ err: err?.message ?? 'connection ended' }, 'live updates: the PostgreSQL LISTEN connection is lost; reconnecting');
      client = undefined;
      void next.end().catch(() => undefined);
      timer = options.clock.setTimeout(() => void connect(), RECONNECT_MS);
    };
    next.on('error', retry);
    next.on('end', () => retry());
    next.on('notification', (message) => {
      if (message.channel === STATUS_CHANNEL && message.payload) options.changes.emit(message.payload);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${STATUS_CHANNEL}`);
      if (!first) options.changes.emit('*');
      first = false;
    } catch (err) {
      retry(err as Error);
    }
  };
  void connect();
  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) options.clock.clearTimeout(timer);
      await client?.end().catch(() => undefined);
    },
  };
}

export interface LiveRouteOptions {
  changes: InstanceChanges;
  parts: LiveParts;
  /** Whether the stream's session is still live (a signed-out or disabled person's stream ends). */
  stillSignedIn(request: FastifyRequest): Promise<boolean>;
}

export function registerLiveRoute(app: FastifyInstance, ctx: PageContext, options: LiveRouteOptions): void {
  const open = new Set<() => void>();
  // Streams never end by themselves: closing the server ends them.
  app.addHook('preClose', async () => { for (const end of [...open]) end(); });
  app.get<{ Querystring: { view?: string; instance?: string } }>('/events', { preHandler: ctx.signedIn }, async (request, reply) => {
    const view = request.query.view === 'instance' ? 'instance' : 'dashboard';
    const only = view === 'instance' ? request.query.instance ?? '' : undefined;
    if (only !== undefined) ctx.operations.authorizeInstance(request, only, 'read');
    const who = principalOf(request);
    const watched = (): string[] => (only !== undefined ? [only]
      : ctx.desired.instances().map((s) => s.declared.object.metadata.name).filter((name) => ctx.operations.visible(who, name)));

    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive',
      // nginx must pass each event on at once, not buffer the stream.
      'x-accel-buffering': 'no',
    });
    raw.write('retry: 5000\n\n');

    let closed = false;
    const pending = new Set<string>(watched());
    let flushing = false;
    let sessionCheckedAt = ctx.clock.now();
    const end = () => {
      if (closed) return;
      closed = true;
      open.delete(end);
      unsubscribe();
      ctx.clock.clearTimeout(keepAlive);
      raw.end();
    };
    const flush = async (): Promise<void> => {
      if (flushing) return;
      flushing = true;
      try {
        while (!closed && pending.size > 0) {
          if (ctx.clock.now() - sessionCheckedAt >= SESSION_RECHECK_MS) {
            if (!(await options.stillSignedIn(request))) return end();
            sessionCheckedAt = ctx.clock.now();
          }
          const name = pending.values().next().value as string;
          pending.delete(name);
          const parts = await options.parts(request, name, view).catch((err: Error) => {
            ctx.log.warn({ err: err.message, instance: name }, 'live updates: rendering an instance failed');
            return undefined;
          });
          if (parts && !closed) raw.write(`event: parts\ndata: ${JSON.stringify(parts)}\n\n`);
        }
      } finally {
        flushing = false;
      }
    };
    const unsubscribe = options.changes.subscribe((name) => {
      if (name === '*') for (const n of watched()) pending.add(n);
      else if (only === undefined ? ctx.operations.visible(who, name) : name === only) pending.add(name);
      else return;
      void flush();
    });
    const ping = () => {
      if (closed) return;
      raw.write(': keep-alive\n\n');
      keepAlive = ctx.clock.setTimeout(ping, KEEP_ALIVE_MS);
    };
    let keepAlive = ctx.clock.setTimeout(ping, KEEP_ALIVE_MS);
    open.add(end);
    request.raw.on('close', end);
    void flush();
  });
}
