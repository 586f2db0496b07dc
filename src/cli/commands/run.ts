// `otm run`: the daemon. SIGTERM/SIGINT drain and stop; SIGHUP re-reads the configuration file and
// applies what can change at run time (log level), naming what needs a restart.
import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import type { Config } from '../../config.js';
// Heavy modules (the daemon, fastify, pg, dockerode) load inside the action, so other commands start fast.

interface RunOptions {
  config?: string;
}

/** Settings that only take effect when the daemon starts. */
const RESTART_ONLY: (keyof Config)[] = ['hosts', 'manifestsDir', 'stateDir', 'postgresUrl', 'redisUrl', 'http', 'queue', 'resync'];

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the daemon: watch desired state, observe Dokku and converge')
    .action(async (_options: RunOptions, command: Command) => {
      const options = command.optsWithGlobals<RunOptions>();
      const loadOptions = options.config !== undefined ? { path: options.config } : {};
      const { config, file } = await loadConfig(loadOptions);
      const [{ Daemon }, { createLogger }, { startHttp }] = await Promise.all([
        import('../../engine/daemon.js'), import('../../engine/logger.js'), import('../../http/server.js'),
      ]);
      const logger = createLogger({ level: config.log.level });
      const daemon = new Daemon({ config, logger });
      logger.info({ config: file ?? '(defaults)' }, 'starting');
      // HTTP first, so /healthz answers and /readyz says what is pending while the first sync runs.
      const http = await startHttp(daemon, config, logger);
      try {
        await daemon.start();
      } catch (err) {
        await http.close();
        throw err;
      }

      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal, drainSeconds: config.drainSeconds }, 'stopping: no new work; in-flight commands get the drain deadline');
          http.close().then(() => daemon.stop()).then(resolve, (err: Error) => {
            logger.error({ err: err.message }, 'stop failed');
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
        process.on('SIGHUP', () => {
          loadConfig(loadOptions).then(({ config: next }) => {
            logger.level = next.log.level;
            const changed = RESTART_ONLY.filter((key) => JSON.stringify(next[key]) !== JSON.stringify(config[key]));
            logger.info({ changed }, changed.length ? `configuration re-read; ${changed.join(', ')} take effect after a restart` : 'configuration re-read');
          }, (err: Error) => logger.error({ err: err.message }, 'configuration not reloaded: the file is invalid; the running configuration stays'));
        });
      });
      logger.info('stopped');
    });
}
