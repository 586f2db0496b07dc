// The public lobby of an instance's rooms (part of `otm web`): a live grid of the room's seats, a page
// per seat whose "I am ready" sends its participant to the oTree room, kiosk shortcuts for the lab's
// computers (Windows, macOS, Linux) and printable seat cards with QR codes.
//
//   GET  /lobby/NAME/ROOM                        the seat grid (public), live over server-sent events
//   GET  /lobby/NAME/ROOM/events                 the grid's event stream (`parts` events)
//   GET  /lobby/NAME/ROOM/LABEL                  a seat's page (public): marks the seat opened
//   POST /lobby/NAME/ROOM/LABEL                  "I am ready": marks it ready, 303 to the oTree room
//   GET  /lobby/NAME/ROOM/shortcuts/OS.zip       kiosk shortcuts, OS = windows | macos | linux (public)
//   GET  /lobby/NAME/ROOM/cards                  seat cards with QR codes (signed in, may read the instance)
//   POST /lobby/NAME/ROOM/reset-seats            every seat of the room back to "not opened" (signed in, may change it)
//
// A label that is also one of the fixed words (events, cards, shortcuts, seat) has its page at
// /lobby/NAME/ROOM/seat/LABEL instead; every page links to the right address. Labels are letters, digits
// and underscores, so `reset-seats` never names a seat.
//
// Seat states live in PostgreSQL (otm.lobby_seats, migration 0007); every change is notified on
// `otm_lobby` (payload `instance/room`), which one dedicated connection per server LISTENs on, so every
// replica's grids follow every replica's seats. Each request counts against a token bucket per client
// address and instance, and event streams per address are bounded: the lobby never multiplies what a
// browser (or a broken kiosk script) asks for.
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { strToU8, zipSync } from 'fflate';
import type { Zippable } from 'fflate';
import pg from 'pg';
import QRCode from 'qrcode';
import type { TimerHandle } from '../engine/clock.js';
import { ApiError } from '../http/errors.js';
import { actorOf } from '../http/principal.js';
import type { OTreeInstance, Room } from '../manifest/types.js';
import { audit } from '../store/audit.js';
import { connectionConfig, inTransaction } from '../store/pool.js';
import type { PageContext } from './context.js';
import { lobbyEn } from './text-lobby.js';
import type { LobbyText, SeatState } from './text-lobby.js';

export const LOBBY_CHANNEL = 'otm_lobby';
/** The LISTEN connection's application_name (pg_stat_activity). */
export const LISTEN_APPLICATION = 'otree-manager-web-lobby';

export interface LobbyLimits {
  /** Requests one client address may make to one instance's lobby back to back (and four times as many to all lobbies). @default 120 */
  burst: number;
  /** Requests per second the bucket refills with. @default 2 */
  perSecond: number;
  /** Event streams (open grid pages) one client address may hold at once, over all lobbies. @default 6 */
  streamsPerAddress: number;
  /** Event streams the server holds at once. @default 1000 */
  streamsTotal: number;
  /** How often an idle event stream carries a comment, so that proxies keep it open. @default 25 s */
  keepAliveMs: number;
}

/**
 * A lab's room behind one NAT address may open all its seats at once (forty kiosks starting at eight):
 * the burst covers a room's seats several times over; the refill is far below what would load anything.
 */
export const DEFAULT_LOBBY_LIMITS: LobbyLimits = { burst: 120, perSecond: 2, streamsPerAddress: 6, streamsTotal: 1000, keepAliveMs: 25_000 };

export interface LobbyDeps {
  /** The pool seat states are read and written through (otm web's own). */
  pool: pg.Pool;
  /** Overrides of the rate limits (tests, and labs that need other numbers). */
  limits?: Partial<LobbyLimits>;
  /** The connection the LISTEN client makes; defaults to `config.postgresUrl`. */
  listenUrl?: string;
  /** Every English sentence of the lobby. @default lobbyEn */
  text?: LobbyText;
}

