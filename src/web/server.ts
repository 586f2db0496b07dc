// `otm web`'s HTTP surface: sign-in and sign-out, the person's own sessions and tokens, the shared
// /api/v1 routes with per-person authorisation, and the parts that need a WebContext (links, single
// sign-on). It holds no Dokku key and no Docker socket: desired state and status come from
// PostgreSQL, plans from the daemon's loopback API.
//
// Browsers prove who they are with the session cookie, scripts with a personal token. A request that
// changes something and carries no Authorization header must carry the CSRF token too, unless its body
// is JSON: a page of another origin (an oTree instance on a sibling domain, say) cannot send JSON
// without a CORS preflight, which this server never answers.
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Principal } from '../access/can.js';
import { can } from '../access/can.js';
import type { Config } from '../config.js';
import { webPublicUrl } from '../config.js';
import type { Clock } from '../engine/clock.js';
import type { StatusStore } from '../engine/status.js';
import { registerApi } from '../http/api.js';
import type { DesiredRows, DesiredView, HostSource, PlanSource } from '../http/api.js';
import type { AuditReader } from '../http/audit-api.js';
import type { ArchiveSink } from '../http/archive-api.js';
import { ApiError } from '../http/errors.js';
import { answers, closedObject, itemsOf, NULLABLE_TIMESTAMP, TIMESTAMP } from '../http/openapi.js';
import { actorOf, principalOf } from '../http/principal.js';
import type { SecretsApiStore } from '../http/secrets.js';
import { BODY_LIMIT_BYTES, errorResponse } from '../http/server.js';
import type { Experimenter } from '../manifest/types.js';
import type { PageContext, Person } from './context.js';
import { AttemptLimiter } from './limiter.js';
import type { PeopleStore, Session, TokenScope } from './people.js';
import { MAX_TOKEN_LABEL_LENGTH, TOKEN_SCOPES } from './people.js';
import { RESET_LIMIT_RULES } from './links.js';
import { SSO_LIMIT_RULES } from './oidc.js';
import { localReturnTo } from './return-to.js';
import { createRenderer, STATIC_DIR } from './render.js';
import { en } from './text.js';
import { InstanceChanges, registerLiveRoute } from './live.js';
import { registerInstancePages } from './pages.js';
import { registerHostsPage } from './hosts-page.js';
import { LabTime } from './time.js';
import { createDesiredOperations } from '../http/api.js';
import { createSecretOperations } from '../http/secrets.js';
import { setPrincipal } from '../http/principal.js';

export const SESSION_COOKIE = 'otm_session';

export interface WebServerDeps {
  config: Config;
  people: PeopleStore;
  clock: Clock;
  log: Logger;
  desired: DesiredView;
  status(): StatusStore | undefined;
  rows(): DesiredRows | undefined;
  secrets?(): SecretsApiStore | undefined;
  plans(): PlanSource | undefined;
  /** The Dokku hosts, from the daemon; undefined without its token. */
  hosts?(): HostSource | undefined;
  /** The audit log (GET /api/v1/audit). */
  audit?(): AuditReader | undefined;
  /** Where uploaded archives go (the daemon's API); without it uploads answer 503. */
  archives?(): ArchiveSink | undefined;
  /** Instances whose status, events or desired state changed (live pages); none without it. */
  changes?: InstanceChanges;
  /** Parts that register their own routes with the context: one-time links, single sign-on, the pages. */
  parts?: readonly ((app: FastifyInstance, ctx: PageContext) => void)[];
}

export interface WebServer {
  app: FastifyInstance;
  ctx: PageContext;
  /** Every route served once the server is ready (HEAD left out), for tests and documentation that enumerate them. */
  routes: { method: string; url: string }[];
}

/** The person an Experimenter object declares. */
function personOf(object: Experimenter): Person {
  const { spec } = object;
  return { name: object.metadata.name, displayName: spec.displayName, role: spec.role, disabled: spec.disabled, ...(spec.email !== undefined ? { email: spec.email } : {}) };
}

