// The row policy: what desired state from a database row may ask for. Rows are written by the web
// interface, the API or a lab's own UI straight into PostgreSQL; whoever claims to have written them,
// they are untrusted input. Manifest files (written by admins with root on the manager) are not
// subject to it. The controller applies it to every row it reads, and the API to every row it writes,
// so a row that breaks it is reported and never applied.
import type { IssueCode } from './errors.js';
import { secretRefs } from './secrets.js';
import type { ManifestObject, OTreeInstance } from './types.js';

export interface RowPolicyOptions {
  /** Rows' domains must lie below it (or below an allowed domain). */
  baseDomain?: string;
  /** More parent domains rows may use (a domain equal to one is allowed too). */
  allowedDomains?: readonly string[];
  /** Names rows may never claim: the manager's own public host name, the Dokku hosts' names. */
  reservedDomains?: readonly string[];
}

export interface PolicyProblem {
  path: string;
  code: IssueCode;
  message: string;
}

const below = (domain: string, parent: string): boolean => domain.endsWith(`.${parent}`);

/** https://host/path or ssh://[user@]host[:port]/path, or scp style user@host:path. */
function gitUrlProblem(url: string): PolicyProblem | undefined {
  const path = 'spec.source.git.url';
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    // scp style: `user@host:path` (git's rule: no slash before the first colon).
    const scp = /^([A-Za-z0-9._~-]+)@([A-Za-z0-9][A-Za-z0-9.-]*):(.+)$/.exec(url);
    if (scp) return undefined;
    return { path, code: 'ROW_GIT_URL', message: 'must be an https:// URL, an ssh:// URL or an scp-style remote such as git@github.com:lab/experiment.git (a path on the host is not allowed)' };
  }
  if (scheme !== 'https' && scheme !== 'ssh') {
    return { path, code: 'ROW_GIT_URL', message: `the ${scheme}:// scheme is not allowed; use https:// or ssh://` };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { path, code: 'ROW_GIT_URL', message: 'is not a valid URL' };
  }
  if (parsed.hostname === '' || parsed.hostname.startsWith('-')) return { path, code: 'ROW_GIT_URL', message: 'must name a host' };
  if (parsed.password !== '' || (scheme === 'https' && parsed.username !== '')) {
    return { path, code: 'ROW_GIT_CREDENTIALS', message: 'must not carry credentials (a token or password in the URL ends up in logs and in the app\'s environment); use a deploy key over ssh, or a public repository' };
  }
  return undefined;
}

function domainProblems(instance: OTreeInstance, options: RowPolicyOptions): PolicyProblem[] {
  const parents = [...(options.baseDomain ? [options.baseDomain] : []), ...(options.allowedDomains ?? [])];
  const reserved = new Set([...(options.reservedDomains ?? []), ...(options.baseDomain ? [options.baseDomain] : [])].map((d) => d.toLowerCase()));
  return instance.spec.domains.flatMap((domain, index): PolicyProblem[] => {
    const path = `spec.domains[${index}]`;
    if (reserved.has(domain)) {
      return [{ path, code: 'ROW_DOMAIN_RESERVED', message: `${domain} is the manager's own or a Dokku host's name; choose a name below ${options.baseDomain ?? 'the base domain'}` }];
    }
    const allowed = parents.some((parent) => below(domain, parent)) || (options.allowedDomains ?? []).includes(domain);
    if (!allowed) {
      return [{ path, code: 'ROW_DOMAIN_NOT_ALLOWED', message: parents.length > 0
        ? `${domain} is not below ${parents.join(' or ')}; rows may only use those domains (an admin can add more under rows.allowedDomains)`
        : 'rows may not declare domains: no baseDomain or rows.allowedDomains is configured' }];
    }
    return [];
  });
}

/** What a row asks for that rows may not; empty when it keeps to the policy. */
export function rowPolicyProblems(object: ManifestObject, options: RowPolicyOptions): PolicyProblem[] {
  if (object.kind === 'Experimenter') {
    // An admin can do everything; only people with root on the manager (manifest files) make one.
    return object.spec.role === 'admin'
      ? [{ path: 'spec.role', code: 'ROW_ADMIN_ROLE', message: 'a database row may not declare an admin; declare admins in a manifest file' }]
      : [];
  }
  const instance = object;
  const problems: PolicyProblem[] = [];
  const { spec } = instance;
  for (const { path, ref } of secretRefs(instance)) {
    if ('fromFile' in ref || 'fromEnv' in ref) {
      problems.push({ path: `${path}.${'fromFile' in ref ? 'fromFile' : 'fromEnv'}`, code: 'ROW_SECRET_SOURCE',
        message: 'a database row may not read the daemon\'s files or environment; store the secret through the API (PUT /api/v1/instances/<name>/secrets/<secret>) and refer to it with secretRef' });
    }
  }
  if (spec.adopt) {
    problems.push({ path: 'spec.adopt', code: 'ROW_ADOPT', message: 'a database row may not adopt an existing app; an admin adopts apps in a manifest file' });
  }
  if ('archive' in spec.source) {
    problems.push({ path: 'spec.source.archive.path', code: 'ROW_ARCHIVE_PATH', message: 'a database row may not deploy a file from the daemon\'s host; use a git or image source, or push' });
  }
  if ('git' in spec.source) {
    const problem = gitUrlProblem(spec.source.git.url);
    if (problem) problems.push(problem);
  }
  problems.push(...domainProblems(instance, options));
  return problems;
}
