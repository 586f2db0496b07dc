// Secrets written through the API: write-only (PUT, DELETE), listed by name only, and revealed only by
// an explicit, audited POST. Values are stored encrypted (SecretStore); no response, log line or error
// carries one except the reveal's answer. Only instances that are database rows have stored secrets:
// a manifest file names its secrets itself (fromFile, fromEnv).
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { InstanceVerb } from '../access/can.js';
import type { Actor } from '../store/audit.js';
import type { Kind, SecretRef } from '../manifest/index.js';
import { makeIssue, SECRET_MASK } from '../manifest/index.js';
import { ApiError, apiIssues } from './errors.js';
import { answers, AUTHENTICATED, closedObject, documentedBody, itemsOf, TIMESTAMP } from './openapi.js';
import { actorOf } from './principal.js';

/** What the routes use of SecretStore. */
export interface SecretsApiStore {
  set(instance: string, name: string, value: string, by: Actor, details?: Record<string, unknown>): Promise<Date>;
  get(instance: string, name: string): Promise<string | undefined>;
  reveal(instance: string, name: string, by: Actor): Promise<string | undefined>;
  delete(instance: string, name: string, by: Actor): Promise<boolean>;
  list(instance: string): Promise<{ name: string; updatedAt: Date; updatedBy: string }[]>;
}

export interface SecretsApiContext {
  /** Undefined: no secret store (no database or no secrets.keyFile), or not started yet. */
  store(): SecretsApiStore | undefined;
  databaseConfigured: boolean;
  /** Throws 404 or 403 unless the request's principal may do `verb` to the instance. */
  authorizeInstance(request: FastifyRequest, name: string, verb: InstanceVerb): void;
  refuseFileObjects(kind: Kind, name: string): void;
}

/** The secret fields of an instance spec, by their name in the store. */
export const SECRET_FIELDS = ['adminPassword', 'restKey'] as const;

const SECRET_PARAMS = {
  type: 'object',
  properties: {
    name: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$', description: 'The instance' },
    secret: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_-]{0,62}$', description: 'The secret\'s name, as a secretRef names it (adminPassword, restKey, …)' },
  },
  required: ['name', 'secret'],
} as const;
const NAME_PARAMS = { type: 'object', properties: { name: SECRET_PARAMS.properties.name }, required: ['name'] } as const;

/** Longer than any password or key; short enough that nobody stores a file here. */
export const MAX_SECRET_LENGTH = 4096;

type SecretRoute = { Params: { name: string; secret: string } };

/** What the secret routes can refuse with: unknown instance or secret, declared by a file, no database or secret store. */
const REFUSALS = [...AUTHENTICATED, 404, 409] as const;
const SECRET_WRITTEN = closedObject({ name: { type: 'string' }, secret: { type: 'string' }, updatedAt: TIMESTAMP }, 'Stored (the answer never carries the value)');

/** Checked by valueOf, which answers its own message. */
const SECRET_BODY = {
  description: 'Exactly one of: the value, or generate (32 random bytes, base64url)',
  oneOf: [
    { type: 'object', required: ['value'], additionalProperties: false, properties: { value: { type: 'string', minLength: 1, maxLength: MAX_SECRET_LENGTH } } },
    { type: 'object', required: ['generate'], additionalProperties: false, properties: { generate: { type: 'boolean', enum: [true] } } },
  ],
};

export function requireStore(context: Pick<SecretsApiContext, 'store' | 'databaseConfigured'>): SecretsApiStore {
  if (!context.databaseConfigured) {
    throw new ApiError(409, 'NoDatabase', 'secrets can only be stored when postgresUrl is configured; manifest files name their secrets with fromFile or fromEnv');
  }
  const store = context.store();
  if (store === undefined) {
    throw new ApiError(409, 'NoSecretStore', 'no secret store: set secrets.keyFile in the configuration to a key file (`make install` creates one) and restart the daemon; if it is set, the daemon is still starting');
  }
  return store;
}

/** The value of a PUT body: `{value}` as sent, or `{generate: true}`: 32 random bytes, base64url. */
function valueOf(body: unknown): { value: string; generated: boolean } {
  const b = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  const keys = Object.keys(b);
  if (keys.length === 1 && b.generate === true) return { value: randomBytes(32).toString('base64url'), generated: true };
  if (keys.length === 1 && typeof b.value === 'string' && b.value.length > 0 && b.value.length <= MAX_SECRET_LENGTH) return { value: b.value, generated: false };
  throw new ApiError(400, 'BadRequest', `send either {"value": "<the secret, 1 to ${MAX_SECRET_LENGTH} characters>"} or {"generate": true}, nothing else`);
}

