// The `otm web` process: opens PostgreSQL (desired-state rows, status, people, secrets), watches the
// manifest files read-only, asks the daemon's loopback API for plans, and serves the web server on
// `web.listen`. It never runs a Dokku command and needs neither the Dokku key nor the Docker socket.
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Config } from '../config.js';
import { daemonApi, redactUrl, rowPolicyOptions, webPublicUrl } from '../config.js';
import type { SecretStore } from '../desired/secret-store.js';
import { DesiredStore } from '../desired/store.js';
import { ManifestWatcher } from '../desired/watch.js';
import { systemClock } from '../engine/clock.js';
import type { Clock } from '../engine/clock.js';
import { PgStatusStore } from '../engine/status-pg.js';
import type { HostSource, PlanSource } from '../http/api.js';
import { readTokenFile } from '../http/auth.js';
import { ApiError } from '../http/errors.js';
import { parseListen } from '../http/server.js';
import type { HostView, PlanView } from '../http/views.js';
import { readAudit } from '../store/audit.js';
import { migrate } from '../store/migrate.js';
import { createPool } from '../store/pool.js';
import type { FastifyInstance } from 'fastify';
import type { WebContext } from './context.js';
import { registerLinkRoutes } from './links.js';
import { registerOidcRoutes } from './oidc.js';
import { createMailer } from './mail.js';
import { PeopleStore } from './people.js';
import { createWebServer } from './server.js';
import { InstanceChanges, listenForStatus } from './live.js';
import { registerProfileRoutes } from './profile.js';
import { registerLobbyRoutes } from './lobby.js';
import { registerAdminRoutes } from './admin.js';
import { SitePageStore } from './site-pages.js';
import { daemonArchives } from './archive-forward.js';

export interface WebHandle {
  url: string;
  close(): Promise<void>;
}

/** How often ended sessions, tokens and links are deleted. */
const PURGE_INTERVAL_MS = 3_600_000;
/** How long otm web waits for the daemon's answer to a plan. */
const DAEMON_TIMEOUT_MS = 30_000;

/** Plans come from the daemon (it alone observes Dokku); the names to plan are those otm web knows. */
function daemonPlans(config: Config, token: string, names: () => string[]): PlanSource {
  const { url } = daemonApi(config);
  return {
    names: async () => names(),
    async planFor(name: string): Promise<PlanView> {
      let response: Response;
      try {
        response = await fetch(`${url}/api/v1/plan/${encodeURIComponent(name)}`, {
          headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
          signal: AbortSignal.timeout(DAEMON_TIMEOUT_MS),
        });
      } catch (err) {
        throw new ApiError(503, 'NotReady', `the daemon at ${url} (web.daemon.url) does not answer: ${(err as Error).message}; is otree-manager.service running?`);
      }
      const body = await response.json().catch(() => undefined) as { plans?: PlanView[]; error?: { message?: string } } | undefined;
      const plan = body?.plans?.[0];
      if (response.ok && plan) return plan;
      if (response.status === 404) throw new ApiError(404, 'NotFound', `instance "${name}" is not known to the daemon`);
      throw new ApiError(503, 'NotReady', `the daemon could not plan "${name}" (HTTP ${response.status}): ${body?.error?.message ?? 'no details'}`);
    },
  };
}

/** The hosts as the daemon sees them (it alone reaches Dokku). */
function daemonHosts(config: Config, token: string): HostSource {
  const { url } = daemonApi(config);
  return async () => {
    let response: Response;
    try {
      response = await fetch(`${url}/api/v1/hosts`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, signal: AbortSignal.timeout(DAEMON_TIMEOUT_MS) });
    } catch (err) {
      throw new ApiError(503, 'NotReady', `the daemon at ${url} (web.daemon.url) does not answer: ${(err as Error).message}; is otree-manager.service running?`);
    }
    const body = await response.json().catch(() => undefined) as { items?: HostView[]; error?: { message?: string } } | undefined;
    if (response.ok && Array.isArray(body?.items)) return body.items;
    throw new ApiError(503, 'NotReady', `the daemon could not list its hosts (HTTP ${response.status}): ${body?.error?.message ?? 'no details'}`);
  };
}

export interface StartWebOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
}

