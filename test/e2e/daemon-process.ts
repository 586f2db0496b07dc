// The daemon as its own process, like `otm run`, but watching only one simulator's containers on a
// shared Docker Engine. Usage: daemon-process.ts <config file> <simulator root id>. SIGTERM stops it
// cleanly; the crash tests SIGKILL it instead.
import { loadConfig } from '../../src/config.js';
import { Daemon } from '../../src/engine/daemon.js';
import { createLogger } from '../../src/engine/logger.js';
import { ROOT_LABEL } from '../dokku-sim/containers.js';
import { STARTED_LINE } from './started.js';

const [configFile, rootId] = process.argv.slice(2);
if (!configFile || !rootId) throw new Error('usage: daemon-process.ts <config file> <simulator root id>');
const { config } = await loadConfig({ path: configFile });
const logger = createLogger({ level: config.log.level });
const daemon = new Daemon({ config, logger, dockerLabels: { [ROOT_LABEL]: rootId } });
// Listening before start: a SIGTERM that arrives while the daemon is still starting stops it cleanly too.
const started = daemon.start();
process.once('SIGTERM', () => {
  void started.then(() => daemon.stop()).finally(() => process.exit(0));
});
await started;
// Tests that must not stop a daemon before it is up wait for this line (DaemonProcess.started()).
process.stdout.write(`${STARTED_LINE}\n`);