/** A stored secret as lists show it: its name and last change, never its value. */
export interface SecretListing {
  secret: string;
  updatedAt: Date;
  updatedBy: string;
}

/** The secret routes' work, for every caller with an authenticated request (the API, the web interface's forms). */
export interface SecretOperations {
  list(request: FastifyRequest, name: string): Promise<SecretListing[]>;
  /** Stores `{value}` or a generated value (`{generate: true}`); answers when, and the value only when generated. */
  set(request: FastifyRequest, name: string, secret: string, body: unknown): Promise<{ updatedAt: Date; generated?: string }>;
  remove(request: FastifyRequest, name: string, secret: string): Promise<void>;
  /** The value, audited; 404 when there is none. */
  reveal(request: FastifyRequest, name: string, secret: string): Promise<string>;
}

export function createSecretOperations(context: SecretsApiContext): SecretOperations {
  const prepare = (request: FastifyRequest, name: string, verb: InstanceVerb): { store: SecretsApiStore; by: Actor } => {
    context.authorizeInstance(request, name, verb);
    const by = actorOf(request);
    const store = requireStore(context);
    context.refuseFileObjects('OTreeInstance', name);
    return { store, by };
  };
  return {
    async list(request, name) {
      const { store } = prepare(request, name, 'secrets');
      return (await store.list(name)).map((i) => ({ secret: i.name, updatedAt: i.updatedAt, updatedBy: i.updatedBy }));
    },
    async set(request, name, secret, body) {
      const { store, by } = prepare(request, name, 'writeSecret');
      const { value, generated } = valueOf(body);
      const updatedAt = await store.set(name, secret, value, by, { generated });
      return { updatedAt, ...(generated ? { generated: value } : {}) };
    },
    async remove(request, name, secret) {
      const { store, by } = prepare(request, name, 'writeSecret');
      if (!(await store.delete(name, secret, by))) throw new ApiError(404, 'NotFound', `instance "${name}" has no stored secret ${secret}`);
    },
    async reveal(request, name, secret) {
      const { store, by } = prepare(request, name, 'revealSecret');
      const value = await store.reveal(name, secret, by);
      if (value === undefined) throw new ApiError(404, 'NotFound', `instance "${name}" has no stored secret ${secret}`);
      return value;
    },
  };
}

export function registerSecretsApi(app: FastifyInstance, context: SecretsApiContext): void {
  const ops = createSecretOperations(context);

  app.get<{ Params: { name: string } }>('/api/v1/instances/:name/secrets', {
    schema: {
      operationId: 'listSecrets', tags: ['secrets'], summary: 'The instance\'s stored secrets, by name only',
      params: NAME_PARAMS,
      response: answers(itemsOf(closedObject({ secret: { type: 'string' }, updatedAt: TIMESTAMP, updatedBy: { type: 'string' } })), REFUSALS),
    },
  }, async (request) => ({
    items: (await ops.list(request, request.params.name)).map((i) => ({ secret: i.secret, updatedAt: i.updatedAt.toISOString(), updatedBy: i.updatedBy })),
  }));

  app.put<SecretRoute>('/api/v1/instances/:name/secrets/:secret', {
    schema: {
      operationId: 'putSecret', tags: ['secrets'], summary: 'Set a secret, encrypted; the instance restarts once if its app holds another value',
      params: SECRET_PARAMS,
      response: answers(SECRET_WRITTEN, REFUSALS),
    },
    config: documentedBody(SECRET_BODY),
  }, async (request) => {
    const { name, secret } = request.params;
    const { updatedAt } = await ops.set(request, name, secret, request.body);
    return { name, secret, updatedAt: updatedAt.toISOString() };
  });

  app.delete<SecretRoute>('/api/v1/instances/:name/secrets/:secret', {
    schema: {
      operationId: 'deleteSecret', tags: ['secrets'], summary: 'Delete a stored secret',
      params: SECRET_PARAMS,
      response: answers(closedObject({ name: { type: 'string' }, secret: { type: 'string' }, deleted: { type: 'boolean', enum: [true] } }), REFUSALS),
    },
  }, async (request) => {
    const { name, secret } = request.params;
    await ops.remove(request, name, secret);
    return { name, secret, deleted: true };
  });

  app.post<SecretRoute>('/api/v1/instances/:name/secrets/:secret/reveal', {
    schema: {
      operationId: 'revealSecret', tags: ['secrets'], summary: 'Show a secret\'s value (audited; answered with Cache-Control: no-store)',
      params: SECRET_PARAMS,
      response: answers(closedObject({ value: { type: 'string' } }), REFUSALS),
    },
  }, async (request, reply) => {
    const { name, secret } = request.params;
    const value = await ops.reveal(request, name, secret);
    void reply.header('cache-control', 'no-store');
    return { value };
  });
}

