// The Dokku command catalogue: every Dokku call the product makes is one of these data objects,
// rendered to an argv in exactly one place (render). Dry runs (`otm plan`) and execution share it,
// so what is printed is what runs. Secrets are masked in the printable form only.
//
// Global flags always come first (Dokku's parse_args scans every argument, and Go subcommands reject
// unknown trailing flags with exit 2). Values that may hold newlines, quotes or spaces go through
// `config:set --encoded` so that Dokku's ssh re-splitting can never break or inject them.

import { maskUrlCredentials } from '../manifest/secrets.js';

export type ServicePlugin = 'postgres' | 'redis';

/** What `git:from-archive --archive-type` takes (an `.otreezip`, what `otree zip` makes, is a zip). */
export const ARCHIVE_TYPES = ['tar', 'tar.gz', 'zip'] as const;
export type ArchiveType = typeof ARCHIVE_TYPES[number];

export interface ConfigPair {
  key: string;
  value: string;
  /** Masked in the printable form. Defaults to true: only keys known to be harmless are shown. */
  secret?: boolean;
}

export type DokkuCommand =
  // reads
  | { cmd: 'version' }
  /** `json` needs Dokku ≥ 0.38.21; older versions only have the text layout. */
  | { cmd: 'apps:list'; json?: boolean }
  | { cmd: 'apps:exists'; app: string }
  | { cmd: 'apps:locked'; app: string }
  | { cmd: 'apps:report'; app?: string; json?: boolean }
  | { cmd: 'ps:report'; app?: string; json?: boolean }
  | { cmd: 'ps:scale:read'; app: string; json?: boolean }
  | { cmd: 'config:export'; app: string }
  | { cmd: 'domains:report'; app?: string; json?: boolean }
  | { cmd: 'git:report'; app?: string; json?: boolean }
  | { cmd: 'resource:report'; app?: string; json?: boolean }
  | { cmd: 'letsencrypt:list' }
  | { cmd: 'letsencrypt:active'; app: string }
  | { cmd: 'service:list'; plugin: ServicePlugin }
  | { cmd: 'service:exists'; plugin: ServicePlugin; service: string }
  | { cmd: 'service:info'; plugin: ServicePlugin; service: string }
  | { cmd: 'service:links'; plugin: ServicePlugin; service: string }
  | { cmd: 'service:linked'; plugin: ServicePlugin; service: string; app: string }
  | { cmd: 'service:app-links'; plugin: ServicePlugin; app: string }
  | { cmd: 'plugin:installed'; plugin: string }
  | { cmd: 'ssh-keys:list' }
  | { cmd: 'acl:list'; app: string }
  // mutations
  | { cmd: 'apps:create'; app: string }
  | { cmd: 'apps:destroy'; app: string }
  | { cmd: 'config:set'; app: string; pairs: ConfigPair[]; restart: boolean }
  | { cmd: 'config:unset'; app: string; keys: string[]; restart: boolean }
  | { cmd: 'ps:scale'; app: string; scale: Record<string, number>; skipDeploy: boolean }
  | { cmd: 'ps:start'; app: string }
  | { cmd: 'ps:stop'; app: string }
  | { cmd: 'ps:restart'; app: string; process?: string }
  | { cmd: 'ps:rebuild'; app: string }
  | { cmd: 'domains:set'; app: string; domains: string[] }
  /** Removes every app domain on Dokku ≥ 0.36; older versions reset to the global default instead. */
  | { cmd: 'domains:clear'; app: string }
  | { cmd: 'domains:remove'; app: string; domains: string[] }
  | { cmd: 'git:sync'; app: string; url: string; ref: string; build: boolean }
  | { cmd: 'git:from-image'; app: string; image: string }
  | { cmd: 'git:from-archive'; app: string; url: string }
  /** An uploaded archive, streamed on standard input (`--`): the caller passes the stream to the driver. */
  | { cmd: 'git:from-archive:stdin'; app: string; archiveType: ArchiveType }
  | { cmd: 'service:create'; plugin: ServicePlugin; service: string }
  | { cmd: 'service:link'; plugin: ServicePlugin; service: string; app: string; restart: boolean }
  | { cmd: 'service:unlink'; plugin: ServicePlugin; service: string; app: string; restart: boolean }
  | { cmd: 'service:destroy'; plugin: ServicePlugin; service: string }
  /** stdout is the pg_dump custom-format archive; the executor streams it to a file. */
  | { cmd: 'postgres:export'; service: string }
  | { cmd: 'letsencrypt:enable'; app: string }
  | { cmd: 'letsencrypt:disable'; app: string }
  | { cmd: 'resource:limit'; app: string; memory?: string; cpu?: string }
  | { cmd: 'resource:limit-clear'; app: string }
  | { cmd: 'run'; app: string; command: string[] }
  | { cmd: 'ssh-keys:add'; name: string; key: string }
  | { cmd: 'ssh-keys:remove'; name: string }
  | { cmd: 'acl:add'; app: string; user: string }
  | { cmd: 'acl:remove'; app: string; user: string };

