// The JSON API under /api/v1: read desired objects with their status and events, dry-run plans, and
// write desired state as PostgreSQL rows (the same rows a web UI writes). One module, two mounts: the
// daemon serves it on loopback for its admin token, `otm web` for people. Every route, reads included,
// first proves who asks (ApiDeps.authenticate), then asks the authorisation table (src/access) about
// the object: what a person may not see answers 404, what they see but may not do 403. Manifest files
// stay read-only here: an object a file declares is edited in the file. Each server serves the OpenAPI
// document of the routes it has (src/http/openapi.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { can, canSee, forbiddenChanges, forbiddenPersonChanges } from '../access/can.js';
import type { InstanceVerb, PersonVerb, Principal } from '../access/can.js';
import type { DesiredStore } from '../desired/store.js';
import { rowOrigin, validateRow } from '../desired/rows.js';
import type { WriteResult } from '../desired/postgres.js';
import type { InstanceStatus, StatusStore } from '../engine/status.js';
import { API_VERSION, checkDocument, SECRET_MASK } from '../manifest/index.js';
import type { Kind, OTreeInstanceSpec, ParseResult } from '../manifest/index.js';
import type { Actor } from '../store/audit.js';
import { registerArchiveApi } from './archive-api.js';
import type { ArchiveSink } from './archive-api.js';
import { registerAuditApi } from './audit-api.js';
import type { AuditReader } from './audit-api.js';
import { ApiError, apiIssues, notFound } from './errors.js';
import { actorOf, principalOf, setPrincipal } from './principal.js';
import type { Authenticator } from './principal.js';
import { answers, AUTHENTICATED, closedObject, documentedBody, itemsOf, registerOpenApi } from './openapi.js';
import type { ApiCredentials } from './openapi.js';
import { listItem, objectView, orphanItem } from './views.js';
import type { HostView, PlanView } from './views.js';
import { registerSecretsApi, splitInlineSecrets, storeInlineSecrets } from './secrets.js';
import type { SecretsApiStore } from './secrets.js';

/** What the API reads of the desired state. */
export type DesiredView = Pick<DesiredStore, 'instance' | 'experimenter' | 'instances' | 'experimenters' | 'heldBack' | 'issuesFor' | 'trial'>;

/** Writes to the desired-state rows (PostgresDesiredSource); each is audited under `by`. */
export interface DesiredRows {
  /** The row as the controller will read it: its schema and the row policy (no cross-object checks). */
  validate(kind: Kind, name: string, spec: unknown, labels: Record<string, string>): ParseResult;
  upsert(kind: Kind, name: string, spec: unknown, labels: Record<string, string>, by: Actor): Promise<WriteResult>;
  softDelete(kind: Kind, name: string, by: Actor): Promise<boolean>;
  bumpGeneration(name: string, action: 'resetDatabase' | 'restart', by: Actor): Promise<number>;
}

/** The Dokku hosts as admins see them: the daemon's own caches and probes, or (in otm web) the daemon's API. */
export type HostSource = () => Promise<HostView[]>;

/** Dry-run planning: the daemon's own planner and observation cache, or (in otm web) the daemon's API. */
export interface PlanSource {
  /** Every instance there is to plan: the declared ones and managed apps no longer declared. */
  names(): Promise<string[]>;
  planFor(name: string): Promise<PlanView>;
}

/** What the operations on desired state need: the stores, and the server's policy. */
export interface OperationsDeps {
  desired: DesiredView;
  /** Undefined until the status store is open. */
  status(): StatusStore | undefined;
  /** Undefined until the daemon has observed its hosts once. */
  plans(): PlanSource | undefined;
  /** Undefined without a database (or before the connection is made). */
  rows(): DesiredRows | undefined;
  /** Whether `postgresUrl` is configured at all. */
  databaseConfigured: boolean;
  /** Whether experimenters may create instances within their quota (web.selfService). */
  selfService?: boolean;
  /** The encrypted secret store; undefined (or absent) without postgresUrl and secrets.keyFile, or before start. */
  secrets?: () => SecretsApiStore | undefined;
}

