// Dokku's `:report` output in all its layouts, reduced to one shape: per app, normalised key → value.
//  - Go text (apps/ps/resource; domains/git from 0.38.22): `=====> <app> <type> information`, then rows
//    `       Key:<pad>value`, padded to a column, trailing spaces for empty values.
//  - bash text (domains/git before 0.38.22, letsencrypt, service :info): `%-30s %-25s` rows, trailing pad.
//  - JSON (Go: sorted keys, legacy `<plugin>-` keys until 0.38.7, both forms from 0.38.8; bash from 0.38.0).
// Keys are normalised so that all layouts meet: lower case, spaces and dots become `-`
// (`Status web 1`, `status-web.1` → `status-web-1`). `pick` then accepts either key generation.

export type Report = Record<string, string>;

export function normalizeKey(key: string): string {
  return key.trim().toLowerCase().replace(/[\s.]+/g, '-');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Parse text reports for one or many apps (a report without an app name prints every app, each with
 * its own header). `type` is the word before `information`: `app`, `ps`, `domains`, `git`,
 * `resource`, `postgres service`… Returns subject (app or service name) → report, in output order.
 */
export function parseTextReports(text: string, type: string): Map<string, Report> {
  const header = new RegExp(`^=====> (.+) ${escapeRegExp(type)} information\\s*$`);
  const reports = new Map<string, Report>();
  let current: Report | undefined;
  for (const line of text.split('\n')) {
    const h = header.exec(line);
    if (h) {
      current = {};
      reports.set(h[1]!, current);
      continue;
    }
    if (!current || !line.startsWith('       ')) continue;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    current[normalizeKey(line.slice(0, colon))] = line.slice(colon + 1).trim();
  }
  return reports;
}

/** Parse one `--format json` report (a flat object of strings). */
export function parseJsonReport(text: string): Report {
  const data: unknown = JSON.parse(text);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new Error(`expected a JSON object from a --format json report, got ${text.trim().slice(0, 80)}`);
  }
  const report: Report = {};
  for (const [key, value] of Object.entries(data)) {
    report[normalizeKey(key)] = value === null || value === undefined ? '' : String(value);
  }
  return report;
}

/**
 * A value under its un-prefixed key (`deploy-source`, JSON ≥ 0.38.8) or its plugin-prefixed key
 * (`app-deploy-source`: text layouts and legacy JSON).
 */
export function pick(report: Report | undefined, prefix: string, key: string): string | undefined {
  if (!report) return undefined;
  return report[key] ?? report[`${prefix}-${key}`];
}
