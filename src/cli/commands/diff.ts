// `otm diff -f FILE|DIR`: what `otm apply` would change, as a unified diff of each object's YAML
// against the daemon's current object (secrets masked). kubectl's convention: exit 0 when nothing
// differs, 1 when something does, 2 when the diff could not be made.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { maskSecrets } from '../../manifest/index.js';
import type { ManifestObject } from '../../manifest/index.js';
import { clientFor, NOUN, withApiOptions } from '../client.js';
import { count, painter, unifiedDiff } from '../output.js';
import type { Painter } from '../output.js';
import { canonical, filenameOption, loadForApi, withoutAnnotations } from './apply.js';
import type { FileOptions } from './apply.js';

export const EXIT_SAME = 0;
export const EXIT_DIFFERENT = 1;
export const EXIT_DIFF_FAILED = 2;

function yamlOf(object: ManifestObject): string {
  return stringify(canonical(maskSecrets(object)), { lineWidth: 0 });
}

function colourLine(line: string, paint: Painter): string {
  if (line.startsWith('---') || line.startsWith('+++')) return paint('bold', line);
  if (line.startsWith('@@')) return paint('dim', line);
  if (line.startsWith('+')) return paint('green', line);
  if (line.startsWith('-')) return paint('red', line);
  return line;
}

export function registerDiff(program: Command): void {
  withApiOptions(filenameOption(program
    .command('diff')
    .description('show what `otm apply` would change (exit 0 no differences, 1 differences, 2 error)')))
    .action(async (_options: FileOptions, command: Command) => {
      const options = command.optsWithGlobals<FileOptions>();
      try {
        const objects = await loadForApi(options);
        if (!objects) {
          process.exitCode = EXIT_DIFF_FAILED;
          return;
        }
        const client = await clientFor(options);
        const paint = painter(process.stdout);
        let different = 0;
        for (const object of objects) {
          const ref = `${NOUN[object.kind]}/${object.metadata.name}`;
          const live = await client.get(object.kind, object.metadata.name);
          const text = unifiedDiff(live?.object ? yamlOf(live.object) : '', yamlOf(withoutAnnotations(object)), {
            before: `${ref} (live${live?.object ? `, generation ${live.generation ?? '-'}` : ': does not exist'})`,
            after: `${ref} (${options.filename.join(', ')})`,
          });
          if (text === '') continue;
          different++;
          process.stdout.write(`${text.replace(/\n$/, '').split('\n').map((line) => colourLine(line, paint)).join('\n')}\n`);
        }
        process.stderr.write(`${count(different, 'object')} of ${objects.length} would change\n`);
        process.exitCode = different > 0 ? EXIT_DIFFERENT : EXIT_SAME;
      } catch (error) {
        // Exit 1 means "differences" here, so a failure must not exit 1.
        process.stderr.write(`otm: ${(error as Error).message}\n`);
        process.exitCode = EXIT_DIFF_FAILED;
      }
    });
}
