// The pages behind the one-time links: an invitation or a password reset opens a form to choose a
// password, which spends the link, sets the password and signs the person in; "forgot password" sends a
// reset link by mail. A link's secret is in its path, so it must never be logged: otm web keeps no
// request log of its own (nginx's site leaves these paths out of its access log), and nothing here
// logs a secret or a password. Every form carries the CSRF token that the server checks.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { WebContext, Person } from './context.js';
import type { LimitKey, LimitRule } from './limiter.js';
import type { Mailer } from './mail.js';
import { linkUrl } from './mail.js';
import type { Actor, LinkPurpose } from './people.js';
import { MIN_PASSWORD_LENGTH, PasswordPolicyError, checkPasswordPolicy } from './passwords.js';

/**
 * The limits of "forgot password" requests, for the server's AttemptLimiter: every request counts, since
 * each may send a mail. Per address, against one client asking for many accounts; per account, against
 * filling one person's mailbox.
 */
export const RESET_LIMIT_RULES: Readonly<Record<'reset-address' | 'reset-account', LimitRule>> = {
  'reset-address': { limit: 10, windowMs: 3_600_000 },
  'reset-account': { limit: 3, windowMs: 3_600_000 },
};

export interface LinkRoutes {
  /** Resolves once every reset mail started so far has been sent or given up on (the app's close waits for it too). */
  settled(): Promise<void>;
}


const PURPOSES: readonly LinkPurpose[] = ['invite', 'reset'];
/** What createLink hands out: 32 random bytes, base64url. Anything else is not worth a database query. */
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** Longer than any name or e-mail address a person can have. */
const MAX_ACCOUNT_LENGTH = 320;

const PAGES = {
  invite: { title: 'Choose your password', intro: 'Welcome to otree-manager. Choose the password you will sign in with.', submit: 'Set the password and sign in' },
  reset: { title: 'Choose a new password', intro: 'Choose the new password for your account. Setting it signs you out everywhere else.', submit: 'Set the password and sign in' },
  mismatch: 'the two passwords differ; type the same password in both fields',
  gone: { title: 'This link no longer works', message: 'this link has expired or was already used; ask for a new one' },
  newLink: { href: '/forgot-password', text: 'Ask for a new link' },
  forgot: { title: 'Forgot your password?' },
  sent: { title: 'Check your mail', message: 'if the account exists and has an e-mail address, a link is on its way' },
  tooMany: (seconds: number) => ({ title: 'Too many requests', message: `too many password-reset requests; try again in ${seconds} seconds` }),
};

/** A field of a parsed form body; '' when absent or repeated. */
function formField(body: unknown, name: string): string {
  const value = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  return typeof value === 'string' ? value : '';
}

/** Pages that carry a link's secret in their address: neither cached nor sent on as a Referer. */
function linkPageHeaders(reply: FastifyReply): FastifyReply {
  return reply.header('Cache-Control', 'no-store').header('Referrer-Policy', 'no-referrer');
}

/** What became of an invitation: mailed, or the link for an admin to pass on, and why it was not mailed. */
export type Invitation =
  | { mailed: true; email: string }
  | { mailed: false; link: string; reason: 'noMailer' | 'noEmail' | 'failed'; error?: string };

/**
 * Makes an invitation link (web.links.inviteHours) and mails it to the person, as `otm user invite`
 * does; without a relay or an address, or when the relay fails, answers the link for the caller to
 * show once. The link is never logged. A new link replaces an earlier unused one (createLink).
 */
export async function sendInvitation(ctx: WebContext, mailer: Mailer | undefined, person: { name: string; displayName: string; email?: string }, by: Actor): Promise<Invitation> {
  const validForMs = ctx.config.web.links.inviteHours * 3_600_000;
  const secret = await ctx.people.createLink(person.name, 'invite', validForMs, by);
  const link = linkUrl(ctx.publicUrl, 'invite', secret);
  if (!mailer) return { mailed: false, link, reason: 'noMailer' };
  if (person.email === undefined) return { mailed: false, link, reason: 'noEmail' };
  try {
    await mailer.sendLink('invite', { name: person.name, displayName: person.displayName, email: person.email }, secret, validForMs);
    ctx.log.info({ person: person.name }, 'invitation sent');
    return { mailed: true, email: person.email };
  } catch (error) {
    // A MailError names the relay and its reply, never the link.
    ctx.log.warn({ person: person.name, error: (error as Error).message }, 'could not send the invitation');
    return { mailed: false, link, reason: 'failed', error: (error as Error).message };
  }
}