export interface ApiDeps extends OperationsDeps {
  /** Proves who sends each request (the admin token, or a person's session or token). */
  authenticate: Authenticator;
  /** What `authenticate` accepts, as the OpenAPI document describes it. */
  credentials: ApiCredentials;
  /** The audit log; undefined (or absent) without a database. */
  audit?: () => AuditReader | undefined;
  /** The hosts (GET /api/v1/hosts, admins only); undefined until the daemon can say. */
  hosts?: () => HostSource | undefined;
  /** Where uploaded archives are deployed (POST /api/v1/instances/:name/archive); undefined (or absent) until that is possible. */
  archives?: () => ArchiveSink | undefined;
}

const KIND_OF = { instances: 'OTreeInstance', experimenters: 'Experimenter' } as const satisfies Record<string, Kind>;
type Collection = keyof typeof KIND_OF;

/** Loose enough for both instance and experimenter names; the manifest schema checks the exact rules. */
const NAME_PARAMS = {
  type: 'object',
  properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$', description: 'The object\'s metadata.name' } },
  required: ['name'],
} as const;
const EVENTS_QUERY = {
  type: 'object',
  properties: { events: { type: 'integer', minimum: 0, maximum: 1000, default: 50, description: 'How many of the newest events to show' } },
} as const;

const ITEMS = { type: 'object', required: ['items'], properties: { items: { type: 'array', items: { $ref: 'ListItem#' } } } } as const;
const PLANS = { type: 'object', required: ['plans'], properties: { plans: { type: 'array', items: { $ref: 'Plan#' } } } } as const;
const OBJECT_VIEW = { $ref: 'ObjectView#' } as const;
const GENERATION = closedObject({ name: { type: 'string' }, generation: { type: 'integer' } }, 'Written: the row\'s generation now');
const DELETED = closedObject({ name: { type: 'string' }, deleted: { type: 'boolean', enum: [true] } }, 'The row is soft-deleted');

/** The body of a PUT: the whole manifest object, checked by the manifest schemas (422 with issues), not by fastify. */
function manifestBody(kind: Kind): object {
  return {
    description: `The whole ${kind} manifest, as in a manifest file (schemas/${kind.toLowerCase()}.schema.json); fields left out take their defaults`,
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { type: 'string', enum: [API_VERSION] },
      kind: { type: 'string', enum: [kind] },
      metadata: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string', description: 'The name in the URL' }, labels: { type: 'object', additionalProperties: { type: 'string' } } },
      },
      spec: { type: 'object', additionalProperties: true },
    },
  };
}

type NameRoute = { Params: { name: string } };

/** The routes that ask for one reset or restart: URL, verb (and generation), operationId, summary. */
const ONE_SHOT_ACTIONS = [
  ['reset-database', 'resetDatabase', 'resetInstanceDatabase', 'Reset the instance\'s database once: bumps spec.resetDatabase.generation'],
  ['restart', 'restart', 'restartInstance', 'Restart the instance once: bumps spec.restart.generation'],
] as const;

/** Who shares an instance, for the authorisation table. */
type Sharing = { owner: string; collaborators: readonly string[] };

/** The placement of a minimal instance: what an experimenter's new instance must keep. */
const INSTANCE_DEFAULTS: Partial<OTreeInstanceSpec> = (() => {
  const minimal = validateRow('instances', 'defaults', { owner: 'defaults', otree: { adminPassword: { secretRef: 'adminPassword' } } }, {}, {});
  const object = minimal.objects[0]?.object;
  if (object?.kind !== 'OTreeInstance') throw new Error('the minimal instance no longer validates; the schema changed');
  return object.spec;
})();

/** A part the daemon opens while starting: answers 503 until it is there. */
function started<T>(part: T | undefined, what: string): T {
  if (part === undefined) throw new ApiError(503, 'NotReady', `${what} is not available yet: the daemon is still starting; retry once /readyz says ready`);
  return part;
}

function forbidden(message: string): ApiError {
  return new ApiError(403, 'Forbidden', message);
}

/** Why a principal may not do something they can see: their credential's scope, or their role. */
function refusal(who: Principal, what: string): ApiError {
  return who.scope === 'read'
    ? forbidden(`this token may only read; ${what} needs a token with scope write (or a signed-in session)`)
    : forbidden(`you may not ${what}; ask the instance's owner or a lab admin`);
}

