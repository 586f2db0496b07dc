// The JSON API under /api/v1: read desired objects with their status and events, dry-run plans, and
// write desired state as PostgreSQL rows (the same rows a web UI writes). Every route, reads included,
// needs the bearer token: desired state names people, hosts and repositories that are nobody else's
// business. Manifest files stay read-only here: an object a file declares is edited in the file.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DesiredStore } from '../desired/store.js';
import { rowOrigin } from '../desired/rows.js';
import type { WriteResult } from '../desired/postgres.js';
import type { InstancePlan } from '../engine/planner.js';
import type { InstanceStatus, StatusStore } from '../engine/status.js';
import { API_VERSION, checkDocument, SECRET_MASK } from '../manifest/index.js';
import type { Kind, ParseResult } from '../manifest/index.js';
import { requireBearer } from './auth.js';
import { ApiError, apiIssues, notFound } from './errors.js';
import { listItem, objectView, orphanItem, planView } from './views.js';
import { actorOf, registerSecretsApi, splitInlineSecrets, storeInlineSecrets } from './secrets.js';
import type { SecretsApiStore } from './secrets.js';

/** What the API reads of the desired state. */
export type DesiredView = Pick<DesiredStore, 'instance' | 'experimenter' | 'instances' | 'experimenters' | 'heldBack' | 'issuesFor' | 'trial'>;

/** Writes to the desired-state rows (PostgresDesiredSource). */
export interface DesiredRows {
  /** The row as the controller will read it: its schema and the row policy (no cross-object checks). */
  validate(kind: Kind, name: string, spec: unknown, labels: Record<string, string>): ParseResult;
  upsert(kind: Kind, name: string, spec: unknown, labels: Record<string, string>, author: string): Promise<WriteResult>;
  softDelete(kind: Kind, name: string, author: string): Promise<boolean>;
  bumpGeneration(name: string, action: 'resetDatabase' | 'restart', author: string): Promise<number>;
}

/** Dry-run planning with the daemon's own planner and observation cache. */
export interface PlanSource {
  /** Every instance there is to plan: the declared ones and managed apps no longer declared. */
  names(): string[];
  planFor(name: string): Promise<InstancePlan>;
}

export interface ApiDeps {
  desired: DesiredView;
  /** Undefined until the daemon has opened its status store. */
  status(): StatusStore | undefined;
  /** Undefined until the daemon has observed its hosts once. */
  plans(): PlanSource | undefined;
  /** Undefined without a database (or before the daemon has connected to it). */
  rows(): DesiredRows | undefined;
  /** Whether `postgresUrl` is configured at all. */
  databaseConfigured: boolean;
  /** Undefined: writes are disabled. */
  token: string | undefined;
  /** The encrypted secret store; undefined (or absent) without postgresUrl and secrets.keyFile, or before start. */
  secrets?: () => SecretsApiStore | undefined;
}

const KIND_OF = { instances: 'OTreeInstance', experimenters: 'Experimenter' } as const satisfies Record<string, Kind>;
type Collection = keyof typeof KIND_OF;

/** Loose enough for both instance and experimenter names; the manifest schema checks the exact rules. */
const NAME_PARAMS = {
  type: 'object',
  properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$' } },
  required: ['name'],
} as const;
const EVENTS_QUERY = {
  type: 'object',
  properties: { events: { type: 'integer', minimum: 0, maximum: 1000, default: 50 } },
} as const;
const AUTHOR_HEADER = 'x-otm-author';
const DEFAULT_AUTHOR = 'api';

type NameRoute = { Params: { name: string } };

/** A part the daemon opens while starting: answers 503 until it is there. */
function started<T>(part: T | undefined, what: string): T {
  if (part === undefined) throw new ApiError(503, 'NotReady', `${what} is not available yet: the daemon is still starting; retry once /readyz says ready`);
  return part;
}

/** Who a write is recorded as: the `X-Otm-Author` header, else `api`. */
function authorOf(request: FastifyRequest): string {
  const header = request.headers[AUTHOR_HEADER];
  if (header === undefined) return DEFAULT_AUTHOR;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^[\w.@+-]{1,100}$/.test(value)) {
    throw new ApiError(400, 'BadRequest', 'the X-Otm-Author header must be a user name or e-mail address (letters, digits, . _ @ + -, at most 100 characters)');
  }
  return value;
}

