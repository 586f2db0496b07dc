// Single sign-on with an OpenID Connect provider (web.oidc): the authorization code flow with PKCE
// (S256), state and nonce, through openid-client. What the callback must check is kept server-side in
// otm.sign_in_flows, found by the hash of a random id in a short-lived cookie of the browser that
// started the sign-in, so a callback from another browser, a replayed one or a forged one finds
// nothing to finish. The provider is discovered at the first sign-in, not at start: otm web starts
// (and passwords work) while the provider is down.
//
// No token, code, state, nonce or client secret is ever logged or shown: the provider's errors are
// logged with their OAuth error code only, and the callback's query string is kept out of the
// request log.
import type {} from '@fastify/cookie';
import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as oidc from 'openid-client';
import commonSchema from '../../schemas/common.schema.json' with { type: 'json' };
import type { WebConfig } from '../config.js';
import { readPrivateFile } from '../private-file.js';
import type { LimitRule } from './limiter.js';
import { localReturnTo } from './return-to.js';
import type { Person, ProvisionedPerson, WebContext } from './context.js';

type OidcConfig = NonNullable<WebConfig['oidc']>;

export const FLOW_COOKIE = 'otm_oidc';
/** Single sign-on starts allowed per client address, for the server's AttemptLimiter. */
export const SSO_LIMIT_RULES: Readonly<Record<'sso-address', LimitRule>> = { 'sso-address': { limit: 30, windowMs: 600_000 } };
const FLOW_PATH = '/auth/oidc';
/** Long enough to sign in at the provider (with a second factor), short enough that a stale tab fails. */
const FLOW_TTL_MS = 10 * 60_000;
/** A provider slower than this counts as down: the page says so instead of hanging. */
const PROVIDER_TIMEOUT_SECONDS = 10;
const MAX_DISPLAY_NAME_LENGTH = 200;
/** Provisioned names try base, base2, base3 … up to this suffix. */
const MAX_NAME_SUFFIX = 1000;
const USER_NAME = new RegExp(commonSchema.$defs.userName.pattern);
const USER_NAME_MAX_LENGTH = 63;

const NOT_COMPLETED = 'sign-in could not be completed; start again';

/** The client secret: the file's one line, surrounding whitespace removed. */
async function readClientSecret(file: string): Promise<string> {
  const secret = (await readPrivateFile(file, {
    what: 'the single sign-on client secret file', setting: 'web.oidc.clientSecretFile', reader: 'otm web',
    create: 'write the client secret the identity provider gave for otree-manager into it',
  })).trim();
  if (secret === '' || /[\r\n]/.test(secret)) {
    throw new Error(`the single sign-on client secret file ${file} (web.oidc.clientSecretFile) must hold the client secret on one line`);
  }
  return secret;
}

/**
 * The provider's configuration, discovered at the first call and kept. A failed discovery is not
 * kept, so the next sign-in tries again; concurrent callers share one discovery.
 */
function lazyDiscovery(settings: OidcConfig, clientSecret: string | undefined): () => Promise<oidc.Configuration> {
  let discovered: Promise<oidc.Configuration> | undefined;
  return () => {
    discovered ??= oidc.discovery(
      new URL(settings.issuer), settings.clientId,
      clientSecret !== undefined ? { client_secret: clientSecret } : undefined,
      clientSecret !== undefined ? oidc.ClientSecretPost(clientSecret) : oidc.None(),
      { timeout: PROVIDER_TIMEOUT_SECONDS, execute: settings.allowInsecureHttp ? [oidc.allowInsecureRequests] : [] },
    ).catch((err: unknown) => {
      discovered = undefined;
      throw err;
    });
    return discovered;
  };
}

/** The provider could not be reached or did not answer in time (not: it answered with an error). */
function isUnreachable(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  return name === 'TimeoutError' || name === 'AbortError' || (err instanceof TypeError && err.message === 'fetch failed');
}

/** What may be logged of an error from talking to the provider: codes, never messages (they may quote values). */
function errorCodes(err: unknown): Record<string, string> {
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError) return { oauthError: err.error };
  if (err instanceof oidc.ClientError) return { code: err.code ?? 'unknown' };
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return { code: typeof cause === 'string' ? cause : (err as Error | undefined)?.name ?? 'unknown' };
}

/** True when the claim (a list, or one value) holds one of the configured admin groups. */
function inAdminGroup(claims: oidc.IDToken, adminGroups: OidcConfig['adminGroups']): boolean {
  if (!adminGroups) return false;
  const value = claims[adminGroups.claim];
  const groups = Array.isArray(value) ? value : [value];
  return groups.some((group) => typeof group === 'string' && adminGroups.values.includes(group));
}

