// `otm login --server URL` signs in to otm web as a person (name, then the password on stdin or at a
// prompt without echo), creates a personal write token for this CLI, signs the browser-style session
// out again and saves the token (mode 0600). `otm logout` revokes the token and forgets it.
import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { credentialsFile, readCredentials, removeCredentials, saveCredentials, serverOrigin } from '../credentials.js';
import { readSignInPassword } from './people.js';

/** How long the CLI's token works before `otm login` is needed again. */
const TOKEN_DAYS = 90;

interface LoginOptions {
  server: string;
  name?: string;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; cookie?: string }> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body: JSON.stringify(body), signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
    throw new Error(`cannot reach otm web at ${new URL(url).origin} (${cause?.code ?? (err as Error).message}); check --server`);
  }
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text === '' ? {} : JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${url} answered ${response.status} with something that is not JSON: is --server the address of otm web?`);
  }
  const session = response.headers.getSetCookie().find((c) => c.startsWith('otm_session='))?.split(';')[0];
  return { status: response.status, body: parsed, ...(session ? { cookie: session } : {}) };
}

const errorMessage = (body: Record<string, unknown>): string => ((body.error as { message?: string } | undefined)?.message ?? 'no details');

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('sign in to otm web and save a personal token for the other commands (password on stdin, or asked for)')
    .requiredOption('--server <url>', 'the address of otm web, e.g. https://otm.lab.example.org')
    .option('--name <name>', 'your login name (default: your local user name)')
    .action(async (options: LoginOptions) => {
      const server = serverOrigin(options.server);
      const name = options.name ?? userInfo().username;
      const password = await readSignInPassword();
      const signIn = await post(`${server}/sign-in`, { name, password });
      if (signIn.status === 429) throw new Error(`too many failed sign-ins: ${errorMessage(signIn.body)}`);
      if (signIn.status !== 200 || !signIn.cookie) throw new Error(`sign-in to ${server} as ${name} refused: ${errorMessage(signIn.body)}`);
      const session = { cookie: signIn.cookie };
      const created = await post(`${server}/api/v1/me/tokens`, { label: `otm on ${hostname()}`, scope: 'write', expiresInDays: TOKEN_DAYS }, session);
      // The session was only needed to create the token; it should not outlive this command.
      await post(`${server}/sign-out`, {}, session).catch(() => undefined);
      if (created.status !== 200 || typeof created.body.token !== 'string') throw new Error(`${server} did not create a token: ${errorMessage(created.body)}`);
      const file = await saveCredentials({
        server, person: name, token: created.body.token, tokenId: String(created.body.id), expiresAt: (created.body.expiresAt as string | null) ?? null,
      });
      process.stderr.write(`signed in to ${server} as ${name}; token saved in ${file} (valid ${TOKEN_DAYS} days; \`otm logout\` revokes it)\n`);
    });

  program
    .command('logout')
    .description('revoke the token `otm login` saved and forget it')
    .action(async () => {
      const saved = await readCredentials();
      if (!saved) {
        process.stderr.write(`not signed in (no ${credentialsFile()})\n`);
        return;
      }
      const response = await fetch(`${saved.server}/api/v1/me/tokens/${encodeURIComponent(saved.tokenId)}`, {
        method: 'DELETE', headers: { authorization: `Bearer ${saved.token}`, 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(30_000),
      }).catch(() => undefined);
      await removeCredentials();
      const revoked = response?.ok === true;
      process.stderr.write(revoked ? `signed out of ${saved.server}; the token is revoked\n` : `forgot the token; ${saved.server} could not revoke it (revoke it on your profile)\n`);
    });
}
