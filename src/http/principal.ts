// Who a request comes from, once proven: the API's authentication hook sets it before any handler
// runs, and every handler and audit entry takes it from here.
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../access/can.js';
import type { Actor } from '../store/audit.js';
import { ApiError } from './errors.js';

/** Proves who sends a request, or throws ApiError (401, 403). */
export type Authenticator = (request: FastifyRequest) => Promise<Principal>;

const principals = new WeakMap<FastifyRequest, Principal>();

export function setPrincipal(request: FastifyRequest, principal: Principal): void {
  principals.set(request, principal);
}

/** The proven principal of a request that passed authentication. */
export function principalOf(request: FastifyRequest): Principal {
  const principal = principals.get(request);
  // Only a route registered outside /api/v1 could get here; it is a bug, never a way in.
  if (!principal) throw new ApiError(500, 'Internal', 'the request was not authenticated');
  return principal;
}

/** The principal as the audit log records them. `clientAddress` is the server's (a proxy-aware one in otm web). */
export function actorOf(request: FastifyRequest): Actor & { authMethod: string } {
  const principal = principalOf(request);
  return { actor: principal.name, clientAddress: request.ip, authMethod: principal.via };
}
