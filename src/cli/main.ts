#!/usr/bin/env node
// The `otm` command. Each subcommand lives in commands/ and registers itself; add one with an import
// and an entry in COMMANDS. Exit codes: 0 success, 1 the command found a problem, 2 usage error.
import { Command, CommanderError } from 'commander';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config.js';
import { registerApply } from './commands/apply.js';
import { registerAudit } from './commands/audit.js';
import { registerResetDb, registerRestart } from './commands/bump.js';
import { registerDelete } from './commands/delete.js';
import { registerDescribe } from './commands/describe.js';
import { registerDiff } from './commands/diff.js';
import { registerExport } from './commands/export.js';
import { registerGet } from './commands/get.js';
import { registerLogin } from './commands/login.js';
import { registerMigrate } from './commands/migrate.js';
import { registerToken, registerUser } from './commands/people.js';
import { registerPlan } from './commands/plan.js';
import { registerRun } from './commands/run.js';
import { registerSchema } from './commands/schema.js';
import { registerSecrets } from './commands/secrets.js';
import { registerValidate } from './commands/validate.js';
import { registerVersion } from './commands/version.js';
import { registerWeb } from './commands/web.js';

const COMMANDS: ((program: Command) => void)[] = [registerValidate, registerSchema, registerMigrate, registerPlan, registerRun, registerWeb,
  registerGet, registerDescribe, registerApply, registerDiff, registerDelete, registerResetDb, registerRestart, registerExport, registerSecrets,
  registerUser, registerToken, registerLogin, registerAudit, registerVersion];

export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command('otm')
    .description('otree-manager: keeps every experimenter\'s oTree server on Dokku as declared')
    .option('--config <file>', 'configuration file (default: $OTM_CONFIG, else built-in defaults)')
    .showHelpAfterError()
    .exitOverride();
  for (const register of COMMANDS) register(program);
  return program;
}

/** Runs the command line and returns the exit code instead of exiting, so tests can call it. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version requested on purpose succeed; anything else commander rejects is a usage error.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    process.stderr.write(`otm: ${(error as Error).message}\n`);
    return error instanceof ConfigError ? EXIT_USAGE : EXIT_PROBLEM;
  }
}

// Run only when executed (also through the npm bin symlink), not when imported by a test.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await run(process.argv.slice(2));
}
