// `otm web`: the process people sign in to. SIGTERM/SIGINT stop it (requests in flight finish first);
// SIGHUP re-reads the configuration and applies the log level.
import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
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
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal }, 'stopping otm web');
          web.close().then(resolve, (err: Error) => {
            logger.error({ err: err.message }, 'stop failed');
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
        process.on('SIGHUP', () => {
          loadConfig(loadOptions).then(({ config: next }) => {
            logger.level = next.log.level;
            logger.info('configuration re-read; settings other than log.level take effect after a restart');
          }, (err: Error) => logger.error({ err: err.message }, 'configuration not reloaded: the file is invalid; the running configuration stays'));
        });
      });
      logger.info('otm web stopped');
    });
}