/** A secret sent inline in a PUT body, to store before the row that names it is written. */
export interface InlineSecret {
  field: (typeof SECRET_FIELDS)[number];
  value: string;
}

/**
 * For the PUT of an instance row: refuses `fromFile`/`fromEnv` (422 naming the field) and the mask, and
 * returns the spec as the row stores it (every inline `{value}` named as `{secretRef}`, so no plaintext
 * reaches otm.instances) with the values to store. Stores nothing: the row is checked first.
 */
export function splitInlineSecrets(spec: unknown, name: string): { spec: unknown; secrets: InlineSecret[] } {
  const otree = (spec as { otree?: Record<string, SecretRef | undefined> } | undefined)?.otree;
  if (!otree) return { spec, secrets: [] };
  const origin = { source: `api:${name}`, line: 0, column: 0 };
  const refused = SECRET_FIELDS.flatMap((field) => {
    const ref = otree[field];
    if (ref === undefined) return [];
    if ('fromFile' in ref) return [`spec.otree.${field}.fromFile`];
    if ('fromEnv' in ref) return [`spec.otree.${field}.fromEnv`];
    return [];
  });
  if (refused.length > 0) {
    // The row policy's own code: the same refusal as for a row written straight into the database.
    const issues = refused.map((path) => makeIssue('ROW_SECRET_SOURCE', origin, path,
      `fromFile and fromEnv are for manifest files only; send {"value": "..."} (stored encrypted) or set the secret with PUT /api/v1/instances/${name}/secrets/<secret> and write {"secretRef": "<secret>"}`));
    throw new ApiError(422, 'Invalid', `OTreeInstance "${name}" names a secret by file or environment variable (${refused.join(', ')}); nothing was written`, apiIssues(issues));
  }
  const masked = SECRET_FIELDS.filter((field) => {
    const ref = otree[field];
    return ref !== undefined && 'value' in ref && ref.value === SECRET_MASK;
  });
  if (masked.length > 0) {
    // A spec sent back as a read showed it: storing the mask as the password would lock the owner out.
    const issues = masked.map((field) => makeIssue('FIELD_INVALID', origin, `spec.otree.${field}.value`, `"${SECRET_MASK}" is the mask reads show, not a secret; send the real value or {"secretRef": "${field}"}`));
    throw new ApiError(422, 'Invalid', `OTreeInstance "${name}" sends the mask as a secret; nothing was written`, apiIssues(issues));
  }
  const secrets = SECRET_FIELDS.flatMap((field): InlineSecret[] => {
    const ref = otree[field];
    return ref !== undefined && 'value' in ref ? [{ field, value: ref.value }] : [];
  });
  if (secrets.length === 0) return { spec, secrets };
  const copy = structuredClone(spec) as { otree: Record<string, SecretRef> };
  for (const { field } of secrets) copy.otree[field] = { secretRef: field };
  return { spec: copy, secrets };
}

/** Stores the inline secrets of a checked PUT body, encrypted, under their field names. */
export async function storeInlineSecrets(
  secrets: readonly InlineSecret[],
  name: string,
  context: Pick<SecretsApiContext, 'store' | 'databaseConfigured'>,
  by: Actor,
): Promise<void> {
  if (secrets.length === 0) return;
  const store = requireStore(context);
  for (const { field, value } of secrets) {
    // `otm apply` of an unchanged manifest sends the value again: an equal value is not a change (no write, no restart).
    const current = await store.get(name, field).catch(() => undefined);
    if (current !== value) await store.set(name, field, value, by, { from: `spec.otree.${field}` });
  }
}
