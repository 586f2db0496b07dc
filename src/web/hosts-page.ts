// The lab admins' view of the Dokku hosts (`/admin/hosts`): whether each answers, its Dokku version and
// plugins, and how many apps and instances it holds. otm web asks the daemon: it alone reaches Dokku.
import type { FastifyInstance } from 'fastify';
import type { HostSource } from '../http/api.js';
import { ApiError } from '../http/errors.js';
import { principalOf } from '../http/principal.js';
import type { PageContext } from './context.js';

export function registerHostsPage(app: FastifyInstance, ctx: PageContext, hosts: () => HostSource | undefined): void {
  const t = ctx.text.hosts;
  app.get('/admin/hosts', { preHandler: ctx.signedIn }, async (request, reply) => {
    if (!principalOf(request).admin) throw new ApiError(403, 'Forbidden', t.adminsOnly);
    const source = hosts();
    let items = undefined;
    let problem: string | undefined;
    if (!source) problem = t.noDaemon;
    else items = await source().catch((err: Error) => { problem = err.message; return undefined; });
    return ctx.page(request, reply, 'hosts', { title: t.title, wide: true, items, problem });
  });
}
