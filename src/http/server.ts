// The daemon's HTTP surface (loopback by default): /healthz, /readyz, /metrics and the JSON API under
// /api/v1. `createHttpServer` takes narrow dependencies so it runs against a daemon or small fakes;
// `startHttp` wires it to a Daemon and listens on `http.listen`.
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Daemon } from '../engine/daemon.js';
import { instanceKey } from '../engine/controller.js';
import { registerApi } from './api.js';
import { controllerArchives } from './archive-api.js';
import { registerStatusPage } from './status-page.js';
import { planView } from './views.js';
import { readAudit } from '../store/audit.js';
import type { ApiDeps } from './api.js';
import type { ApiCredentials } from './openapi.js';
import { adminTokenAuthenticator, hasToken, readTokenFile } from './auth.js';
import { ApiError } from './errors.js';
import { readinessChecker } from './readiness.js';
import type { Readiness } from './readiness.js';

/** Manifests are a few kilobytes; anything near this is a mistake or an attack. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export interface HttpDeps extends Omit<ApiDeps, 'authenticate' | 'credentials'> {
  /** The admin token (http.tokenFile); undefined: the API answers nobody. */
  token: string | undefined;
  readiness(): Promise<Readiness>;
  metrics: { exposition(): Promise<string>; readonly contentType: string };
  /** Server errors are logged here (never request bodies or headers). */
  logger?: Logger;
}

/** Every route each server registered, for tests and documentation that enumerate them. */
const registeredRoutes = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

/** How the daemon's API is called, for its OpenAPI document. */
const ADMIN_TOKEN: ApiCredentials = {
  bearer: 'The token in the file http.tokenFile names: whoever holds it is a lab admin. An optional X-Otm-Author header '
    + '(a user name or e-mail address) names who a write is recorded as; without it, `api`.',
};

/** The routes `app` serves once it is ready (HEAD routes fastify adds by itself left out). */
export function routesOf(app: FastifyInstance): { method: string; url: string }[] {
  return [...(registeredRoutes.get(app) ?? [])];
}

export function createHttpServer(deps: HttpDeps): FastifyInstance {
  const app = Fastify({ bodyLimit: BODY_LIMIT_BYTES, logger: false, return503OnClosing: true });
  const routes: { method: string; url: string }[] = [];
  registeredRoutes.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) return reply.code(error.statusCode).send(error.body());
    const failure = errorResponse(error);
    if (failure.statusCode >= 500) deps.logger?.error({ err: error.message, method: request.method, route: request.routeOptions.url }, 'HTTP request failed');
    return reply.code(failure.statusCode).send(failure.body());
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    return reply.code(404).send(new ApiError(404, 'NotFound', `no endpoint ${request.method} ${path}; see the API reference for the routes`).body());
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  // Without the token only the verdict: the checks name hosts and carry their error messages.
  app.get('/readyz', async (request, reply) => {
    const readiness = await deps.readiness();
    const detail = hasToken(request.headers.authorization, deps.token);
    return reply.code(readiness.ready ? 200 : 503).send(detail ? readiness : { ready: readiness.ready });
  });
  app.get('/metrics', async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.exposition()));
  registerApi(app, { ...deps, authenticate: adminTokenAuthenticator(deps.token), credentials: ADMIN_TOKEN });
  registerStatusPage(app, () => deps.status(), deps.token);
  return app;
}

