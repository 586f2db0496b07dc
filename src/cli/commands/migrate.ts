// `otm migrate`: brings the PostgreSQL schema up to date. The daemon does the same at start;
// this command lets an admin do it ahead of an upgrade and see what ran.
import { Option } from 'commander';
import type { Command } from 'commander';
import { migrate } from '../../store/migrate.js';
import { createPool } from '../../store/pool.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending PostgreSQL schema migrations (safe to run while a daemon runs)')
    .addOption(new Option('--database-url <url>', 'the PostgreSQL database holding desired state and status').env('OTM_DATABASE_URL').makeOptionMandatory())
    .action(async (options: { databaseUrl: string }) => {
      const pool = createPool(options.databaseUrl, { max: 1, applicationName: 'otm-migrate' });
      try {
        const result = await migrate(pool);
        for (const id of result.applied) process.stdout.write(`applied ${id}\n`);
        process.stdout.write(`schema up to date: ${result.applied.length} applied now, ${result.alreadyApplied.length} already in place\n`);
      } catch (err) {
        process.stderr.write(`otm migrate: ${(err as Error).message}\n`);
        process.exitCode = 1;
      } finally {
        await pool.end();
      }
    });
}