const VERB_WORDS: Record<InstanceVerb, string> = {
  read: 'read this instance', plan: 'plan this instance', logs: 'read its logs', backups: 'list its backups',
  update: 'change this instance', restart: 'restart this instance', resetDatabase: 'reset its database',
  deploy: 'deploy to this instance', backup: 'back it up', delete: 'delete this instance',
  share: 'change who shares this instance', secrets: 'list its secrets', revealSecret: 'reveal its secrets', writeSecret: 'change its secrets',
};

/**
 * Mounts the API on `app`: the shared routes, then `mountRoutes` (the routes only this server has), and
 * the OpenAPI document of them all. The routes are added when the server gets ready (listen, inject).
 */
export function registerApi(app: FastifyInstance, deps: ApiDeps, mountRoutes?: (api: FastifyInstance) => void): void {
  const authenticate = async (request: FastifyRequest): Promise<void> => {
    setPrincipal(request, await deps.authenticate(request));
  };
  // Every route under /api/v1 is authenticated, whoever registers it and where: the hook is on the server
  // itself, so no route can be added open by mistake.
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/v1/') && route.url !== '/api/v1') return;
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [authenticate, ...existing.filter((hook) => hook !== authenticate)];
  });
  // @fastify/swagger describes only the routes added after it: the routes go in a plugin that registers it first.
  void app.register(async (api) => {
    await registerOpenApi(api, deps.credentials);
    registerSharedRoutes(api, deps);
    mountRoutes?.(api);
  });
}

/**
 * The operations on desired state behind the API's routes, for every caller with a request whose
 * principal is set (the API's routes, the web interface's forms): each authorises, checks and audits
 * exactly as the route does, so a page can never do what the API would refuse.
 */
export interface DesiredOperations {
  /** Throws 404 when the request's principal may not know the instance exists, 403 when they may not do `verb`. */
  authorizeInstance(request: FastifyRequest, name: string, verb: InstanceVerb): void;
  authorizePerson(request: FastifyRequest, name: string, verb: PersonVerb): void;
  /** Whether `who` may know the instance exists. */
  visible(who: Principal, name: string): boolean;
  /** 409 when a manifest file declares (or tried to declare) the object: files are edited, not overwritten. */
  refuseFileObjects(kind: Kind, name: string): void;
  /** Creates or replaces the object's row from a whole manifest document (the body of a PUT). */
  put(request: FastifyRequest, kind: Kind, name: string, body: unknown): Promise<{ name: string; generation: number }>;
  /** Soft-deletes the object's row. */
  remove(request: FastifyRequest, kind: Kind, name: string): Promise<void>;
  /** Asks for one reset or restart: bumps the one-shot generation, answers the new one. */
  bump(request: FastifyRequest, name: string, action: 'resetDatabase' | 'restart'): Promise<number>;
}

