// `otm run`: the daemon. SIGTERM/SIGINT drain and stop; SIGHUP re-reads the configuration file and
// applies what can change at run time (log level), naming what needs a restart.
import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import type { Config } from '../../config.js';
import { runUntilStopped } from '../signals.js';
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

      await runUntilStopped({
        logger, loadOptions,
        stopping: { fields: { drainSeconds: config.drainSeconds }, message: 'stopping: no new work; in-flight commands get the drain deadline' },
        stop: () => http.close().then(() => daemon.stop()),
        reloaded: (next) => {
          const changed = RESTART_ONLY.filter((key) => JSON.stringify(next[key]) !== JSON.stringify(config[key]));
          return { fields: { changed }, message: changed.length ? `configuration re-read; ${changed.join(', ')} take effect after a restart` : 'configuration re-read' };
        },
      });
      logger.info('stopped');
    });
}
