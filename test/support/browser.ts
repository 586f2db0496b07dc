// A browser as far as sign-in tests need one: fetch with a cookie jar, redirects not followed (the
// test looks at each one). Cookies are kept per name and path and sent to every port of the host,
// as browsers do; Max-Age and Expires end them.

interface StoredCookie {
  name: string;
  value: string;
  path: string;
  /** Milliseconds since the epoch; undefined for a cookie of the browser session. */
  expiresAt: number | undefined;
}

/** The default path of a cookie set without Path: the request path up to its last `/`. */
function defaultPath(requestPath: string): string {
  const slash = requestPath.lastIndexOf('/');
  return slash <= 0 ? '/' : requestPath.slice(0, slash);
}

function pathMatches(cookiePath: string, requestPath: string): boolean {
  return requestPath === cookiePath
    || (requestPath.startsWith(cookiePath) && (cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'));
}

export interface BrowserRequest {
  method?: string;
  /** Sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>;
}

export class Browser {
  private jar = new Map<string, StoredCookie>();

  /** One request, its Set-Cookie headers stored; a redirect is returned, not followed. */
  async fetch(url: string, request: BrowserRequest = {}): Promise<Response> {
    const target = new URL(url);
    const cookie = this.cookiesFor(target.pathname);
    const headers: Record<string, string> = { 'user-agent': 'otm-test-browser' };
    if (cookie !== '') headers.cookie = cookie;
    let body: string | undefined;
    if (request.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(request.form).toString();
    }
    const response = await fetch(target, { method: request.method ?? (body !== undefined ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) this.store(line, target.pathname);
    return response;
  }

  /** The value of a live cookie of this name (whatever its path), or undefined. */
  cookie(name: string): string | undefined {
    this.forgetExpired();
    return [...this.jar.values()].find((stored) => stored.name === name)?.value;
  }

  /** Another browser with a copy of this one's cookies (someone who copied them). */
  copy(): Browser {
    const other = new Browser();
    for (const [key, stored] of this.jar) other.jar.set(key, { ...stored });
    return other;
  }

  private cookiesFor(requestPath: string): string {
    this.forgetExpired();
    return [...this.jar.values()]
      .filter((stored) => pathMatches(stored.path, requestPath))
      .sort((a, b) => b.path.length - a.path.length)
      .map((stored) => `${stored.name}=${stored.value}`).join('; ');
  }

  private store(line: string, requestPath: string): void {
    const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
    const equals = pair.indexOf('=');
    if (equals <= 0) return;
    const cookie: StoredCookie = { name: pair.slice(0, equals), value: pair.slice(equals + 1), path: defaultPath(requestPath), expiresAt: undefined };
    for (const attribute of attributes) {
      const [key = '', value = ''] = attribute.split(/=(.*)/s);
      const lower = key.toLowerCase();
      if (lower === 'path' && value.startsWith('/')) cookie.path = value;
      else if (lower === 'max-age') cookie.expiresAt = Date.now() + Number(value) * 1000;
      else if (lower === 'expires' && cookie.expiresAt === undefined) cookie.expiresAt = Date.parse(value);
    }
    const key = `${cookie.name}\0${cookie.path}`;
    if (cookie.expiresAt !== undefined && cookie.expiresAt <= Date.now()) this.jar.delete(key);
    else this.jar.set(key, cookie);
  }

  private forgetExpired(): void {
    const now = Date.now();
    for (const [key, stored] of this.jar) if (stored.expiresAt !== undefined && stored.expiresAt <= now) this.jar.delete(key);
  }
}

/** The Set-Cookie line a response sent for `name`, for assertions on its attributes; undefined when none. */
export function setCookieLine(response: Response, name: string): string | undefined {
  return response.headers.getSetCookie().find((line) => line.startsWith(`${name}=`));
}