export function createDesiredOperations(deps: OperationsDeps): DesiredOperations {
  const { desired } = deps;

  const writableRows = (): DesiredRows => {
    if (!deps.databaseConfigured) {
      throw new ApiError(409, 'NoDatabase', 'desired state can only be written when postgresUrl is configured; edit the manifest files instead');
    }
    return started(deps.rows(), 'the desired-state database');
  };

  const sharingOf = (name: string): Sharing | undefined => desired.instance(name)?.declared.object.spec;

  /** An instance with no valid version is an admin's business only. */
  const visible = (who: Principal, name: string): boolean => {
    const sharing = sharingOf(name);
    return sharing ? canSee(who, sharing) : who.admin;
  };

  const authorizeInstance = (request: FastifyRequest, name: string, verb: InstanceVerb): void => {
    const who = principalOf(request);
    if (!visible(who, name)) throw notFound(`instance "${name}"`);
    if (!can(who, { kind: 'instance', verb, instance: sharingOf(name) ?? { owner: '', collaborators: [] } })) throw refusal(who, VERB_WORDS[verb]);
  };

  const authorizePerson = (request: FastifyRequest, name: string, verb: PersonVerb): void => {
    const who = principalOf(request);
    if (!who.admin && who.name !== name) throw notFound(`experimenter "${name}"`);
    if (!can(who, { kind: 'person', verb, person: name })) {
      throw refusal(who, verb === 'read' ? 'read this person' : verb === 'editProfile' ? 'change your profile' : 'change people (a lab admin does)');
    }
  };

  const declaringFile = (kind: Kind, name: string): string | undefined => {
    const current = kind === 'OTreeInstance' ? desired.instance(name) : desired.experimenter(name);
    if (current && !current.source.startsWith('row:')) return current.source;
    return desired.heldBack().find((r) => r.kind === kind && r.name === name && !r.origin.source.startsWith('row:'))?.origin.source;
  };

  const refuseFileObjects = (kind: Kind, name: string): void => {
    const file = declaringFile(kind, name);
    if (file !== undefined) {
      throw new ApiError(409, 'Conflict', `${kind} "${name}" is declared by the manifest file ${file}; change or remove it there (the API only writes database rows)`);
    }
  };

  const secretsContext = { store: () => deps.secrets?.(), databaseConfigured: deps.databaseConfigured };

  return {
    authorizeInstance,
    authorizePerson,
    visible,
    refuseFileObjects,

    async put(request, kind, name, body) {
      const who = principalOf(request);
      const { spec: sent, labels } = checkedBody(body, kind, name);
      const existing = kind === 'OTreeInstance' ? desired.instance(name) : undefined;
      const person = kind === 'Experimenter' ? desired.experimenter(name) : undefined;
      if (kind === 'OTreeInstance') {
        if (existing) authorizeInstance(request, name, 'update');
      } else {
        // People edit their own profile (forbiddenPersonChanges below says which fields); the rest is an admin's.
        if (person) authorizePerson(request, name, who.admin ? 'update' : 'editProfile');
        else if (!can(who, { kind: 'person', verb: 'create' })) throw refusal(who, 'declare people (a lab admin does)');
      }
      const rows = writableRows();
      refuseFileObjects(kind, name);
      // Masked env values sent back keep their stored values; inline secret values go to the encrypted store
      // and the row only names them.
      const unmasked = kind === 'OTreeInstance' ? keepMaskedEnv(sent, existing?.declared.object.spec.env ?? {}) : sent;
      const { spec, secrets } = kind === 'OTreeInstance' ? splitInlineSecrets(unmasked, name) : { spec: sent, secrets: [] };
      // Everything the controller would reject is refused before anything is stored: the row policy, then
      // the checks against every other object (owner, quota, domains), as the desired state stands now.
      const checked = rows.validate(kind, name, spec, labels);
      const object = checked.objects[0]?.object;
      if (object?.kind === 'OTreeInstance') {
        if (!existing) {
          const heldBack = desired.heldBack().some((r) => r.kind === kind && r.name === name);
          if (heldBack && !who.admin) throw notFound(`instance "${name}"`);
          if (!can(who, { kind: 'instance', verb: 'create', instance: object.spec, selfService: deps.selfService ?? false })) {
            throw who.scope === 'read' ? refusal(who, 'create instances')
              : forbidden(deps.selfService ? `you may only create instances you own: set spec.owner to "${who.name}"` : 'only a lab admin creates instances here; ask them for one');
          }
        }
        const refused = forbiddenChanges(who, existing?.declared.object.spec, object.spec, INSTANCE_DEFAULTS);
        if (refused.length > 0) {
          throw new ApiError(403, 'Forbidden', `you may not change ${refused.join(', ')}; a lab admin sets ${refused.length === 1 ? 'it' : 'them'}`,
            refused.map((path) => ({ path, code: 'FORBIDDEN', severity: 'error', message: 'only a lab admin (or, for sharing and secrets, the owner) changes this field' })));
        }
      }
      if (object?.kind === 'Experimenter' && person) {
        const current = person.declared.object;
        const refused = forbiddenPersonChanges(who, { name, labels: current.metadata.labels, spec: current.spec }, { labels: object.metadata.labels, spec: object.spec });
        if (refused.length > 0) {
          throw new ApiError(403, 'Forbidden', `you may not change ${refused.join(', ')}; a lab admin sets ${refused.length === 1 ? 'it' : 'them'} (you change only your ssh keys and display name)`,
            refused.map((path) => ({ path, code: 'FORBIDDEN', severity: 'error', message: 'only a lab admin changes this field' })));
        }
      }
      const collection: Collection = kind === 'OTreeInstance' ? 'instances' : 'experimenters';
      const trial = object ? desired.trial(rowOrigin(collection, name).source, checked) : undefined;
      const problems = [...checked.issues, ...(trial?.issues ?? [])];
      if (!object || trial!.heldBack.length > 0) throw invalid(kind, name, problems);
      if (existing && secrets.length > 0 && !can(who, { kind: 'instance', verb: 'writeSecret', instance: existing.declared.object.spec })) {
        // A spec sent back with its secrets inline is fine; a new value is a secret change, the owner's alone.
        const store = deps.secrets?.();
        for (const { field, value } of secrets) {
          if ((await store?.get(name, field).catch(() => undefined)) !== value) throw refusal(who, `change spec.otree.${field}`);
        }
      }
      const by = actorOf(request);
      await storeInlineSecrets(secrets, name, secretsContext, by);
      const result = await rows.upsert(kind, name, spec, labels, by);
      if (!result.ok) throw invalid(kind, name, result.issues);
      return { name, generation: result.generation };
    },

    async remove(request, kind, name) {
      if (kind === 'OTreeInstance') authorizeInstance(request, name, 'delete');
      else authorizePerson(request, name, 'delete');
      const rows = writableRows();
      refuseFileObjects(kind, name);
      if (!(await rows.softDelete(kind, name, actorOf(request)))) throw new ApiError(404, 'NotFound', `${kind} "${name}" has no row in the desired-state database`);
    },

    async bump(request, name, action) {
      authorizeInstance(request, name, action);
      const rows = writableRows();
      refuseFileObjects('OTreeInstance', name);
      try {
        return await rows.bumpGeneration(name, action, actorOf(request));
      } catch (err) {
        // The source's only refusal is a missing live row; anything else (the database down) is a server error.
        if (/has no live row/.test((err as Error).message)) throw new ApiError(404, 'NotFound', `instance "${name}" has no row in the desired-state database`);
        throw err;
      }
    },
  };
}

function registerSharedRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { desired } = deps;
  const ops = createDesiredOperations(deps);
  const { authorizeInstance, authorizePerson, refuseFileObjects } = ops;

  const statusStore = (): StatusStore => started(deps.status(), 'status');

  const stored = (collection: Collection, name: string) =>
    (collection === 'instances' ? desired.instance(name) : desired.experimenter(name));

  const secretsContext = { store: () => deps.secrets?.(), databaseConfigured: deps.databaseConfigured };
  registerSecretsApi(app, { ...secretsContext, authorizeInstance, refuseFileObjects });
  registerAuditApi(app, () => deps.audit?.());
  registerArchiveApi(app, { desired, authorizeInstance, ...(deps.archives ? { archives: deps.archives } : {}) });

  // Reads.
  app.get('/api/v1/instances', {
    schema: {
      operationId: 'listInstances', tags: ['instances'], summary: 'The instances the caller may see, with their status, sorted by name',
      response: answers(ITEMS, [...AUTHENTICATED, 503]),
    },
  }, async (request) => {
    const who = principalOf(request);
    const statuses = new Map((await statusStore().list()).map((s) => [s.name, s]));
    const items = desired.instances()
      .filter((s) => canSee(who, s.declared.object.spec))
      .map((s) => listItem(s, statuses.get(s.declared.object.metadata.name) ?? null));
    const declared = new Set(desired.instances().map((s) => s.declared.object.metadata.name));
    // Managed apps no longer declared have no owner to share them with: admins only.
    const orphans = who.admin ? [...statuses.values()].filter((s) => !declared.has(s.name)).map(orphanItem) : [];
    return { items: [...items, ...orphans].sort((a, b) => a.name.localeCompare(b.name)) };
  });

  app.get<NameRoute & { Querystring: { events: number } }>('/api/v1/instances/:name', {
    schema: {
      operationId: 'getInstance', tags: ['instances'], summary: 'One instance: its manifest, issues, status and newest events',
      params: NAME_PARAMS, querystring: EVENTS_QUERY,
      response: answers(OBJECT_VIEW, [...AUTHENTICATED, 404, 503]),
    },
  }, async (request) => {
    const { name } = request.params;
    authorizeInstance(request, name, 'read');
    const store = statusStore();
    const object = stored('instances', name);
    const status: InstanceStatus | null = (await store.get(name)) ?? null;
    // An object whose every version was rejected is declared nowhere yet still has issues to show.
    const issues = desired.issuesFor('OTreeInstance', name);
    if (!object && !status && issues.length === 0) throw notFound(`instance "${name}"`);
    return objectView(name, object, issues, { status, events: await store.events(name, request.query.events) });
  });

  app.get('/api/v1/experimenters', {
    schema: {
      operationId: 'listExperimenters', tags: ['experimenters'], summary: 'The experimenters the caller may see (an experimenter sees only themselves)',
      response: answers(ITEMS, AUTHENTICATED),
    },
  }, async (request) => {
    const who = principalOf(request);
    return { items: desired.experimenters().filter((s) => who.admin || s.declared.object.metadata.name === who.name).map((s) => listItem(s)) };
  });

  app.get<NameRoute>('/api/v1/experimenters/:name', {
    schema: {
      operationId: 'getExperimenter', tags: ['experimenters'], summary: 'One experimenter: their manifest and issues',
      params: NAME_PARAMS,
      response: answers(OBJECT_VIEW, [...AUTHENTICATED, 404]),
    },
  }, async (request) => {
    const { name } = request.params;
    authorizePerson(request, name, 'read');
    const object = stored('experimenters', name);
    const issues = desired.issuesFor('Experimenter', name);
    if (!object && issues.length === 0) throw notFound(`experimenter "${name}"`);
    return objectView(name, object, issues);
  });

  const planSource = (): PlanSource => started(deps.plans(), 'planning');

  app.get('/api/v1/hosts', {
    schema: {
      operationId: 'listHosts', tags: ['hosts'], summary: 'The Dokku hosts: whether each answers, its version and plugins, its apps and instances (admins only)',
      response: answers(itemsOf(closedObject({
        name: { type: 'string' }, transport: { type: 'string', enum: ['local', 'ssh'] }, reachable: { type: 'string', description: '`ok`, or why the host does not answer' },
        version: { type: ['string', 'null'] },
        plugins: { type: ['object', 'null'], additionalProperties: { type: 'boolean' } },
        apps: { type: ['integer', 'null'] }, instances: { type: 'integer' },
      })), [...AUTHENTICATED, 503]),
    },
  }, async (request) => {
    const who = principalOf(request);
    if (!who.admin) throw forbidden('only a lab admin sees the Dokku hosts');
    return { items: await started(deps.hosts?.(), 'the host view')() };
  });

  app.get('/api/v1/plan', {
    schema: {
      operationId: 'listPlans', tags: ['plans'], summary: 'What the daemon would do now for every instance the caller may see (dry run)',
      response: answers(PLANS, [...AUTHENTICATED, 503]),
    },
  }, async (request) => {
    const who = principalOf(request);
    const source = planSource();
    const plans = [];
    for (const name of (await source.names()).sort()) {
      if (ops.visible(who, name)) plans.push(await source.planFor(name));
    }
    return { plans };
  });

  app.get<NameRoute>('/api/v1/plan/:name', {
    schema: {
      operationId: 'getPlan', tags: ['plans'], summary: 'What the daemon would do now for one instance (dry run)',
      params: NAME_PARAMS,
      response: answers(PLANS, [...AUTHENTICATED, 404, 503]),
    },
  }, async (request) => {
    const { name } = request.params;
    authorizeInstance(request, name, 'plan');
    const source = planSource();
    if (!(await source.names()).includes(name) && !(await statusStore().get(name))) throw notFound(`instance "${name}"`);
    return { plans: [await source.planFor(name)] };
  });

  // Writes.
  for (const collection of Object.keys(KIND_OF) as Collection[]) {
    const kind = KIND_OF[collection];
    const noun = collection === 'instances' ? 'Instance' : 'Experimenter';

    app.put<NameRoute>(`/api/v1/${collection}/:name`, {
      schema: {
        operationId: `put${noun}`, tags: [collection], summary: `Create or replace the ${kind} as a database row`,
        params: NAME_PARAMS,
        response: answers(GENERATION, [...AUTHENTICATED, 404, 409, 422, 503]),
      },
      config: documentedBody(manifestBody(kind)),
    }, async (request) => ops.put(request, kind, request.params.name, request.body));

    app.delete<NameRoute>(`/api/v1/${collection}/:name`, {
      schema: {
        operationId: `delete${noun}`, tags: [collection], summary: `Soft-delete the ${kind}'s database row`,
        params: NAME_PARAMS,
        response: answers(DELETED, [...AUTHENTICATED, 404, 409, 503]),
      },
    }, async (request) => {
      await ops.remove(request, kind, request.params.name);
      return { name: request.params.name, deleted: true };
    });
  }

  for (const [route, action, operationId, summary] of ONE_SHOT_ACTIONS) {
    app.post<NameRoute>(`/api/v1/instances/:name/${route}`, {
      schema: {
        operationId, tags: ['instances'], summary,
        params: NAME_PARAMS,
        response: answers(GENERATION, [...AUTHENTICATED, 404, 409, 503]),
      },
    }, async (request) => ({ name: request.params.name, generation: await ops.bump(request, request.params.name, action) }));
  }
}

