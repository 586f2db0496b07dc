// The lab admins' pages of `otm web`: the people (list with filters, invite, role and quota, disable
// and enable, a new invitation), the audit log (newest first, paged, filtered by who, what, object and
// a time range in the lab's zone) and the editors of the imprint and privacy pages, which everyone
// reads at /imprint and /privacy.
//
// People are Experimenter objects: every change is a whole manifest document written through
// ctx.operations.put, so it is authorised, validated by the same schema and row policy and audited
// exactly as PUT /api/v1/experimenters/NAME is; people a manifest file declares are shown read-only
// (the operations refuse them with 409 too). An admin may not disable themselves or take away their
// own admin role. Invitations are made and mailed as `otm user invite` does them (links.ts); without a
// mail relay the page shows the link once. Every form POSTs with the CSRF token the server checks and
// is answered with a 303 and an outcome, or the page again with the error at the field it is about.
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditReader } from '../http/audit-api.js';
import { ApiError } from '../http/errors.js';
import { actorOf, principalOf } from '../http/principal.js';
import { API_VERSION } from '../manifest/index.js';
import type { Experimenter, ExperimenterSpec } from '../manifest/types.js';
import type { StoredObject } from '../desired/store.js';
import type { AuditQuery, AuditRecord } from '../store/audit.js';
import type { PageContext } from './context.js';
import { sendInvitation } from './links.js';
import type { Invitation } from './links.js';
import type { Mailer } from './mail.js';
import { isSitePage, MAX_SITE_PAGE_LENGTH, renderMarkdown, SITE_PAGES } from './site-pages.js';
import type { SitePageName, SitePages } from './site-pages.js';
import { adminText } from './text-admin.js';

export interface AdminDeps {
  /** The audit log: `(query) => readAudit(pool, query)`. */
  audit: AuditReader;
  /** The imprint and privacy pages: `new SitePageStore(pool, clock)`. */
  pages: SitePages;
  /** The mail relay of web.smtp; undefined without one (invitation links are then shown on the page). */
  mailer: Mailer | undefined;
}

/** How many audit entries one page shows. */
export const AUDIT_PAGE_SIZE = 50;
/** How long a write waits for the desired state to show it, so that the page it redirects to does. */
const CATCH_UP_MS = 3000;
const CATCH_UP_STEP_MS = 20;

const ACTOR_PATTERN = /^[\w.@+-]{1,100}$/;
const ACTION_PATTERN = /^[A-Za-z][A-Za-z.]{0,99}$/;
const OBJECT_PATTERN = /^[\w.:-]{1,100}$/;

type Form = Record<string, string>;
type PersonField = 'name' | 'displayName' | 'email' | 'role' | 'instances' | 'webProcesses';

/** Where the schema's issues go in the person forms. */
const FIELD_OF_PATH: Record<string, PersonField> = {
  'metadata.name': 'name', 'spec.displayName': 'displayName', 'spec.email': 'email', 'spec.role': 'role',
  'spec.quota.instances': 'instances', 'spec.quota.webProcesses': 'webProcesses',
};
const FIELD_LABELS: Record<PersonField, string> = {
  name: adminText.invite.name, displayName: adminText.invite.displayName, email: adminText.invite.email,
  role: adminText.invite.role, instances: adminText.invite.instances, webProcesses: adminText.invite.webProcesses,
};

/** Outcomes a redirect names in ?done= (nothing else of the query is shown). */
const PERSON_OUTCOMES = {
  invited: (name: string, email?: string) => [adminText.outcome.invited(name), email ? adminText.link.mailed(email) : ''].join(' ').trim(),
  mailed: (_name: string, email?: string) => adminText.link.mailed(email ?? ''),
  saved: (name: string) => adminText.outcome.saved(name),
  disabled: (name: string) => adminText.outcome.disabled(name),
  enabled: (name: string) => adminText.outcome.enabled(name),
} as const;
type PersonOutcome = keyof typeof PERSON_OUTCOMES;

