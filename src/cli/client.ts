// The otm command's client for the daemon's HTTP API. Every failure becomes an ApiError whose message
// says what went wrong and what to do, so commands can let it reach the user unchanged.
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { readCredentials, serverOrigin } from './credentials.js';
import type { InstanceEvent, InstanceStatus } from '../engine/status.js';
import type { Kind, ManifestObject } from '../manifest/index.js';

/** One line of a list. An instance with status but declared nowhere (orphaned) has no source, generation or spec. */
export interface InstanceItem {
  name: string;
  source: string | null;
  generation: number | null;
  spec: Record<string, unknown> | null;
  labels: Record<string, string>;
  status?: InstanceStatus | null;
}

export type ExperimenterItem = Omit<InstanceItem, 'status'>;

export interface ApiIssue {
  path: string;
  code: string;
  severity?: 'error' | 'warning';
  message: string;
}

export interface ObjectDetail {
  name: string;
  source: string | null;
  generation: number | null;
  /** Null for an orphaned instance (status kept, declared nowhere). */
  object: ManifestObject | null;
  /** Problems the object's sources report. */
  issues?: ApiIssue[];
  status?: InstanceStatus | null;
  events?: InstanceEvent[];
}

export interface AuditItem {
  id: number;
  at: string;
  actor: string;
  action: string;
  objectKind: string;
  objectName: string;
  clientAddress: string | null;
  authMethod: string | null;
  details: Record<string, unknown>;
}

export interface Written {
  name: string;
  generation: number;
}


/** The URL path segment of each kind. */
export const COLLECTION: Record<Kind, 'instances' | 'experimenters'> = { OTreeInstance: 'instances', Experimenter: 'experimenters' };
/** The word each kind goes by on the command line, as in `instance/alice-pgg`. */
export const NOUN: Record<Kind, 'instance' | 'experimenter'> = { OTreeInstance: 'instance', Experimenter: 'experimenter' };

export type Bump = 'reset-database' | 'restart';

/** A request that failed; `code` is the API's error code, or `Unreachable` when no answer came. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(message: string, readonly code: string, readonly status = 0, readonly issues: ApiIssue[] = []) {
    super(message);
  }
}

interface ErrorBody {
  error?: { code?: string; message?: string; issues?: ApiIssue[] };
}

export interface ApiClientOptions {
  /** e.g. `http://127.0.0.1:9280` */
  baseUrl: string;
  /** The bearer token file every API request needs. */
  tokenFile?: string;
  /** A personal token saved by `otm login` (instead of a token file). */
  savedToken?: string;
  /** Per request. @default 30 s */
  timeoutMs?: number;
  /** Recorded as the author of writes. @default the local user name */
  author?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** What the API accepts in X-Otm-Author. */
const AUTHOR_PATTERN = /^[\w.@+-]{1,100}$/;

function localUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** The URL a client uses for a `host:port` listen address; wildcard addresses are reached on loopback. */
export function baseUrlFor(listen: string): string {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at);
  const port = listen.slice(at + 1);
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  return `http://${reachable}:${port}`;
}

