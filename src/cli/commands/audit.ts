// `otm audit [--user NAME] [--instance NAME] [--limit N] [-o table|json]`: who changed what, when, from
// where and how they signed in, newest first. Admins see every entry; a person their own.
import type { Command } from 'commander';
import { Option } from 'commander';
import { clientFor, withApiOptions } from '../client.js';
import type { ApiOptions } from '../client.js';
import { painter, table } from '../output.js';

interface AuditOptions extends ApiOptions {
  user?: string;
  instance?: string;
  limit: string;
  output: 'table' | 'json';
}

export function registerAudit(program: Command): void {
  withApiOptions(program
    .command('audit')
    .description('show the audit log: every write and secret reveal, newest first')
    .option('--user <name>', 'only what this person did')
    .option('--instance <name>', 'only entries about this instance (or person)')
    .option('--limit <n>', 'at most this many entries (1-500)', '50')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table')))
    .action(async (_options: AuditOptions, command: Command) => {
      const options = command.optsWithGlobals<AuditOptions>();
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new Error(`--limit ${options.limit} must be a whole number from 1 to 500`);
      const client = await clientFor(options);
      const page = await client.audit({ ...(options.user ? { user: options.user } : {}), ...(options.instance ? { object: options.instance } : {}), limit });
      if (options.output === 'json') {
        process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
        return;
      }
      const rows = page.items.map((e) => [e.at.replace(/\.\d+Z$/, 'Z'), e.actor, e.action, `${e.objectKind}/${e.objectName}`, e.clientAddress ?? '-', e.authMethod ?? '-']);
      process.stdout.write(`${table(['TIME', 'WHO', 'ACTION', 'OBJECT', 'FROM', 'HOW'], rows, painter(process.stdout))}\n`);
      if (page.next) process.stderr.write(`more entries: --limit ${limit} shows the newest ${limit}\n`);
    });
}
