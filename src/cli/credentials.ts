// The CLI's saved sign-in: `otm login --server URL` stores a personal token for one otm web server in
// the user's configuration directory (mode 0600), and every command that talks to an API uses it
// unless told otherwise (--server elsewhere, --token-file, --config).
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

export interface Credentials {
  /** The otm web origin, e.g. https://otm.lab.example.org */
  server: string;
  person: string;
  token: string;
  tokenId: string;
  expiresAt: string | null;
}

/** `$XDG_CONFIG_HOME/otree-manager/credentials.json`, else `~/.config/otree-manager/credentials.json`. */
export function credentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(homedir(), '.config');
  return path.join(base, 'otree-manager', 'credentials.json');
}

/** The origin of a server URL, so that `https://x/` and `https://x` are the same server. */
export function serverOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    throw new Error(`--server ${url} is not a URL; give the address of otm web, e.g. https://otm.lab.example.org`);
  }
}

/** The saved sign-in, or undefined when there is none. A file others may read is refused: it holds a token. */
export async function readCredentials(env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  const file = credentialsFile(env);
  let text: string;
  try {
    const { mode } = await stat(file);
    if ((mode & 0o077) !== 0) throw new Error(`${file} may be read by other users (mode ${(mode & 0o777).toString(8)}); it holds your token: \`chmod 600 ${file}\` or \`otm login\` again`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const saved = JSON.parse(text) as Partial<Credentials>;
  if (typeof saved.server !== 'string' || typeof saved.token !== 'string' || typeof saved.person !== 'string') {
    throw new Error(`${file} is not a saved sign-in of otm; remove it and run \`otm login --server URL\``);
  }
  return saved as Credentials;
}

export async function saveCredentials(credentials: Credentials, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = credentialsFile(env);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  // An existing file keeps its mode on write; the token must not be readable by others whatever it was.
  await chmod(file, 0o600);
  return file;
}

export async function removeCredentials(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await rm(credentialsFile(env), { force: true });
}