/** A problem with a form: the page again, with the message at its field (or above the form). */
class FormError extends Error {
  constructor(readonly form: string, readonly fields: Partial<Record<PersonField | 'general', string>>, readonly statusCode = 422) {
    super(Object.values(fields).join(' '));
  }
}

function formOf(request: FastifyRequest): Form {
  const body = request.body;
  if (typeof body !== 'object' || body === null) return {};
  const form: Form = {};
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (typeof first === 'string') form[key] = first;
  }
  return form;
}

/** The people a manifest file declares are read-only here; a row's source is `row:experimenters/NAME`. */
const declaredInFile = (stored: StoredObject): string | undefined => (stored.source.startsWith('row:') ? undefined : stored.source);

/** A quota field: omitted when empty, a number when it is one (the schema checks its range), else an error. */
function quotaValue(form: Form, field: 'instances' | 'webProcesses', errors: Partial<Record<PersonField, string>>): number | undefined {
  const text = (form[field] ?? '').trim();
  if (text === '') return undefined;
  if (!/^-?\d{1,9}$/.test(text)) {
    errors[field] = adminText.fieldError(FIELD_LABELS[field], adminText.invite.notNumber);
    return undefined;
  }
  return Number(text);
}

/** The schema's and the row policy's issues of a refused write, at the fields they name. */
function fieldErrorsOf(error: ApiError): Partial<Record<PersonField | 'general', string>> {
  const fields: Partial<Record<PersonField | 'general', string>> = {};
  const general: string[] = [];
  for (const issue of error.issues ?? []) {
    if (issue.severity !== 'error') continue;
    const field = FIELD_OF_PATH[issue.path];
    if (field) fields[field] = [fields[field], adminText.fieldError(FIELD_LABELS[field], issue.message)].filter(Boolean).join(' ');
    else general.push(issue.path ? `${issue.path}: ${issue.message}` : issue.message);
  }
  if (general.length > 0 || Object.keys(fields).length === 0) fields.general = [error.message, ...general].join(' ');
  return fields;
}

/** Audit details as shown: pretty JSON, with anything that looks like a secret value hidden (writers never store one; this is the second lock). */
function detailsText(details: Record<string, unknown>): string {
  if (Object.keys(details).length === 0) return '';
  return JSON.stringify(details, (key, value: unknown) => (/password|passphrase|privatekey|ciphertext|^value$/i.test(key) && typeof value === 'string' ? '[hidden]' : value), 2);
}

