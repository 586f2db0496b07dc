// `otm delete instance|experimenter NAME`: removes an object the API holds (a database row). What
// happens to the Dokku app is the daemon's decision: it removes apps only when it prunes.
import type { Command } from 'commander';
import { Argument } from 'commander';
import { clientFor, NOUN, withApiOptions } from '../client.js';
import type { ApiOptions } from '../client.js';
import { RESOURCES } from './get.js';

export function registerDelete(program: Command): void {
  withApiOptions(program
    .command('delete')
    .description('delete an instance or experimenter declared through the API')
    .addArgument(new Argument('<resource>', 'what to delete').choices(Object.keys(RESOURCES)))
    .argument('<name>', 'its name'))
    .action(async (resource: string, name: string, _options: ApiOptions, command: Command) => {
      const options = command.optsWithGlobals<ApiOptions>();
      const kind = RESOURCES[resource]!;
      const client = await clientFor(options);
      await client.remove(kind, name);
      process.stdout.write(`${NOUN[kind]}/${name} deleted\n`);
      if (kind === 'OTreeInstance') {
        process.stderr.write(`the Dokku app ${name} stays unless the daemon's configuration sets prune: true; then spec.database.deletionPolicy decides what happens to its database\n`);
      }
    });
}