export type CommandName = DokkuCommand['cmd'];

export interface RenderedCommand {
  /** Arguments after the `dokku` binary (or after `ssh … dokku@host --`). */
  argv: string[];
  /** The same argv with secret values masked, joined for people to read. Never contains a secret. */
  display: string;
  /** Bytes for the command's standard input (ssh-keys:add reads the key there). */
  stdin?: string;
  /** The command reads a stream the caller supplies on standard input (an uploaded archive); it never runs without one. */
  stdinStream?: boolean;
  /** Changes state on the host; counted against the mutation rate limit. */
  mutating: boolean;
  /** Restarts or rebuilds running processes of the app when it is deployed. */
  disruptive: boolean;
  /** A metrics-safe name: the Dokku subcommand, e.g. `postgres:link`. */
  name: string;
  /** The secret values the argv carries (plain and as sent), to mask wherever Dokku's output is kept. */
  secrets: string[];
}

export const MASK = '********';

/** Config keys whose values are never secret and may be printed. */
const PRINTABLE_KEYS = new Set(['OTREE_PRODUCTION', 'OTREE_AUTH_LEVEL', 'OTM_MANAGED', 'OTM_ROOMS']);

/** Whether a config key's value may be printed (everything else is masked in output kept anywhere). */
export function isPrintableConfigKey(key: string): boolean {
  return PRINTABLE_KEYS.has(key);
}

