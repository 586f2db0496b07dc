// `otm user set-password NAME`, `otm user invite NAME` and `otm token create --user NAME`: run on the
// manager with database access (postgresUrl of the configuration), they make the first admin, invite
// people and serve scripts. They apply pending migrations first, like the daemon, and refuse a name that
// is not a declared Experimenter. The password comes from stdin (one line, or a prompt without echo on a
// terminal); a token, or an invitation link when no mail relay is configured, is printed alone on
// stdout, once, and is stored only as its hash.
import { Option } from 'commander';
import type { Command } from 'commander';
import type pg from 'pg';
import { loadConfig, redactUrl, webPublicUrl } from '../../config.js';
import type { Config } from '../../config.js';
import type { Experimenter } from '../../manifest/types.js';
import type { Actor, PeopleStore, TokenScope } from '../../web/people.js';

interface GlobalOptions {
  config?: string;
}

/** Who runs the command on the manager, for the audit log. */
export function localActor(): Actor {
  return { actor: process.env.SUDO_USER ?? process.env.USER ?? 'otm', authMethod: 'local' };
}

/** What a command on one person works with. */
interface PersonWork {
  store: PeopleStore;
  experimenter: Experimenter;
  config: Config;
}

/** Opens the configured database (migrated), finds `name` among the declared people, runs `work`. */
async function withPeople<T>(options: GlobalOptions, name: string, work: (on: PersonWork) => Promise<T>): Promise<T> {
  const { config, file } = await loadConfig(options.config !== undefined ? { path: options.config } : {});
  const where = file ?? 'the built-in configuration';
  if (!config.postgresUrl) {
    throw new Error(`no database: ${where} sets no postgresUrl; people, passwords and tokens are stored in PostgreSQL, set postgresUrl`);
  }
  const [{ createPool }, { migrate }, { systemClock }, people] = await Promise.all([
    import('../../store/pool.js'), import('../../store/migrate.js'), import('../../engine/clock.js'), import('../../web/people.js'),
  ]);
  const pool: pg.Pool = createPool(config.postgresUrl, { max: 2, applicationName: 'otm-people' });
  try {
    await migrate(pool).catch((err: Error) => {
      throw new Error(`cannot migrate ${redactUrl(config.postgresUrl!)}: ${err.message}`);
    });
    const experimenter = await people.declaredExperimenter(config, pool, name);
    if (!experimenter) {
      throw new Error(`${name} is not a declared Experimenter: neither a valid manifest in ${config.manifestsDir} nor a valid row in the database names it; declare the person first (kind: Experimenter)`);
    }
    const store = new people.PeopleStore({
      pool, clock: systemClock, idleTimeoutMs: people.DEFAULT_SESSION_IDLE_MS, absoluteTimeoutMs: people.DEFAULT_SESSION_ABSOLUTE_MS,
    });
    return await work({ store, experimenter, config });
  } finally {
    await pool.end();
  }
}

/** Generous for a password of MAX_PASSWORD_LENGTH characters, small enough not to read a whole file. */
const MAX_STDIN_BYTES = 8192;

/** The password on stdin: one line, its line end removed. */
export async function readPasswordLine(stream: AsyncIterable<Buffer | string> | Iterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > MAX_STDIN_BYTES) throw new Error(`stdin holds more than ${MAX_STDIN_BYTES} bytes; give the password alone on one line`);
    chunks.push(bytes);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const line = text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
  if (line.includes('\n')) throw new Error('stdin holds more than one line; give the password alone on one line');
  if (line === '') throw new Error('no password on stdin: pipe it in on one line, e.g. `otm user set-password NAME --config FILE < password-file`, or run the command on a terminal to be asked');
  return line;
}

/** Asks each question on the terminal in turn, without echo; input typed ahead answers the next one. */
function promptHidden(questions: readonly string[]): Promise<string[]> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    const answers: string[] = [];
    let value = '';
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      if (error) reject(error);
      else resolve(answers);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\u0003') {
          process.stderr.write('\n');
          return finish(new Error('interrupted; nothing changed'));
        }
        if (char === '\r' || char === '\n' || char === '\u0004') {
          process.stderr.write('\n');
          answers.push(value);
          value = '';
          if (answers.length === questions.length || char === '\u0004') return finish();
          process.stderr.write(questions[answers.length]!);
        } else if (char === '\u007f' || char === '\b') {
          value = [...value].slice(0, -1).join('');
        } else {
          value += char;
        }
      }
    };
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    process.stderr.write(questions[0]!);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** The password for signing in: a line on stdin, or asked for without echo on a terminal. */
export async function readSignInPassword(): Promise<string> {
  if (!process.stdin.isTTY) return readPasswordLine(process.stdin);
  const [password] = await promptHidden(['password: ']);
  if (!password) throw new Error('no password given');
  return password;
}

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) return readPasswordLine(process.stdin);
  const [first, again] = await promptHidden(['new password: ', 'the same password again: ']);
  if (!first) throw new Error('no password given; nothing changed');
  if (again !== first) throw new Error('the two passwords differ; nothing changed');
  return first;
}