/** `source` made into a user name: letters without accents, lowercase, other characters as `-`, starting with a letter. */
function userNameFrom(source: string): string {
  const name = source.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-').replace(/^[^a-z]+/, '').slice(0, USER_NAME_MAX_LENGTH).replace(/-+$/, '');
  return name === '' ? 'user' : name;
}

/** `base`, or the first of base2, base3 … that nobody has; undefined when all are taken. */
function freeUserName(base: string, taken: (name: string) => boolean): string | undefined {
  if (!taken(base)) return base;
  for (let suffix = 2; suffix <= MAX_NAME_SUFFIX; suffix++) {
    const name = base.slice(0, USER_NAME_MAX_LENGTH - String(suffix).length) + suffix;
    if (!taken(name)) return name;
  }
  return undefined;
}

/** The outcome of matching the ID token's claims to a person. */
type Match =
  | { person: Person }
  | { provision: ProvisionedPerson }
  | { refusal: string };

/** Mounts /auth/oidc/start and /auth/oidc/callback. The app must have @fastify/cookie registered. */
export async function registerOidcRoutes(app: FastifyInstance, ctx: WebContext): Promise<void> {
  const settings = ctx.config.web.oidc;
  if (!settings) throw new Error('registerOidcRoutes needs web.oidc in the configuration');
  if (!app.hasReplyDecorator('setCookie')) throw new Error('single sign-on needs @fastify/cookie registered on the web server');
  if (new URL(settings.issuer).protocol === 'http:' && !settings.allowInsecureHttp) {
    throw new Error(`web.oidc.issuer ${settings.issuer} is plain http; use the provider's https address (web.oidc.allowInsecureHttp: true is for tests and loopback providers only)`);
  }
  const clientSecret = settings.clientSecretFile !== undefined ? await readClientSecret(settings.clientSecretFile) : undefined;
  const discover = lazyDiscovery(settings, clientSecret);
  const redirectUri = `${ctx.publicUrl}${FLOW_PATH}/callback`;
  const cookieOptions: CookieSerializeOptions = {
    path: FLOW_PATH, httpOnly: true, sameSite: 'lax', secure: new URL(ctx.publicUrl).protocol === 'https:',
  };

  const page = (reply: FastifyReply, status: number, title: string, message: string) => ctx.render(reply, 'message', {
    title, message, link: { href: '/', text: 'Back to the start page' },
  }, status);
  const unavailable = (reply: FastifyReply, err: unknown) => {
    ctx.log.warn({ issuer: settings.issuer, ...errorCodes(err) }, 'single sign-on: the identity provider cannot be reached');
    return page(reply, 503, 'Single sign-on unavailable',
      `${settings.displayName} cannot be reached at the moment; try again in a few minutes, or sign in with your password`);
  };
  const notCompleted = (reply: FastifyReply) => page(reply, 400, 'Sign-in failed', NOT_COMPLETED);
  const refused = (reply: FastifyReply, message: string) => page(reply, 403, 'No access', message);

  /** The person the claims name, one to provision, or why neither. */
  const match = (claims: oidc.IDToken): Match => {
    const email = typeof claims.email === 'string' && claims.email !== '' ? claims.email : undefined;
    // Only an address the provider verified proves anything: anyone can type someone else's.
    const verifiedEmail = claims.email_verified === true ? email : undefined;
    let person: Person | undefined;
    let login: string;
    if (settings.matchClaim === 'email') {
      if (email === undefined) return { refusal: `${settings.displayName} did not send your e-mail address; ask the lab's admin` };
      if (verifiedEmail === undefined) return { refusal: `the e-mail address ${email} is not verified at ${settings.displayName}; verify it there, or ask the lab's admin` };
      const found = ctx.peopleByEmail(verifiedEmail);
      // Signing in as one of several, or provisioning yet another, would both be wrong.
      if (found.length > 1) return { refusal: `several accounts have the address ${verifiedEmail}; ask the lab's admin to give each person their own` };
      person = found[0];
      login = verifiedEmail;
    } else {
      person = ctx.person(claims.sub);
      login = claims.sub;
    }
    if (person) return person.disabled ? { refusal: `the account ${person.name} is disabled; ask the lab's admin` } : { person };

    const noAccount = { refusal: `no account for ${login}; ask the lab's admin` };
    if (!settings.provision.enabled) return noAccount;
    if (verifiedEmail === undefined) {
      ctx.log.warn({ matchClaim: settings.matchClaim }, 'single sign-on: not provisioning a person without a verified e-mail address');
      return noAccount;
    }
    // Matched by sub, the new person must be named exactly sub, or the next sign-in would not find them.
    const name = settings.matchClaim === 'sub'
      ? (USER_NAME.test(claims.sub) ? claims.sub : undefined)
      : freeUserName(userNameFrom(verifiedEmail.slice(0, verifiedEmail.lastIndexOf('@'))), (candidate) => ctx.person(candidate) !== undefined);
    if (name === undefined) {
      ctx.log.warn({ matchClaim: settings.matchClaim }, 'single sign-on: no user name can be made for a new person');
      return noAccount;
    }
    const displayName = typeof claims.name === 'string' && claims.name.trim() !== '' ? claims.name.trim().slice(0, MAX_DISPLAY_NAME_LENGTH) : name;
    return { provision: { name, displayName, email: verifiedEmail, quota: { ...settings.provision.quota } } };
  };

  app.get('/auth/oidc/start', async (request: FastifyRequest<{ Querystring: { returnTo?: string } }>, reply) => {
    // Every start stores a flow: one address cannot fill the table.
    const address = [{ rule: 'sso-address', key: ctx.clientAddress(request) }];
    const wait = ctx.limiter.retryAfterSeconds(address);
    if (wait !== undefined) {
      void reply.header('retry-after', String(wait));
      return ctx.render(reply, 'message', { title: 'Too many sign-ins', message: `too many sign-ins started from your address; try again in ${Math.ceil(wait / 60)} minutes` }, 429);
    }
    ctx.limiter.fail(address);
    let configuration: oidc.Configuration;
    try {
      configuration = await discover();
    } catch (err) {
      return unavailable(reply, err);
    }
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const flowId = await ctx.people.createSignInFlow({ state, nonce, codeVerifier, returnTo: localReturnTo(request.query.returnTo) }, FLOW_TTL_MS);
    reply.setCookie(FLOW_COOKIE, flowId, { ...cookieOptions, maxAge: FLOW_TTL_MS / 1000 });
    const target = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUri, scope: settings.scopes.join(' '), state, nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
    });
    return reply.redirect(target.href, 302);
  });

  app.get('/auth/oidc/callback', {
    // The query holds the authorization code and the state: the request log gets the path only.
    logSerializers: { req: (req: FastifyRequest) => ({ method: req.method, url: req.url.split('?')[0] }) },
  }, async (request, reply) => {
    const flowId = request.cookies[FLOW_COOKIE];
    reply.clearCookie(FLOW_COOKIE, cookieOptions);
    const flow = flowId ? await ctx.people.consumeSignInFlow(flowId) : undefined;
    if (!flow) {
      ctx.log.info({ cookie: flowId ? 'no live flow' : 'missing' }, 'single sign-on: a callback without a sign-in started in this browser');
      return notCompleted(reply);
    }
    let configuration: oidc.Configuration;
    try {
      configuration = await discover();
    } catch (err) {
      return unavailable(reply, err);
    }
    // The address the provider redirected to, as the browser saw it (not as a proxy forwarded it).
    const query = request.url.indexOf('?');
    const currentUrl = new URL(redirectUri + (query >= 0 ? request.url.slice(query) : ''));
    let claims: oidc.IDToken | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(configuration, currentUrl, {
        pkceCodeVerifier: flow.codeVerifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (err) {
      if (isUnreachable(err)) return unavailable(reply, err);
      ctx.log.warn(errorCodes(err), 'single sign-on: the sign-in was refused');
      return notCompleted(reply);
    }
    if (!claims) return notCompleted(reply);

    const matched = match(claims);
    if ('refusal' in matched) {
      ctx.log.info({ matchClaim: settings.matchClaim }, 'single sign-on: no person may sign in with these claims');
      return refused(reply, matched.refusal);
    }
    const clientAddress = ctx.clientAddress(request);
    let name: string;
    if ('provision' in matched) {
      name = matched.provision.name;
      try {
        await ctx.provisionPerson(matched.provision, { actor: name, authMethod: 'oidc', clientAddress });
      } catch (err) {
        ctx.log.error({ person: name, error: (err as Error).message }, 'single sign-on: the new person could not be created');
        return page(reply, 500, 'Account not created', `your account could not be created; ask the lab's admin`);
      }
    } else {
      name = matched.person.name;
    }
    const adminByGroup = inAdminGroup(claims, settings.adminGroups);
    await ctx.signIn(request, reply, name, { method: 'oidc', adminByGroup });
    ctx.log.info({ person: name, adminByGroup, provisioned: 'provision' in matched }, 'signed in with single sign-on');
    return reply.redirect(localReturnTo(flow.returnTo), 303);
  });
}
