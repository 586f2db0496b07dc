// What a failed Dokku call means. Dokku signals most failures with exit 1 and a ` !     ` line, so the
// class comes from the exit code where Dokku has a specific one (20, 2, 255 over ssh) and otherwise
// from the message. The message is kept with secrets and URL credentials masked; the printable command never holds a secret.
import { maskOutput } from '../reconcile/commands.js';
import type { ExecResult } from './transport.js';

export type DokkuErrorKind =
  | 'AppMissing'
  | 'ServiceMissing'
  | 'PluginMissing'
  | 'AlreadyExists'
  | 'AlreadyLinked'
  | 'NotLinked'
  | 'DeployLocked'
  | 'NotDeployed'
  | 'NoChanges'
  | 'Transport'
  | 'Timeout'
  | 'Usage'
  | 'Unknown';

const RETRYABLE: Record<DokkuErrorKind, boolean> = {
  AppMissing: false,
  ServiceMissing: false,
  PluginMissing: false,
  AlreadyExists: false,
  AlreadyLinked: false,
  NotLinked: false,
  DeployLocked: true,
  NotDeployed: false,
  NoChanges: false,
  Transport: true,
  Timeout: true,
  Usage: false,
  Unknown: true,
};

const HINTS: Partial<Record<DokkuErrorKind, string>> = {
  PluginMissing: 'install the Dokku plugin that provides this command on the host, or turn off the feature that needs it',
  DeployLocked: 'another deploy holds the lock; it will be retried',
  Transport: 'check that the host is reachable, the key is authorised for the dokku user and the host key is in known_hosts',
  Timeout: 'the command was killed after its time limit; it will be retried',
  Usage: 'Dokku rejected the arguments; correct the value named in the message',
};

export interface CommandIdentity {
  /** Printable form, secrets masked. */
  display: string;
  /** Metrics-safe subcommand name. */
  name: string;
  /** Secret values the command carries, masked in Dokku's message. */
  secrets?: readonly string[];
}

export class DokkuError extends Error {
  override readonly name = 'DokkuError';
  readonly kind: DokkuErrorKind;
  readonly retryable: boolean;
  /** Dokku's own words (the ` !     ` lines, or the raw output when there are none), secrets and URL credentials masked. */
  readonly dokkuMessage: string;
  readonly exitCode: number;
  /** The printable command (secrets masked). */
  readonly command: string;
  readonly host: string;

  constructor(kind: DokkuErrorKind, init: { dokkuMessage: string; exitCode: number; command: string; host: string }) {
    const hint = HINTS[kind];
    super(`\`${init.command}\` on ${init.host} failed (${kind}, exit ${init.exitCode}): ${init.dokkuMessage || '(no message)'}${hint ? ` — ${hint}` : ''}`);
    this.kind = kind;
    this.retryable = RETRYABLE[kind];
    this.dokkuMessage = init.dokkuMessage;
    this.exitCode = init.exitCode;
    this.command = init.command;
    this.host = init.host;
  }
}

const FAIL_PREFIX = /^ ! {5}/;

/** Dokku's failure lines (` !     text`) from stderr and stdout (0.38 merges deploy stderr into stdout). */
export function dokkuMessage(result: Pick<ExecResult, 'stdout' | 'stderr'>): string {
  const lines = `${result.stderr}\n${result.stdout}`.split('\n');
  const marked = lines.filter((l) => FAIL_PREFIX.test(l)).map((l) => l.replace(FAIL_PREFIX, ''));
  if (marked.length > 0) return marked.join('\n');
  const stderr = result.stderr.trim();
  if (stderr) return stderr;
  return result.stdout.trim().split('\n').slice(-5).join('\n');
}

const BY_MESSAGE: Array<[RegExp, DokkuErrorKind]> = [
  [/is not a dokku command/, 'PluginMissing'],
  [/currently has a deploy lock in place/, 'DeployLocked'],
  [/Failed to acquire ps:retire lock/, 'DeployLocked'],
  [/No changes detected/, 'NoChanges'],
  [/^(Postgres|Redis) service \S+ does not exist/m, 'ServiceMissing'],
  [/^App \S* does not exist/m, 'AppMissing'],
  [/Already linked as /, 'AlreadyLinked'],
  [/Not linked to app |is not linked to /, 'NotLinked'],
  [/Name is already taken|service \S+ already exists|already has permissions|Duplicate SSH Key name/, 'AlreadyExists'],
  [/has not been deployed|Invalid image stage detected|Cannot build from '.*' as there are no commits/, 'NotDeployed'],
  [
    /Invalid flag passed|unknown flag|unknown shorthand flag|Please specify|Invalid env pair|Invalid key name|At least one (env pair|key) must be given|is invalid\. exiting|App name must|must be run as root|^Expected: |Unexpected argument|Unknown export format|illegal base64|is not a valid process name|Invalid count|Missing count|You can only modify ACL using local dokku command|Cannot delete linked service|valid name for the service|Format must be|--format flag cannot be specified|Missing GIT_REMOTE|Invalid ssh public key|cannot be manually scaled|Access denied/m,
    'Usage',
  ],
];

/**
 * The class of a finished call, or undefined when it succeeded. `transportKind` matters for exit 255,
 * which only the ssh client produces.
 */
export function classify(result: ExecResult, transportKind: 'local' | 'ssh'): { kind: DokkuErrorKind; message: string } | undefined {
  if (result.stdinError !== undefined) return { kind: 'Transport', message: `its standard input broke off (${result.stdinError}); the command was killed` };
  if (result.timedOut) return { kind: 'Timeout', message: `no answer within the time limit${result.stderr.trim() ? `: ${result.stderr.trim()}` : ''}` };
  if (result.aborted) return { kind: 'Timeout', message: 'cancelled before it finished' };
  if (result.spawnError) return { kind: 'Transport', message: result.spawnError };
  if (result.code === 0) return undefined;
  const message = dokkuMessage(result);
  if (transportKind === 'ssh' && result.code === 255) return { kind: 'Transport', message };
  if (result.code === 20) return { kind: 'AppMissing', message };
  for (const [pattern, kind] of BY_MESSAGE) {
    if (pattern.test(message)) return { kind, message };
  }
  // pflag parse errors of Go subcommands.
  if (result.code === 2) return { kind: 'Usage', message };
  if (result.code === 137) return { kind: 'DeployLocked', message };
  return { kind: 'Unknown', message };
}

export function toDokkuError(result: ExecResult, transportKind: 'local' | 'ssh', command: CommandIdentity, host: string): DokkuError | undefined {
  const c = classify(result, transportKind);
  if (!c) return undefined;
  // Dokku's output is untrusted and may echo what it was given: it is masked before anything keeps it.
  return new DokkuError(c.kind, { dokkuMessage: maskOutput(c.message, command.secrets), exitCode: result.code, command: command.display, host });
}