/** Labels that are also a fixed word of the lobby's addresses: their page is under `seat/`. */
const FIXED_WORDS = new Set(['events', 'cards', 'shortcuts', 'seat']);
const SHORTCUT_KINDS = ['windows', 'macos', 'linux'] as const;
type ShortcutKind = (typeof SHORTCUT_KINDS)[number];
/** Buckets kept at most; the least recently used are forgotten first (a full bucket loses nothing). */
const MAX_BUCKETS = 50_000;
/** How many instances' worth of requests one address may make over all lobbies together. */
const ADDRESS_FACTOR = 4;
const RECONNECT_BASE_MS = 1000;
const RECONNECT_CAP_MS = 60_000;

// ---- rate limits ----------------------------------------------------------------------------------

/** Token buckets per key, refilled by the clock: `take` answers undefined or the seconds to wait. */
class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly now: () => number, private readonly burst: number, private readonly perSecond: number) {
    if (!(burst >= 1) || !(perSecond > 0)) throw new RangeError('the lobby\'s rate limit needs a burst of at least 1 and a positive refill');
  }

  take(key: string): number | undefined {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    while (this.buckets.size > MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond));
  }
}

// ---- seat states ----------------------------------------------------------------------------------

type StoredState = Exclude<SeatState, 'none'>;

class SeatStore {
  constructor(private readonly pool: pg.Pool, private readonly now: () => number) {}

  async states(instance: string, room: string): Promise<Map<string, StoredState>> {
    const { rows } = await this.pool.query<{ label: string; state: StoredState }>(
      'SELECT label, state FROM otm.lobby_seats WHERE instance = $1 AND room = $2', [instance, room]);
    return new Map(rows.map((row) => [row.label, row.state]));
  }

  /** Opened, unless it is ready already: a reload or the back button must not make a seated participant look gone. */
  async open(instance: string, room: string, label: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO otm.lobby_seats (instance, room, label, state, updated_at) VALUES ($1, $2, $3, 'opened', $4)
       ON CONFLICT (instance, room, label) DO NOTHING`, [instance, room, label, new Date(this.now())]);
  }

  async ready(instance: string, room: string, label: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO otm.lobby_seats (instance, room, label, state, updated_at) VALUES ($1, $2, $3, 'ready', $4)
       ON CONFLICT (instance, room, label) DO UPDATE SET state = 'ready', updated_at = EXCLUDED.updated_at
       WHERE otm.lobby_seats.state <> 'ready'`, [instance, room, label, new Date(this.now())]);
  }

  /** Clears the room's seats and records who did it; answers how many seats were opened or ready. */
  async reset(instance: string, room: string, by: { actor: string; clientAddress?: string; authMethod?: string }): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      const { rowCount } = await client.query('DELETE FROM otm.lobby_seats WHERE instance = $1 AND room = $2', [instance, room]);
      await audit(client, { ...by, action: 'lobby.reset', objectKind: 'OTreeInstance', objectName: instance, details: { room, cleared: rowCount ?? 0 } });
      return rowCount ?? 0;
    });
  }
}

// ---- the LISTEN connection ------------------------------------------------------------------------

/**
 * One connection for the whole server, LISTENing on `otm_lobby`. When it breaks it reconnects with
 * backoff (through the clock) and tells every stream to refresh, since notifications may have been missed.
 */
class LobbyListener {
  private client: pg.Client | undefined;
  private timer: TimerHandle | undefined;
  private failures = 0;
  private stopped = false;

  constructor(private readonly options: {
    url: string;
    ctx: PageContext;
    onNotify(key: string): void;
    onReconnect(): void;
  }) {}

