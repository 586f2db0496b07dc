// The Dokku release being imitated (DOKKU_SIM_VERSION, any x.y.z) and the behaviour that depends on it.
// Every gate names the release that introduced the behaviour, after the timeline in Dokku's changelog.

export interface Version {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

export const DEFAULT_VERSION = '0.35.16';

export function parseVersion(text: string): Version {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`DOKKU_SIM_VERSION must look like 0.35.16 or 0.38.27, got "${text}"`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text: text.trim() };
}

/** True when `v` is at least `min` ("0.38.8"). */
export function atLeast(v: Version, min: string): boolean {
  const m = parseVersion(min);
  if (v.major !== m.major) return v.major > m.major;
  if (v.minor !== m.minor) return v.minor > m.minor;
  return v.patch >= m.patch;
}

/** Feature switches of one emulated release. */
export interface Features {
  /** Go reports and `:report` commands exit 0 with a warning when there are no apps. */
  reportsExitZeroWithoutApps: boolean;
  /** `domains:clear` removes every domain (before: resets to the global default). */
  domainsClearRemovesAll: boolean;
  /** Stop-timeout rows in ps:report. */
  psStopTimeout: boolean;
  /** "Restarting app" is only printed for deployed apps. */
  restartOnlyDeployed: boolean;
  /** Build and deploy output (and its stderr) is tee'd into stdout. */
  buildOutputMerged: boolean;
  /** bash reports accept `--format json`. */
  bashReportJson: boolean;
  /** Strict new-app regex. */
  strictAppNames: boolean;
  /** Go report JSON has un-prefixed keys next to the legacy ones; `--format` is validated. */
  reportJsonUnprefixed: boolean;
  /** apps:report has the global-disable-autocreation rows. */
  appsDisableAutocreation: boolean;
  /** `apps:list --format` and `ps:scale --format`. */
  listFormatJson: boolean;
  /** domains/git reports are Go (sorted rows, no trailing pad). */
  goDomainsGitReports: boolean;
}

export function features(v: Version): Features {
  return {
    reportsExitZeroWithoutApps: atLeast(v, '0.35.16'),
    domainsClearRemovesAll: atLeast(v, '0.36.0'),
    psStopTimeout: atLeast(v, '0.37.0'),
    restartOnlyDeployed: atLeast(v, '0.37.0'),
    buildOutputMerged: atLeast(v, '0.38.0'),
    bashReportJson: atLeast(v, '0.38.0'),
    strictAppNames: atLeast(v, '0.38.2'),
    reportJsonUnprefixed: atLeast(v, '0.38.8'),
    appsDisableAutocreation: atLeast(v, '0.38.12'),
    listFormatJson: atLeast(v, '0.38.21'),
    goDomainsGitReports: atLeast(v, '0.38.22'),
  };
}
