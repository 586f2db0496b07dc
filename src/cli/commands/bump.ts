// `otm reset-db NAME` and `otm restart NAME`: one-shot requests, made by bumping the instance's
// resetDatabase or restart generation through the API. The daemon carries each out once, after any
// freeze window in force.
import type { Command } from 'commander';
import { clientFor, withApiOptions } from '../client.js';
import type { ApiOptions, Bump } from '../client.js';

interface ResetOptions extends ApiOptions {
  yes?: boolean;
}

function reminder(name: string, what: Bump): string {
  const deed = what === 'reset-database' ? 'resets the database once' : 'restarts it once';
  return `the daemon ${deed}; inside a freeze window it waits until the window ends (\`otm describe instance ${name}\` shows what is deferred)\n`;
}

export function registerResetDb(program: Command): void {
  withApiOptions(program
    .command('reset-db')
    .description('delete all of an instance\'s session data once (`otree resetdb`); needs --yes')
    .argument('<name>', 'the instance')
    .option('--yes', 'confirm that every session and participant of the instance is deleted'))
    .action(async (name: string, _options: ResetOptions, command: Command) => {
      const options = command.optsWithGlobals<ResetOptions>();
      if (!options.yes) {
        process.stderr.write(`otm: reset-db deletes every session and participant of ${name}; run \`otm reset-db ${name} --yes\` to confirm\n`);
        process.exitCode = 2;
        return;
      }
      const written = await (await clientFor(options)).bump(name, 'reset-database');
      process.stdout.write(`instance/${written.name} database reset requested (spec.resetDatabase.generation ${written.generation})\n`);
      process.stderr.write(reminder(written.name, 'reset-database'));
    });
}

export function registerRestart(program: Command): void {
  withApiOptions(program
    .command('restart')
    .description('restart an instance\'s processes once')
    .argument('<name>', 'the instance'))
    .action(async (name: string, _options: ApiOptions, command: Command) => {
      const options = command.optsWithGlobals<ApiOptions>();
      const written = await (await clientFor(options)).bump(name, 'restart');
      process.stdout.write(`instance/${written.name} restart requested (spec.restart.generation ${written.generation})\n`);
      process.stderr.write(reminder(written.name, 'restart'));
    });
}
