// An uploaded archive's build, outside any plan: `git:from-archive --archive-type <type> <app> --` with the
// upload as its standard input, on the instance's host, under the host's rate limit and concurrency and
// the daemon's leadership, and only for an app the daemon manages. Dokku's deploy lock decides between
// concurrent builds (a held lock is refused, as Dokku refuses it); the build's output comes back masked.
import type { Readable } from 'node:stream';
import { isPrintableConfigKey, maskOutput } from '../reconcile/commands.js';
import type { ArchiveType } from '../reconcile/commands.js';
import type { ExecResult } from '../observed/transport.js';
import type { ObservedApp } from '../observed/types.js';

export interface ArchiveBuildInput {
  stream: Readable;
  type: ArchiveType;
  /** Who uploaded it, for the instance's event. */
  by: string;
}

export interface ArchiveBuild {
  host: string;
  success: boolean;
  exitCode: number;
  /** The driver's class of the failure (DeployLocked, NoChanges, Timeout, …); absent on success. */
  failure?: string;
  message: string;
  durationMs: number;
  output: { stdout: string[]; stderr: string[]; truncated: boolean };
}

export type ArchiveRefusalReason = 'NotDeclared' | 'NotLeader' | 'UnknownHost' | 'NotCreated' | 'Frozen' | 'DeployLocked';

/** The build was not run (or Dokku refused to start it): why, in words for the uploader. */
export class ArchiveRefused extends Error {
  override readonly name = 'ArchiveRefused';
  constructor(readonly reason: ArchiveRefusalReason, message: string) {
    super(message);
  }
}

/** Values short enough to occur by chance ("1", "true") are not masked: they are not secrets worth the noise. */
const MIN_MASKED_LENGTH = 6;

/** The app's secret config values: a build may echo its environment, and nothing keeps them. */
export function configSecrets(app: ObservedApp): string[] {
  return Object.entries(app.config)
    .filter(([key, value]) => !isPrintableConfigKey(key) && value.length >= MIN_MASKED_LENGTH)
    .map(([, value]) => value);
}

function lines(text: string): string[] {
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return all;
}

/** The build's answer from what the command printed, masked with `secrets`. */
export function archiveBuild(host: string, result: ExecResult, failure: { kind: string; message: string } | undefined, secrets: readonly string[]): ArchiveBuild {
  const mask = (text: string) => maskOutput(text, secrets);
  return {
    host,
    success: failure === undefined,
    exitCode: result.code,
    ...(failure ? { failure: failure.kind } : {}),
    message: failure ? mask(failure.message) : 'the archive was built and deployed',
    durationMs: result.durationMs,
    output: { stdout: lines(mask(result.stdout)), stderr: lines(mask(result.stderr)), truncated: result.truncated },
  };
}
