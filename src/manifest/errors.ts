// The catalog of every issue code a manifest can produce. docs/errors.md lists the same codes with the
// same severity; a test keeps the two in step.
import type { ManifestIssue, Origin, Severity } from './types.js';

export interface IssueCodeInfo {
  severity: Severity;
  /** What went wrong, in one sentence. */
  meaning: string;
}

export const ISSUE_CODES = {
  FILE_TOO_LARGE: { severity: 'error', meaning: 'The file is larger than the manifest size limit.' },
  FILE_UNREADABLE: { severity: 'error', meaning: 'The file or directory could not be read.' },
  YAML_SYNTAX: { severity: 'error', meaning: 'The document is not valid YAML.' },
  YAML_DUPLICATE_KEY: { severity: 'error', meaning: 'A mapping has the same key twice.' },
  YAML_ALIAS_LIMIT: { severity: 'error', meaning: 'The document expands too many aliases (a resource exhaustion attempt or a runaway anchor).' },
  NOT_AN_OBJECT: { severity: 'error', meaning: 'The document is not a mapping.' },
  API_VERSION_UNKNOWN: { severity: 'error', meaning: 'apiVersion is missing or not otree-manager/v1.' },
  KIND_UNKNOWN: { severity: 'error', meaning: 'kind is missing or not OTreeInstance or Experimenter.' },
  FIELD_REQUIRED: { severity: 'error', meaning: 'A required field is missing.' },
  FIELD_UNKNOWN: { severity: 'error', meaning: 'A field is not part of the schema (often a typo).' },
  FIELD_TYPE: { severity: 'error', meaning: 'A field has the wrong type.' },
  FIELD_ENUM: { severity: 'error', meaning: 'A field has a value outside its allowed set.' },
  FIELD_FORMAT: { severity: 'error', meaning: 'A field is not in the expected format (date-time, email).' },
  FIELD_RANGE: { severity: 'error', meaning: 'A number, string or list is outside its allowed size.' },
  FIELD_ONE_OF: { severity: 'error', meaning: 'An object that takes exactly one of several fields has none or several.' },
  FIELD_INVALID: { severity: 'error', meaning: 'A field breaks a schema rule not covered by a more specific code.' },
  NAME_INVALID: { severity: 'error', meaning: 'A name is not valid as a Dokku app name or user name on every Dokku version.' },
  NAME_RESERVED: { severity: 'error', meaning: 'The instance name is one Dokku treats specially.' },
  LABEL_KEY_INVALID: { severity: 'error', meaning: 'A metadata label key has characters outside the allowed set.' },
  DOMAIN_INVALID: { severity: 'error', meaning: 'A domain is not a valid lowercase domain name.' },
  ENV_KEY_INVALID: { severity: 'error', meaning: 'An environment variable name is not valid for Dokku.' },
  ENV_RESERVED_KEY: { severity: 'error', meaning: 'spec.env sets a key the manager owns.' },
  ROOM_NAME_INVALID: { severity: 'error', meaning: 'A room name has characters oTree does not accept.' },
  ROOM_DUPLICATE: { severity: 'error', meaning: 'Two rooms of one instance share a name.' },
  PARTICIPANT_LABEL_INVALID: { severity: 'error', meaning: 'A participant label has characters oTree rejects.' },
  CRON_INVALID: { severity: 'error', meaning: 'A schedule is not a cron expression.' },
  RESOURCE_INVALID: { severity: 'error', meaning: 'A memory or CPU limit is not in Dokku\'s format.' },
  SSH_KEY_INVALID: { severity: 'error', meaning: 'An SSH public key is malformed, of an unsupported type or too weak.' },
  FREEZE_WINDOW_ORDER: { severity: 'error', meaning: 'A freeze window ends before (or when) it starts.' },
  OTREE5_SINGLE_WEB: { severity: 'error', meaning: 'oTree 5 keeps websocket state in memory, so it must run exactly one web process.' },
  OTREE5_REDIS_UNUSED: { severity: 'warning', meaning: 'oTree 5 does not use Redis.' },
  OTREE5_WORKER_UNUSED: { severity: 'warning', meaning: 'oTree 5 has no worker process to run.' },
  OTREE3_WORKER_MISSING: { severity: 'warning', meaning: 'oTree 3 runs bots and page timeouts in its worker process.' },
  SECRET_INLINE: { severity: 'warning', meaning: 'A secret is written into the manifest as a value.' },
  SECRET_NAME_INVALID: { severity: 'error', meaning: 'A secretRef is not a valid secret name.' },
  DUPLICATE_NAME: { severity: 'error', meaning: 'Two manifests declare the same kind and name.' },
  DOMAIN_DUPLICATE: { severity: 'error', meaning: 'Two instances claim the same domain.' },
  COLLABORATOR_UNDECLARED: { severity: 'warning', meaning: 'An instance names a collaborator who is not a declared Experimenter (or is its owner); that entry grants nothing.' },
  OWNER_UNDECLARED: { severity: 'error', meaning: 'An instance names an owner with no Experimenter manifest.' },
  HOST_UNKNOWN: { severity: 'error', meaning: 'An instance names a Dokku host that is not configured.' },
  QUOTA_EXCEEDED: { severity: 'warning', meaning: 'An experimenter\'s instances exceed their quota.' },
  CONFIG_INVALID: { severity: 'error', meaning: 'The daemon\'s configuration file is not valid.' },
  ARGUMENT_INVALID: { severity: 'error', meaning: 'A value that reaches a Dokku command line starts with "-" (Dokku would read it as a flag) or holds white space.' },
  ROW_SECRET_SOURCE: { severity: 'error', meaning: 'A database row names a secret file or environment variable of the daemon; rows use secrets stored through the API.' },
  ROW_ADMIN_ROLE: { severity: 'error', meaning: 'A database row declares an admin; only manifest files may.' },
  ROW_ADOPT: { severity: 'error', meaning: 'A database row asks to adopt an existing app; only manifest files may.' },
  ROW_ARCHIVE_PATH: { severity: 'error', meaning: 'A database row deploys an archive from a path on the daemon\'s host; only manifest files may.' },
  ROW_GIT_URL: { severity: 'error', meaning: 'A database row\'s git source is not an https:// or ssh remote.' },
  ROW_GIT_CREDENTIALS: { severity: 'error', meaning: 'A database row\'s git URL carries a password or token.' },
  ROW_DOMAIN_NOT_ALLOWED: { severity: 'error', meaning: 'A database row declares a domain outside the base domain and the configured allowed domains.' },
  ROW_DOMAIN_RESERVED: { severity: 'error', meaning: 'A database row declares a domain the manager or a Dokku host uses, or another instance\'s default domain.' },
  ROW_OWNER_UNDECLARED: { severity: 'error', meaning: 'A database row\'s instance names an owner that is not a declared Experimenter.' },
  ROW_QUOTA_EXCEEDED: { severity: 'error', meaning: 'A database row\'s instance would take its owner beyond their quota.' },
  ROW_LAST_VALID_KEPT: { severity: 'warning', meaning: 'A database row\'s latest version is invalid, so its last valid version keeps running.' },
} as const satisfies Record<string, IssueCodeInfo>;

export type IssueCode = keyof typeof ISSUE_CODES;

/** Builds an issue whose severity comes from the catalog. */
export function makeIssue(code: IssueCode, origin: Origin, path: string, message: string): ManifestIssue {
  return { severity: ISSUE_CODES[code].severity, origin, path, code, message };
}

export function isIssueCode(code: string): code is IssueCode {
  return Object.hasOwn(ISSUE_CODES, code);
}

/** Issues in reading order: by source, then line, then column. */
export function sortIssues(issues: ManifestIssue[]): ManifestIssue[] {
  return [...issues].sort((a, b) =>
    a.origin.source.localeCompare(b.origin.source) || a.origin.line - b.origin.line || a.origin.column - b.origin.column);
}

/** `file:line:col`, or just the source when the position is unknown. */
export function formatOrigin({ source, line, column }: Origin): string {
  return line > 0 ? `${source}:${line}:${column}` : source;
}

/** `file:line:col path: message`, the one-line form every output uses. */
export function formatIssue(issue: ManifestIssue): string {
  const where = formatOrigin(issue.origin);
  const marker = issue.severity === 'warning' ? 'warning: ' : '';
  return `${where}${issue.path ? ` ${issue.path}` : ''}: ${marker}${issue.message}`;
}
