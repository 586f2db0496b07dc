// `otm validate [PATH...]`: checks manifests without touching any host. Exit 0 when valid (warnings
// allowed), 1 when any error was found; usage errors exit 2 (see main.ts).
import type { Command } from 'commander';
import { Option } from 'commander';
import { loadConfig } from '../../config.js';
import { loadManifests } from '../../desired/files.js';
import { maskSecrets, sortIssues } from '../../manifest/index.js';
import { count, issueLines, objectsAsYaml, painter } from '../output.js';

interface ValidateOptions {
  print?: boolean;
  output: 'text' | 'json';
  config?: string;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check manifests (files or directories; default: the configured manifests directory)')
    .argument('[paths...]', 'manifest files or directories')
    .option('--print', 'print the valid objects with their defaults applied (secrets masked)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (paths: string[], _options: ValidateOptions, command: Command) => {
      const options = command.optsWithGlobals<ValidateOptions>();
      const { config, file } = await loadConfig(options.config !== undefined ? { path: options.config } : {});
      const targets = paths.length > 0 ? paths : [config.manifestsDir];
      // Host names are only checked against a real configuration, not against the built-in default host.
      const result = await loadManifests(targets, file !== undefined ? { hosts: config.hosts.map((host) => host.name) } : {});
      const issues = sortIssues(result.issues);
      const errors = issues.filter((issue) => issue.severity === 'error').length;
      const warnings = issues.length - errors;

      if (options.output === 'json') {
        const report = {
          valid: errors === 0,
          files: result.files.length,
          errors,
          warnings,
          issues,
          objects: result.objects.map(({ object, origin }) => ({
            kind: object.kind,
            name: object.metadata.name,
            origin,
            ...(options.print ? { object: maskSecrets(object) } : {}),
          })),
          rejected: result.rejected,
        };
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        const paint = painter(process.stderr);
        if (options.print && result.objects.length > 0) process.stdout.write(objectsAsYaml(result.objects.map(({ object }) => object)));
        for (const line of issueLines(issues, paint)) process.stderr.write(`${line}\n`);
        const verdict = errors > 0 ? paint('red', 'invalid') : paint('green', 'valid');
        process.stderr.write(`${verdict}: ${count(result.objects.length, 'object')} accepted, ${count(result.rejected.length, 'object')} rejected, ${count(errors, 'error')}, ${count(warnings, 'warning')} in ${count(result.files.length, 'file')}\n`);
      }
      process.exitCode = errors > 0 ? 1 : 0;
    });
}
