// How the long-running commands (`otm run`, `otm web`) live until told to stop: SIGTERM or SIGINT stops
// them once; SIGHUP re-reads the configuration file and applies the log level, saying what else waits
// for a restart. A file that no longer validates changes nothing.
import type { Logger } from 'pino';
import { loadConfig } from '../config.js';
import type { Config, LoadConfigOptions } from '../config.js';

export interface RunUntilStoppedOptions {
  logger: Logger;
  loadOptions: LoadConfigOptions;
  /** Logged when a stop signal arrives, with the signal's name. */
  stopping: { fields?: Record<string, unknown>; message: string };
  stop(): Promise<void>;
  /** The log line of a re-read configuration (the new one in hand). */
  reloaded(next: Config): { fields?: Record<string, unknown>; message: string };
}

/** Resolves once the process has been told to stop and `stop()` has finished (or failed, logged). */
export function runUntilStopped(options: RunUntilStoppedOptions): Promise<void> {
  const { logger } = options;
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, ...options.stopping.fields }, options.stopping.message);
      options.stop().then(resolve, (err: Error) => {
        logger.error({ err: err.message }, 'stop failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      loadConfig(options.loadOptions).then((loaded) => {
        logger.level = loaded.config.log.level;
        const line = options.reloaded(loaded.config);
        logger.info(line.fields ?? {}, line.message);
      }, (err: Error) => logger.error({ err: err.message }, 'configuration not reloaded: the file is invalid; the running configuration stays'));
    });
  });
}
