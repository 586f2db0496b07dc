// A real SMTP server for tests (smtp-server) on a free loopback port: it accepts every message (and any
// login, which it records), rejects recipients at bounce.example.org, and keeps what it received in a
// mailbox that tests wait on without sleeping. decodedParts reads a message's MIME parts as a mail
// client would (quoted-printable and base64 decoded), so a link split by soft line breaks is found whole.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

export interface TestSmtpServer {
  port: number;
  mailbox: Mailbox;
  /** The logins clients made, in order. */
  logins: { username: string; password: string }[];
  close(): Promise<void>;
}

/** The recipient domain the server refuses (550), to make the relay fail on purpose. */
export const BOUNCING_DOMAIN = 'bounce.example.org';

export class Mailbox {
  readonly received: ReceivedMail[] = [];
  private read = 0;
  private waiters: (() => void)[] = [];

  deliver(mail: ReceivedMail): void {
    this.received.push(mail);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The next message not yet returned, waiting for it to arrive. */
  async next(): Promise<ReceivedMail> {
    while (this.read >= this.received.length) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.received[this.read++]!;
  }

  /** Messages received and not yet returned by next(). */
  get unread(): number {
    return this.received.length - this.read;
  }
}

export async function startSmtpServer(): Promise<TestSmtpServer> {
  const mailbox = new Mailbox();
  const logins: TestSmtpServer['logins'] = [];
  const server = new SMTPServer({
    authOptional: true,
    // The relay is on loopback, as web.smtp.secure: none is meant for.
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      logins.push({ username: auth.username ?? '', password: auth.password ?? '' });
      callback(null, { user: auth.username });
    },
    onRcptTo(address, _session, callback) {
      if (address.address.toLowerCase().endsWith(`@${BOUNCING_DOMAIN}`)) {
        callback(Object.assign(new Error('no such mailbox here'), { responseCode: 550 }));
      } else {
        callback();
      }
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        mailbox.deliver({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((address) => address.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.server.address() as AddressInfo).port,
    mailbox,
    logins,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function decodeQuotedPrintable(body: string): string {
  const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function splitHeaders(part: string): { headers: string; body: string } {
  const end = part.search(/\r?\n\r?\n/);
  return end < 0 ? { headers: part, body: '' } : { headers: part.slice(0, end), body: part.slice(end).replace(/^\r?\n\r?\n/, '') };
}

/** A header's value (folded lines joined), or undefined. */
export function header(headers: string, name: string): string | undefined {
  const unfolded = headers.replace(/\r?\n[ \t]+/g, ' ');
  return new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(unfolded)?.[1]?.trim();
}

/** The leaf parts of a message, by content type (without parameters), each body decoded to text. */
export function decodedParts(raw: string): Map<string, string> {
  const parts = new Map<string, string>();
  const visit = (entity: string) => {
    const { headers, body } = splitHeaders(entity);
    const type = header(headers, 'Content-Type') ?? 'text/plain';
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
    if (boundary !== undefined) {
      const sections = body.split(`--${boundary}`);
      // Between the preamble and the closing `--boundary--`.
      for (const section of sections.slice(1, -1)) visit(section.replace(/^\r?\n/, ''));
      return;
    }
    const encoding = (header(headers, 'Content-Transfer-Encoding') ?? '7bit').toLowerCase();
    const text = encoding === 'quoted-printable' ? decodeQuotedPrintable(body)
      : encoding === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
        : body;
    parts.set(type.split(';')[0]!.trim().toLowerCase(), text);
  };
  visit(raw);
  return parts;
}