export function registerAdminRoutes(app: FastifyInstance, ctx: PageContext, deps: AdminDeps): void {
  const at = adminText;
  const { time } = ctx;

  const adminOnly = async (request: FastifyRequest): Promise<void> => {
    if (!principalOf(request).admin) throw new ApiError(403, 'Forbidden', at.forbidden);
  };
  const admins = { preHandler: [ctx.signedIn, adminOnly] };

  const page = (request: FastifyRequest, reply: FastifyReply, view: string, data: Record<string, unknown>, statusCode?: number) =>
    ctx.page(request, reply.header('cache-control', 'no-store'), view, { at, ...data }, statusCode);

  /** Waits (a bounded time) until the desired state shows what was just written; false when it did not in time. */
  const caughtUp = async (name: string, check: (stored: StoredObject<Experimenter> | undefined) => boolean): Promise<boolean> => {
    for (let waited = 0; ; waited += CATCH_UP_STEP_MS) {
      if (check(ctx.desired.experimenter(name))) return true;
      if (waited >= CATCH_UP_MS) return false;
      await sleep(CATCH_UP_STEP_MS);
    }
  };

  const writePerson = async (request: FastifyRequest, name: string, spec: Partial<ExperimenterSpec>, labels: Record<string, string>) =>
    ctx.operations.put(request, 'Experimenter', name, { apiVersion: API_VERSION, kind: 'Experimenter', metadata: { name, labels }, spec });

  const instancesOf = (name: string): string[] =>
    ctx.desired.instances().filter((s) => s.declared.object.spec.owner === name).map((s) => s.declared.object.metadata.name).sort();

  // ---- the list of people ----------------------------------------------------------------------

  const peoplePage = (request: FastifyRequest, reply: FastifyReply, extra: Record<string, unknown> = {}, statusCode = 200) => {
    const query = request.query as { role?: string; status?: string };
    const role = query.role === 'admin' || query.role === 'experimenter' ? query.role : undefined;
    const status = query.status === 'active' || query.status === 'disabled' ? query.status : undefined;
    const all = ctx.desired.experimenters().map((stored) => {
      const { metadata, spec } = stored.declared.object;
      return {
        name: metadata.name, displayName: spec.displayName, email: spec.email, role: spec.role, quota: spec.quota,
        disabled: spec.disabled, file: declaredInFile(stored), instances: instancesOf(metadata.name).length,
      };
    }).sort((a, b) => a.name.localeCompare(b.name));
    const people = all.filter((p) => (!role || p.role === role) && (!status || (status === 'disabled') === p.disabled));
    return page(request, reply, 'admin-people', {
      title: at.people.title, wide: true, people, total: all.length, filters: { role, status },
      form: {}, errors: {}, ...extra,
    }, statusCode);
  };

  app.get('/admin/people', admins, async (request, reply) => peoplePage(request, reply));

  app.post('/admin/people', admins, async (request, reply) => {
    const form = formOf(request);
    const name = (form.name ?? '').trim();
    const displayName = (form.displayName ?? '').trim();
    const email = (form.email ?? '').trim();
    try {
      const errors: Partial<Record<PersonField, string>> = {};
      if (name !== '' && ctx.desired.experimenter(name)) errors.name = adminText.fieldError(FIELD_LABELS.name, at.invite.exists(name));
      const instances = quotaValue(form, 'instances', errors);
      const webProcesses = quotaValue(form, 'webProcesses', errors);
      if (Object.keys(errors).length > 0) throw new FormError('invite', { general: at.saveFailed, ...errors });
      const quota = { ...(instances !== undefined ? { instances } : {}), ...(webProcesses !== undefined ? { webProcesses } : {}) };
      const spec = { displayName, ...(email ? { email } : {}), role: form.role ?? 'experimenter', quota };
      try {
        await writePerson(request, name, spec as Partial<ExperimenterSpec>, {});
      } catch (error) {
        if (error instanceof ApiError && (error.statusCode === 422 || error.statusCode === 400 || error.statusCode === 409)) {
          throw new FormError('invite', { general: at.saveFailed, ...fieldErrorsOf(error) }, error.statusCode);
        }
        throw error;
      }
    } catch (error) {
      if (error instanceof FormError) return peoplePage(request, reply, { form, errors: error.fields }, error.statusCode);
      throw error;
    }
    const pending = !(await caughtUp(name, (stored) => stored !== undefined));
    const invitation = await sendInvitation(ctx, deps.mailer, { name, displayName, ...(email ? { email } : {}) }, actorOf(request));
    return invitationOutcome(request, reply, name, 'invited', invitation, pending);
  });

  /** After an invitation: mailed, back to the person's page; not mailed, a page with the link, shown this once. */
  const invitationOutcome = (request: FastifyRequest, reply: FastifyReply, name: string, outcome: 'invited' | 'mailed', invitation: Invitation, pending: boolean) => {
    if (invitation.mailed) return reply.redirect(`/admin/people/${encodeURIComponent(name)}?done=${outcome}${pending ? '&pending=1' : ''}`, 303);
    const why = invitation.reason === 'noMailer' ? at.link.noMail : invitation.reason === 'noEmail' ? at.link.noEmail : at.link.mailFailed(invitation.error ?? '');
    void reply.header('referrer-policy', 'no-referrer');
    return page(request, reply, 'admin-invited', {
      title: at.link.title, name, link: invitation.link, why, validity: at.link.validity(ctx.config.web.links.inviteHours),
      notice: outcome === 'invited' ? at.outcome.invited(name) : undefined, pending,
    });
  };

  // ---- one person ------------------------------------------------------------------------------

  type NameRoute = { Params: { name: string } };

  const stored = (name: string): StoredObject<Experimenter> => {
    const found = ctx.desired.experimenter(name);
    if (!found) throw new ApiError(404, 'NotFound', at.person.unknown(name));
    return found;
  };

  const personPage = (request: FastifyRequest<NameRoute>, reply: FastifyReply, extra: Record<string, unknown> = {}, statusCode = 200) => {
    const { name } = request.params;
    const found = stored(name);
    const { spec } = found.declared.object;
    const query = request.query as { done?: string; pending?: string };
    const done = query.done && Object.hasOwn(PERSON_OUTCOMES, query.done) ? PERSON_OUTCOMES[query.done as PersonOutcome](name, spec.email) : undefined;
    return page(request, reply, 'admin-person', {
      title: spec.displayName, wide: true, name, spec, file: declaredInFile(found), self: principalOf(request).name === name,
      instances: instancesOf(name), issues: ctx.desired.issuesFor('Experimenter', name),
      notice: done, pending: query.pending === '1' ? at.outcome.pending : undefined,
      form: { role: spec.role, instances: String(spec.quota.instances), webProcesses: String(spec.quota.webProcesses), displayName: spec.displayName, email: spec.email ?? '' },
      errors: {}, errorForm: undefined, ...extra,
    }, statusCode);
  };

  app.get<NameRoute>('/admin/people/:name', admins, async (request, reply) => personPage(request, reply));

  /** A person form's POST: `work` returns the outcome; a FormError shows the page with its message. */
  const personAction = (path: string, section: 'edit' | 'access' | 'invite', work: (request: FastifyRequest<NameRoute>, found: StoredObject<Experimenter>, form: Form, reply: FastifyReply) => Promise<PersonOutcome | FastifyReply>) => {
    app.post<NameRoute>(`/admin/people/:name${path}`, admins, async (request, reply) => {
      const found = stored(request.params.name);
      const form = formOf(request);
      try {
        const outcome = await work(request, found, form, reply);
        if (typeof outcome !== 'string') return outcome;
        return reply.redirect(`/admin/people/${encodeURIComponent(request.params.name)}?done=${outcome}`, 303);
      } catch (error) {
        const failure = error instanceof FormError ? error
          : error instanceof ApiError && [400, 409, 422].includes(error.statusCode) ? new FormError(section, fieldErrorsOf(error), error.statusCode)
            : undefined;
        if (!failure) throw error;
        return personPage(request, reply, { errors: failure.fields, errorForm: failure.form, ...(failure.form === 'edit' ? { form } : {}) }, failure.statusCode);
      }
    });
  };

  const redirectWhenCaughtUp = async (reply: FastifyReply, name: string, outcome: PersonOutcome, check: (s: StoredObject<Experimenter> | undefined) => boolean) => {
    const pending = !(await caughtUp(name, check));
    return reply.redirect(`/admin/people/${encodeURIComponent(name)}?done=${outcome}${pending ? '&pending=1' : ''}`, 303);
  };

  personAction('', 'edit', async (request, found, form, reply) => {
    const { name } = request.params;
    const who = principalOf(request);
    const current = found.declared.object.spec;
    const role = form.role ?? current.role;
    if (who.name === name && current.role === 'admin' && role !== 'admin') throw new FormError('edit', { role: at.person.selfDemote }, 409);
    ctx.operations.refuseFileObjects('Experimenter', name);
    const errors: Partial<Record<PersonField, string>> = {};
    const instances = quotaValue(form, 'instances', errors);
    const webProcesses = quotaValue(form, 'webProcesses', errors);
    if (Object.keys(errors).length > 0) throw new FormError('edit', { general: at.saveFailed, ...errors });
    const spec: ExperimenterSpec = structuredClone(current);
    spec.role = role as ExperimenterSpec['role'];
    spec.quota = { instances: instances ?? current.quota.instances, webProcesses: webProcesses ?? current.quota.webProcesses };
    if (form.displayName !== undefined) spec.displayName = form.displayName.trim();
    if (form.email !== undefined) {
      if (form.email.trim() === '') delete spec.email;
      else spec.email = form.email.trim();
    }
    try {
      await writePerson(request, name, spec, found.declared.object.metadata.labels);
    } catch (error) {
      if (error instanceof ApiError && [400, 422].includes(error.statusCode)) throw new FormError('edit', { general: at.saveFailed, ...fieldErrorsOf(error) }, error.statusCode);
      throw error;
    }
    return redirectWhenCaughtUp(reply, name, 'saved', (s) => isDeepStrictEqual(s?.declared.object.spec, spec));
  });

  for (const [path, disabled] of [['/disable', true], ['/enable', false]] as const) {
    personAction(path, 'access', async (request, found, _form, reply) => {
      const { name } = request.params;
      if (disabled && principalOf(request).name === name) throw new FormError('access', { general: at.person.selfDisable }, 409);
      ctx.operations.refuseFileObjects('Experimenter', name);
      const spec: ExperimenterSpec = { ...structuredClone(found.declared.object.spec), disabled };
      await writePerson(request, name, spec, found.declared.object.metadata.labels);
      // Sessions already stop working once the desired state says disabled; ending them too means that
      // enabling the person again does not bring back a session someone may have copied meanwhile.
      if (disabled) await ctx.people.revokeSessions(name, actorOf(request));
      return redirectWhenCaughtUp(reply, name, disabled ? 'disabled' : 'enabled', (s) => s?.declared.object.spec.disabled === disabled);
    });
  }

  personAction('/invite', 'invite', async (request, found, _form, reply) => {
    const { name } = request.params;
    const { spec } = found.declared.object;
    if (spec.disabled) throw new FormError('invite', { general: at.person.enableHelp }, 409);
    const invitation = await sendInvitation(ctx, deps.mailer, { name, displayName: spec.displayName, ...(spec.email ? { email: spec.email } : {}) }, actorOf(request));
    return invitationOutcome(request, reply, name, 'mailed', invitation, false);
  });

  // ---- the audit log ---------------------------------------------------------------------------

  type AuditFilters = { actor?: string; action?: string; object?: string; fromDate?: string; fromTime?: string; toDate?: string; toTime?: string; before?: string };
  const FILTER_KEYS = ['actor', 'action', 'object', 'fromDate', 'fromTime', 'toDate', 'toTime'] as const;

  app.get<{ Querystring: AuditFilters }>('/admin/audit', admins, async (request, reply) => {
    const raw = request.query;
    const filters: Record<string, string> = {};
    for (const key of FILTER_KEYS) {
      const value = typeof raw[key] === 'string' ? raw[key].trim() : '';
      if (value !== '') filters[key] = value;
    }
    const errors: Record<string, string> = {};
    if (filters.actor !== undefined && !ACTOR_PATTERN.test(filters.actor)) errors.actor = at.audit.invalid.actor;
    if (filters.action !== undefined && !ACTION_PATTERN.test(filters.action)) errors.action = at.audit.invalid.action;
    if (filters.object !== undefined && !OBJECT_PATTERN.test(filters.object)) errors.object = at.audit.invalid.object;
    const instant = (date: string | undefined, clock: string | undefined, end: boolean): Date | undefined | null => {
      if (date === undefined) return clock === undefined ? undefined : null;
      const parsed = time.parse(date, clock ?? (end ? '23:59' : '00:00'));
      // The end of a range names a minute and takes all of it.
      return parsed === undefined ? null : end ? new Date(parsed.getTime() + 60_000) : parsed;
    };
    const since = instant(filters.fromDate, filters.fromTime, false);
    const until = instant(filters.toDate, filters.toTime, true);
    if (since === null) errors.from = at.audit.invalid.date;
    if (until === null) errors.to = at.audit.invalid.date;
    if (since && until && !(since.getTime() < until.getTime())) errors.to = at.audit.invalid.order;
    const before = /^[1-9]\d{0,17}$/.test(raw.before ?? '') ? Number(raw.before) : undefined;

    let entries: AuditRecord[] = [];
    let more = false;
    if (Object.keys(errors).length === 0) {
      const query: AuditQuery = {
        limit: AUDIT_PAGE_SIZE + 1,
        ...(filters.actor ? { actor: filters.actor } : {}), ...(filters.action ? { action: filters.action } : {}),
        ...(filters.object ? { objectName: filters.object } : {}), ...(since ? { since } : {}), ...(until ? { until } : {}),
        ...(before !== undefined ? { beforeId: before } : {}),
      };
      entries = await deps.audit(query).catch((error: Error) => {
        ctx.log.warn({ err: error.message }, 'reading the audit log failed');
        throw new ApiError(503, 'NotReady', at.unavailable);
      });
      more = entries.length > AUDIT_PAGE_SIZE;
      entries = entries.slice(0, AUDIT_PAGE_SIZE);
    }
    const last = entries.at(-1);
    const rows = entries.map((entry) => ({
      id: entry.id, at: time.dateTime(entry.at), machine: time.machine(entry.at), actor: entry.actor, action: entry.action,
      objectKind: entry.objectKind, objectName: entry.objectName, from: entry.clientAddress ?? at.audit.unknownPlace,
      how: entry.authMethod === null ? at.audit.unknownPlace : at.audit.how[entry.authMethod] ?? entry.authMethod,
      details: detailsText(entry.details),
    }));
    return page(request, reply, 'admin-audit', {
      title: at.audit.title, wide: true, rows, filters, errors, zone: time.zone,
      newer: before !== undefined ? `/admin/audit?${new URLSearchParams(filters)}` : undefined,
      older: more && last ? `/admin/audit?${new URLSearchParams({ ...filters, before: String(last.id) })}` : undefined,
    }, Object.keys(errors).length > 0 ? 400 : 200);
  });

  // ---- the imprint and privacy pages -----------------------------------------------------------

  const published = async (name: SitePageName) => {
    const stored = await deps.pages.get(name).catch((error: Error) => {
      ctx.log.warn({ err: error.message, page: name }, 'reading a site page failed');
      throw new ApiError(503, 'NotReady', at.unavailable);
    });
    return { stored, html: stored && stored.markdown.trim() !== '' ? renderMarkdown(stored.markdown) : undefined };
  };

  for (const name of SITE_PAGES) {
    if (!isSitePage(name)) continue;
    const title = at.pages.titles[name];

    app.get(`/${name}`, async (_request, reply) => {
      const { html } = await published(name);
      return ctx.render(reply, 'site-page', { at, title, html, fallback: at.pages.notPublished[name] });
    });

    const editor = async (request: FastifyRequest, reply: FastifyReply, extra: Record<string, unknown> = {}, statusCode = 200) => {
      const { stored, html } = await published(name);
      const done = (request.query as { done?: string }).done === 'saved' ? at.outcome.pageSaved : undefined;
      return page(request, reply, 'admin-page', {
        title: at.pages.editTitle(title), pageTitle: title, name, path: `/${name}`, html, fallback: at.pages.notPublished[name],
        markdown: stored?.markdown ?? '', maxLength: MAX_SITE_PAGE_LENGTH,
        changed: stored ? at.pages.lastChanged(time.dateTime(stored.updatedAt), stored.updatedBy) : at.pages.neverChanged,
        notice: done, ...extra,
      }, statusCode);
    };

    app.get(`/admin/pages/${name}`, admins, async (request, reply) => editor(request, reply));

    app.post(`/admin/pages/${name}`, admins, async (request, reply) => {
      const markdown = (formOf(request).text ?? '').replace(/\r\n?/g, '\n');
      if (markdown.length > MAX_SITE_PAGE_LENGTH) return editor(request, reply, { markdown, error: at.pages.tooLong(MAX_SITE_PAGE_LENGTH) }, 422);
      await deps.pages.put(name, markdown, actorOf(request));
      return reply.redirect(`/admin/pages/${name}?done=saved#preview`, 303);
    });
  }
}
