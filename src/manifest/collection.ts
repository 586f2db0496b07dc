// Checks across all declared objects: unique names and domains, declared owners and collaborators, known
// hosts, quotas.
import { formatOrigin, makeIssue } from './errors.js';
import type { IssueCode } from './errors.js';
import type { ParseResult } from './parse.js';
import type { Declared, Experimenter, ManifestIssue, OTreeInstance } from './types.js';

export interface CollectionOptions {
  /** Names of the configured Dokku hosts; when given, spec.host must be one of them. */
  hosts?: readonly string[];
  /** The lab's base domain: every instance without spec.domains answers at `<name>.<baseDomain>`. */
  baseDomain?: string;
}

/** Desired state from a database row: untrusted, so its limits are errors, not warnings. */
function isRow(declared: Declared): boolean {
  return declared.origin.source.startsWith('row:');
}

function quotaCode(declared: Declared): IssueCode {
  return isRow(declared) ? 'ROW_QUOTA_EXCEEDED' : 'QUOTA_EXCEEDED';
}

function where(declared: Declared, path: string): Declared['origin'] {
  return declared.fields?.[path] ?? declared.origin;
}

/**
 * Cross-object checks on objects that passed their own checks. Objects with an error are moved to
 * `rejected` (the later of two duplicates, for instance) so the caller sees only a consistent set.
 */
export function checkCollection(objects: readonly Declared[], options: CollectionOptions = {}): ParseResult {
  const issues: ManifestIssue[] = [];
  const failed = new Set<Declared>();
  const flag = (declared: Declared, code: IssueCode, path: string, message: string) => {
    const issue = makeIssue(code, where(declared, path), path, message);
    issues.push(issue);
    if (issue.severity === 'error') failed.add(declared);
  };

  const firstByName = new Map<string, Declared>();
  for (const declared of objects) {
    const key = `${declared.object.kind}/${declared.object.metadata.name}`;
    const first = firstByName.get(key);
    if (first) {
      flag(declared, 'DUPLICATE_NAME', 'metadata.name', `${declared.object.kind} "${declared.object.metadata.name}" is already declared at ${formatOrigin(first.origin)}; names must be unique`);
    } else {
      firstByName.set(key, declared);
    }
  }

  const instances = objects.filter((declared): declared is Declared<OTreeInstance> => declared.object.kind === 'OTreeInstance' && !failed.has(declared));
  const experimenters = new Map(objects
    .filter((declared): declared is Declared<Experimenter> => declared.object.kind === 'Experimenter' && !failed.has(declared))
    .map((declared) => [declared.object.metadata.name, declared]));

  const domainOwner = new Map<string, Declared<OTreeInstance>>();
  const owned = new Map<string, Declared<OTreeInstance>[]>();
  for (const declared of instances) {
    const { spec } = declared.object;
    if (isRow(declared) && !experimenters.has(spec.owner)) {
      // A row's owner must exist: without one there is no quota to hold it to.
      flag(declared, 'ROW_OWNER_UNDECLARED', 'spec.owner', `owner "${spec.owner}" is not a declared Experimenter; create the Experimenter first or fix the name`);
    } else if (experimenters.size > 0 && !experimenters.has(spec.owner)) {
      flag(declared, 'OWNER_UNDECLARED', 'spec.owner', `owner "${spec.owner}" is not a declared Experimenter; add an Experimenter manifest for them or fix the name`);
    }
    spec.collaborators.forEach((collaborator, index) => {
      if (collaborator === spec.owner || !experimenters.has(collaborator)) {
        flag(declared, 'COLLABORATOR_UNDECLARED', `spec.collaborators[${index}]`, collaborator === spec.owner
          ? `"${collaborator}" owns this instance; owners need not be listed as collaborators`
          : `collaborator "${collaborator}" is not a declared Experimenter; this entry grants nothing until someone of that name is declared`);
      }
    });
    if (options.hosts && spec.host !== undefined && !options.hosts.includes(spec.host)) {
      flag(declared, 'HOST_UNKNOWN', 'spec.host', `host "${spec.host}" is not configured (configured: ${options.hosts.join(', ') || 'none'})`);
    }
    spec.domains.forEach((domain, index) => {
      const defaultOf = options.baseDomain !== undefined && domain.endsWith(`.${options.baseDomain}`) ? domain.slice(0, -options.baseDomain.length - 1) : undefined;
      if (isRow(declared) && defaultOf !== undefined && defaultOf !== declared.object.metadata.name && instances.some((other) => other.object.metadata.name === defaultOf)) {
        flag(declared, 'ROW_DOMAIN_RESERVED', `spec.domains[${index}]`, `domain ${domain} is the default domain of instance "${defaultOf}"; choose another name`);
        return;
      }
      const holder = domainOwner.get(domain);
      if (holder) {
        flag(declared, 'DOMAIN_DUPLICATE', `spec.domains[${index}]`, `domain ${domain} is already claimed by instance "${holder.object.metadata.name}" (${formatOrigin(holder.origin)})`);
      } else {
        domainOwner.set(domain, declared);
      }
    });
    if (!failed.has(declared)) owned.set(spec.owner, [...(owned.get(spec.owner) ?? []), declared]);
  }

  for (const [owner, declaredInstances] of owned) {
    const quota = experimenters.get(owner)?.object.spec.quota;
    if (!quota) continue;
    if (declaredInstances.length > quota.instances) {
      for (const declared of declaredInstances.slice(quota.instances)) {
        flag(declared, quotaCode(declared), 'spec.owner', `"${owner}" owns ${declaredInstances.length} instances but their quota is ${quota.instances}; raise spec.quota.instances of the Experimenter or remove an instance`);
      }
    }
    const web = declaredInstances.reduce((sum, declared) => sum + (declared.object.spec.state === 'running' ? declared.object.spec.processes.web : 0), 0);
    if (web > quota.webProcesses) {
      const last = declaredInstances[declaredInstances.length - 1]!;
      flag(last, quotaCode(last), 'spec.owner', `"${owner}" runs ${web} web processes but their quota is ${quota.webProcesses}; raise spec.quota.webProcesses of the Experimenter`);
    }
  }

  return {
    objects: objects.filter((declared) => !failed.has(declared)),
    issues,
    rejected: [...failed].map((declared) => ({ kind: declared.object.kind, name: declared.object.metadata.name, origin: declared.origin })),
  };
}
