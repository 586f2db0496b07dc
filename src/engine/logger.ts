// The root logger. The destination is passed in (stdout in the daemon, a capture in tests), and every
// field that can carry a secret is redacted wherever it sits in a logged object, up to a few levels deep:
// admin passwords, env and config maps, config:set pairs and raw argv (which holds the base64 of secret
// values; log a command's masked `display` instead).
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Field names whose values are never written to a log. */
export const SECRET_FIELDS = [
  'password', 'adminPassword', 'secret', 'secrets', 'token', 'value', 'env', 'config', 'pairs', 'argv', 'stdin',
  'dsn', 'url', 'databaseUrl', 'DATABASE_URL', 'REDIS_URL', 'OTREE_ADMIN_PASSWORD', 'authorization', 'privateKey',
] as const;

/** How deep below the top a secret field is still found (pino paths need one wildcard per level). */
const REDACT_DEPTH = 4;

export const REDACTED = '[redacted]';

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const field of SECRET_FIELDS) {
    for (let depth = 0; depth <= REDACT_DEPTH; depth++) paths.push([...Array<string>(depth).fill('*'), field].join('.'));
  }
  return paths;
}

export interface LoggerOptions {
  /** @default 'info' */
  level?: string;
  /** Where JSON lines go. @default standard output */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new TypeError(`log level "${level}" is not one of ${LOG_LEVELS.join(', ')}; fix the logLevel setting`);
  }
  return pino(
    {
      level,
      base: { name: 'otree-manager' },
      redact: { paths: redactPaths(), censor: REDACTED },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination ?? pino.destination(1),
  );
}

/** A child logger whose every line names the instance and the reconcile it belongs to. */
export function reconcileLogger(root: Logger, instance: string, reconcileId: string): Logger {
  return root.child({ instance, reconcileId });
}
