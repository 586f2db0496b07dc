// The signed-in pages about instances: the dashboard and an instance's page, with the forms that run
// it (restart, stop and start, reset, the oTree admin password, its settings, freeze windows, rooms).
// Every form goes through the same operations as the API (authorised, validated, audited) and writes
// desired state only; the page then shows what the controller reports, live.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { can } from '../access/can.js';
import type { InstanceVerb } from '../access/can.js';
import { gitRemote } from '../config.js';
import type { StoredObject } from '../desired/store.js';
import type { InstanceEvent, InstanceStatus, StatusStore } from '../engine/status.js';
import { ApiError } from '../http/errors.js';
import { principalOf } from '../http/principal.js';
import { API_VERSION, maskSecrets } from '../manifest/index.js';
import type { OTreeInstance, OTreeInstanceSpec } from '../manifest/types.js';
import type { PageContext } from './context.js';
import { goNoGo } from './go-no-go.js';
import { summarize } from './instance-view.js';
import type { InstanceSummary } from './instance-view.js';
import { parseLabels, SETTINGS_SNIPPET } from './rooms.js';
import { fieldOfPath, formOfSpec, newForm, specOfForm } from './instance-form.js';
import type { FieldProblem, InstanceForm } from './instance-form.js';
import { randomBytes } from 'node:crypto';

type NameRoute = { Params: { name: string } };
type Form = Record<string, string | undefined>;

/** The shortest oTree admin password a person may set here. */
export const MIN_ADMIN_PASSWORD_LENGTH = 8;
/** How long a form waits for its own write to reach the page's view of the desired state. */
const SETTLE_MS = 3_000;
/** How many events an instance page shows. */
const PAGE_EVENTS = 30;

const formOf = (request: FastifyRequest): Form => {
  const body = request.body;
  if (typeof body !== 'object' || body === null) return {};
  return Object.fromEntries(Object.entries(body as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v : undefined]));
};

/** A form's problem: the page again, with the message at the form it belongs to. */
export class FormError extends Error {
  constructor(readonly form: string, message: string, readonly statusCode = 422) {
    super(message);
  }
}

export interface InstancePageData {
  name: string;
  stored?: StoredObject<OTreeInstance>;
  spec?: OTreeInstanceSpec;
  summary: InstanceSummary;
  status: InstanceStatus | null;
  events: InstanceEvent[];
}

/**
 * The HTML of the live parts of one instance, for a stream's request (its principal): the rows of the
 * dashboard or the parts of the instance page; undefined when the principal may not see it.
 */
export type LiveParts = (request: FastifyRequest, name: string, view: 'dashboard' | 'instance') => Promise<Record<string, string> | undefined>;