const DURATION_UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30d`, `12h`, `90m` in milliseconds, or null for `never`. */
export function parseDuration(text: string): number | null {
  if (text === 'never') return null;
  const match = /^([1-9][0-9]{0,5})([mhd])$/.exec(text);
  if (!match) throw new Error(`--expires ${JSON.stringify(text)} is not a duration: write a number and a unit, e.g. 90d, 12h or 30m, or never`);
  return Number(match[1]) * DURATION_UNITS[match[2]!]!;
}

interface TokenCreateOptions extends GlobalOptions {
  user: string;
  scope: TokenScope;
  expires: string;
  label: string;
}

/** Makes the invitation link, then mails it (web.smtp) or prints it for the admin to pass on. */
async function invite(name: string, { store, experimenter, config }: PersonWork): Promise<void> {
  const { email, displayName } = experimenter.spec;
  if (email === undefined) {
    throw new Error(`${name} has no spec.email: an invitation goes to the person's e-mail address; add spec.email to their Experimenter`);
  }
  const smtp = config.web.smtp;
  const { createMailer, linkUrl } = await import('../../web/mail.js');
  // The relay's setting is checked before the link is made: a new link replaces an earlier unused one.
  const mailer = smtp !== undefined ? await createMailer(smtp, webPublicUrl(config)) : undefined;
  try {
    const validForMs = config.web.links.inviteHours * 3_600_000;
    const secret = await store.createLink(name, 'invite', validForMs, localActor());
    if (mailer) {
      await mailer.sendLink('invite', { name, displayName, email }, secret, validForMs);
      process.stderr.write(`invitation sent to ${email}\n`);
    } else {
      process.stdout.write(`${linkUrl(webPublicUrl(config), 'invite', secret)}\n`);
      process.stderr.write(`no mail relay is configured (web.smtp): pass this link on to ${name} <${email}> yourself; it works once, within ${config.web.links.inviteHours} hours\n`);
    }
  } finally {
    mailer?.close();
  }
}

export function registerUser(program: Command): void {
  const user = program.command('user').description('the people who sign in (run on the manager, with database access)');
  user
    .command('set-password')
    .description('set the password NAME signs in with, read from stdin (one line); signs NAME out everywhere')
    .argument('<name>', 'a declared Experimenter')
    .action(async (name: string, _options: GlobalOptions, command: Command) => {
      await withPeople(command.optsWithGlobals<GlobalOptions>(), name, async ({ store }) => {
        await store.setPassword(name, await readPassword(), localActor());
      });
      process.stderr.write(`password set for ${name}\n`);
    });
  user
    .command('invite')
    .description('create an invitation link for NAME (web.links.inviteHours) and mail it to spec.email; without web.smtp, print the link on stdout')
    .argument('<name>', 'a declared Experimenter with spec.email')
    .action(async (name: string, _options: GlobalOptions, command: Command) => {
      await withPeople(command.optsWithGlobals<GlobalOptions>(), name, (on) => invite(name, on));
    });
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('personal API tokens (run on the manager, with database access)');
  token
    .command('create')
    .description('create a personal API token for a person and print it, once, alone on stdout')
    .requiredOption('--user <name>', 'the declared Experimenter the token acts as')
    .addOption(new Option('--scope <scope>', 'read: only reads; write: also changes').choices(['read', 'write']).default('read'))
    .option('--expires <duration>', 'how long it works: e.g. 90d, 12h, 30m, or never', '90d')
    .option('--label <text>', 'what the token is for, shown in the token list', '')
    .action(async (_options: TokenCreateOptions, command: Command) => {
      const options = command.optsWithGlobals<TokenCreateOptions>();
      const duration = parseDuration(options.expires);
      const created = await withPeople(options, options.user, ({ store }) => store.createToken(options.user, {
        scope: options.scope, expiresAt: duration === null ? null : new Date(Date.now() + duration), label: options.label,
      }, localActor()));
      process.stdout.write(`${created.secret}\n`);
      const { id, scope, expiresAt, label } = created.token;
      process.stderr.write(`token ${id} for ${options.user}: scope ${scope}, ${expiresAt ? `expires ${expiresAt.toISOString()}` : 'never expires'}`
        + `${label ? `, label ${JSON.stringify(label)}` : ''}; it is shown only now\n`);
    });
}
