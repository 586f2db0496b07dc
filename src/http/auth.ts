// Bearer-token authorisation of every API route, reads included. The token is read once at start from
// the file named by `http.tokenFile`; comparison is constant-time so response timing says nothing about it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readPrivateFile } from '../private-file.js';
import { ApiError } from './errors.js';

/**
 * Reads the token file: surrounding whitespace (a trailing newline) is not part of the token. A file
 * that every user of the machine may read is refused: anyone could then act as the lab's admin.
 */
export async function readTokenFile(file: string): Promise<string> {
  const text = await readPrivateFile({
    path: file, what: 'the API token file', setting: 'http.tokenFile',
    howToCreate: 'create it with a random token, e.g. `openssl rand -hex 32`, readable by the daemon only',
  });
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token)) {
    throw new Error(`the API token file ${file} (http.tokenFile) must hold one token of at least 16 characters without spaces; `
      + 'write a random one, e.g. `openssl rand -hex 32`');
  }
  return token;
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** The credential an `Authorization` header carries: a bearer token, or the password of HTTP Basic (for browsers). */
function presented(authorization: string | undefined): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}

/** True when the header carries the configured token (constant-time); false without a configured token. */
export function hasToken(authorization: string | undefined, token: string | undefined): boolean {
  const given = presented(authorization);
  return token !== undefined && given !== undefined && timingSafeEqual(digest(given), digest(token));
}

/**
 * Throws unless `authorization` carries the token (`Bearer <token>`, or HTTP Basic with the token as
 * password). Without a configured token the API answers nobody, so a daemon reachable by others never
 * shows or changes desired state by accident.
 */
export function requireBearer(authorization: string | undefined, token: string | undefined): void {
  if (token === undefined) {
    throw new ApiError(403, 'ApiDisabled', 'the API is disabled: set http.tokenFile in the configuration to a file holding a token and restart the daemon');
  }
  if (!hasToken(authorization, token)) {
    throw new ApiError(401, 'Unauthorized', 'this endpoint needs the header `Authorization: Bearer <token>` with the token from the file named by http.tokenFile');
  }
}
