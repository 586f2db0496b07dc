// `otm web`: the process people sign in to. SIGTERM/SIGINT stop it (requests in flight finish first);
// SIGHUP re-reads the configuration and applies the log level.
import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { runUntilStopped } from '../signals.js';
// fastify, pg and the web server load inside the action, so other commands start fast.

interface WebOptions {
  config?: string;
}

export function registerWeb(program: Command): void {
  program
    .command('web')
    .description('serve the web interface and the per-person API (sign-in, sessions, tokens) on web.listen')
    .action(async (_options: WebOptions, command: Command) => {
      const options = command.optsWithGlobals<WebOptions>();
      const loadOptions = options.config !== undefined ? { path: options.config } : {};
      const { config, file } = await loadConfig(loadOptions);
      const [{ startWeb }, { createLogger }] = await Promise.all([import('../../web/process.js'), import('../../engine/logger.js')]);
      const logger = createLogger({ level: config.log.level });
      logger.info({ config: file ?? '(defaults)' }, 'starting otm web');
      const web = await startWeb({ config, logger });
      await runUntilStopped({
        logger, loadOptions,
        stopping: { message: 'stopping otm web' },
        stop: () => web.close(),
        reloaded: () => ({ message: 'configuration re-read; settings other than log.level take effect after a restart' }),
      });
      logger.info('otm web stopped');
    });
}