export function registerInstancePages(app: FastifyInstance, ctx: PageContext): LiveParts {
  const { operations, text: t, time } = ctx;
  const statusStore = (): StatusStore => {
    const store = ctx.status();
    if (!store) throw new ApiError(503, 'NotReady', t.errors.unavailable);
    return store;
  };
  const now = () => new Date(ctx.clock.now());
  const signedIn = { preHandler: ctx.signedIn };

  const summaryOf = (name: string, stored: StoredObject<OTreeInstance> | undefined, status: InstanceStatus | null, events: InstanceEvent[] = []) =>
    summarize({
      name, ...(stored ? { spec: stored.declared.object.spec, generation: stored.generation } : {}),
      status, events, now: now(), text: t, time,
    });

  const load = async (name: string): Promise<InstancePageData> => {
    const store = statusStore();
    const stored = ctx.desired.instance(name);
    const status = (await store.get(name)) ?? null;
    const events = await store.events(name, PAGE_EVENTS);
    return { name, ...(stored ? { stored, spec: stored.declared.object.spec } : {}), summary: summaryOf(name, stored, status, events), status, events };
  };

  /** The stored admin password's listing, when the principal may see it and the instance is a row. */
  const storedPassword = async (request: FastifyRequest, data: InstancePageData) => {
    const { spec, stored } = data;
    if (!spec || !stored?.source.startsWith('row:')) return undefined;
    const secret = 'secretRef' in spec.otree.adminPassword ? spec.otree.adminPassword.secretRef : 'adminPassword';
    return (await ctx.secrets.list(request, data.name).catch(() => undefined))?.find((s) => s.secret === secret);
  };

  /** The go/no-go list: the lobby is asked for real, as a participant's browser would. */
  const checksOf = async (request: FastifyRequest, data: InstancePageData) => {
    const { spec } = data;
    if (!spec) return undefined;
    const fromManifest = !('secretRef' in spec.otree.adminPassword);
    const room = spec.rooms.find((r) => r.participantLabels.length > 0);
    const lobbyOn = spec.lobby.enabled;
    const lobbyAnswers = room && lobbyOn
      ? (await app.inject({ method: 'GET', url: `/lobby/${encodeURIComponent(data.name)}/${encodeURIComponent(room.name)}`, headers: { accept: 'text/html' } })).statusCode === 200
      : undefined;
    const checks = goNoGo({
      spec, status: data.status, passwordSet: fromManifest || (await storedPassword(request, data)) !== undefined,
      ...(lobbyAnswers !== undefined ? { lobbyAnswers } : {}), now: now(), time, text: t.goNoGo,
    });
    return { checks, failing: checks.filter((c) => !c.ok).length };
  };

  /** What the instance page's live parts hold: the status, the go/no-go list, the conditions, the events. */
  const instanceParts = async (request: FastifyRequest, data: InstancePageData): Promise<Record<string, string>> => ({
    [`status:${data.name}`]: ctx.fragment('instance-status', { s: data.summary, time, now: now() }),
    [`checks:${data.name}`]: ctx.fragment('instance-checks', { go: await checksOf(request, data) }),
    [`events:${data.name}`]: ctx.fragment('instance-events', { events: data.events, status: data.status, time, now: now() }),
  });

  const rowParts = (who: ReturnType<typeof principalOf>, stored: StoredObject<OTreeInstance> | undefined, name: string, status: InstanceStatus | null) => ({
    [`row:${name}`]: ctx.fragment('dashboard-row', { s: summaryOf(name, stored, status), owner: stored?.declared.object.spec.owner, showOwner: who.admin }),
  });

  // ---- the dashboard -------------------------------------------------------------------------

  app.get<{ Querystring: { owner?: string; phase?: string; label?: string; host?: string; deleted?: string } }>('/', signedIn, async (request, reply) => {
    const who = principalOf(request);
    const statuses = new Map((await statusStore().list()).map((s) => [s.name, s]));
    const { owner, phase, label, host } = request.query;
    const [labelKey, labelValue] = (label ?? '').split('=', 2);
    const visible = ctx.desired.instances().filter((s) => operations.visible(who, s.declared.object.metadata.name));
    const rows = visible
      .filter((s) => {
        const { spec, labels } = { spec: s.declared.object.spec, labels: s.declared.object.metadata.labels };
        const st = statuses.get(s.declared.object.metadata.name);
        return (!owner || spec.owner === owner)
          && (!phase || (st?.phase ?? 'Unknown') === phase)
          && (!labelKey || (labelValue === undefined ? labelKey in labels : labels[labelKey] === labelValue))
          && (!host || (st?.host ?? spec.host) === host);
      })
      .map((s) => {
        const name = s.declared.object.metadata.name;
        return { name, owner: s.declared.object.spec.owner, s: summaryOf(name, s, statuses.get(name) ?? null) };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
    const owners = [...new Set(visible.map((s) => s.declared.object.spec.owner))].sort();
    return ctx.page(request, reply, 'dashboard', {
      title: t.dashboard.title, wide: true, rows, owners, filters: { owner, phase, label, host },
      phases: Object.keys(t.phase), hosts: ctx.config.hosts.map((h) => h.name), total: visible.length,
      mayCreate: mayCreate(request),
      ...(request.query.deleted ? { notice: t.remove.done(request.query.deleted, ctx.config.prune) } : {}),
    });
  });

  // ---- one instance --------------------------------------------------------------------------

  const instancePage = async (request: FastifyRequest<NameRoute>, reply: FastifyReply, extra: Record<string, unknown> = {}, statusCode = 200) => {
    const { name } = request.params;
    operations.authorizeInstance(request, name, 'read');
    const who = principalOf(request);
    const data = await load(name);
    const { stored, spec } = data;
    const may = (verb: InstanceVerb) => (spec ? can(who, { kind: 'instance', verb, instance: spec }) : who.admin);
    const editable = stored?.source.startsWith('row:') ?? false;
    const password = may('secrets') ? await storedPassword(request, data) : undefined;
    const issues = ctx.desired.issuesFor('OTreeInstance', name);
    const windows = (spec?.freezeWindows ?? []).map((w, index) => ({
      index, from: time.dateTime(w.from), to: time.dateTime(w.to), active: Date.parse(w.from) <= ctx.clock.now() && ctx.clock.now() < Date.parse(w.to),
      key: `${w.from}/${w.to}`,
    }));
    void reply.header('cache-control', 'no-store');
    return ctx.page(request, reply, 'instance', {
      title: name, wide: true, ...data, time, now: now(),
      object: stored ? maskSecrets(stored.declared.object) : undefined,
      editable, file: stored && !editable ? stored.source : undefined,
      may: {
        restart: editable && may('restart'), reset: editable && may('resetDatabase'), update: editable && may('update'),
        secrets: editable && may('writeSecret'), reveal: editable && may('revealSecret'), delete: editable && may('delete'),
        deploy: may('deploy') && who.scope === 'write',
      },
      prune: ctx.config.prune,
      remote: gitRemote(ctx.config, spec?.host ?? data.status?.host, name),
      sourceKind: spec ? Object.keys(spec.source)[0] : undefined,
      password: password ? { at: time.dateTime(password.updatedAt), by: password.updatedBy } : undefined,
      minPasswordLength: MIN_ADMIN_PASSWORD_LENGTH,
      issues, windows, zone: time.zone, today: time.today(now()),
      settingsSnippet: SETTINGS_SNIPPET,
      go: await checksOf(request, data),
      lobbyEnabled: spec?.lobby.enabled !== false,
      ...extra,
    }, statusCode);
  };

  app.get<NameRoute>('/instances/:name', signedIn, async (request, reply) => {
    const done = (request.query as { done?: string }).done;
    const known = done && Object.hasOwn(t.outcome, done) ? (t.outcome as Record<string, unknown>)[done] : undefined;
    return instancePage(request, reply, typeof known === 'string' ? { notice: known } : {});
  });

  /** A form's POST: do `work`, then back to the page with `done`; a FormError shows the page with its message. */
  const action = (path: string, work: (request: FastifyRequest<NameRoute>, form: Form, reply: FastifyReply) => Promise<string | FastifyReply>) => {
    app.post<NameRoute>(`/instances/:name/${path}`, signedIn, async (request, reply) => {
      const form = formOf(request);
      try {
        const done = await work(request, form, reply);
        if (typeof done !== 'string') return done;
        return reply.redirect(`/instances/${encodeURIComponent(request.params.name)}?done=${done}#outcome`, 303);
      } catch (err) {
        if (err instanceof FormError) return instancePage(request, reply, { formError: { form: err.form, message: err.message }, form }, err.statusCode);
        if (err instanceof ApiError && (err.statusCode === 422 || err.statusCode === 409 || err.statusCode === 403) && operations.visible(principalOf(request), request.params.name)) {
          const details = err.issues?.map((i) => `${i.path}: ${i.message}`) ?? [];
          return instancePage(request, reply, { formError: { form: path, message: err.message, details }, form }, err.statusCode);
        }
        throw err;
      }
    });
  };

  /** Writes the instance's spec as `change` leaves it, through the API's own checks. */
  const writeSpec = async (request: FastifyRequest<NameRoute>, change: (spec: OTreeInstanceSpec) => void): Promise<void> => {
    const { name } = request.params;
    operations.authorizeInstance(request, name, 'update');
    const stored = ctx.desired.instance(name)!;
    const spec = structuredClone(stored.declared.object.spec) as OTreeInstanceSpec;
    change(spec);
    const { generation } = await operations.put(request, 'OTreeInstance', name, {
      apiVersion: API_VERSION, kind: 'OTreeInstance', metadata: { name, labels: stored.declared.object.metadata.labels }, spec,
    });
    await settled(name, generation);
  };

  /**
   * Waits (a little) until otm web's own view of the desired state holds the row just written, so the
   * page it redirects to shows the change; the row arrives by NOTIFY, usually within milliseconds.
   */
  const settled = async (name: string, generation: number): Promise<void> => {
    const deadline = ctx.clock.now() + SETTLE_MS;
    while ((ctx.desired.instance(name)?.generation ?? 0) < generation && ctx.clock.now() < deadline) {
      await new Promise<void>((resolve) => ctx.clock.setTimeout(resolve, 20));
    }
  };

  action('restart', async (request) => {
    await operations.bump(request, request.params.name, 'restart');
    return 'restartRequested';
  });

  action('reset-database', async (request, form) => {
    const { name } = request.params;
    operations.authorizeInstance(request, name, 'resetDatabase');
    if ((form.confirm ?? '').trim() !== name) throw new FormError('reset-database', t.reset.mismatch(name));
    await operations.bump(request, name, 'resetDatabase');
    return 'resetRequested';
  });

  action('state', async (request, form) => {
    const state = form.state === 'stopped' ? 'stopped' : form.state === 'running' ? 'running' : undefined;
    if (!state) throw new FormError('state', 'state must be running or stopped');
    await writeSpec(request, (spec) => { spec.state = state; });
    return state === 'stopped' ? 'stopRequested' : 'startRequested';
  });

  action('settings', async (request, form) => {
    const authLevel = form.authLevel;
    if (authLevel !== 'STUDY' && authLevel !== 'DEMO' && authLevel !== 'OFF') throw new FormError('settings', 'choose an admin access level');
    await writeSpec(request, (spec) => {
      spec.otree.production = form.production === 'on';
      spec.otree.authLevel = authLevel;
    });
    return 'settingsSaved';
  });

  action('admin-password', async (request, form, reply) => {
    const { name } = request.params;
    operations.authorizeInstance(request, name, 'writeSecret');
    const spec = ctx.desired.instance(name)!.declared.object.spec;
    const referenced = 'secretRef' in spec.otree.adminPassword ? spec.otree.adminPassword.secretRef : undefined;
    const secret = referenced ?? 'adminPassword';
    const generate = form.generate !== undefined;
    const value = form.password ?? '';
    if (!generate && value.length < MIN_ADMIN_PASSWORD_LENGTH) throw new FormError('admin-password', t.password.tooShort(MIN_ADMIN_PASSWORD_LENGTH));
    const { generated } = await ctx.secrets.set(request, name, secret, generate ? { generate: true } : { value });
    // A row that does not name the stored secret yet (written before secrets were stored) starts to.
    if (!referenced) await writeSpec(request, (s) => { s.otree.adminPassword = { secretRef: secret }; });
    if (generated !== undefined) return instancePage(request, reply, { notice: t.outcome.passwordSet, revealed: { value: generated, text: t.password.generated } });
    return 'passwordSet';
  });

  action('admin-password/reveal', async (request, _form, reply) => {
    const { name } = request.params;
    const spec = ctx.desired.instance(name)?.declared.object.spec;
    const secret = spec && 'secretRef' in spec.otree.adminPassword ? spec.otree.adminPassword.secretRef : 'adminPassword';
    const value = await ctx.secrets.reveal(request, name, secret);
    return instancePage(request, reply, { revealed: { value, text: t.password.revealed } });
  });

  action('freeze-windows', async (request, form) => {
    const from = time.parse(form.date ?? '', form.from ?? '');
    const to = time.parse(form.date ?? '', form.to ?? '');
    if (!from || !to || to <= from) throw new FormError('freeze-windows', t.freeze.invalid);
    if (to.getTime() <= ctx.clock.now()) throw new FormError('freeze-windows', t.freeze.past);
    await writeSpec(request, (spec) => {
      spec.freezeWindows = [...spec.freezeWindows, { from: from.toISOString(), to: to.toISOString() }]
        .sort((a, b) => a.from.localeCompare(b.from));
    });
    return 'settingsSaved';
  });

  action('freeze-windows/remove', async (request, form) => {
    await writeSpec(request, (spec) => {
      spec.freezeWindows = spec.freezeWindows.filter((w) => `${w.from}/${w.to}` !== form.window);
    });
    return 'settingsSaved';
  });

  action('rooms', async (request, form) => {
    const { labels, invalid } = parseLabels(form.labels ?? '');
    if (invalid.length > 0) throw new FormError('rooms', t.rooms.invalidLabels(invalid));
    const roomName = (form.room ?? '').trim();
    const displayName = (form.displayName ?? '').trim() || roomName;
    await writeSpec(request, (spec) => {
      spec.rooms = [...spec.rooms.filter((r) => r.name !== roomName), { name: roomName, displayName, participantLabels: labels }];
    });
    return 'settingsSaved';
  });

  action('rooms/remove', async (request, form) => {
    await writeSpec(request, (spec) => { spec.rooms = spec.rooms.filter((r) => r.name !== form.room); });
    return 'settingsSaved';
  });

  // ---- create, edit, delete ------------------------------------------------------------------

  const mayCreate = (request: FastifyRequest): boolean => {
    const who = principalOf(request);
    return who.scope === 'write' && (who.admin || ctx.config.web.selfService);
  };

  const formPage = (request: FastifyRequest, reply: FastifyReply, data: {
    mode: 'create' | 'edit'; form: Partial<InstanceForm>; problems?: FieldProblem[]; message?: string; name?: string;
  }, statusCode = 200) => {
    const who = principalOf(request);
    const byField = new Map<string, string[]>();
    for (const p of data.problems ?? []) byField.set(p.field, [...(byField.get(p.field) ?? []), p.message]);
    return ctx.page(request, reply, 'instance-form', {
      title: data.mode === 'create' ? t.form.createTitle : t.form.editTitle(data.name ?? ''), ...data,
      fieldErrors: Object.fromEntries(byField), admin: who.admin,
      people: ctx.desired.experimenters().map((p) => p.declared.object.metadata.name).sort(),
      hosts: ctx.config.hosts.map((h) => h.name), zone: time.zone, baseDomain: ctx.config.baseDomain,
      prune: ctx.config.prune,
    }, statusCode);
  };

  /** An API refusal as the form shows it: each issue at its field, the rest above the form. */
  const formFailure = (err: unknown): { problems: FieldProblem[]; message: string; statusCode: number } | undefined => {
    if (!(err instanceof ApiError) || ![400, 403, 409, 422].includes(err.statusCode)) return undefined;
    // Warnings (an inline secret, say) are the API's advice to manifest authors; the form stores secrets itself.
    const errors = (err.issues ?? []).filter((i) => i.severity === 'error');
    const problems = errors.flatMap((i) => {
      const field = fieldOfPath(i.path);
      return field ? [{ field, message: i.message }] : [];
    });
    const unplaced = errors.filter((i) => fieldOfPath(i.path) === undefined).map((i) => `${i.path}: ${i.message}`);
    const message = errors.length === 0 ? err.message : [t.form.fix, ...unplaced].join(' ');
    return { problems, message, statusCode: err.statusCode };
  };

  app.get('/instances/new', signedIn, async (request, reply) => {
    if (!mayCreate(request)) throw new ApiError(403, 'Forbidden', t.form.mayNotCreate);
    return formPage(request, reply, { mode: 'create', form: newForm(principalOf(request).name) });
  });

  app.post('/instances/new', signedIn, async (request, reply) => {
    if (!mayCreate(request)) throw new ApiError(403, 'Forbidden', t.form.mayNotCreate);
    const form = formOf(request) as unknown as InstanceForm;
    const name = (form.name ?? '').trim();
    const { spec, labels, problems } = specOfForm(form, undefined, time, () => randomBytes(18).toString('base64url'));
    if (problems.length > 0) return formPage(request, reply, { mode: 'create', form, problems, message: t.form.fix }, 422);
    try {
      if (ctx.desired.instance(name)) throw new ApiError(409, 'Conflict', t.form.exists(name), [{ path: 'metadata.name', code: 'NAME_TAKEN', severity: 'error', message: t.form.exists(name) }]);
      const { generation } = await operations.put(request, 'OTreeInstance', name, { apiVersion: API_VERSION, kind: 'OTreeInstance', metadata: { name, labels }, spec });
      await settled(name, generation);
    } catch (err) {
      const failure = formFailure(err);
      if (!failure) throw err;
      return formPage(request, reply, { mode: 'create', form, problems: failure.problems, message: failure.message }, failure.statusCode);
    }
    return reply.redirect(`/instances/${encodeURIComponent(name)}?done=created`, 303);
  });

  const editable = (request: FastifyRequest<NameRoute>) => {
    const { name } = request.params;
    operations.authorizeInstance(request, name, 'update');
    operations.refuseFileObjects('OTreeInstance', name);
    const stored = ctx.desired.instance(name);
    if (!stored) throw new ApiError(404, 'NotFound', t.errors.notFound);
    return stored;
  };

  app.get<NameRoute>('/instances/:name/edit', signedIn, async (request, reply) => {
    const stored = editable(request);
    const form = formOfSpec(request.params.name, stored.declared.object.spec, stored.declared.object.metadata.labels, time);
    return formPage(request, reply, { mode: 'edit', name: request.params.name, form });
  });

  app.post<NameRoute>('/instances/:name/edit', signedIn, async (request, reply) => {
    const { name } = request.params;
    const stored = editable(request);
    const form = { ...(formOf(request) as unknown as InstanceForm), name };
    const { spec, labels, problems } = specOfForm(form, structuredClone(stored.declared.object.spec), time, () => '');
    if (problems.length > 0) return formPage(request, reply, { mode: 'edit', name, form, problems, message: t.form.fix }, 422);
    try {
      const { generation } = await operations.put(request, 'OTreeInstance', name, { apiVersion: API_VERSION, kind: 'OTreeInstance', metadata: { name, labels }, spec });
      await settled(name, generation);
    } catch (err) {
      const failure = formFailure(err);
      if (!failure) throw err;
      return formPage(request, reply, { mode: 'edit', name, form, problems: failure.problems, message: failure.message }, failure.statusCode);
    }
    return reply.redirect(`/instances/${encodeURIComponent(name)}?done=settingsSaved`, 303);
  });

  action('delete', async (request, form, reply) => {
    const { name } = request.params;
    operations.authorizeInstance(request, name, 'delete');
    if ((form.confirm ?? '').trim() !== name) throw new FormError('delete', t.remove.mismatch(name));
    await operations.remove(request, 'OTreeInstance', name);
    return reply.redirect(`/?deleted=${encodeURIComponent(name)}`, 303);
  });

  // ---- live updates --------------------------------------------------------------------------

  return async (request, name, view) => {
    const who = principalOf(request);
    if (!operations.visible(who, name)) return undefined;
    if (view === 'instance') return instanceParts(request, await load(name));
    return rowParts(who, ctx.desired.instance(name), name, (await statusStore().get(name)) ?? null);
  };
}