/**
 * Reads show every spec.env value masked; a spec sent back as read (`otm get -o yaml` then `otm apply`)
 * keeps the stored value of each key still masked instead of storing the mask. A masked key with no
 * stored value is refused: there is nothing to keep.
 */
function keepMaskedEnv(spec: unknown, current: Readonly<Record<string, string>>): unknown {
  const env = (spec as { env?: unknown } | undefined)?.env;
  if (typeof env !== 'object' || env === null || Array.isArray(env)) return spec;
  const kept: Record<string, unknown> = { ...(env as Record<string, unknown>) };
  for (const [key, value] of Object.entries(kept)) {
    if (value !== SECRET_MASK) continue;
    if (!Object.hasOwn(current, key)) {
      throw new ApiError(422, 'Invalid', `spec.env.${key} is "${SECRET_MASK}", the mask reads show, and the instance has no stored value for it; send the real value`,
        [{ path: `spec.env.${key}`, code: 'FIELD_INVALID', severity: 'error', message: 'send the value itself, not the mask' }]);
    }
    kept[key] = current[key];
  }
  return { ...(spec as object), env: kept };
}

function invalid(kind: Kind, name: string, issues: Parameters<typeof apiIssues>[0]): ApiError {
  const errors = issues.filter((i) => i.severity === 'error').length;
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid (${errors} error${errors === 1 ? '' : 's'}); nothing was written: fix the fields listed in issues`, apiIssues(issues));
}

/**
 * Checks a PUT body as the manifest document it is (same schemas and checks as files), then that it
 * matches the URL. Returns the spec and labels exactly as sent: defaults are applied when the row is read.
 */
function checkedBody(body: unknown, kind: Kind, name: string): { spec: unknown; labels: Record<string, string> } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'BadRequest', `send the whole manifest as a JSON object: {"apiVersion": "${API_VERSION}", "kind": "${kind}", "metadata": {"name": "${name}"}, "spec": {...}}`);
  }
  const document = body as { kind?: unknown; metadata?: { name?: unknown; labels?: Record<string, string>; annotations?: unknown }; spec?: unknown };
  if (document.kind !== undefined && document.kind !== kind) {
    throw new ApiError(400, 'BadRequest', `this endpoint takes kind ${kind}, the body says ${JSON.stringify(document.kind)}`);
  }
  if (document.metadata?.name !== undefined && document.metadata.name !== name) {
    throw new ApiError(400, 'BadRequest', `metadata.name ${JSON.stringify(document.metadata.name)} differs from "${name}" in the URL; they must be the same`);
  }
  const origin = { source: `api:${name}`, line: 0, column: 0 };
  const { issues } = checkDocument(structuredClone(body), origin, () => origin);
  if (issues.some((i) => i.severity === 'error')) throw invalid(kind, name, issues);
  if (document.metadata?.annotations !== undefined) {
    throw new ApiError(400, 'BadRequest', 'metadata.annotations cannot be stored in a database row; remove them (annotations live in manifest files only)');
  }
  return { spec: document.spec, labels: document.metadata?.labels ?? {} };
}
