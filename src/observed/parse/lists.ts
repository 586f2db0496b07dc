// Parsers for Dokku's list-shaped output: app and service names, links, ps:scale, config:export,
// letsencrypt:list, ssh-keys:list and acl:list. Each accepts every layout the supported versions print.

/** Names one per line, ignoring `=====>`/`----->` headers and ` !     ` notices (layouts with or without --quiet). */
export function parseNameList(text: string): string[] {
  const names: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('=====>') || line.startsWith('----->') || raw.startsWith(' !')) continue;
    names.push(line);
  }
  return names;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what}: Dokku printed something that is not JSON (${(err as Error).message}): ${text.trim().slice(0, 80)}`);
  }
}

/** `apps:list --format json`: `["a","b"]`. */
export function parseAppsListJson(text: string): string[] {
  const data = parseJson(text, 'apps:list --format json');
  if (!Array.isArray(data) || !data.every((x) => typeof x === 'string')) {
    throw new Error(`apps:list --format json: expected an array of names, got ${text.trim().slice(0, 80)}`);
  }
  return data;
}

/**
 * `ps:scale <app>` in the text layout (`web:  1` rows, with or without the `proctype: qty` header)
 * or `--format json` (`[{"process_type":"web","quantity":1}]`).
 */
export function parsePsScale(text: string): Record<string, number> {
  const scale: Record<string, number> = {};
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const data = parseJson(trimmed, 'ps:scale --format json');
    if (!Array.isArray(data)) throw new Error(`ps:scale --format json: expected an array, got ${trimmed.slice(0, 80)}`);
    for (const entry of data as Array<{ process_type?: unknown; quantity?: unknown }>) {
      if (typeof entry.process_type === 'string' && Number.isInteger(Number(entry.quantity))) {
        scale[entry.process_type] = Number(entry.quantity);
      }
    }
    return scale;
  }
  for (const raw of text.split('\n')) {
    if (raw.startsWith('----->') || raw.startsWith(' !')) continue;
    const line = raw.replace(/\s+/g, '');
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const count = line.slice(colon + 1);
    if (!/^\d+$/.test(count)) continue;
    scale[line.slice(0, colon)] = Number(count);
  }
  return scale;
}

/** `config:export --format json <app>`: `{"K":"v"}`. */
export function parseConfigExport(text: string): Record<string, string> {
  const data = parseJson(text, 'config:export --format json');
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new Error(`config:export --format json: expected an object, got ${text.trim().slice(0, 80)}`);
  }
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(data)) config[key] = String(value);
  return config;
}

export interface LetsencryptEntry {
  app: string;
  /** The certificate's expiry as the host prints it (`%F %T`, host-local time), when shown. */
  expiry?: string;
}

/**
 * `letsencrypt:list`: a `-----> App name  Certificate Expiry …` header, then `%-25s` columns:
 * app, `YYYY-MM-DD HH:MM:SS`, time before expiry, time before renewal. Only apps with a certificate.
 */
export function parseLetsencryptList(text: string): LetsencryptEntry[] {
  const entries: LetsencryptEntry[] = [];
  for (const raw of text.split('\n')) {
    if (!raw.trim() || raw.startsWith('----->') || raw.startsWith('=====>') || raw.startsWith(' !')) continue;
    const m = /^(\S+)\s+(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})?/.exec(raw);
    if (!m) continue;
    entries.push(m[2] ? { app: m[1]!, expiry: m[2] } : { app: m[1]! });
  }
  return entries;
}

/**
 * `ssh-keys:list --format json` (`[{"fingerprint":…,"name":…}]`) or the text layout
 * (`SHA256:… NAME="admin" SSHCOMMAND_ALLOWED_KEYS="…"`): key name → fingerprints.
 */
export function parseSshKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  const add = (name: string, fingerprint: string) => keys.set(name, [...(keys.get(name) ?? []), fingerprint]);
  const trimmed = text.trim();
  if (!trimmed) return keys;
  if (trimmed.startsWith('[')) {
    const data = parseJson(trimmed, 'ssh-keys:list --format json');
    if (!Array.isArray(data)) throw new Error(`ssh-keys:list --format json: expected an array, got ${trimmed.slice(0, 80)}`);
    for (const entry of data as Array<{ name?: unknown; fingerprint?: unknown }>) {
      if (typeof entry.name === 'string' && typeof entry.fingerprint === 'string') add(entry.name, entry.fingerprint);
    }
    return keys;
  }
  for (const line of trimmed.split('\n')) {
    const m = /^(\S+) NAME="([^"]*)"/.exec(line.trim());
    if (m) add(m[2]!, m[1]!);
  }
  return keys;
}