const ID_PARAMS = { type: 'object', required: ['id'], properties: { id: { type: 'string', description: 'The id the list shows' } } } as const;
const REVOKED = closedObject({ id: { type: 'string' }, revoked: { type: 'boolean', enum: [true] } });

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function wantsJson(request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').startsWith('application/json') || (request.headers.accept ?? '').includes('application/json');
}

export function createWebServer(deps: WebServerDeps): WebServer {
  const { config, people, log } = deps;
  const publicUrl = webPublicUrl(config);
  const secure = publicUrl.startsWith('https://');
  const app = Fastify({ bodyLimit: BODY_LIMIT_BYTES, logger: false, return503OnClosing: true, trustProxy: [...config.web.trustProxy] });
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  const renderer = createRenderer();
  const { signInLimit } = config.web;
  const windowMs = signInLimit.windowMinutes * 60_000;
  const limiter = new AttemptLimiter(deps.clock, {
    account: { limit: signInLimit.perAccount, windowMs },
    address: { limit: signInLimit.perAddress, windowMs },
    ...RESET_LIMIT_RULES,
    ...SSO_LIMIT_RULES,
  });

  void app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"], scriptSrc: ["'self'"], styleSrc: ["'self'"], imgSrc: ["'self'", 'data:'], connectSrc: ["'self'"],
        fontSrc: ["'self'"], objectSrc: ["'none'"], baseUri: ["'none'"], formAction: ["'self'"], frameAncestors: ["'none'"],
        ...(secure ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    hsts: secure ? { maxAge: 31_536_000, includeSubDomains: false } : false,
    referrerPolicy: { policy: 'same-origin' },
  });
  void app.register(fastifyCookie);
  void app.register(fastifyFormbody);
  void app.register(fastifyCsrf, { cookieOpts: { path: '/', httpOnly: true, sameSite: 'lax', secure, signed: false } });
  void app.register(fastifyStatic, { root: STATIC_DIR, prefix: '/static/', index: false, list: false, maxAge: '1h' });

  const person = (name: string): Person | undefined => {
    const stored = deps.desired.experimenter(name);
    return stored ? personOf(stored.declared.object) : undefined;
  };

  // ---- who is asking --------------------------------------------------------------------------

  const sessions = new WeakMap<FastifyRequest, { session: Session; person: Person } | null>();
  /** The live session of the cookie, with a person who may still sign in; null when there is none. */
  const sessionOf = async (request: FastifyRequest): Promise<{ session: Session; person: Person } | null> => {
    if (sessions.has(request)) return sessions.get(request)!;
    const secret = request.cookies[SESSION_COOKIE];
    const session = secret ? await people.session(secret) : undefined;
    const who = session ? person(session.person) : undefined;
    const found = session && who && !who.disabled ? { session, person: who } : null;
    sessions.set(request, found);
    return found;
  };

  const principalOfSession = ({ session, person: who }: { session: Session; person: Person }): Principal =>
    ({ name: who.name, admin: who.role === 'admin' || session.adminByGroup, scope: 'write', via: 'session' });

  const authenticate = async (request: FastifyRequest): Promise<Principal> => {
    const header = request.headers.authorization;
    if (header !== undefined) {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
      const token = bearer ? await people.token(bearer[1]!) : undefined;
      const who = token ? person(token.person) : undefined;
      if (!token || !who || who.disabled) {
        throw new ApiError(401, 'Unauthorized', 'the personal token is unknown, expired or revoked, or its person may not sign in; create a new one on your profile or with `otm token create`');
      }
      return { name: who.name, admin: who.role === 'admin', scope: token.scope, via: 'token' };
    }
    const found = await sessionOf(request);
    if (!found) throw new ApiError(401, 'Unauthorized', 'sign in first (POST /sign-in), or send `Authorization: Bearer <personal token>`');
    return principalOfSession(found);
  };

  const operationsDeps = {
    desired: deps.desired, status: deps.status, rows: deps.rows, plans: deps.plans,
    databaseConfigured: config.postgresUrl !== undefined, selfService: config.web.selfService,
    ...(deps.secrets ? { secrets: deps.secrets } : {}),
  };
  const operations = createDesiredOperations(operationsDeps);
  const secretsContext = { store: () => deps.secrets?.(), databaseConfigured: operationsDeps.databaseConfigured };

  const ctx: PageContext = {
    config,
    publicUrl,
    people,
    clock: deps.clock,
    log,
    person,
    peopleByEmail(email) {
      const wanted = email.toLowerCase();
      return deps.desired.experimenters().filter((s) => s.declared.object.spec.email?.toLowerCase() === wanted).map((s) => personOf(s.declared.object));
    },
    async signIn(request, reply, name, options) {
      const { secret, session } = await people.createSession(name, {
        clientAddress: request.ip, userAgent: request.headers['user-agent'] ?? '', method: options.method, adminByGroup: options.adminByGroup ?? false,
      });
      void reply.setCookie(SESSION_COOKIE, secret, {
        // The browser may forget it at the absolute timeout; the server ends it earlier when idle.
        path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge: config.web.session.absoluteHours * 3600,
      });
      log.info({ person: name, method: options.method, session: session.id, adminByGroup: options.adminByGroup ?? false }, 'signed in');
    },
    async provisionPerson(provisioned, by) {
      const rows = deps.rows();
      if (!rows) throw new Error('the desired-state database is not connected');
      const spec = { displayName: provisioned.displayName, email: provisioned.email, quota: provisioned.quota };
      const result = await rows.upsert('Experimenter', provisioned.name, spec, {}, by);
      if (!result.ok) throw new Error(`the new person ${provisioned.name} is invalid: ${result.issues.map((i) => `${i.path} ${i.message}`).join('; ')}`);
    },
    clientAddress: (request) => request.ip,
    limiter,
    render(reply, view, data, statusCode = 200) {
      const csrfToken = reply.generateCsrf();
      return reply.code(statusCode).type('text/html; charset=utf-8').header('cache-control', 'no-store')
        .send(renderer.page(view, { ...data, csrfToken }));
    },
    page(request, reply, view, data, statusCode) {
      const who = principalOf(request);
      return ctx.render(reply, view, { me: { name: who.name, displayName: person(who.name)?.displayName ?? who.name, admin: who.admin }, ...data }, statusCode);
    },
    async signedIn(request, reply) {
      const found = await sessionOf(request);
      if (!found) {
        if (request.method === 'GET') return reply.redirect(`/sign-in?returnTo=${encodeURIComponent(request.url)}`, 303);
        throw new ApiError(401, 'Unauthorized', 'your session has ended; sign in again');
      }
      setPrincipal(request, principalOfSession(found));
    },
    desired: deps.desired,
    operations,
    secrets: createSecretOperations({ ...secretsContext, authorizeInstance: operations.authorizeInstance, refuseFileObjects: operations.refuseFileObjects }),
    status: deps.status,
    time: new LabTime(config.web.timeZone),
    text: en,
    fragment: (view, data) => renderer.fragment(view, data),
  };



  app.addHook('preHandler', (request, reply, done) => {
    if (!STATE_CHANGING.has(request.method) || request.headers.authorization !== undefined) return done();
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== publicUrl) {
      return done(new ApiError(403, 'Forbidden', `requests from ${origin} are refused; use ${publicUrl}`));
    }
    if ((request.headers['content-type'] ?? '').startsWith('application/json')) return done();
    app.csrfProtection(request, reply, done);
  });

  /** A browser asking for a page (not the API, not a script) gets errors as a page. */
  const wantsPage = (request: FastifyRequest): boolean =>
    !request.url.startsWith('/api/') && (request.headers.accept ?? '').includes('text/html');
  const failurePage = (request: FastifyRequest, reply: FastifyReply, failure: ApiError) =>
    ctx.render(reply, 'message', {
      title: failure.statusCode === 404 ? 'Not found' : failure.statusCode === 403 ? 'Not allowed' : failure.statusCode === 401 ? 'Signed out' : 'That did not work',
      message: failure.message,
      link: failure.statusCode === 401 ? { href: `/sign-in?returnTo=${encodeURIComponent(localReturnTo(request.headers.referer ? new URL(request.headers.referer, publicUrl).pathname : '/'))}`, text: 'Sign in' } : { href: '/', text: 'Back to your instances' },
    }, failure.statusCode);

  app.setErrorHandler((error, request, reply) => {
    let failure = error instanceof ApiError ? error : errorResponse(error as Parameters<typeof errorResponse>[0]);
    if (failure.statusCode >= 500) log.error({ err: (error as Error).message, method: request.method, route: request.routeOptions.url }, 'HTTP request failed');
    if ((error as { code?: string }).code === 'FST_CSRF_INVALID_TOKEN' || (error as { code?: string }).code === 'FST_CSRF_MISSING_SECRET') {
      failure = new ApiError(403, 'Forbidden', 'the form is stale or was not sent by this site (CSRF token missing or wrong); reload the page and try again');
    }
    if (wantsPage(request)) return failurePage(request, reply, failure);
    return reply.code(failure.statusCode).send(failure.body());
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const failure = new ApiError(404, 'NotFound', `no page or endpoint ${request.method} ${path}`);
    if (wantsPage(request)) return failurePage(request, reply, failure);
    return reply.code(404).send(failure.body());
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  // ---- signing in and out ---------------------------------------------------------------------

  const signInPage = (reply: FastifyReply, data: { returnTo: string; name?: string; error?: string }, statusCode = 200) =>
    ctx.render(reply, 'sign-in', {
      title: 'Sign in', ...data,
      oidc: config.web.oidc ? { label: config.web.oidc.displayName, href: `/auth/oidc/start?returnTo=${encodeURIComponent(data.returnTo)}` } : undefined,
    }, statusCode);

  app.get<{ Querystring: { returnTo?: string } }>('/sign-in', async (request, reply) => signInPage(reply, { returnTo: localReturnTo(request.query.returnTo) }));

  app.post('/sign-in', async (request, reply) => {
    const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, unknown>;
    const name = typeof body.name === 'string' ? body.name.trim().toLowerCase() : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const returnTo = localReturnTo(body.returnTo);
    const json = wantsJson(request);
    const keys = [{ rule: 'account', key: name }, { rule: 'address', key: request.ip }];
    const wait = limiter.retryAfterSeconds(keys);
    if (wait !== undefined) {
      void reply.header('retry-after', String(wait));
      const message = `too many failed sign-ins; try again in ${Math.ceil(wait / 60)} minute${wait > 60 ? 's' : ''}`;
      if (json) throw new ApiError(429, 'TooManyRequests', message);
      return signInPage(reply, { returnTo, name, error: message }, 429);
    }
    // The password is checked whoever the name is (a dummy hash when nobody has it): the answer and its
    // timing are the same for an unknown name, a disabled person and a wrong password.
    const right = await people.checkPassword(name, password);
    const who = person(name);
    if (!right || !who || who.disabled) {
      limiter.fail(keys);
      log.info({ person: who ? name : undefined, address: request.ip }, 'sign-in refused');
      const message = 'the name or the password is wrong (or the account is disabled)';
      if (json) throw new ApiError(401, 'Unauthorized', message);
      return signInPage(reply, { returnTo, name, error: message }, 401);
    }
    limiter.clear({ rule: 'account', key: name });
    await ctx.signIn(request, reply, name, { method: 'password' });
    return json ? reply.send({ name, role: who.role }) : reply.redirect(returnTo, 303);
  });

  app.post('/sign-out', async (request, reply) => {
    const found = await sessionOf(request);
    if (found) {
      await people.revokeSession(found.person.name, found.session.id, { actor: found.person.name, clientAddress: request.ip, authMethod: 'session' });
    }
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return wantsJson(request) ? reply.send({ signedOut: true }) : reply.redirect('/sign-in', 303);
  });

  // ---- the pages about instances, live ------------------------------------------------------

  const liveParts = registerInstancePages(app, ctx);
  registerLiveRoute(app, ctx, {
    changes: deps.changes ?? new InstanceChanges(),
    parts: liveParts,
    stillSignedIn: async (request) => {
      sessions.delete(request);
      return (await sessionOf(request)) !== null;
    },
  });

  // ---- the person's own access: who am I, sessions, tokens ------------------------------------

  const requireManage = (request: FastifyRequest): Principal => {
    const who = principalOf(request);
    if (!can(who, { kind: 'person', verb: 'manageAccess', person: who.name })) {
      throw new ApiError(403, 'Forbidden', 'this token may only read; sessions and tokens are managed from a signed-in session or with a write token');
    }
    return who;
  };

  const registerOwnAccessRoutes = (api: FastifyInstance): void => {
    api.get('/api/v1/me', {
      schema: {
        operationId: 'getMe', tags: ['me'], summary: 'Who the caller is and how they proved it',
        response: answers({
          type: 'object',
          required: ['name', 'displayName', 'role', 'via', 'scope'],
          properties: {
            name: { type: 'string' }, displayName: { type: 'string' }, role: { type: 'string', enum: ['admin', 'experimenter'] },
            email: { type: 'string' }, via: { type: 'string', enum: ['session', 'token'] }, scope: { type: 'string', enum: [...TOKEN_SCOPES] },
            csrfToken: { type: 'string', description: 'Signed-in sessions only: send it back as X-CSRF-Token with requests whose body is not JSON' },
          },
        }, [401]),
      },
    }, async (request, reply) => {
      const who = principalOf(request);
      const me = person(who.name);
      return {
        name: who.name, displayName: me?.displayName ?? who.name, role: who.admin ? 'admin' : 'experimenter',
        ...(me?.email !== undefined ? { email: me.email } : {}), via: who.via, scope: who.scope,
        // Pages' scripts send it back as X-CSRF-Token with requests that are not JSON.
        ...(who.via === 'session' ? { csrfToken: reply.generateCsrf() } : {}),
      };
    });

    api.get('/api/v1/me/sessions', {
      schema: {
        operationId: 'listMySessions', tags: ['me'], summary: 'The caller\'s live sessions, the newest first',
        response: answers(itemsOf(closedObject({
          id: { type: 'string', format: 'uuid' }, createdAt: TIMESTAMP, lastSeenAt: TIMESTAMP, expiresAt: TIMESTAMP,
          clientAddress: { type: 'string' }, userAgent: { type: 'string' }, method: { type: 'string', enum: ['password', 'oidc', 'invite', 'reset'] },
          current: { type: 'boolean', description: 'The session of this request' },
        })), [401]),
      },
    }, async (request) => {
      const who = principalOf(request);
      const current = (await sessionOf(request))?.session.id;
      return {
        items: (await people.sessions(who.name)).map((s) => ({
          id: s.id, createdAt: s.createdAt.toISOString(), lastSeenAt: s.lastSeenAt.toISOString(), expiresAt: s.expiresAt.toISOString(),
          clientAddress: s.clientAddress, userAgent: s.userAgent, method: s.method, current: s.id === current,
        })),
      };
    });

    api.delete<{ Params: { id: string } }>('/api/v1/me/sessions/:id', {
      schema: {
        operationId: 'revokeMySession', tags: ['me'], summary: 'Sign one of the caller\'s sessions out',
        params: ID_PARAMS,
        response: answers(REVOKED, [401, 403, 404]),
      },
    }, async (request) => {
      const who = requireManage(request);
      if (!(await people.revokeSession(who.name, request.params.id, actorOf(request)))) throw new ApiError(404, 'NotFound', 'no live session of yours has this id');
      return { id: request.params.id, revoked: true };
    });

    api.get('/api/v1/me/tokens', {
      schema: {
        operationId: 'listMyTokens', tags: ['me'], summary: 'The caller\'s live personal tokens (never the tokens themselves)',
        response: answers(itemsOf(closedObject({
          id: { type: 'string', format: 'uuid' }, label: { type: 'string' }, scope: { type: 'string', enum: [...TOKEN_SCOPES] },
          createdAt: TIMESTAMP, expiresAt: NULLABLE_TIMESTAMP, lastUsedAt: NULLABLE_TIMESTAMP,
        })), [401]),
      },
    }, async (request) => {
      const who = principalOf(request);
      return {
        items: (await people.tokens(who.name)).map((t) => ({
          id: t.id, label: t.label, scope: t.scope, createdAt: t.createdAt.toISOString(),
          expiresAt: t.expiresAt?.toISOString() ?? null, lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
        })),
      };
    });

    api.post<{ Body: { label?: string; scope?: TokenScope; expiresInDays?: number | null } }>('/api/v1/me/tokens', {
      schema: {
        operationId: 'createMyToken', tags: ['me'], summary: 'Create a personal token; the answer is the only time it is shown',
        response: answers(closedObject({
          id: { type: 'string', format: 'uuid' }, token: { type: 'string', description: 'Send it as `Authorization: Bearer <token>`' },
          scope: { type: 'string', enum: [...TOKEN_SCOPES] }, label: { type: 'string' }, expiresAt: NULLABLE_TIMESTAMP,
        }), [400, 401, 403]),
        body: {
          type: 'object', additionalProperties: false, required: ['label'],
          properties: {
            label: { type: 'string', minLength: 1, maxLength: MAX_TOKEN_LABEL_LENGTH },
            scope: { enum: [...TOKEN_SCOPES], default: 'read' },
            expiresInDays: { type: ['integer', 'null'], minimum: 1, maximum: 3650, default: 90 },
          },
        },
      },
    }, async (request, reply) => {
      const who = requireManage(request);
      const { label, scope, expiresInDays } = request.body as { label: string; scope: TokenScope; expiresInDays: number | null };
      const expiresAt = expiresInDays === null ? null : new Date(deps.clock.now() + expiresInDays * 86_400_000);
      const { secret, token } = await people.createToken(who.name, { scope, expiresAt, label }, actorOf(request));
      void reply.header('cache-control', 'no-store');
      return { id: token.id, token: secret, scope: token.scope, label: token.label, expiresAt: token.expiresAt?.toISOString() ?? null };
    });

    api.delete<{ Params: { id: string } }>('/api/v1/me/tokens/:id', {
      schema: {
        operationId: 'revokeMyToken', tags: ['me'], summary: 'Revoke one of the caller\'s personal tokens',
        params: ID_PARAMS,
        response: answers(REVOKED, [401, 403, 404]),
      },
    }, async (request) => {
      const who = requireManage(request);
      if (!(await people.revokeToken(who.name, request.params.id, actorOf(request)))) throw new ApiError(404, 'NotFound', 'no live token of yours has this id');
      return { id: request.params.id, revoked: true };
    });
  };

  registerApi(app, {
    ...operationsDeps,
    authenticate,
    credentials: {
      bearer: 'A personal token (`otm token create`, or POST /api/v1/me/tokens); a read token may only read',
      sessionCookie: {
        name: SESSION_COOKIE,
        description: 'The session of a signed-in browser (POST /sign-in). A request that changes something and whose body is not JSON must carry the X-CSRF-Token of GET /api/v1/me',
      },
    },
    ...(deps.audit ? { audit: deps.audit } : {}),
    ...(deps.hosts ? { hosts: deps.hosts } : {}),
    ...(deps.archives ? { archives: deps.archives } : {}),
  }, registerOwnAccessRoutes);
  registerHostsPage(app, ctx, () => deps.hosts?.());

  for (const part of deps.parts ?? []) part(app, ctx);
  return { app, ctx, routes };
}
