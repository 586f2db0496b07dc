// Bearer-token authorisation of the write endpoints. The token is read once at start from the file
// named by `http.tokenFile`; comparison is constant-time so response timing says nothing about it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ApiError } from './errors.js';

/** Reads the token file: surrounding whitespace (a trailing newline) is not part of the token. */
export async function readTokenFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the API token file ${file} (http.tokenFile): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; `
      + 'create it with a random token, e.g. `openssl rand -hex 32`, readable by the daemon only');
  }
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token)) {
    throw new Error(`the API token file ${file} (http.tokenFile) must hold one token of at least 16 characters without spaces; `
      + 'write a random one, e.g. `openssl rand -hex 32`');
  }
  return token;
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * Throws unless `authorization` is `Bearer <token>`. Without a configured token every write is refused,
 * so an API reachable by others can never change desired state by accident.
 */
export function requireBearer(authorization: string | undefined, token: string | undefined): void {
  if (token === undefined) {
    throw new ApiError(403, 'WritesDisabled', 'writes through the API are disabled: set http.tokenFile in the configuration to a file holding a token and restart the daemon');
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match || !timingSafeEqual(digest(match[1]!), digest(token))) {
    throw new ApiError(401, 'Unauthorized', 'this endpoint needs the header `Authorization: Bearer <token>` with the token from the file named by http.tokenFile');
  }
}