  /** Resolves after the first attempt, whether it connected or will retry. */
  async start(): Promise<void> {
    await this.connect(false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.ctx.clock.clearTimeout(this.timer);
    await this.client?.end().catch(() => undefined);
  }

  private async connect(again: boolean): Promise<void> {
    if (this.stopped) return;
    // A connection timeout: an unreachable database must not hold otm web's start (onReady waits for the first attempt).
    const client = new pg.Client({ ...connectionConfig(this.options.url, LISTEN_APPLICATION), keepAlive: true, connectionTimeoutMillis: 10_000 });
    this.client = client;
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost || this.stopped) return;
      lost = true;
      this.options.ctx.log.warn({ err: err?.message ?? 'connection ended' }, 'the lobby\'s PostgreSQL LISTEN connection was lost; reconnecting');
      void client.end().catch(() => undefined);
      this.retry();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => {
      if (message.channel === LOBBY_CHANNEL && message.payload) this.options.onNotify(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${LOBBY_CHANNEL}`);
      this.failures = 0;
      if (again) this.options.onReconnect();
    } catch (err) {
      if (!lost && !this.stopped) {
        lost = true;
        this.options.ctx.log.warn({ err: (err as Error).message }, 'the lobby cannot LISTEN for seat changes; its grids are not live until it can (retrying)');
        void client.end().catch(() => undefined);
        this.retry();
      }
    }
  }

  private retry(): void {
    if (this.stopped) return;
    const delay = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** Math.min(this.failures, 16));
    this.failures += 1;
    this.timer = this.options.ctx.clock.setTimeout(() => {
      this.timer = undefined;
      void this.connect(true);
    }, delay);
  }
}

// ---- addresses and files --------------------------------------------------------------------------

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The seat grid's path (the instance page links to it). */
export function roomPath(name: string, room: string): string {
  return `/lobby/${encodeURIComponent(name)}/${encodeURIComponent(room)}`;
}

/** The seat page's path: under `seat/` for a label that is also a fixed word of the lobby's addresses. */
export function seatPath(name: string, room: string, label: string): string {
  return `${roomPath(name, room)}/${FIXED_WORDS.has(label) ? 'seat/' : ''}${encodeURIComponent(label)}`;
}

/** The oTree room's participant link for a seat. */
export function otreeRoomUrl(publicUrl: string, room: string, label: string): string {
  return `${trimSlash(publicUrl)}/room/${encodeURIComponent(room)}/?participant_label=${encodeURIComponent(label)}`;
}

/** A POSIX shell word that stands for exactly `value`. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** `value` inside a batch file's `set "X=..."` (percent signs doubled, quotes dropped: a URL has none). */
function batchValue(value: string): string {
  return value.replaceAll('%', '%%').replaceAll('"', '');
}

function shortcutFile(kind: ShortcutKind, url: string, comment: string, lt: LobbyText): { name: (label: string) => string; body: string; mode: number } {
  switch (kind) {
    case 'windows':
      return {
        name: (label) => `${label}.bat`,
        mode: 0o644,
        body: [
          '@echo off',
          `rem ${comment}`,
          `rem ${lt.shortcuts.closeHint}`,
          `set "URL=${batchValue(url)}"`,
          // `start chrome` finds Chrome through App Paths when it is installed; Edge is on every Windows 10 and 11.
          'set "CHROME="',
          'for %%P in ("%ProgramFiles%" "%ProgramFiles(x86)%" "%LocalAppData%") do if exist "%%~P\\Google\\Chrome\\Application\\chrome.exe" set "CHROME=%%~P\\Google\\Chrome\\Application\\chrome.exe"',
          'if defined CHROME (',
          '  start "" "%CHROME%" --kiosk "%URL%" --no-first-run',
          ') else (',
          '  start "" msedge --kiosk "%URL%" --edge-kiosk-type=fullscreen --no-first-run',
          ')',
          '',
        ].join('\r\n'),
      };
    case 'macos':
      return {
        name: (label) => `${label}.command`,
        mode: 0o755,
        body: [
          '#!/bin/sh',
          `# ${comment}`,
          `# ${lt.shortcuts.closeHint}`,
          `URL=${shellQuote(url)}`,
          // -n: a new instance, so the kiosk flag applies even when Chrome is already open.
          'if open -Ra "Google Chrome" 2>/dev/null; then',
          '  exec open -na "Google Chrome" --args --kiosk --no-first-run "$URL"',
          'fi',
          `echo ${shellQuote(lt.shortcuts.noChrome)} >&2`,
          'exec open "$URL"',
          '',
        ].join('\n'),
      };
    case 'linux':
      return {
        name: (label) => `${label}.sh`,
        mode: 0o755,
        body: [
          '#!/bin/sh',
          `# ${comment}`,
          `# ${lt.shortcuts.closeHint}`,
          `URL=${shellQuote(url)}`,
          'for browser in chromium chromium-browser google-chrome google-chrome-stable; do',
          '  if command -v "$browser" >/dev/null 2>&1; then',
          '    exec "$browser" --kiosk --no-first-run "$URL"',
          '  fi',
          'done',
          `echo ${shellQuote(lt.shortcuts.noBrowser)} >&2`,
          'exit 1',
          '',
        ].join('\n'),
      };
  }
}

