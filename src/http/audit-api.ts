// GET /api/v1/audit: the audit log, newest first, a page at a time. Admins read every entry; a person
// reads what they did themselves, never other people's entries.
import type { FastifyInstance } from 'fastify';
import { can } from '../access/can.js';
import type { AuditQuery, AuditRecord } from '../store/audit.js';
import { ApiError } from './errors.js';
import { answers, AUTHENTICATED, TIMESTAMP } from './openapi.js';
import { principalOf } from './principal.js';

export type AuditReader = (query: AuditQuery) => Promise<AuditRecord[]>;

const MAX_PAGE = 500;

const QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    user: { type: 'string', pattern: '^[\\w.@+-]{1,100}$', description: 'Only what this person did (a person may ask only for themselves)' },
    object: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$', description: 'Only entries about this instance or person' },
    before: { type: 'integer', minimum: 1, description: 'Only entries older than this id: the next page' },
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 },
  },
} as const;

const PAGE = {
  type: 'object',
  required: ['items'],
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'at', 'actor', 'action', 'objectKind', 'objectName', 'clientAddress', 'authMethod', 'details'],
        properties: {
          id: { type: 'integer' }, at: TIMESTAMP, actor: { type: 'string' }, action: { type: 'string', examples: ['desired.update'] },
          objectKind: { type: 'string' }, objectName: { type: 'string' }, clientAddress: { type: ['string', 'null'] }, authMethod: { type: ['string', 'null'] },
          details: { description: 'What changed (secrets and spec.env values masked)', type: 'object', additionalProperties: true },
        },
      },
    },
    next: { description: 'The URL of the next page, when this one is full', type: 'string' },
  },
} as const;

type AuditRoute = { Querystring: { user?: string; object?: string; before?: number; limit: number } };

export function registerAuditApi(app: FastifyInstance, reader: () => AuditReader | undefined): void {
  app.get<AuditRoute>('/api/v1/audit', {
    schema: {
      operationId: 'listAuditEntries', tags: ['audit'], summary: 'The audit log, newest first, a page at a time (a person: their own entries)',
      querystring: QUERY,
      response: answers(PAGE, [...AUTHENTICATED, 409]),
    },
  }, async (request) => {
    const who = principalOf(request);
    const { user, object, before, limit } = request.query;
    const actor = user ?? (who.admin ? undefined : who.name);
    if (actor === undefined ? !who.admin : !can(who, { kind: 'audit', verb: 'read', actor })) {
      throw new ApiError(403, 'Forbidden', 'you may read only your own audit entries; leave out user= or set it to your own name');
    }
    const read = reader();
    if (!read) throw new ApiError(409, 'NoDatabase', 'the audit log lives in PostgreSQL: set postgresUrl in the configuration');
    const entries = await read({ ...(actor !== undefined ? { actor } : {}), ...(object !== undefined ? { objectName: object } : {}), ...(before !== undefined ? { beforeId: before } : {}), limit });
    const last = entries.at(-1);
    return {
      items: entries.map((e) => ({ ...e, at: e.at.toISOString() })),
      ...(entries.length === limit && last ? { next: `/api/v1/audit?${new URLSearchParams({ ...(user ? { user } : {}), ...(object ? { object } : {}), before: String(last.id), limit: String(limit) })}` } : {}),
    };
  });
}
