// The profile page of `otm web` (/profile): a person's own ssh keys and display name, personal API
// tokens, sessions and password. There is no profile of anyone else to reach: every route works on the
// signed-in person only.
//
// Keys and the display name are fields of the person's Experimenter, written through the desired
// operations exactly as PUT /api/v1/experimenters/NAME writes them: authorised by the editProfile verb
// (a person changes only spec.sshKeys and spec.displayName of themselves), refused for an Experimenter
// a manifest file declares (409), checked and audited. Tokens, sessions and the password go through the
// PeopleStore calls of /api/v1/me, audited the same way. Each form POSTs with the CSRF token and is
// answered with a 303 back to the page and an outcome it shows, or the page again with the error named
// at its field (4xx).
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { can } from '../access/can.js';
import { sshFingerprint } from '../engine/planner.js';
import { ApiError } from '../http/errors.js';
import { actorOf, principalOf } from '../http/principal.js';
import { API_VERSION } from '../manifest/index.js';
import type { Experimenter, ExperimenterSpec } from '../manifest/types.js';
import { keyName } from '../reconcile/sshkeys.js';
import type { PageContext } from './context.js';
import type { Session, TokenScope } from './people.js';
import { MAX_TOKEN_LABEL_LENGTH, TOKEN_SCOPES } from './people.js';
import { checkPasswordPolicy, MIN_PASSWORD_LENGTH, PasswordPolicyError } from './passwords.js';
import { SESSION_COOKIE } from './server.js';
import { keyView, MAX_PASTED_KEY_LENGTH, readPastedKey } from './ssh-key-input.js';
import type { KeyView } from './ssh-key-input.js';
import { profileText } from './text-profile.js';

export const MAX_DISPLAY_NAME_LENGTH = 200;
/** The expiries the token form offers, in days; `never` is the other choice. */
export const TOKEN_EXPIRY_DAYS = [7, 30, 90, 365] as const;
const DEFAULT_TOKEN_EXPIRY = '90';
/** How long a write waits for the desired state to show it, so the page it redirects to does. */
const CATCH_UP_MS = 3000;

type Section = 'keys' | 'name' | 'tokens' | 'sessions' | 'password';

/** Outcomes a redirect names in ?done= (nothing else of the query is shown). */
const OUTCOMES = ['keyAdded', 'keyRemoved', 'nameSaved', 'tokenRevoked', 'sessionRevoked', 'othersRevoked', 'passwordChanged'] as const;
type Outcome = (typeof OUTCOMES)[number];

/** A problem with a form, shown in its section, next to the field it names. */
interface FormError {
  section: Section;
  /** The `name` of the input it is about; the template marks that input invalid. */
  field: string;
  message: string;
}

/** What a form sent back, to fill it in again after an error. */
interface Refill {
  key?: string;
  displayName?: string;
  token?: { label: string; scope: string; expires: string };
}

interface NewToken {
  secret: string;
  label: string;
  scope: TokenScope;
}

interface Extra {
  outcome?: string;
  error?: FormError;
  refill?: Refill;
  newToken?: NewToken;
}

type FormBody = Record<string, unknown>;

function bodyOf(request: FastifyRequest): FormBody {
  return typeof request.body === 'object' && request.body !== null ? request.body as FormBody : {};
}

/** A form field as one string ('' when absent; the first value when sent twice). */
function field(body: FormBody, name: string): string {
  const value = body[name];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : '';
}