function unreachable(baseUrl: string, error: unknown): ApiError {
  const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
  const why = (error as Error).name === 'TimeoutError' ? 'no answer in time' : cause?.code ?? cause?.message ?? (error as Error).message;
  return new ApiError(
    `cannot reach the otree-manager daemon at ${baseUrl} (${why}): is \`otm run\` running? (check \`systemctl status otree-manager\`; --server URL points elsewhere)`,
    'Unreachable',
  );
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly tokenFile: string | undefined;
  private readonly timeoutMs: number;
  private token: string | undefined;
  /** The token is the one `otm login` saved. */
  private readonly saved: boolean;
  private readonly author: string | undefined;

  constructor(options: ApiClientOptions) {
    const author = options.author ?? localUser();
    this.author = author !== undefined && AUTHOR_PATTERN.test(author) ? author : undefined;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.tokenFile = options.tokenFile;
    this.token = options.savedToken;
    this.saved = options.savedToken !== undefined;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  private async bearer(tokenFile: string): Promise<string> {
    if (this.token !== undefined) return this.token;
    let text: string;
    try {
      text = await readFile(tokenFile, 'utf8');
    } catch (error) {
      throw new ApiError(`cannot read the token file ${tokenFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; check the path and that you may read it`, 'NoToken');
    }
    this.token = text.trim();
    if (this.token === '') throw new ApiError(`the token file ${tokenFile} is empty; put the daemon's token in it`, 'NoToken');
    return this.token;
  }

  /** Sends one request and returns the parsed body; every non-2xx answer throws an ApiError. */
  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const write = method !== 'GET';
    const headers: Record<string, string> = { accept: 'application/json' };
    // Without a token file the request still goes out: an unreachable or disabled daemon then says so first.
    if (this.saved) headers.authorization = `Bearer ${this.token!}`;
    else if (this.tokenFile !== undefined) headers.authorization = `Bearer ${await this.bearer(this.tokenFile)}`;
    if (write && this.author !== undefined) headers['x-otm-author'] = this.author;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw unreachable(this.baseUrl, error);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new ApiError(`${this.baseUrl}${path} answered ${response.status} with something that is not JSON: is --server pointing at the otree-manager daemon?`, 'BadResponse', response.status);
    }
    if (response.ok) return parsed as T;
    throw this.failure(response.status, parsed as ErrorBody, method, path);
  }

  private failure(status: number, body: ErrorBody, method: string, path: string): ApiError {
    const code = body.error?.code ?? `HTTP${status}`;
    const message = body.error?.message ?? `${method} ${path} answered ${status}`;
    switch (status) {
      case 401:
        if (this.saved) return new ApiError(`your saved sign-in for ${this.baseUrl} was refused (expired, revoked, or your account is disabled): run \`otm login --server ${this.baseUrl}\` again`, code, status);
        if (this.tokenFile === undefined) return new ApiError('the API needs a token: pass --token-file FILE or set http.tokenFile in the configuration', 'NoToken', status);
        return new ApiError(`the token in ${this.tokenFile ?? '(no token file)'} was refused: use the file the daemon's http.tokenFile names`, code, status);
      case 422:
        return new ApiError(message, code, status, body.error?.issues ?? []);
      default:
        if (status >= 500 && code === `HTTP${status}`) return new ApiError(`the daemon failed to answer ${method} ${path} (${status}): see its log (\`journalctl -u otree-manager\`)`, code, status);
        return new ApiError(message, code, status);
    }
  }

  listInstances(): Promise<{ items: InstanceItem[] }> {
    return this.request('GET', '/api/v1/instances');
  }

  listExperimenters(): Promise<{ items: ExperimenterItem[] }> {
    return this.request('GET', '/api/v1/experimenters');
  }

  /** The object as the daemon holds it, or undefined when it has none of that name. */
  async get(kind: Kind, name: string): Promise<ObjectDetail | undefined> {
    try {
      return await this.request<ObjectDetail>('GET', `/api/v1/${COLLECTION[kind]}/${encodeURIComponent(name)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Like get(), but a missing object is an error that says how to list the existing ones. */
  async require(kind: Kind, name: string): Promise<ObjectDetail> {
    const found = await this.get(kind, name);
    if (!found) throw new ApiError(`${NOUN[kind]} ${name} not found at ${this.baseUrl}: \`otm get ${COLLECTION[kind]}\` lists them`, 'NotFound', 404);
    return found;
  }

  put(object: ManifestObject): Promise<Written> {
    return this.request('PUT', `/api/v1/${COLLECTION[object.kind]}/${encodeURIComponent(object.metadata.name)}`, object);
  }

  async remove(kind: Kind, name: string): Promise<void> {
    try {
      await this.request('DELETE', `/api/v1/${COLLECTION[kind]}/${encodeURIComponent(name)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        throw new ApiError(`${NOUN[kind]} ${name} not found at ${this.baseUrl}: \`otm get ${COLLECTION[kind]}\` lists them`, error.code, 404);
      }
      throw error;
    }
  }

  /** Bumps the one-shot generation of `name` (reset its database, or restart it). */
  async bump(name: string, what: Bump): Promise<Written> {
    try {
      return await this.request('POST', `/api/v1/instances/${encodeURIComponent(name)}/${what}`, {});
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        throw new ApiError(`instance ${name} not found at ${this.baseUrl}: \`otm get instances\` lists them`, error.code, 404);
      }
      throw error;
    }
  }

  /** A page of the audit log, newest first; `next` is the path of the following page. */
  audit(query: { user?: string; object?: string; limit?: number }): Promise<{ items: AuditItem[]; next?: string }> {
    const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined).map(([k, v]): [string, string] => [k, String(v)]));
    return this.request('GET', `/api/v1/audit${params.size > 0 ? `?${params}` : ''}`);
  }

  /** The daemon's version, from the `otm_build_info` metric; undefined when it exports none. */
  async daemonVersion(): Promise<string | undefined> {
    let text: string;
    try {
      const response = await fetch(`${this.baseUrl}/metrics`, { signal: AbortSignal.timeout(this.timeoutMs) });
      text = response.ok ? await response.text() : '';
    } catch (error) {
      throw unreachable(this.baseUrl, error);
    }
    return /^otm_build_info\{[^}]*version="([^"]+)"[^}]*\} 1$/m.exec(text)?.[1];
  }
}

export interface ApiOptions {
  config?: string;
  server?: string;
  tokenFile?: string;
}

/** Adds the options every command that talks to the daemon takes. */
export function withApiOptions(command: Command): Command {
  return command
    .option('--server <url>', 'the daemon\'s API (default: http://<http.listen> from the configuration)')
    .option('--token-file <file>', 'bearer token for the API (default: http.tokenFile from the configuration)');
}

/** A client for the daemon the options (or the configuration) point at. */
export async function clientFor(options: ApiOptions): Promise<ApiClient> {
  // The saved sign-in of `otm login` wins unless the command names another server, a token file or a configuration.
  if (options.tokenFile === undefined && options.config === undefined) {
    const saved = await readCredentials();
    if (saved && (options.server === undefined || serverOrigin(options.server) === serverOrigin(saved.server))) {
      return new ApiClient({ baseUrl: saved.server, savedToken: saved.token });
    }
  }
  const { config } = await loadConfig(options.config !== undefined ? { path: options.config } : {});
  const tokenFile = options.tokenFile ?? config.http.tokenFile;
  return new ApiClient({ baseUrl: options.server ?? baseUrlFor(config.http.listen), ...(tokenFile !== undefined ? { tokenFile } : {}) });
}
