// The command table: every `plugin:subcommand` the simulator answers.
import type { CommandSpec } from '../context.js';
import { Exit } from '../output.js';
import { appsCommands } from './apps.js';
import { configCommands } from './config.js';
import { psCommands } from './ps.js';
import { domainsCommands, domainsResetCommand } from './domains.js';
import { gitCommands } from './git.js';
import { serviceCommandTable } from './services.js';
import { letsencryptCommands } from './letsencrypt.js';
import { resourceCommands } from './resource.js';
import { runCommand } from './run.js';
import { accessCommands } from './access.js';

export const commandTable: Record<string, CommandSpec> = {
  ...appsCommands,
  ...configCommands,
  ...psCommands,
  ...domainsCommands,
  'domains:reset': domainsResetCommand,
  ...gitCommands,
  ...serviceCommandTable,
  ...letsencryptCommands,
  ...resourceCommands,
  ...accessCommands,
  run: runCommand,
  config: { ...configCommands['config:show']! },
  'plugin:installed': {
    family: 'bash',
    run(ctx, args) {
      if (!args[0] || !installedPlugins(ctx.env).has(args[0])) throw new Exit(1);
    },
  },
};

const CORE = ['apps', 'config', 'ps', 'domains', 'git', 'resource', 'run', 'ssh-keys', 'plugin', 'version', 'help'];
const OPTIONAL = ['postgres', 'redis', 'letsencrypt', 'acl'];

/** Core plugins plus the optional ones (DOKKU_SIM_PLUGINS, comma-separated; all by default). */
export function installedPlugins(env: NodeJS.ProcessEnv): Set<string> {
  const optional = env.DOKKU_SIM_PLUGINS === undefined ? OPTIONAL : env.DOKKU_SIM_PLUGINS.split(',').filter(Boolean);
  return new Set([...CORE, ...optional]);
}