export function registerProfileRoutes(app: FastifyInstance, ctx: PageContext): void {
  const pt = profileText;
  const { people } = ctx;
  const signedIn = { preHandler: ctx.signedIn };

  /** The signed-in person's Experimenter as the desired state holds it (signedIn has checked there is one). */
  const stored = (name: string) => {
    const found = ctx.desired.experimenter(name);
    if (!found) throw new ApiError(404, 'NotFound', `experimenter "${name}"`);
    return found;
  };
  /** The manifest file that declares the person; undefined for a row (which the page may write). */
  const declaringFile = (name: string): string | undefined => {
    const source = ctx.desired.experimenter(name)?.source;
    return source !== undefined && !source.startsWith('row:') ? source : undefined;
  };

  const currentSession = async (request: FastifyRequest): Promise<Session | undefined> => {
    const secret = request.cookies[SESSION_COOKIE];
    return secret ? people.session(secret) : undefined;
  };

  // ---- the page ----------------------------------------------------------------------------------

  const show = async (request: FastifyRequest, reply: FastifyReply, extra: Extra = {}, statusCode = 200): Promise<FastifyReply> => {
    const who = principalOf(request);
    const me = stored(who.name).declared.object;
    const time = (at: Date) => ({ text: ctx.time.dateTime(at), machine: ctx.time.machine(at) });
    const current = await currentSession(request);
    const keys = me.spec.sshKeys.map((line): KeyView & { installable: boolean } => {
      const view = keyView(line);
      // Dokku gives a key whose name contains "admin" the rights of an administrator: the reconciler skips it.
      return { ...view, installable: me.spec.role === 'admin' || !keyName(who.name, view.fingerprint).includes('admin') };
    });
    const sessions = (await people.sessions(who.name)).map((s) => ({
      id: s.id, current: s.id === current?.id, browser: s.userAgent || pt.sessions.unknownBrowser, address: s.clientAddress,
      started: time(s.createdAt), lastSeen: time(s.lastSeenAt), how: pt.sessions.methods[s.method] ?? s.method,
    }));
    const tokens = (await people.tokens(who.name)).map((t) => ({
      id: t.id, label: t.label, scope: pt.tokens.scopes[t.scope], created: time(t.createdAt),
      expires: t.expiresAt ? time(t.expiresAt) : undefined, lastUsed: t.lastUsedAt ? time(t.lastUsedAt) : undefined,
    }));
    const hasPassword = await people.hasPassword(who.name);
    const file = declaringFile(who.name);
    return ctx.page(request, reply, 'profile', {
      title: pt.title,
      pt,
      name: who.name,
      displayName: me.spec.displayName,
      keys,
      keysFile: file,
      sessions,
      tokens,
      password: hasPassword ? { minLength: MIN_PASSWORD_LENGTH } : undefined,
      provider: ctx.config.web.oidc?.displayName ?? 'single sign-on',
      expiryDays: TOKEN_EXPIRY_DAYS,
      scopes: TOKEN_SCOPES,
      limits: { key: MAX_PASTED_KEY_LENGTH, label: MAX_TOKEN_LABEL_LENGTH, displayName: MAX_DISPLAY_NAME_LENGTH },
      outcome: extra.outcome,
      error: extra.error,
      refill: { token: { label: '', scope: 'read', expires: DEFAULT_TOKEN_EXPIRY }, ...extra.refill },
      newToken: extra.newToken,
    }, statusCode);
  };

  /** 303 back to the page's section, which then says what happened. */
  const done = (reply: FastifyReply, outcome: Outcome, section: Section, query: Record<string, string> = {}) =>
    reply.redirect(`/profile?${new URLSearchParams({ done: outcome, ...query }).toString()}#${section}`, 303);

  app.get<{ Querystring: { done?: string; n?: string; pending?: string } }>('/profile', signedIn, async (request, reply) => {
    const { done: outcome, n, pending } = request.query;
    const count = Number.parseInt(n ?? '0', 10);
    const safe = Number.isSafeInteger(count) && count >= 0 ? count : 0;
    let message: string | undefined;
    if (outcome === 'othersRevoked') message = pt.outcome.othersRevoked(safe);
    else if (outcome === 'passwordChanged') message = pt.outcome.passwordChanged(safe);
    else if ((OUTCOMES as readonly string[]).includes(outcome ?? '')) message = pt.outcome[outcome as Exclude<Outcome, 'othersRevoked' | 'passwordChanged'>];
    if (message !== undefined && pending === '1') message = `${message} ${pt.outcome.pending}`;
    return show(request, reply, { outcome: message });
  });

  // ---- keys and display name: the person's Experimenter -------------------------------------------

  /**
   * Writes the person's Experimenter with `change` through the desired operations (authorised, checked,
   * audited as the API's PUT is), waits until the desired state shows it, and redirects with `outcome`;
   * a refusal shows the page again with the error at `errorAt`.
   */
  const writeProfile = async (
    request: FastifyRequest, reply: FastifyReply, change: Partial<Pick<ExperimenterSpec, 'sshKeys' | 'displayName'>>,
    outcome: Outcome, errorAt: Omit<FormError, 'message'>, refill: Refill,
  ): Promise<FastifyReply> => {
    const who = principalOf(request);
    const object: Experimenter = stored(who.name).declared.object;
    const body = {
      apiVersion: API_VERSION, kind: 'Experimenter',
      metadata: { name: who.name, labels: object.metadata.labels },
      spec: { ...object.spec, ...change },
    };
    let generation: number;
    try {
      ({ generation } = await ctx.operations.put(request, 'Experimenter', who.name, body));
    } catch (err) {
      if (!(err instanceof ApiError) || err.statusCode >= 500) throw err;
      const file = declaringFile(who.name);
      const message = err.statusCode === 409 && file !== undefined ? pt.keys.managedInFile(file) : err.message;
      return show(request, reply, { error: { ...errorAt, message }, refill }, err.statusCode);
    }
    // The row reaches the desired state through the database's notification: wait for it (briefly), so
    // that the page the browser is sent to shows the change.
    let caughtUp = false;
    for (let waited = 0; waited < CATCH_UP_MS; waited += 25) {
      if ((ctx.desired.experimenter(who.name)?.generation ?? 0) >= generation) {
        caughtUp = true;
        break;
      }
      await sleep(25);
    }
    return done(reply, outcome, errorAt.section, caughtUp ? {} : { pending: '1' });
  };

  app.post('/profile/keys', signedIn, async (request, reply) => {
    const who = principalOf(request);
    const pasted = field(bodyOf(request), 'key');
    const refuse = (message: string, statusCode: number, refill = pasted) =>
      show(request, reply, { error: { section: 'keys', field: 'key', message }, refill: { key: refill } }, statusCode);
    const parsed = readPastedKey(pasted, pt.keys.errors);
    // A private key pasted by mistake is not sent back into the form.
    if (!parsed.ok) return refuse(parsed.problem, 422, parsed.secret ? '' : pasted);
    const { fingerprint } = parsed.key;
    const mine = stored(who.name).declared.object.spec.sshKeys;
    if (mine.some((line) => sshFingerprint(line) === fingerprint)) return refuse(pt.keys.errors.duplicate, 409);
    const taken = ctx.desired.experimenters().some(({ declared: { object } }) =>
      object.metadata.name !== who.name && object.spec.sshKeys.some((line) => sshFingerprint(line) === fingerprint));
    if (taken) return refuse(pt.keys.errors.takenByOther, 409);
    return writeProfile(request, reply, { sshKeys: [...mine, parsed.key.line] }, 'keyAdded', { section: 'keys', field: 'key' }, { key: pasted });
  });

  app.post('/profile/keys/remove', signedIn, async (request, reply) => {
    const who = principalOf(request);
    const fingerprint = field(bodyOf(request), 'fingerprint');
    const mine = stored(who.name).declared.object.spec.sshKeys;
    const kept = mine.filter((line) => sshFingerprint(line) !== fingerprint);
    if (kept.length === mine.length) return show(request, reply, { error: { section: 'keys', field: 'fingerprint', message: pt.keys.errors.notFound } }, 404);
    return writeProfile(request, reply, { sshKeys: kept }, 'keyRemoved', { section: 'keys', field: 'fingerprint' }, {});
  });

  app.post('/profile/name', signedIn, async (request, reply) => {
    const who = principalOf(request);
    const sent = field(bodyOf(request), 'displayName');
    const displayName = sent.trim().replace(/\s+/g, ' ');
    const refuse = (message: string) => show(request, reply, { error: { section: 'name', field: 'displayName', message }, refill: { displayName: sent } }, 422);
    if (displayName === '') return refuse(pt.name.errors.empty);
    if ([...displayName].length > MAX_DISPLAY_NAME_LENGTH) return refuse(pt.name.errors.tooLong(MAX_DISPLAY_NAME_LENGTH));
    if (displayName === stored(who.name).declared.object.spec.displayName) return done(reply, 'nameSaved', 'name');
    return writeProfile(request, reply, { displayName }, 'nameSaved', { section: 'name', field: 'displayName' }, { displayName: sent });
  });

  // ---- personal tokens ---------------------------------------------------------------------------

  /** A session principal always may; the check keeps the page on the table's word. */
  const requireManage = (request: FastifyRequest) => {
    const who = principalOf(request);
    if (!can(who, { kind: 'person', verb: 'manageAccess', person: who.name })) throw new ApiError(403, 'Forbidden', ctx.text.errors.forbidden);
    return who;
  };

  app.post('/profile/tokens', signedIn, async (request, reply) => {
    const who = requireManage(request);
    const body = bodyOf(request);
    const label = field(body, 'label').trim();
    const scope = field(body, 'scope');
    const expires = field(body, 'expires');
    const refill: Refill = { token: { label: field(body, 'label'), scope, expires } };
    const refuse = (at: string, message: string) => show(request, reply, { error: { section: 'tokens', field: at, message }, refill }, 422);
    if (label === '' || label.length > MAX_TOKEN_LABEL_LENGTH) return refuse('label', pt.tokens.errors.label(MAX_TOKEN_LABEL_LENGTH));
    if (!(TOKEN_SCOPES as readonly string[]).includes(scope)) return refuse('scope', pt.tokens.errors.scope);
    const days = Number(expires);
    if (expires !== 'never' && !(TOKEN_EXPIRY_DAYS as readonly number[]).includes(days)) return refuse('expires', pt.tokens.errors.expires);
    const expiresAt = expires === 'never' ? null : new Date(ctx.clock.now() + days * 86_400_000);
    const { secret, token } = await people.createToken(who.name, { scope: scope as TokenScope, expiresAt, label }, actorOf(request));
    // The token is in this answer only: it is not kept, so the page cannot show it again.
    return show(request, reply, { newToken: { secret, label: token.label, scope: token.scope } }, 201);
  });

  app.post<{ Params: { id: string } }>('/profile/tokens/:id/revoke', signedIn, async (request, reply) => {
    const who = requireManage(request);
    if (!(await people.revokeToken(who.name, request.params.id, actorOf(request)))) {
      return show(request, reply, { error: { section: 'tokens', field: 'token', message: pt.tokens.errors.notFound } }, 404);
    }
    return done(reply, 'tokenRevoked', 'tokens');
  });

  // ---- sessions ----------------------------------------------------------------------------------

  app.post<{ Params: { id: string } }>('/profile/sessions/:id/revoke', signedIn, async (request, reply) => {
    const who = requireManage(request);
    const current = await currentSession(request);
    if (!(await people.revokeSession(who.name, request.params.id, actorOf(request)))) {
      return show(request, reply, { error: { section: 'sessions', field: 'session', message: pt.sessions.errors.notFound } }, 404);
    }
    // Signing out this very session from the list is signing out.
    if (request.params.id === current?.id) return reply.redirect('/sign-in', 303);
    return done(reply, 'sessionRevoked', 'sessions');
  });

  app.post('/profile/sessions/revoke-others', signedIn, async (request, reply) => {
    const who = requireManage(request);
    const current = await currentSession(request);
    const revoked = await people.revokeSessions(who.name, actorOf(request), current ? { except: current.id } : {});
    return done(reply, 'othersRevoked', 'sessions', { n: String(revoked) });
  });

  // ---- password ----------------------------------------------------------------------------------

  app.post('/profile/password', signedIn, async (request, reply) => {
    const who = requireManage(request);
    const body = bodyOf(request);
    const currentPassword = field(body, 'current');
    const password = field(body, 'password');
    const confirm = field(body, 'confirm');
    const refuse = (at: string, message: string, statusCode: number) => show(request, reply, { error: { section: 'password', field: at, message } }, statusCode);
    if (!(await people.hasPassword(who.name))) return refuse('current', pt.password.ssoOnly(ctx.config.web.oidc?.displayName ?? 'single sign-on'), 409);
    // A wrong current password counts against the sign-in limit of the account, as a wrong sign-in does:
    // a borrowed session cannot be used to guess the password faster than the sign-in form allows.
    const account = [{ rule: 'account', key: who.name }];
    const wait = ctx.limiter.retryAfterSeconds(account);
    if (wait !== undefined) {
      void reply.header('retry-after', String(wait));
      return refuse('current', pt.password.errors.tooMany(Math.ceil(wait / 60)), 429);
    }
    if (password !== confirm) return refuse('confirm', pt.password.errors.mismatch, 422);
    try {
      checkPasswordPolicy(password, who.name);
    } catch (err) {
      if (err instanceof PasswordPolicyError) return refuse('password', `${err.message}.`, 422);
      throw err;
    }
    if (!(await people.checkPassword(who.name, currentPassword))) {
      ctx.limiter.fail(account);
      ctx.log.info({ person: who.name, address: ctx.clientAddress(request) }, 'password change refused: wrong current password');
      return refuse('current', pt.password.errors.wrongCurrent, 403);
    }
    ctx.limiter.clear(account[0]!);
    const current = await currentSession(request);
    const others = (await people.sessions(who.name)).filter((s) => s.id !== current?.id).length;
    // Setting the password ends every session of the person, this one too; this browser gets a new one.
    await people.setPassword(who.name, password, actorOf(request));
    await ctx.signIn(request, reply, who.name, { method: 'password', adminByGroup: current?.adminByGroup ?? false });
    return done(reply, 'passwordChanged', 'password', { n: String(others) });
  });
}