// ---- the routes -----------------------------------------------------------------------------------

interface RoomParams { name: string; room: string }
interface SeatParams extends RoomParams { label: string }

type Found =
  | { ok: true; instance: OTreeInstance; room: Room }
  | { ok: false; status: number; title: string; message: string };

interface SeatView { label: string; state: SeatState; stateText: string; href: string }

/**
 * Mounts the lobby on `app`. `deps.pool` is otm web's pool (seat states); the LISTEN connection is its
 * own, made from `config.postgresUrl` when the server gets ready and ended when it closes.
 */
export function registerLobbyRoutes(app: FastifyInstance, ctx: PageContext, deps: LobbyDeps): void {
  const limits: LobbyLimits = { ...DEFAULT_LOBBY_LIMITS, ...deps.limits };
  const lt = deps.text ?? lobbyEn;
  const seats = new SeatStore(deps.pool, () => ctx.clock.now());
  const buckets = new TokenBuckets(() => ctx.clock.now(), limits.burst, limits.perSecond);
  // Spreading requests over many instance names (most of them unknown) does not escape the limit:
  // an address has a looser bucket of its own over every lobby.
  const addressBuckets = new TokenBuckets(() => ctx.clock.now(), limits.burst * ADDRESS_FACTOR, limits.perSecond * ADDRESS_FACTOR);
  const publicUrl = trimSlash(ctx.publicUrl);

  // ---- what an address names --------------------------------------------------------------------

  const find = (name: string, roomName: string, label?: string): Found => {
    const instance = ctx.desired.instance(name)?.declared.object;
    if (!instance) return { ok: false, status: 404, title: lt.errors.notFoundTitle, message: lt.errors.unknownInstance(name) };
    if (!instance.spec.lobby.enabled) return { ok: false, status: 404, title: lt.errors.offTitle, message: lt.errors.off(name) };
    const room = instance.spec.rooms.find((r) => r.name === roomName);
    if (!room) return { ok: false, status: 404, title: lt.errors.notFoundTitle, message: lt.errors.unknownRoom(roomName, name) };
    if (label !== undefined && !room.participantLabels.includes(label)) {
      return { ok: false, status: 404, title: lt.errors.notFoundTitle, message: lt.errors.unknownLabel(label, room.displayName) };
    }
    return { ok: true, instance, room };
  };

  /** The instance's public URL while it runs and is ready; undefined otherwise. */
  const runningUrl = async (name: string): Promise<string | undefined> => {
    const status = await ctx.status()?.get(name);
    if (!status || status.phase !== 'Running') return undefined;
    if (!status.conditions.some((c) => c.type === 'Ready' && c.status === 'True')) return undefined;
    return status.urls[0];
  };

  const errorPage = (reply: FastifyReply, status: number, title: string, message: string, extra: Record<string, unknown> = {}): FastifyReply =>
    ctx.render(reply, 'lobby-error', { title, lt, message, ...extra }, status);

  const notRunning = (reply: FastifyReply, name: string, retry: string): FastifyReply => {
    void reply.header('retry-after', '10');
    return errorPage(reply, 503, lt.errors.notRunningTitle, lt.errors.notRunning(name), { retry });
  };

  const seatViews = (name: string, room: Room, states: Map<string, StoredState>): { seats: SeatView[]; opened: number; ready: number } => {
    const views = room.participantLabels.map((label): SeatView => {
      const state: SeatState = states.get(label) ?? 'none';
      return { label, state, stateText: lt.state[state], href: seatPath(name, room.name, label) };
    });
    return { seats: views, opened: views.filter((s) => s.state === 'opened').length, ready: views.filter((s) => s.state === 'ready').length };
  };

  const renderSeats = (name: string, room: Room, states: Map<string, StoredState>): string =>
    ctx.fragment('lobby-seats', { lt, ...seatViews(name, room, states) });

  // ---- live streams -----------------------------------------------------------------------------

  interface Stream { key: string; address: string; response: ServerResponse; timer: TimerHandle | undefined; closed: boolean }
  const streams = new Map<string, Set<Stream>>();
  const perAddress = new Map<string, number>();
  let streamCount = 0;
  const pending = new Set<string>();
  let draining = false;

  const endStream = (stream: Stream): void => {
    if (stream.closed) return;
    stream.closed = true;
    if (stream.timer) ctx.clock.clearTimeout(stream.timer);
    const set = streams.get(stream.key);
    set?.delete(stream);
    if (set?.size === 0) streams.delete(stream.key);
    const left = (perAddress.get(stream.address) ?? 1) - 1;
    if (left > 0) perAddress.set(stream.address, left);
    else perAddress.delete(stream.address);
    streamCount -= 1;
    if (!stream.response.writableEnded) stream.response.end();
  };

  const send = (stream: Stream, chunk: string): void => {
    if (!stream.closed && !stream.response.writableEnded) stream.response.write(chunk);
  };

  const keepAlive = (stream: Stream): void => {
    stream.timer = ctx.clock.setTimeout(() => {
      send(stream, ': keep-alive\n\n');
      if (!stream.closed) keepAlive(stream);
    }, limits.keepAliveMs);
  };

  const message = (html: string): string => `event: parts\ndata: ${JSON.stringify({ seats: html })}\n\n`;

  /** Reads the seats of `key` once and sends them to every stream of it; a room that went away ends its streams. */
  const refresh = async (key: string): Promise<void> => {
    const subscribers = streams.get(key);
    if (!subscribers || subscribers.size === 0) return;
    const slash = key.indexOf('/');
    const found = find(key.slice(0, slash), key.slice(slash + 1));
    if (!found.ok) {
      for (const stream of [...subscribers]) endStream(stream);
      return;
    }
    const chunk = message(renderSeats(found.instance.metadata.name, found.room, await seats.states(found.instance.metadata.name, found.room.name)));
    for (const stream of subscribers) send(stream, chunk);
  };

  /** Many notifications for one room (a reset, a room's kiosks starting together) are one read. */
  const schedule = (key: string): void => {
    if (!streams.has(key)) return;
    pending.add(key);
    if (draining) return;
    draining = true;
    setImmediate(() => {
      draining = false;
      const keys = [...pending];
      pending.clear();
      for (const each of keys) {
        refresh(each).catch((err: Error) => ctx.log.warn({ err: err.message, room: each }, 'cannot refresh a lobby\'s seat grid'));
      }
    });
  };

  const listenUrl = deps.listenUrl ?? ctx.config.postgresUrl;
  const listener = listenUrl !== undefined
    ? new LobbyListener({ url: listenUrl, ctx, onNotify: schedule, onReconnect: () => { for (const key of streams.keys()) schedule(key); } })
    : undefined;
  if (!listener) ctx.log.warn('no postgresUrl: the lobby\'s seat grids are not live');
  app.addHook('onReady', async () => { await listener?.start(); });
  // Open streams would hold the server's close forever: they end first.
  app.addHook('preClose', async () => {
    for (const set of [...streams.values()]) for (const stream of [...set]) endStream(stream);
  });
  app.addHook('onClose', async () => { await listener?.stop(); });

  // ---- the routes themselves, each behind the rate limit ----------------------------------------

  void app.register(async (lobby) => {
    lobby.addHook<{ Params: Partial<RoomParams> }>('onRequest', async (request, reply) => {
      const address = ctx.clientAddress(request);
      const wait = addressBuckets.take(address) ?? buckets.take(`${address}\0${request.params.name ?? ''}`);
      if (wait === undefined) return;
      void reply.header('retry-after', String(wait));
      return errorPage(reply, 429, lt.errors.limitedTitle, lt.errors.limited(wait));
    });

    lobby.get<{ Params: RoomParams }>('/lobby/:name/:room', async (request, reply) => {
      const { name, room: roomName } = request.params;
      const found = find(name, roomName);
      if (!found.ok) return errorPage(reply, found.status, found.title, found.message);
      if (await runningUrl(name) === undefined) return notRunning(reply, name, roomPath(name, roomName));
      const { room } = found;
      const view = seatViews(name, room, await seats.states(name, room.name));
      return ctx.render(reply, 'lobby-room', {
        title: lt.title(room.displayName), lt, wide: true, instance: name, room, ...view,
        events: `${roomPath(name, room.name)}/events`,
      });
    });

    lobby.get<{ Params: RoomParams }>('/lobby/:name/:room/events', async (request, reply) => {
      const { name, room: roomName } = request.params;
      const found = find(name, roomName);
      if (!found.ok) return errorPage(reply, found.status, found.title, found.message);
      const address = ctx.clientAddress(request);
      if ((perAddress.get(address) ?? 0) >= limits.streamsPerAddress || streamCount >= limits.streamsTotal) {
        void reply.header('retry-after', String(Math.ceil(limits.keepAliveMs / 1000)));
        return errorPage(reply, 429, lt.errors.limitedTitle, lt.errors.tooManyStreams);
      }
      const key = `${name}/${found.room.name}`;
      const stream: Stream = { key, address, response: reply.raw, timer: undefined, closed: false };
      // Counted and subscribed before the first read: a change in between is then sent, not lost.
      streamCount += 1;
      perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
      if (!streams.has(key)) streams.set(key, new Set());
      streams.get(key)!.add(stream);
      reply.raw.on('close', () => endStream(stream));
      reply.hijack();
      // The headers set so far (helmet's) go out too: hijacked, fastify sends nothing itself.
      const headers: Record<string, string | number | string[]> = {};
      for (const [header, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[header] = value;
      reply.raw.writeHead(200, {
        ...headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      reply.raw.write(': lobby\n\n');
      try {
        send(stream, message(renderSeats(name, found.room, await seats.states(name, found.room.name))));
        keepAlive(stream);
      } catch (err) {
        ctx.log.warn({ err: (err as Error).message, instance: name, room: roomName }, 'cannot start a lobby\'s event stream');
        endStream(stream);
      }
    });

    const seatPage = async (request: FastifyRequest<{ Params: SeatParams }>, reply: FastifyReply): Promise<FastifyReply> => {
      const { name, room: roomName, label } = request.params;
      const found = find(name, roomName, label);
      if (!found.ok) return errorPage(reply, found.status, found.title, found.message);
      const here = seatPath(name, found.room.name, label);
      if (await runningUrl(name) === undefined) return notRunning(reply, name, here);
      await seats.open(name, found.room.name, label);
      const state = (await seats.states(name, found.room.name)).get(label) ?? 'none';
      return ctx.render(reply, 'lobby-seat', { title: lt.seat.title(label), lt, label, room: found.room, action: here, ready: state === 'ready' });
    };

    const ready = async (request: FastifyRequest<{ Params: SeatParams }>, reply: FastifyReply): Promise<FastifyReply> => {
      const { name, room: roomName, label } = request.params;
      const found = find(name, roomName, label);
      if (!found.ok) return errorPage(reply, found.status, found.title, found.message);
      const url = await runningUrl(name);
      if (url === undefined) return notRunning(reply, name, seatPath(name, found.room.name, label));
      await seats.ready(name, found.room.name, label);
      return reply.redirect(otreeRoomUrl(url, found.room.name, label), 303);
    };

    lobby.get<{ Params: SeatParams }>('/lobby/:name/:room/:label', seatPage);
    lobby.get<{ Params: SeatParams }>('/lobby/:name/:room/seat/:label', seatPage);
    lobby.post<{ Params: SeatParams }>('/lobby/:name/:room/:label', ready);
    lobby.post<{ Params: SeatParams }>('/lobby/:name/:room/seat/:label', ready);

    // Public, like the seat pages they open: they hold nothing the lobby does not show to anyone, and a
    // lab's technician sets up the computers from the computers themselves (docs/lobby.md).
    lobby.get<{ Params: RoomParams & { file: string } }>('/lobby/:name/:room/shortcuts/:file', async (request, reply) => {
      const { name, room: roomName, file } = request.params;
      const kind = SHORTCUT_KINDS.find((k) => file === `${k}.zip`);
      const found = find(name, roomName);
      if (!found.ok) return errorPage(reply, found.status, found.title, found.message);
      if (!kind) return errorPage(reply, 404, lt.errors.notFoundTitle, lt.errors.unknownRoom(`${roomName}/shortcuts/${file}`, name));
      const mtime = new Date(ctx.clock.now());
      const files: Zippable = {};
      for (const label of found.room.participantLabels) {
        const seatUrl = `${publicUrl}${seatPath(name, found.room.name, label)}`;
        const shortcut = shortcutFile(kind, seatUrl, lt.shortcuts.comment(label, found.room.name, name), lt);
        // Unix (3) as the system of origin, so that unzip and macOS's Archive Utility keep the mode.
        files[shortcut.name(label)] = [strToU8(shortcut.body), { os: 3, attrs: ((0o100000 | shortcut.mode) << 16) >>> 0, mtime }];
      }
      const zip = zipSync(files, { level: 6 });
      return reply.type('application/zip').header('cache-control', 'no-store')
        .header('content-disposition', `attachment; filename="${name}-${found.room.name}-${kind}.zip"`)
        .send(Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength));
    });

    /** Runs `work` for a signed-in person allowed `verb`; a refusal is a page, not JSON. */
    const staffOnly = async (request: FastifyRequest<{ Params: RoomParams }>, reply: FastifyReply, verb: 'read' | 'update',
      work: (found: Extract<Found, { ok: true }>) => Promise<FastifyReply>): Promise<FastifyReply> => {
      const { name, room: roomName } = request.params;
      try {
        ctx.operations.authorizeInstance(request, name, verb);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        const title = err.statusCode === 403 ? lt.errors.forbiddenTitle : lt.errors.notFoundTitle;
        return ctx.page(request, reply, 'lobby-error', { title, lt, message: err.statusCode === 403 ? ctx.text.errors.forbidden : ctx.text.errors.notFound }, err.statusCode);
      }
      const found = find(name, roomName);
      if (!found.ok) return ctx.page(request, reply, 'lobby-error', { title: found.title, lt, message: found.message }, found.status);
      return work(found);
    };

    lobby.get<{ Params: RoomParams; Querystring: { reset?: string } }>('/lobby/:name/:room/cards', { preHandler: ctx.signedIn }, async (request, reply) =>
      staffOnly(request, reply, 'read', async ({ instance, room }) => {
        const name = instance.metadata.name;
        const cards = await Promise.all(room.participantLabels.map(async (label) => {
          const url = `${publicUrl}${seatPath(name, room.name, label)}`;
          const qr = await QRCode.toDataURL(url, { errorCorrectionLevel: 'M', margin: 2, scale: 6, type: 'image/png' });
          return { label, url, qr };
        }));
        const base = roomPath(name, room.name);
        return ctx.page(request, reply, 'lobby-cards', {
          title: lt.cards.title(room.displayName), lt, wide: true, instance: name, room, cards,
          lobbyUrl: `${publicUrl}${base}`, lobbyPath: base,
          shortcuts: SHORTCUT_KINDS.map((kind) => ({ kind, href: `${base}/shortcuts/${kind}.zip`, text: lt.cards[kind] })),
          resetAction: `${base}/reset-seats`, resetDone: request.query.reset === 'done',
        });
      }));

    lobby.post<{ Params: RoomParams }>('/lobby/:name/:room/reset-seats', { preHandler: ctx.signedIn }, async (request, reply) =>
      staffOnly(request, reply, 'update', async ({ instance, room }) => {
        const cleared = await seats.reset(instance.metadata.name, room.name, actorOf(request));
        ctx.log.info({ instance: instance.metadata.name, room: room.name, cleared, by: actorOf(request).actor }, 'lobby seats reset');
        return reply.redirect(`${roomPath(instance.metadata.name, room.name)}/cards?reset=done`, 303);
      }));
  });
}