/** Opens everything otm web needs and listens on web.listen; the handle stops it all. */
export async function startWeb({ config, logger, clock = systemClock }: StartWebOptions): Promise<WebHandle> {
  if (!config.postgresUrl) {
    throw new Error('otm web needs postgresUrl: people, sessions and the desired-state rows live in PostgreSQL; set postgresUrl in the configuration');
  }
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch((err: Error) => logger.warn({ err: err.message }, 'stopping a part of otm web failed'));
  };
  try {
    const pool: pg.Pool = createPool(config.postgresUrl, { applicationName: 'otree-manager-web' });
    closers.push(() => pool.end());
    await migrate(pool).catch((err: Error) => {
      throw new Error(`cannot migrate ${redactUrl(config.postgresUrl!)}: ${err.message}`);
    });

    const desired = new DesiredStore(config.baseDomain ? { baseDomain: config.baseDomain } : {});
    const changes = new InstanceChanges();
    const watcher = new ManifestWatcher({
      dir: config.manifestsDir, store: desired, logger, clock, onKeys: (change) => { for (const name of change.instances) changes.emit(name); },
    });
    await watcher.start();
    closers.push(() => watcher.stop());
    const { PostgresDesiredSource } = await import('../desired/postgres.js');
    const rows = new PostgresDesiredSource({
      pool, url: config.postgresUrl, log: logger, policy: rowPolicyOptions(config),
      onChange: (updates) => { for (const name of desired.apply(updates).instances) changes.emit(name); },
    });
    await rows.start();
    closers.push(() => rows.stop());

    let secrets: SecretStore | undefined;
    if (config.secrets.keyFile) {
      const { openSecretStore } = await import('../desired/secret-store.js');
      secrets = await openSecretStore(pool, config.secrets.keyFile);
    }
    const status = new PgStatusStore(pool);
    const live = listenForStatus({ url: config.postgresUrl, changes, log: logger, clock });
    closers.push(() => live.stop());
    const people = new PeopleStore({
      pool, clock, idleTimeoutMs: config.web.session.idleMinutes * 60_000, absoluteTimeoutMs: config.web.session.absoluteHours * 3_600_000,
    });
    const daemon = daemonApi(config);
    const daemonToken = daemon.tokenFile !== undefined ? await readTokenFile(daemon.tokenFile) : undefined;
    if (daemonToken === undefined) logger.warn('no daemon token (web.daemon.tokenFile or http.tokenFile): plans are not available in otm web');
    const plans = daemonToken !== undefined
      ? daemonPlans(config, daemonToken, () => desired.instances().map((s) => s.declared.object.metadata.name))
      : undefined;
    const archives = daemonToken !== undefined ? daemonArchives({ url: daemon.url, token: daemonToken, pool, log: logger }) : undefined;
    const mailer = config.web.smtp ? await createMailer(config.web.smtp, webPublicUrl(config)) : undefined;
    if (!mailer) logger.warn('no web.smtp: invitations and password resets are not mailed (otm user invite prints the link)');

    const { app } = createWebServer({
      config, people, clock, log: logger, desired, changes,
      status: () => status,
      rows: () => rows,
      ...(secrets ? { secrets: () => secrets } : {}),
      plans: () => plans,
      hosts: () => (daemonToken !== undefined ? daemonHosts(config, daemonToken) : undefined),
      archives: () => archives,
      audit: () => (query) => readAudit(pool, query),
      parts: [
        registerProfileRoutes,
        // People, the audit log, and the imprint and privacy pages (public, edited by admins).
        (server, ctx) => registerAdminRoutes(server, ctx, { audit: (query) => readAudit(pool, query), pages: new SitePageStore(pool, clock), mailer }),
        // The public lobby: seat states in otm web's pool, its own LISTEN connection (otm_lobby).
        (server, ctx) => registerLobbyRoutes(server, ctx, { pool }),
        (server, ctx) => {
          // The server checks the CSRF token of every form itself.
          const links = registerLinkRoutes(server, ctx, mailer);
          server.addHook('onClose', async () => links.settled());
        },
        // Single sign-on reads its client secret first: a bad file stops otm web at start, naming it.
        ...(config.web.oidc ? [(server: FastifyInstance, ctx: WebContext) => { void server.register(async (scope) => registerOidcRoutes(scope, ctx)); }] : []),
      ],
    });
    closers.push(() => app.close());
    const purge = () => {
      people.purgeEnded().then((purged) => logger.debug({ purged }, 'ended sessions, tokens and links purged'),
        (err: Error) => logger.warn({ err: err.message }, 'purging ended sessions and tokens failed; retried in an hour'));
      timer = clock.setTimeout(purge, PURGE_INTERVAL_MS);
    };
    let timer = clock.setTimeout(purge, PURGE_INTERVAL_MS);
    closers.push(async () => clock.clearTimeout(timer));
    const { host, port } = parseListen(config.web.listen);
    const url = await app.listen({ host, port }).catch((err: Error) => {
      throw new Error(`cannot listen on ${config.web.listen} (web.listen): ${err.message}; choose a free address`);
    });
    logger.info({ address: url, publicUrl: config.web.publicUrl ?? url, selfService: config.web.selfService, oidc: config.web.oidc !== undefined, mail: mailer !== undefined }, 'otm web listening');
    return { url, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