export function registerApi(app: FastifyInstance, deps: ApiDeps): void {
  const { desired } = deps;

  const statusStore = (): StatusStore => started(deps.status(), 'status');

  const authorize = async (request: FastifyRequest): Promise<void> => {
    requireBearer(request.headers.authorization, deps.token);
  };
  // Every route under /api/v1 is authorised, whoever registers it: no route can be added open by mistake.
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/v1/') && route.url !== '/api/v1') return;
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [authorize, ...existing.filter((hook) => hook !== authorize)];
  });

  const writableRows = (): DesiredRows => {
    if (!deps.databaseConfigured) {
      throw new ApiError(409, 'NoDatabase', 'desired state can only be written when postgresUrl is configured; edit the manifest files instead');
    }
    return started(deps.rows(), 'the desired-state database');
  };

  const stored = (collection: Collection, name: string) =>
    (collection === 'instances' ? desired.instance(name) : desired.experimenter(name));

  /** The manifest file that declares (or tried to declare) this object, if any: files are edited, not overwritten. */
  const declaringFile = (kind: Kind, name: string): string | undefined => {
    const current = stored(kind === 'OTreeInstance' ? 'instances' : 'experimenters', name);
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
  registerSecretsApi(app, { ...secretsContext, authorize, authorOf, refuseFileObjects });

  // Reads.
  app.get('/api/v1/instances', async () => {
    const statuses = new Map((await statusStore().list()).map((s) => [s.name, s]));
    const items = desired.instances().map((s) => listItem(s, statuses.get(s.declared.object.metadata.name) ?? null));
    const declared = new Set(items.map((item) => item.name));
    const orphans = [...statuses.values()].filter((s) => !declared.has(s.name)).map(orphanItem);
    return { items: [...items, ...orphans].sort((a, b) => a.name.localeCompare(b.name)) };
  });

  app.get<NameRoute & { Querystring: { events: number } }>('/api/v1/instances/:name', { schema: { params: NAME_PARAMS, querystring: EVENTS_QUERY } }, async (request) => {
    const { name } = request.params;
    const store = statusStore();
    const object = stored('instances', name);
    const status: InstanceStatus | null = (await store.get(name)) ?? null;
    // An object whose every version was rejected is declared nowhere yet still has issues to show.
    const issues = desired.issuesFor('OTreeInstance', name);
    if (!object && !status && issues.length === 0) throw notFound(`instance "${name}"`);
    return objectView(name, object, issues, { status, events: await store.events(name, request.query.events) });
  });

  app.get('/api/v1/experimenters', async () => ({ items: desired.experimenters().map((s) => listItem(s)) }));

  app.get<NameRoute>('/api/v1/experimenters/:name', { schema: { params: NAME_PARAMS } }, async (request) => {
    const { name } = request.params;
    const object = stored('experimenters', name);
    const issues = desired.issuesFor('Experimenter', name);
    if (!object && issues.length === 0) throw notFound(`experimenter "${name}"`);
    return objectView(name, object, issues);
  });

  const planSource = (): PlanSource => started(deps.plans(), 'planning');

  app.get('/api/v1/plan', async () => {
    const source = planSource();
    const plans = [];
    for (const name of source.names().sort()) plans.push(planView(await source.planFor(name)));
    return { plans };
  });

  app.get<NameRoute>('/api/v1/plan/:name', { schema: { params: NAME_PARAMS } }, async (request) => {
    const { name } = request.params;
    const source = planSource();
    if (!source.names().includes(name) && !(await statusStore().get(name))) throw notFound(`instance "${name}"`);
    return { plans: [planView(await source.planFor(name))] };
  });

  // Writes.
  for (const collection of Object.keys(KIND_OF) as Collection[]) {
    const kind = KIND_OF[collection];

    app.put<NameRoute>(`/api/v1/${collection}/:name`, { schema: { params: NAME_PARAMS } }, async (request) => {
      const { name } = request.params;
      const author = authorOf(request);
      const rows = writableRows();
      const { spec: sent, labels } = checkedBody(request.body, kind, name);
      refuseFileObjects(kind, name);
      // Masked env values sent back keep their stored values; inline secret values go to the encrypted store
      // and the row only names them.
      const unmasked = kind === 'OTreeInstance' ? keepMaskedEnv(sent, desired.instance(name)?.declared.object.spec.env ?? {}) : sent;
      const { spec, secrets } = kind === 'OTreeInstance' ? splitInlineSecrets(unmasked, name) : { spec: sent, secrets: [] };
      // Everything the controller would reject is refused before anything is stored: the row policy, then
      // the checks against every other object (owner, quota, domains), as the desired state stands now.
      const checked = rows.validate(kind, name, spec, labels);
      const trial = checked.objects.length > 0 ? desired.trial(rowOrigin(collection, name).source, checked) : undefined;
      const refusal = [...checked.issues, ...(trial?.issues ?? [])];
      if (checked.objects.length === 0 || trial!.heldBack.length > 0) throw invalid(kind, name, refusal);
      await storeInlineSecrets(secrets, name, secretsContext, actorOf(request, author));
      const result = await rows.upsert(kind, name, spec, labels, author);
      if (!result.ok) throw invalid(kind, name, result.issues);
      return { name, generation: result.generation };
    });

    app.delete<NameRoute>(`/api/v1/${collection}/:name`, { schema: { params: NAME_PARAMS } }, async (request) => {
      const { name } = request.params;
      const author = authorOf(request);
      const rows = writableRows();
      refuseFileObjects(kind, name);
      if (!(await rows.softDelete(kind, name, author))) throw new ApiError(404, 'NotFound', `${kind} "${name}" has no row in the desired-state database`);
      return { name, deleted: true };
    });
  }

  for (const [route, action] of [['reset-database', 'resetDatabase'], ['restart', 'restart']] as const) {
    app.post<NameRoute>(`/api/v1/instances/:name/${route}`, { schema: { params: NAME_PARAMS } }, async (request) => {
      const { name } = request.params;
      const author = authorOf(request);
      const rows = writableRows();
      refuseFileObjects('OTreeInstance', name);
      try {
        return { name, generation: await rows.bumpGeneration(name, action, author) };
      } catch (err) {
        // The source's only refusal is a missing live row; anything else (the database down) is a server error.
        if (/has no live row/.test((err as Error).message)) throw new ApiError(404, 'NotFound', `instance "${name}" has no row in the desired-state database`);
        throw err;
      }
    });
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
