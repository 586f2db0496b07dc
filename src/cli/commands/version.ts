// `otm version`: this command's version, Node's, and the daemon's (its otm_build_info metric) when it answers. Always exits 0:
// an unreachable daemon is reported, not an error.
import type { Command } from 'commander';
import { VERSION } from '../../version.js';
import { ApiError, clientFor, withApiOptions } from '../client.js';
import type { ApiOptions } from '../client.js';

export function registerVersion(program: Command): void {
  withApiOptions(program
    .command('version')
    .description('print the versions of otm, Node.js and the running daemon'))
    .action(async (_options: ApiOptions, command: Command) => {
      const options = command.optsWithGlobals<ApiOptions>();
      process.stdout.write(`otm ${VERSION}\nnode ${process.version}\n`);
      const client = await clientFor(options);
      try {
        const version = await client.daemonVersion();
        process.stdout.write(`daemon ${version ?? 'of unknown version (its /metrics has no otm_build_info)'} at ${client.baseUrl}\n`);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        process.stdout.write(`daemon unreachable at ${client.baseUrl}\n`);
        process.stderr.write(`${error.message}\n`);
      }
    });
}
