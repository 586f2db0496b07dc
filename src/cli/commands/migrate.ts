// `otm migrate`: brings the PostgreSQL schema up to date. The daemon does the same at start;
// this command lets an admin do it ahead of an upgrade and see what ran.
import { Option } from 'commander';
import type { Command } from 'commander';
import { loadConfig, redactUrl } from '../../config.js';
// Heavy modules (the daemon, fastify, pg, dockerode) load inside the action, so other commands start fast.

interface MigrateOptions {
  databaseUrl?: string;
  config?: string;
}

async function databaseUrl(options: MigrateOptions): Promise<string> {
  if (options.databaseUrl) return options.databaseUrl;
  const { config, file } = await loadConfig(options.config !== undefined ? { path: options.config } : {});
  if (config.postgresUrl) return config.postgresUrl;
  throw new Error(`no database to migrate: ${file ?? 'the built-in configuration'} sets no postgresUrl; set it, or pass --database-url (or OTM_DATABASE_URL)`);
}

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending PostgreSQL schema migrations (safe while a daemon runs)')
    .addOption(new Option('--database-url <url>', 'the database (default: postgresUrl from the configuration)').env('OTM_DATABASE_URL'))
    .action(async (_options: MigrateOptions, command: Command) => {
      const url = await databaseUrl(command.optsWithGlobals<MigrateOptions>());
      const [{ migrate }, { createPool }] = await Promise.all([import('../../store/migrate.js'), import('../../store/pool.js')]);
      const pool = createPool(url, { max: 1, applicationName: 'otm-migrate' });
      try {
        const result = await migrate(pool).catch((err: Error) => {
          throw new Error(`cannot migrate ${redactUrl(url)}: ${err.message}`);
        });
        for (const id of result.applied) process.stdout.write(`applied ${id}\n`);
        process.stdout.write(`${redactUrl(url)}: schema up to date (${result.applied.length} applied now, ${result.alreadyApplied.length} already in place)\n`);
      } finally {
        await pool.end();
      }
    });
}