/** Fastify's own failures as API errors. Parser messages can quote the body, so none is passed on. */
export function errorResponse(error: FastifyError): ApiError {
  if (error.validation) return new ApiError(400, 'BadRequest', `invalid request: ${error.message}`);
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'PayloadTooLarge', `the request body is larger than ${BODY_LIMIT_BYTES} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'UnsupportedMediaType', 'send the body as JSON with `Content-Type: application/json`');
  }
  if (error.code?.startsWith('FST_ERR_CTP_') || error instanceof SyntaxError) {
    return new ApiError(400, 'BadRequest', 'the request body cannot be read as JSON; check its syntax and the Content-Type header');
  }
  return new ApiError(500, 'Internal', 'the request failed inside the daemon; its log has the details');
}

/** The dependencies of a running (or starting) Daemon: each part is looked up when a request needs it. */
export function daemonDeps(daemon: Daemon, token: string | undefined): HttpDeps {
  const { config } = daemon;
  const instancePrefix = instanceKey('');
  const deps: HttpDeps = {
    desired: daemon.desired,
    // Assigned by start(): undefined until then, whatever the declared types say.
    status: () => daemon.status as Daemon['status'] | undefined,
    plans: () => (daemon.isReady()
      ? {
        names: async () => daemon.controller.allKeys().filter((key) => key.startsWith(instancePrefix)).map((key) => key.slice(instancePrefix.length)),
        planFor: async (name: string) => planView(await daemon.controller.planFor(name)),
      }
      : undefined),
    rows: () => daemon.desiredRows(),
    archives: () => (daemon.isReady() ? controllerArchives(daemon.controller) : undefined),
    secrets: () => daemon.secretStore(),
    audit: () => {
      const pool = daemon.database();
      return pool ? (query) => readAudit(pool, query) : undefined;
    },
    databaseConfigured: config.postgresUrl !== undefined,
    token,
    readiness: readinessChecker({
      initialSyncDone: () => daemon.isReady(),
      hosts: Object.fromEntries(config.hosts.map((host) => [host.name, async (signal: AbortSignal) => {
        const cache = daemon.hosts.find((h) => h.host === host.name);
        if (!cache) throw new Error('not observed yet: the daemon is starting');
        await cache.driver.run({ cmd: 'version' }, { signal });
      }])),
      ...(config.postgresUrl !== undefined ? { database: () => daemon.pingDatabase() } : {}),
      isLeader: () => (daemon.leader as Daemon['leader'] | undefined)?.isLeader() ?? false,
    }),
    hosts: () => async () => {
      const readiness = await deps.readiness();
      return config.hosts.map((host) => {
        const cache = daemon.hosts.find((h) => h.host === host.name);
        const observed = cache?.hasSnapshot() ? cache.current() : undefined;
        return {
          name: host.name, transport: host.transport.type, reachable: readiness.checks.hosts[host.name] ?? 'not observed yet',
          version: observed?.version.raw ?? null, plugins: observed ? { ...observed.plugins } : null, apps: observed?.apps.size ?? null,
          instances: daemon.desired.instances().filter((s) => (s.declared.object.spec.host ?? config.hosts[0]?.name) === host.name).length,
        };
      });
    },
    metrics: daemon.metrics,
    logger: daemon.log,
  };
  return deps;
}

/** `host:port`, with IPv6 hosts in brackets (`[::1]:9280`). */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(listen);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new Error(`http.listen "${listen}" is not host:port (e.g. 127.0.0.1:9280); fix the configuration`);
  return { host: match[1] ?? match[2]!, port };
}

export interface HttpHandle {
  /** Where the server listens, e.g. `http://127.0.0.1:9280`. */
  url: string;
  close(): Promise<void>;
}

/** Reads the token file (when configured), starts the server on `config.http.listen` and returns how to stop it. */
export async function startHttp(daemon: Daemon, config: Config, logger: Logger): Promise<HttpHandle> {
  const token = config.http.tokenFile !== undefined ? await readTokenFile(config.http.tokenFile) : undefined;
  const app = createHttpServer({ ...daemonDeps(daemon, token), logger });
  const { host, port } = parseListen(config.http.listen);
  try {
    const url = await app.listen({ host, port });
    logger.info({ url, writes: token !== undefined ? 'enabled (bearer token)' : 'disabled (no http.tokenFile)' }, 'HTTP API listening');
    return { url, close: () => app.close() };
  } catch (err) {
    await app.close();
    throw new Error(`cannot listen on ${config.http.listen} (http.listen): ${(err as Error).message}; choose a free address`);
  }
}
