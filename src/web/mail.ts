// Invitations and password resets by e-mail, through the relay of `web.smtp` (nodemailer). A message
// carries a one-time link, so neither the message nor the link is ever logged: nodemailer's own logger
// stays off, and a relay's failure becomes a MailError that names the relay and its reply, never the
// link or the relay's credentials.
import nodemailer from 'nodemailer';
import type { NodemailerError, Transporter } from 'nodemailer';
import type { WebConfig } from '../config.js';
import { readPrivateFile } from '../private-file.js';
import type { LinkPurpose } from './people.js';

export type SmtpConfig = NonNullable<WebConfig['smtp']>;

/** Who a message goes to: a declared person with an e-mail address. */
export interface Recipient {
  name: string;
  displayName: string;
  email: string;
}

export interface ComposedMessage {
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  /** Sends the link for `secret` (valid for `validForMs`) to `to`; rejects with a MailError when the relay fails. */
  sendLink(purpose: LinkPurpose, to: Recipient, secret: string, validForMs: number): Promise<void>;
  /** Closes the relay's connections. */
  close(): void;
}

/** The relay refused or failed a message; the message names web.smtp.host, never a link or a credential. */
export class MailError extends Error {
  override name = 'MailError';
}

/** Every English word people read in these mails. */
const WORDING = {
  invite: {
    subject: 'Your otree-manager account',
    opening: (to: Recipient) => `you have been given an account on otree-manager, where you run your oTree servers. Your user name is ${to.name}.`,
    action: 'Choose your password here:',
    ignore: 'If you did not expect this mail, you can ignore it.',
  },
  reset: {
    subject: 'Reset your otree-manager password',
    opening: (to: Recipient) => `someone, hopefully you, asked to reset the password of the otree-manager account ${to.name}.`,
    action: 'Choose a new password here:',
    ignore: 'If you did not ask for this, ignore this mail: your password stays as it is.',
  },
  greeting: (to: Recipient) => `Hello ${to.displayName},`,
  expiry: (words: string) => `The link works once and expires in ${words}.`,
  units: [['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000]] as const,
};

/** "3 days", "1 hour", "90 minutes": the largest unit that divides the duration (minutes at the least). */
export function durationInWords(ms: number): string {
  const [unit, size] = WORDING.units.find(([, unitMs]) => ms >= unitMs && ms % unitMs === 0) ?? WORDING.units[WORDING.units.length - 1]!;
  const count = Math.max(1, Math.round(ms / size));
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/** `${publicUrl}/invite/<secret>` or `${publicUrl}/reset/<secret>`. */
export function linkUrl(publicUrl: string, purpose: LinkPurpose, secret: string): string {
  return `${publicUrl}/${purpose}/${encodeURIComponent(secret)}`;
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);

/** The subject, the plain text and the HTML of an invitation or a reset mail. */
export function composeMessage(purpose: LinkPurpose, to: Recipient, link: string, validForMs: number): ComposedMessage {
  const words = WORDING[purpose];
  const paragraphs = [WORDING.greeting(to), words.opening(to), words.action];
  const closing = [WORDING.expiry(durationInWords(validForMs)), words.ignore];
  const text = [...paragraphs, link, ...closing].join('\n\n') + '\n';
  const html = [
    ...paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
    `<p><a href="${escapeHtml(link)}">${escapeHtml(link)}</a></p>`,
    ...closing.map((p) => `<p>${escapeHtml(p)}</p>`),
  ].join('\n');
  return { subject: words.subject, text, html: `<!doctype html>\n<html><body>\n${html}\n</body></html>\n` };
}

/** The relay's password from web.smtp.passwordFile: the file's text without its line end. */
async function readRelayPassword(file: string): Promise<string> {
  const text = await readPrivateFile(file, {
    what: 'the mail relay password file', setting: 'web.smtp.passwordFile', reader: 'otm web',
    create: 'write the relay\'s password into it',
  });
  const password = text.replace(/\r?\n$/, '');
  if (password === '' || /[\r\n]/.test(password)) {
    throw new Error(`the mail relay password file ${file} (web.smtp.passwordFile) must hold the password alone on one line`);
  }
  return password;
}

/** What to check for a nodemailer error code. */
function advice(code: string | undefined): string {
  switch (code) {
    case 'EAUTH': case 'ENOAUTH': return 'check web.smtp.user and the password in web.smtp.passwordFile';
    case 'ETLS': return 'check web.smtp.secure against what the relay offers (tls on port 465, starttls on 587 or 25)';
    case 'EENVELOPE': return 'check web.smtp.from and the recipient\'s e-mail address';
    default: return 'check web.smtp.host and web.smtp.port, and that the relay is reachable from here';
  }
}

/** A timeout per step: long enough for a slow relay, short enough that `otm user invite` does not hang for minutes. */
const CONNECT_TIMEOUT_MS = 15_000;
const SOCKET_TIMEOUT_MS = 60_000;

/** A Mailer for `smtp`, with links under `publicUrl`. Reads the relay's password now: a bad password file fails here. */
export async function createMailer(smtp: SmtpConfig, publicUrl: string): Promise<Mailer> {
  if ((smtp.user === undefined) !== (smtp.passwordFile === undefined)) {
    throw new Error('web.smtp.user and web.smtp.passwordFile go together: set both for a relay that needs a login, or neither');
  }
  const password = smtp.passwordFile !== undefined ? await readRelayPassword(smtp.passwordFile) : undefined;
  const transport: Transporter = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure === 'tls',
    requireTLS: smtp.secure === 'starttls',
    ignoreTLS: smtp.secure === 'none',
    ...(smtp.user !== undefined && password !== undefined ? { auth: { user: smtp.user, pass: password } } : {}),
    connectionTimeout: CONNECT_TIMEOUT_MS,
    greetingTimeout: CONNECT_TIMEOUT_MS,
    socketTimeout: SOCKET_TIMEOUT_MS,
    logger: false,
    debug: false,
  });

  const relayError = (err: unknown): MailError => {
    const { code, originalCode, response } = err as NodemailerError;
    const reply = typeof response === 'string' ? response.split(/\r?\n/, 1)[0]!.slice(0, 200) : undefined;
    const said = reply !== undefined ? `, answering "${password !== undefined ? reply.replaceAll(password, '********') : reply}"` : '';
    const what = [code, originalCode].filter((c) => c !== undefined).join(' ') || 'an unknown error';
    return new MailError(`cannot send mail through ${smtp.host}:${smtp.port} (web.smtp.host): ${what}${said}; ${advice(code)}`);
  };

  return {
    async sendLink(purpose, to, secret, validForMs) {
      const message = composeMessage(purpose, to, linkUrl(publicUrl, purpose, secret), validForMs);
      try {
        await transport.sendMail({
          from: smtp.from,
          to: { name: to.displayName, address: to.email },
          subject: message.subject,
          text: message.text,
          html: message.html,
          // RFC 3834: a machine wrote this; out-of-office replies should not answer it.
          headers: { 'Auto-Submitted': 'auto-generated' },
        });
      } catch (err) {
        throw relayError(err);
      }
    },
    close() {
      transport.close();
    },
  };
}
