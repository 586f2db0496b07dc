// `otm secrets rotate`: re-encrypts every secret stored through the API with the first key of
// secrets.keyFile. The procedure: prepend a new key line to the file, restart (or reload) the daemons,
// run this, then remove the old line (docs/operations.md).
import type { Command } from 'commander';
import { loadConfig, redactUrl } from '../../config.js';
import { localActor } from './people.js';

interface SecretsOptions {
  config?: string;
}

export function registerSecrets(program: Command): void {
  const secrets = program.command('secrets').description('the encrypted secrets stored through the API');
  secrets
    .command('rotate')
    .description('re-encrypt every stored secret with the first key of secrets.keyFile (in one transaction)')
    .action(async (_options: SecretsOptions, command: Command) => {
      const options = command.optsWithGlobals<SecretsOptions>();
      const { config, file } = await loadConfig(options.config !== undefined ? { path: options.config } : {});
      const where = file ?? 'the built-in configuration';
      if (!config.postgresUrl) throw new Error(`no database: ${where} sets no postgresUrl, so no secrets are stored`);
      if (!config.secrets.keyFile) throw new Error(`no key file: ${where} sets no secrets.keyFile; set it to the file holding the keys`);
      const [{ loadKeyring, SecretStore }, { createPool }, { migrate }] = await Promise.all([
        import('../../desired/secret-store.js'), import('../../store/pool.js'), import('../../store/migrate.js'),
      ]);
      const keyring = await loadKeyring(config.secrets.keyFile);
      const pool = createPool(config.postgresUrl, { max: 1, applicationName: 'otm-secrets-rotate' });
      try {
        await migrate(pool);
        const { rotated, keyId } = await new SecretStore(pool, keyring).rotate(localActor());
        process.stdout.write(`${redactUrl(config.postgresUrl)}: ${rotated} secret${rotated === 1 ? '' : 's'} re-encrypted with key ${keyId}; `
          + `older keys in ${config.secrets.keyFile} are no longer needed and can be removed\n`);
      } finally {
        await pool.end();
      }
    });
}
