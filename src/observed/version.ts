// `dokku version` is read once per host; every output layout and flag the driver relies on is chosen
// from it, following the release timeline of Dokku's CLI.
import type { DokkuVersion } from './types.js';

const VERSION = /(\d+)\.(\d+)\.(\d+)/;

/** Parse `dokku version 0.38.27` (also with a packaging epoch such as `1723456789:0.38.27`). */
export function parseVersion(stdout: string): DokkuVersion {
  const raw = stdout.trim().split('\n')[0] ?? '';
  const m = VERSION.exec(raw);
  if (!m) {
    throw new Error(
      `cannot read a version from \`dokku version\` output ${JSON.stringify(raw)}; install a released Dokku ` +
      '(source installs may print a branch name) or set the host\'s dokku version in the daemon configuration');
  }
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), raw };
}

export function formatVersion(v: Pick<DokkuVersion, 'major' | 'minor' | 'patch'>): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

/** v ≥ major.minor.patch */
export function atLeast(v: DokkuVersion, major: number, minor: number, patch: number): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

/** Report plugins the driver reads. */
export type ReportPlugin = 'apps' | 'ps' | 'resource' | 'domains' | 'git';

export interface Capabilities {
  /** `<plugin>:report <app> --format json` is available. */
  jsonReport: Record<ReportPlugin, boolean>;
  /** `apps:list --format json` (0.38.21). */
  appsListJson: boolean;
  /** `ps:scale <app> --format json` (0.38.21). */
  psScaleJson: boolean;
  /** domains/git text reports come from Go (sorted rows, no trailing pad) rather than bash (0.38.22). */
  goDomainsReport: boolean;
  /** Go report JSON keys: `legacy` (`app-dir`) until 0.38.7, `both` (`dir` and `app-dir`) from 0.38.8. */
  jsonKeyStyle: 'legacy' | 'both';
  /** Reports exit 0 when there are no apps at all (0.35.16); before that they exit 1. */
  reportsSucceedWithoutApps: boolean;
  /** `domains:clear` leaves the app without domains (0.36.0); before, it resets to the global default. */
  domainsClearRemovesAll: boolean;
  /** Deploy, rebuild and restart output has stderr merged into stdout (0.38.0). */
  deployStderrMerged: boolean;
  /** New app names must match `^[a-z0-9][a-z0-9.-]*$` (0.38.2). */
  strictAppNames: boolean;
}

export function capabilities(v: DokkuVersion): Capabilities {
  const goJson = atLeast(v, 0, 23, 1);
  const bashJson = atLeast(v, 0, 38, 0);
  return {
    jsonReport: { apps: goJson, ps: goJson, resource: goJson, domains: bashJson, git: bashJson },
    appsListJson: atLeast(v, 0, 38, 21),
    psScaleJson: atLeast(v, 0, 38, 21),
    goDomainsReport: atLeast(v, 0, 38, 22),
    jsonKeyStyle: atLeast(v, 0, 38, 8) ? 'both' : 'legacy',
    reportsSucceedWithoutApps: atLeast(v, 0, 35, 16),
    domainsClearRemovesAll: atLeast(v, 0, 36, 0),
    deployStderrMerged: bashJson,
    strictAppNames: atLeast(v, 0, 38, 2),
  };
}
