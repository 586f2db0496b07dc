// `otm apply -f FILE|DIR`: sends manifests to the daemon's API. Nothing is sent unless every file is
// valid; experimenters go first so that the instances they own find them.
import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { loadManifests } from '../../desired/files.js';
import { maskSecrets, secretRefs, sortIssues } from '../../manifest/index.js';
import type { ManifestObject } from '../../manifest/index.js';
import { ApiError, clientFor, NOUN, withApiOptions } from '../client.js';
import type { ApiOptions } from '../client.js';
import { count, issueLines, painter } from '../output.js';

export interface FileOptions extends ApiOptions {
  filename: string[];
}

/**
 * The valid objects in `paths`, experimenters first; undefined (after printing the issues) when any
 * file has an error. Warnings are printed and do not stop anything.
 */
export async function loadForApi(options: FileOptions): Promise<ManifestObject[] | undefined> {
  const { config, file } = await loadConfig(options.config !== undefined ? { path: options.config } : {});
  const result = await loadManifests(options.filename, file !== undefined ? { hosts: config.hosts.map((host) => host.name) } : {});
  // An inline secret sent through the API is stored encrypted by the daemon, not kept in a file: no warning.
  const issues = sortIssues(result.issues.filter((issue) => issue.code !== 'SECRET_INLINE'));
  for (const line of issueLines(issues, painter(process.stderr))) process.stderr.write(`${line}\n`);
  const errors = issues.filter((issue) => issue.severity === 'error').length;
  if (errors > 0) {
    process.stderr.write(`${count(errors, 'error')} in ${options.filename.join(', ')}: nothing was sent; fix the files and run again\n`);
    return undefined;
  }
  if (result.objects.length === 0) {
    process.stderr.write(`no manifests found in ${options.filename.join(', ')}: give .yaml or .yml files, or directories holding them\n`);
    return undefined;
  }
  const objects = result.objects.map(({ object }) => object);
  return [...objects.filter((o) => o.kind === 'Experimenter'), ...objects.filter((o) => o.kind === 'OTreeInstance')];
}

/** Key order does not matter when comparing objects. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical((value as Record<string, unknown>)[key])]));
  }
  return value;
}

/**
 * Whether `local` says the same as `live`. Inline secret values and spec.env values never come back from
 * the API, so an object holding one always counts as changed (the write is a no-op when nothing differs).
 */
function same(local: ManifestObject, live: ManifestObject): boolean {
  if (secretRefs(local).some(({ ref }) => 'value' in ref)) return false;
  if (local.kind === 'OTreeInstance' && Object.keys(local.spec.env).length > 0) return false;
  return JSON.stringify(canonical(maskSecrets(local))) === JSON.stringify(canonical(maskSecrets(live)));
}

/** The object as the API can store it: database rows hold no annotations. */
export function withoutAnnotations(object: ManifestObject): ManifestObject {
  if (object.metadata.annotations === undefined) return object;
  const { annotations: _annotations, ...metadata } = object.metadata;
  return { ...object, metadata } as ManifestObject;
}

export function filenameOption(command: Command): Command {
  return command.requiredOption('-f, --filename <path...>', 'manifest files or directories (repeatable)');
}

export function registerApply(program: Command): void {
  withApiOptions(filenameOption(program
    .command('apply')
    .description('create or update instances and experimenters from manifests through the daemon\'s API')))
    .action(async (_options: FileOptions, command: Command) => {
      const options = command.optsWithGlobals<FileOptions>();
      const objects = await loadForApi(options);
      if (!objects) {
        process.exitCode = 1;
        return;
      }
      const client = await clientFor(options);
      const paint = painter(process.stderr);
      let failed = 0;
      for (const declared of objects) {
        const ref = `${NOUN[declared.kind]}/${declared.metadata.name}`;
        const object = withoutAnnotations(declared);
        if (object !== declared) process.stderr.write(`${ref}: metadata.annotations are kept in manifest files only; the API stores the object without them\n`);
        try {
          const live = await client.get(object.kind, object.metadata.name);
          if (live?.object && same(object, live.object)) {
            process.stdout.write(`${ref} unchanged\n`);
            continue;
          }
          const written = await client.put(object);
          // Objects with values the API never shows are always sent; the row's generation says whether anything changed.
          const verb = !live ? 'created' : live.generation === written.generation ? 'unchanged' : 'configured';
          process.stdout.write(`${ref} ${verb}${verb === 'unchanged' ? '' : ` (generation ${written.generation})`}\n`);
        } catch (error) {
          // Without a daemon, nothing else will work either.
          if (!(error instanceof ApiError) || error.code === 'Unreachable' || error.code === 'NoToken' || error.status === 401) throw error;
          failed++;
          process.stderr.write(`${paint('red', `${ref}: ${error.message}`)}\n`);
          for (const issue of error.issues) process.stderr.write(`  ${issue.path}: ${issue.message}\n`);
        }
      }
      if (failed > 0) {
        process.stderr.write(`${count(failed, 'object')} not applied\n`);
        process.exitCode = 1;
      }
    });
}
