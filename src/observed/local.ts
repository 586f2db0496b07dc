// The local transport: the `dokku` binary on this machine, started with an argv (no shell). The daemon
// user must be `dokku`, root, or allowed to `sudo -u dokku` (dokku re-execs itself through sudo).
import { DEFAULT_OUTPUT_CAP, runProcess } from './transport.js';
import type { ExecOptions, ExecResult, Transport } from './transport.js';

export interface LocalTransportOptions {
  /** Path of the dokku executable (default `dokku` from PATH). */
  dokkuPath?: string;
  /** Extra environment for the process, on top of the daemon's own. */
  env?: Record<string, string>;
  /** Cap on captured stdout and on stderr, each (default 16 MiB). */
  outputCap?: number;
}

export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  readonly description: string;
  private readonly dokkuPath: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly outputCap: number;

  constructor(options: LocalTransportOptions = {}) {
    this.dokkuPath = options.dokkuPath ?? 'dokku';
    this.env = { ...process.env, ...options.env };
    this.outputCap = options.outputCap ?? DEFAULT_OUTPUT_CAP;
    this.description = `local dokku (${this.dokkuPath})`;
  }

  exec(argv: string[], opts: ExecOptions): Promise<ExecResult> {
    return runProcess({ file: this.dokkuPath, args: argv, env: this.env, outputCap: this.outputCap }, opts);
  }

  execToFile(argv: string[], path: string, opts: ExecOptions): Promise<ExecResult> {
    return runProcess({ file: this.dokkuPath, args: argv, env: this.env, outputCap: this.outputCap }, opts, path);
  }

  async close(): Promise<void> {
    // Nothing is kept open between calls.
  }
}