/** Registers the link pages. Their forms' CSRF tokens come from ctx.render and are checked by the server, as for every form. */
export function registerLinkRoutes(app: FastifyInstance, ctx: WebContext, mailer: Mailer | undefined): LinkRoutes {
  const pending = new Set<Promise<void>>();

  const setPasswordForm = (reply: FastifyReply, purpose: LinkPurpose, error?: string) =>
    ctx.render(linkPageHeaders(reply), 'set-password', { ...PAGES[purpose], minLength: MIN_PASSWORD_LENGTH, ...(error ? { error } : {}) }, error ? 400 : 200);

  const gone = (reply: FastifyReply) => ctx.render(linkPageHeaders(reply), 'message', { ...PAGES.gone, link: PAGES.newLink }, 410);

  for (const purpose of PURPOSES) {
    // Shown without looking the secret up: mail scanners open links, and opening one must not spend it.
    app.get(`/${purpose}/:secret`, async (_request, reply) => setPasswordForm(reply, purpose));

    app.post(`/${purpose}/:secret`, async (request, reply) => {
      const { secret } = request.params as { secret: string };
      const password = formField(request.body, 'password');
      // The form is checked against the link's person before the link is spent, so a typo keeps it usable.
      const owner = SECRET_PATTERN.test(secret) ? await ctx.people.linkPerson(secret, purpose) : undefined;
      if (owner === undefined) return gone(reply);
      if (password !== formField(request.body, 'confirm')) return setPasswordForm(reply, purpose, PAGES.mismatch);
      try {
        checkPasswordPolicy(password, owner);
      } catch (error) {
        if (error instanceof PasswordPolicyError) return setPasswordForm(reply, purpose, error.message);
        throw error;
      }
      // consumeLink decides (of two submissions, one wins); a person removed or disabled since gets nothing.
      const consumed = await ctx.people.consumeLink(secret, purpose);
      const person = consumed !== undefined ? ctx.person(consumed) : undefined;
      if (person === undefined || person.disabled) return gone(reply);
      await ctx.people.setPassword(person.name, password, { actor: person.name, clientAddress: ctx.clientAddress(request), authMethod: purpose });
      await ctx.signIn(request, reply, person.name, { method: purpose });
      return reply.redirect('/', 303);
    });
  }

  const forgotForm = (reply: FastifyReply) =>
    ctx.render(reply, 'forgot-password', { ...PAGES.forgot, maxLength: MAX_ACCOUNT_LENGTH });

  /** Makes the reset link and mails it; never rejects: failures are logged, without the link. */
  const sendResetLink = async (person: Person & { email: string }, clientAddress: string): Promise<void> => {
    if (!mailer) {
      ctx.log.warn({ person: person.name }, 'a password reset was asked for, but no mail relay is configured (web.smtp); nothing was sent');
      return;
    }
    try {
      const validForMs = ctx.config.web.links.resetMinutes * 60_000;
      const secret = await ctx.people.createLink(person.name, 'reset', validForMs, { actor: 'anonymous', clientAddress, authMethod: 'none' });
      await mailer.sendLink('reset', { name: person.name, displayName: person.displayName, email: person.email }, secret, validForMs);
      ctx.log.info({ person: person.name }, 'password-reset link sent');
    } catch (error) {
      ctx.log.warn({ person: person.name, error: (error as Error).message }, 'could not send the password-reset link');
    }
  };

  app.get('/forgot-password', async (_request, reply) => forgotForm(reply));

  app.post('/forgot-password', async (request, reply) => {
    const account = formField(request.body, 'account').trim().slice(0, MAX_ACCOUNT_LENGTH);
    // An address several people share names nobody: no mail goes out (the answer stays the same).
    const byEmail = ctx.peopleByEmail(account);
    const person = ctx.person(account) ?? (byEmail.length === 1 ? byEmail[0] : undefined);
    const clientAddress = ctx.clientAddress(request);
    const keys: LimitKey[] = [
      { rule: 'reset-address', key: clientAddress },
      // A person's name and e-mail count as one account: asking by both does not double the mails.
      { rule: 'reset-account', key: person?.name ?? account.toLowerCase() },
    ];
    const retryAfter = ctx.limiter.retryAfterSeconds(keys);
    if (retryAfter !== undefined) {
      return ctx.render(reply.header('Retry-After', String(retryAfter)), 'message', PAGES.tooMany(retryAfter), 429);
    }
    ctx.limiter.fail(keys);
    const answer = ctx.render(reply, 'message', PAGES.sent);
    // The link and the mail are made after the answer is written, in the background, so that an existing
    // account is answered exactly as fast as an unknown one.
    if (person !== undefined && !person.disabled && person.email !== undefined) {
      const work = sendResetLink({ ...person, email: person.email }, clientAddress);
      pending.add(work);
      void work.finally(() => pending.delete(work));
    }
    return answer;
  });

  const settled = async (): Promise<void> => {
    while (pending.size > 0) await Promise.all(pending);
  };
  app.addHook('onClose', settled);
  return { settled };
}
