// The ssh transport: the system OpenSSH client, one multiplexed connection per host (ControlMaster),
// no prompts (BatchMode), host keys checked. Dokku's forced command receives the argv as ONE string
// and re-splits it: with `xargs` (quotes honoured) for most commands, with plain word splitting (quotes
// NOT removed) for commands whose name contains `git`. So every word is POSIX-quoted, words for `git*`
// commands must need no quoting at all, and no word may hold a newline (xargs would drop the rest).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_OUTPUT_CAP, runProcess } from './transport.js';
import type { ExecOptions, ExecResult, Transport } from './transport.js';

export interface SshTransportOptions {
  host: string;
  /** Dokku's ssh user (default `dokku`). */
  user?: string;
  port?: number;
  /** Private key for the dokku user (`-i`, with IdentitiesOnly). Default: the ssh client's own choice. */
  identityFile?: string;
  /** known_hosts holding the host's key; host key checking is always strict. */
  knownHostsFile?: string;
  /** Directory for the ControlMaster socket (default: a private temporary directory). */
  controlDir?: string;
  /** Seconds the master connection stays up after the last command (default 60). */
  controlPersistSeconds?: number;
  connectTimeoutSeconds?: number;
  /** Path of the ssh client (default `ssh` from PATH). */
  sshPath?: string;
  /** ssh_config file (`-F`); `/dev/null` ignores the user's and the system's client configuration. */
  configFile?: string;
  outputCap?: number;
}

/** A word that cannot be delivered to Dokku intact over ssh. */
export class UnsendableArgumentError extends Error {
  override readonly name = 'UnsendableArgumentError';
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
/** Words GNU `echo` takes as options when they stand alone. */
const ECHO_OPTION = /^(-[neE]+|--help|--version)$/;

/** Quote one word so that a POSIX shell and GNU `xargs` both read it back unchanged. */
export function posixQuote(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The single command string sent to `dokku@host`, or an error for words that would not survive. */
export function remoteCommand(argv: string[]): string {
  const command = argv.find((word) => !word.startsWith('--')) ?? '';
  const wordSplitOnly = command.includes('git');
  for (const word of argv) {
    if (/[\n\r\0]/.test(word)) {
      throw new UnsendableArgumentError(
        `the argument ${JSON.stringify(word.slice(0, 40))} of \`${command}\` holds a line break, which Dokku's ssh ` +
        'command splitting would cut off; send such values through `config:set --encoded`');
    }
    if (ECHO_OPTION.test(word)) {
      throw new UnsendableArgumentError(
        `the argument ${JSON.stringify(word)} of \`${command}\` would be swallowed: Dokku re-splits ssh commands with ` +
        '`xargs -n 1`, whose `echo` reads it as its own option');
    }
    if (wordSplitOnly && !SAFE_WORD.test(word)) {
      throw new UnsendableArgumentError(
        `the argument ${JSON.stringify(word)} of \`${command}\` needs quoting, but Dokku passes \`git*\` commands ` +
        'received over ssh through plain word splitting; use a value without spaces, quotes or shell characters');
    }
  }
  return argv.map(posixQuote).join(' ');
}

export class SshTransport implements Transport {
  readonly kind = 'ssh' as const;
  readonly description: string;
  private readonly options: SshTransportOptions;
  private controlDir: string | undefined;
  private ownsControlDir = false;
  private readonly outputCap: number;

  constructor(options: SshTransportOptions) {
    this.options = options;
    this.controlDir = options.controlDir;
    this.outputCap = options.outputCap ?? DEFAULT_OUTPUT_CAP;
    this.description = `ssh ${this.destination()}:${options.port ?? 22}`;
  }

  private destination(): string {
    return `${this.options.user ?? 'dokku'}@${this.options.host}`;
  }

  private async socketDir(): Promise<string> {
    if (!this.controlDir) {
      this.controlDir = await mkdtemp(join(tmpdir(), 'otm-ssh-'));
      this.ownsControlDir = true;
    }
    return this.controlDir;
  }

  /** The ssh options shared by commands and by `-O exit`. */
  private async baseArgs(): Promise<string[]> {
    const o = this.options;
    const args = [
      ...(o.configFile ? ['-F', o.configFile] : []),
      '-o', 'BatchMode=yes',
      '-o', 'ControlMaster=auto',
      '-o', `ControlPath=${join(await this.socketDir(), '%C')}`,
      '-o', `ControlPersist=${o.controlPersistSeconds ?? 60}`,
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `ConnectTimeout=${o.connectTimeoutSeconds ?? 10}`,
      '-T',
    ];
    if (o.knownHostsFile) args.push('-o', `UserKnownHostsFile=${o.knownHostsFile}`);
    if (o.identityFile) args.push('-i', o.identityFile, '-o', 'IdentitiesOnly=yes');
    args.push('-p', String(o.port ?? 22));
    return args;
  }

  private async spec(argv: string[]) {
    const command = remoteCommand(argv);
    return {
      file: this.options.sshPath ?? 'ssh',
      args: [...(await this.baseArgs()), this.destination(), '--', command],
      outputCap: this.outputCap,
    };
  }

  async exec(argv: string[], opts: ExecOptions): Promise<ExecResult> {
    return runProcess(await this.spec(argv), opts);
  }

  async execToFile(argv: string[], path: string, opts: ExecOptions): Promise<ExecResult> {
    return runProcess(await this.spec(argv), opts, path);
  }

  /** Ask the master connection to exit and remove its socket directory. */
  async close(): Promise<void> {
    if (!this.controlDir) return;
    await runProcess(
      { file: this.options.sshPath ?? 'ssh', args: [...(await this.baseArgs()), '-O', 'exit', this.destination()], outputCap: 64 * 1024 },
      { timeoutMs: 10_000 },
    );
    if (this.ownsControlDir) {
      await rm(this.controlDir, { recursive: true, force: true });
      this.controlDir = undefined;
      this.ownsControlDir = false;
    }
  }
}