function encodeBase64(value: string): string {
  // btoa only handles Latin-1; go through UTF-8 bytes so any value round-trips.
  const bytes = new TextEncoder().encode(value);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

interface Parts {
  argv: string[];
  /** Indexes into argv whose printable form is replaced. */
  masked?: Map<number, string>;
  stdin?: string;
  stdinStream?: boolean;
  mutating: boolean;
  disruptive?: boolean;
  name: string;
  secrets?: string[];
}

function json(flag: boolean | undefined): string[] {
  return flag ? ['--format', 'json'] : [];
}

function parts(c: DokkuCommand): Parts {
  const read = (name: string, argv: string[]): Parts => ({ argv, mutating: false, name });
  const write = (name: string, argv: string[], disruptive = false): Parts => ({ argv, mutating: true, disruptive, name });
  switch (c.cmd) {
    case 'version': return read('version', ['version']);
    case 'apps:list': return read(c.cmd, ['--quiet', 'apps:list', ...json(c.json)]);
    case 'apps:exists': return read(c.cmd, ['--quiet', 'apps:exists', c.app]);
    case 'apps:locked': return read(c.cmd, ['--quiet', 'apps:locked', c.app]);
    case 'apps:report':
    case 'ps:report':
    case 'domains:report':
    case 'git:report':
    case 'resource:report':
      return read(c.cmd, [c.cmd, ...(c.app ? [c.app] : []), ...json(c.json)]);
    case 'ps:scale:read': return read('ps:scale', ['--quiet', 'ps:scale', c.app, ...json(c.json)]);
    case 'config:export': return read(c.cmd, ['--quiet', 'config:export', '--format', 'json', c.app]);
    case 'letsencrypt:list': return read(c.cmd, ['letsencrypt:list']);
    case 'letsencrypt:active': return read(c.cmd, ['--quiet', 'letsencrypt:active', c.app]);
    case 'service:list': return read(`${c.plugin}:list`, ['--quiet', `${c.plugin}:list`]);
    case 'service:exists': return read(`${c.plugin}:exists`, ['--quiet', `${c.plugin}:exists`, c.service]);
    case 'service:info': return read(`${c.plugin}:info`, [`${c.plugin}:info`, c.service]);
    case 'service:links': return read(`${c.plugin}:links`, ['--quiet', `${c.plugin}:links`, c.service]);
    case 'service:linked': return read(`${c.plugin}:linked`, ['--quiet', `${c.plugin}:linked`, c.service, c.app]);
    case 'service:app-links': return read(`${c.plugin}:app-links`, ['--quiet', `${c.plugin}:app-links`, c.app]);
    case 'plugin:installed': return read(c.cmd, ['plugin:installed', c.plugin]);
    case 'ssh-keys:list': return read(c.cmd, ['ssh-keys:list', '--format', 'json']);
    case 'acl:list': return read(c.cmd, ['acl:list', c.app]);

    case 'apps:create': return write(c.cmd, ['--quiet', 'apps:create', c.app]);
    case 'apps:destroy': return write(c.cmd, ['--quiet', '--force', 'apps:destroy', c.app]);
    case 'config:set': {
      const argv = ['--quiet', 'config:set', '--encoded', ...(c.restart ? [] : ['--no-restart']), c.app];
      const masked = new Map<number, string>();
      const secrets: string[] = [];
      for (const p of c.pairs) {
        const secret = p.secret ?? !PRINTABLE_KEYS.has(p.key);
        const encoded = encodeBase64(p.value);
        masked.set(argv.length, `${p.key}=${secret ? MASK : p.value}`);
        if (secret && p.value !== '') secrets.push(p.value, encoded);
        argv.push(`${p.key}=${encoded}`);
      }
      return { argv, masked, mutating: true, disruptive: c.restart, name: c.cmd, secrets };
    }
    case 'config:unset':
      return write(c.cmd, ['--quiet', 'config:unset', ...(c.restart ? [] : ['--no-restart']), c.app, ...c.keys], c.restart);
    case 'ps:scale':
      return write(c.cmd, [
        'ps:scale', ...(c.skipDeploy ? ['--skip-deploy'] : []), c.app,
        ...Object.entries(c.scale).sort(([a], [b]) => a.localeCompare(b)).map(([type, n]) => `${type}=${n}`),
      ], !c.skipDeploy);
    case 'ps:start': return write(c.cmd, ['ps:start', c.app], true);
    case 'ps:stop': return write(c.cmd, ['ps:stop', c.app], true);
    case 'ps:restart': return write(c.cmd, ['ps:restart', c.app, ...(c.process ? [c.process] : [])], true);
    case 'ps:rebuild': return write(c.cmd, ['ps:rebuild', c.app], true);
    case 'domains:set': return write(c.cmd, ['domains:set', c.app, ...c.domains]);
    case 'domains:clear': return write(c.cmd, ['domains:clear', c.app]);
    case 'domains:remove': return write(c.cmd, ['domains:remove', c.app, ...c.domains]);
    case 'git:sync': return write(c.cmd, ['git:sync', ...(c.build ? ['--build'] : []), c.app, c.url, c.ref], c.build);
    case 'git:from-image': return write(c.cmd, ['git:from-image', c.app, c.image], true);
    case 'git:from-archive': return write(c.cmd, ['git:from-archive', c.app, c.url], true);
    case 'git:from-archive:stdin': {
      if (!(ARCHIVE_TYPES as readonly string[]).includes(c.archiveType)) throw new TypeError(`refusing to run dokku git:from-archive: archive type ${JSON.stringify(c.archiveType)} is not one of ${ARCHIVE_TYPES.join(', ')}`);
      return { ...write('git:from-archive', ['git:from-archive', '--archive-type', c.archiveType, c.app, '--'], true), stdinStream: true };
    }
    case 'service:create': return write(`${c.plugin}:create`, [`${c.plugin}:create`, c.service]);
    // The service plugins read their flags only after `<service> <app>` (`service_parse_args "${@:3}"`).
    case 'service:link':
      return write(`${c.plugin}:link`, [`${c.plugin}:link`, c.service, c.app, ...(c.restart ? [] : ['--no-restart'])], c.restart);
    case 'service:unlink':
      return write(`${c.plugin}:unlink`, [`${c.plugin}:unlink`, c.service, c.app, ...(c.restart ? [] : ['--no-restart'])], c.restart);
    case 'service:destroy': return write(`${c.plugin}:destroy`, ['--force', `${c.plugin}:destroy`, c.service]);
    case 'postgres:export': return { argv: ['postgres:export', c.service], mutating: false, name: c.cmd };
    case 'letsencrypt:enable': return write(c.cmd, ['letsencrypt:enable', c.app], true);
    case 'letsencrypt:disable': return write(c.cmd, ['letsencrypt:disable', c.app], true);
    case 'resource:limit':
      return write(c.cmd, [
        'resource:limit', ...(c.memory ? ['--memory', c.memory] : []), ...(c.cpu ? ['--cpu', c.cpu] : []), c.app,
      ]);
    case 'resource:limit-clear': return write(c.cmd, ['resource:limit-clear', c.app]);
    case 'run': return write(c.cmd, ['run', '--no-tty', c.app, ...c.command], true);
    case 'ssh-keys:add': return { argv: ['ssh-keys:add', c.name], stdin: `${c.key}\n`, mutating: true, name: c.cmd };
    case 'ssh-keys:remove': return write(c.cmd, ['ssh-keys:remove', c.name]);
    case 'acl:add': return write(c.cmd, ['acl:add', c.app, c.user]);
    case 'acl:remove': return write(c.cmd, ['acl:remove', c.app, c.user]);
  }
}

/** Quote one word for people to read (and to paste into a POSIX shell). */
export function displayWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Fields of a command that are our own fixed words, not values from desired or observed state. */
const FIXED_FIELDS = new Set(['cmd', 'plugin', 'command', 'restart', 'skipDeploy', 'build', 'json']);

/**
 * Refuses a command with a value that Dokku would read as a flag: its `parse_args` takes `--trace`,
 * `--force` and friends from any position. The schemas already refuse such values; this is the last
 * line, for every source of values (manifests, rows, observed names).
 */
function assertNoFlagValues(command: DokkuCommand): void {
  const refuse = (field: string, value: string): never => {
    throw new TypeError(`refusing to run dokku ${command.cmd}: the value of ${field} starts with "-" and Dokku would read it as a flag (${JSON.stringify(value.slice(0, 40))})`);
  };
  for (const [field, value] of Object.entries(command)) {
    if (FIXED_FIELDS.has(field)) continue;
    if (typeof value === 'string' && value.startsWith('-')) refuse(field, value);
    if (Array.isArray(value)) {
      for (const item of value) {
        if (typeof item === 'string' && item.startsWith('-')) refuse(field, item);
        if (typeof item === 'object' && item !== null && 'key' in item && String(item.key).startsWith('-')) refuse(`${field} key`, String(item.key));
      }
    }
    if (field === 'scale' && typeof value === 'object' && value !== null) {
      for (const type of Object.keys(value)) if (type.startsWith('-')) refuse('scale', type);
    }
  }
}

export function render(command: DokkuCommand): RenderedCommand {
  assertNoFlagValues(command);
  const p = parts(command);
  // Credentials inside a git or archive URL never reach a plan, an event or a log line.
  const display = maskUrlCredentials(['dokku', ...p.argv.map((word, i) => displayWord(p.masked?.get(i) ?? word))].join(' '));
  return {
    argv: p.argv,
    display,
    ...(p.stdin !== undefined ? { stdin: p.stdin } : {}),
    ...(p.stdinStream ? { stdinStream: true } : {}),
    mutating: p.mutating,
    disruptive: p.disruptive ?? false,
    name: p.name,
    secrets: p.secrets ?? [],
  };
}

/** `text` (Dokku's output, an error) with the command's secret values and any URL credentials masked. */
export function maskOutput(text: string, secrets: readonly string[] = []): string {
  let masked = text;
  // Longest first, so a value containing another is masked whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) masked = masked.split(secret).join(MASK);
  return maskUrlCredentials(masked);
}
