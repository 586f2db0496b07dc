// The daemon's configuration: a YAML file validated and defaulted by schemas/config.schema.json, then
// frozen. With no file at all the defaults apply, so `otm validate` works in a fresh checkout.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { formatIssue, parseConfig } from './manifest/index.js';
import type { ManifestIssue, RowPolicyOptions } from './manifest/index.js';

export type HostTransport =
  | { type: 'local'; dokkuPath: string }
  | { type: 'ssh'; host: string; port: number; user: string; identityFile?: string; knownHostsFile?: string };

export interface HostConfig {
  name: string;
  /** Where experimenters git push (dokku@gitHost:instance). */
  gitHost?: string;
  transport: HostTransport;
  commandTimeoutSeconds: number;
}

export interface Config {
  hosts: HostConfig[];
  /** Absolute paths (relative ones in the file are resolved against the file's directory). */
  manifestsDir: string;
  stateDir: string;
  backupDir: string;
  postgresUrl?: string;
  redisUrl?: string;
  http: { listen: string; tokenFile?: string; publicHost?: string };
  rows: { allowedDomains: string[] };
  queue: { concurrency: number; mutationsPerSecond: number; burst: number; backoffBaseMs: number; backoffMaxMs: number };
  resync: { schedule: string; jitterPercent: number };
  /** Absent: the election's defaults. */
  leader?: { redisKey?: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  prune: boolean;
  baseDomain?: string;
  drainSeconds: number;
  /** Absolute paths. `dirs`: where fromFile may read; `keyFile`: the keys of the encrypted secret store. */
  secrets: { dirs: string[]; keyFile?: string; maxBytes: number };
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' };
  web: WebConfig;
}

/** `otm web`'s section (schemas/config.schema.json documents every field); file paths are absolute. */
export interface WebConfig {
  listen: string;
  publicUrl?: string;
  trustProxy: string[];
  /** IANA zone the pages show times in (and freeze windows are entered in). */
  timeZone: string;
  selfService: boolean;
  session: { idleMinutes: number; absoluteHours: number };
  signInLimit: { perAccount: number; perAddress: number; windowMinutes: number };
  links: { inviteHours: number; resetMinutes: number };
  smtp?: { host: string; port: number; secure: 'none' | 'starttls' | 'tls'; user?: string; passwordFile?: string; from: string };
  oidc?: {
    issuer: string;
    clientId: string;
    clientSecretFile?: string;
    displayName: string;
    scopes: string[];
    matchClaim: 'email' | 'sub';
    provision: { enabled: boolean; quota: { instances: number; webProcesses: number } };
    adminGroups?: { claim: string; values: string[] };
    allowInsecureHttp: boolean;
  };
  daemon: { url?: string; tokenFile?: string };
}

/** The environment variable that names the configuration file when no path is given. */
export const CONFIG_ENV = 'OTM_CONFIG';

/** The configuration cannot be used; `issues` holds the positioned problems when the file was parsed. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(message: string, readonly issues: ManifestIssue[] = []) {
    super(issues.length > 0 ? `${message}:\n${issues.map((issue) => `  ${formatIssue(issue)}`).join('\n')}` : message);
  }
}

export interface LoadConfigOptions {
  /** An explicit configuration file (e.g. `--config`); wins over OTM_CONFIG. */
  path?: string;
  env?: NodeJS.ProcessEnv;
  /** Directory for relative paths when no file is used (default: the working directory). */
  cwd?: string;
}

export interface LoadedConfig {
  config: Config;
  /** The file that was read, or undefined when only defaults apply. */
  file?: string;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Reads, validates and freezes the configuration: `options.path`, else $OTM_CONFIG, else defaults only. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const file = options.path ?? (env[CONFIG_ENV] || undefined);
  let text = '';
  if (file !== undefined) {
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const origin = options.path !== undefined ? 'given with --config' : `named by ${CONFIG_ENV}`;
      throw new ConfigError(`cannot read the configuration file ${file} (${origin}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; create it or point to another file`);
    }
  }
  const source = file ?? '(defaults)';
  const { config, issues } = parseConfig(text, source);
  if (!config) throw new ConfigError(`invalid configuration ${source}`, issues);

  const baseDir = file !== undefined ? path.dirname(path.resolve(file)) : path.resolve(options.cwd ?? process.cwd());
  const typed = config as unknown as Config;
  for (const key of ['manifestsDir', 'stateDir', 'backupDir'] as const) typed[key] = path.resolve(baseDir, typed[key]);
  if (typed.http.tokenFile) typed.http.tokenFile = path.resolve(baseDir, typed.http.tokenFile);
  typed.secrets.dirs = typed.secrets.dirs.map((dir) => path.resolve(baseDir, dir));
  if (typed.secrets.keyFile) typed.secrets.keyFile = path.resolve(baseDir, typed.secrets.keyFile);
  const { web } = typed;
  if (!isTimeZone(web.timeZone)) throw new ConfigError(`invalid configuration ${source}: web.timeZone "${web.timeZone}" is not a time zone this system knows; use an IANA name such as Europe/Berlin or UTC`);
  if (web.smtp?.passwordFile) web.smtp.passwordFile = path.resolve(baseDir, web.smtp.passwordFile);
  if (web.oidc?.clientSecretFile) web.oidc.clientSecretFile = path.resolve(baseDir, web.oidc.clientSecretFile);
  if (web.daemon.tokenFile) web.daemon.tokenFile = path.resolve(baseDir, web.daemon.tokenFile);
  for (const host of typed.hosts) {
    if (host.transport.type === 'ssh') {
      if (host.transport.identityFile) host.transport.identityFile = path.resolve(baseDir, host.transport.identityFile);
      if (host.transport.knownHostsFile) host.transport.knownHostsFile = path.resolve(baseDir, host.transport.knownHostsFile);
    }
  }
  return { config: deepFreeze(typed), ...(file !== undefined ? { file: path.resolve(file) } : {}) };
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The remote an experimenter pushes an instance's code to on `host` (a configured host's name). */
export function gitRemote(config: Config, host: string | undefined, instance: string): string {
  const configured = config.hosts.find((h) => h.name === host) ?? config.hosts[0];
  const name = configured?.gitHost
    ?? (configured?.transport.type === 'ssh' ? configured.transport.host : new URL(webPublicUrl(config)).hostname);
  return `dokku@${name}:${instance}`;
}

/** The row policy this configuration sets: where rows' domains may lie, and the names they may never claim. */
export function rowPolicyOptions(config: Config): RowPolicyOptions {
  const reserved = [
    ...(config.http.publicHost ? [config.http.publicHost] : []),
    ...config.hosts.flatMap((host) => (host.transport.type === 'ssh' ? [host.transport.host.toLowerCase()] : [])),
  ];
  return {
    ...(config.baseDomain ? { baseDomain: config.baseDomain } : {}),
    allowedDomains: config.rows.allowedDomains,
    reservedDomains: reserved,
  };
}

/** The address people use for otm web: web.publicUrl, else http:// and web.listen. */
export function webPublicUrl(config: Config): string {
  return config.web.publicUrl ?? `http://${config.web.listen}`;
}

/** Where otm web asks the daemon for plans and logs, and the token file that proves it may. */
export function daemonApi(config: Config): { url: string; tokenFile?: string } {
  const tokenFile = config.web.daemon.tokenFile ?? config.http.tokenFile;
  return { url: config.web.daemon.url ?? `http://${config.http.listen}`, ...(tokenFile !== undefined ? { tokenFile } : {}) };
}

/** A URL with its password replaced, safe to log. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:/@]*:)[^@/]*@/i, '$1********@');
}
