// How a Dokku command reaches its host. A transport runs one argv (never through a local shell),
// bounds it in time and output, and reports what happened; deciding what the outcome means is the
// driver's job (errors.ts).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Readable } from 'node:stream';

export interface ExecOptions {
  /**
   * Standard input: bytes, or a stream piped into the process as it arrives (an uploaded archive; never
   * buffered whole). stdin is closed (EOF) when absent, so nothing ever waits on a prompt. A stream that
   * fails kills the process: a truncated archive must not be deployed.
   */
  stdin?: string | Buffer | Readable;
  /** The process (and everything it started) is killed when this elapses. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  /** Exit status; 128 + signal number when the process was killed by a signal; -1 when it never started. */
  code: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  /** The caller's AbortSignal fired and the process was killed. */
  aborted: boolean;
  /** stdout or stderr exceeded the cap; the kept part is the beginning. */
  truncated: boolean;
  /** Why the process could not be started (e.g. the binary is missing). */
  spawnError?: string;
  /** The stdin stream failed (the upload was cut off) and the process was killed. */
  stdinError?: string;
}

export interface Transport {
  /** `local` or `ssh`: error classification differs (255 means a broken connection only for ssh). */
  readonly kind: 'local' | 'ssh';
  /** Where commands go, for messages: `local dokku (/usr/bin/dokku)`, `ssh dokku@host:22`. */
  readonly description: string;
  exec(argv: string[], opts: ExecOptions): Promise<ExecResult>;
  /** Like exec, but stdout is streamed into `path` (for dumps larger than any in-memory cap). */
  execToFile(argv: string[], path: string, opts: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}

export const DEFAULT_OUTPUT_CAP = 16 * 1024 * 1024;

export interface SpawnSpec {
  file: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  outputCap: number;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Kill the whole process group: dokku re-execs itself through sudo/bash, ssh may fork helpers. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

class CappedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    const room = this.cap - this.size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept !== chunk) this.truncated = true;
    this.chunks.push(kept);
    this.size += kept.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * Run one process in its own process group with a deadline. When `stdoutPath` is given, stdout goes
 * to that file instead of memory.
 */
export async function runProcess(spec: SpawnSpec, opts: ExecOptions, stdoutPath?: string): Promise<ExecResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const stdout = new CappedBuffer(spec.outputCap);
  const stderr = new CappedBuffer(spec.outputCap);
  const file = stdoutPath ? createWriteStream(stdoutPath, { mode: 0o600 }) : undefined;
  if (file) await once(file, 'open');

  if (opts.signal?.aborted) {
    file?.destroy();
    return { code: -1, stdout: '', stderr: '', durationMs: 0, timedOut: false, aborted: true, truncated: false };
  }

  const child = spawn(spec.file, spec.args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    env: spec.env ?? process.env,
    shell: false,
  });
  let timedOut = false;
  let aborted = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, opts.timeoutMs);
  const onAbort = () => {
    aborted = true;
    killGroup(child.pid);
  };
  let stdinError: string | undefined;
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  // Once a killed process is gone, stop waiting for its output: an ssh multiplexing master holds the
  // client's pipes for as long as the remote command runs, which may be forever.
  child.once('exit', () => {
    if (timedOut || aborted) {
      child.stdout.destroy();
      child.stderr.destroy();
    }
  });
  if (file) child.stdout.pipe(file);
  else child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  // A remote side that exits before reading stdin makes the write fail with EPIPE: that is not our error.
  child.stdin.on('error', () => {});
  const input = opts.stdin;
  const stream = typeof input === 'object' && !Buffer.isBuffer(input) ? input : undefined;
  if (stream) {
    stream.once('error', (err: Error) => {
      stdinError = err.message;
      killGroup(child.pid);
    });
    stream.pipe(child.stdin);
  } else {
    child.stdin.end(input ?? '');
  }

  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c: number | null, s: NodeJS.Signals | null) => resolve([c, s]));
    });
    if (stream) {
      // What the process did not read is drained, so that whoever sends it (an HTTP client) gets the answer.
      stream.unpipe(child.stdin);
      if (!stream.readableEnded && !stream.destroyed) stream.resume();
    }
    if (file) {
      if (timedOut || aborted || stdinError !== undefined) file.destroy();
      else if (!file.closed) await once(file, 'close');
    }
    return {
      code: code ?? 128 + (signal ? SIGNALS[signal] ?? 0 : 0),
      stdout: stdout.text(),
      stderr: stderr.text(),
      durationMs: elapsed(),
      timedOut,
      aborted,
      truncated: stdout.truncated || stderr.truncated,
      ...(stdinError !== undefined ? { stdinError } : {}),
    };
  } catch (err) {
    file?.destroy();
    return {
      code: -1, stdout: '', stderr: '', durationMs: elapsed(), timedOut: false, aborted: false, truncated: false,
      spawnError: (err as Error).message,
    };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
