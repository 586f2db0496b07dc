// The planner's output: Dokku commands in the order they must run, each with the reason it is needed.
// Plans are plain data, so `otm plan` can print exactly what the executor would run.

import type { ClaimKind, DeferredAction, Phase } from '../engine/status.js';
import { render } from './commands.js';
import type { DokkuCommand } from './commands.js';

/**
 * A precondition the executor checks before running an action. `verified-backup`: the file written by
 * the plan's `postgres:export` action exists and holds a complete dump; if not, this action and every
 * later one must not run.
 */
export type ActionRequirement = 'verified-backup';

export interface PlannedAction {
  command: DokkuCommand;
  /** Why the action is needed, for people. Never contains a secret value. */
  reason: string;
  /** The printable command line (secrets masked). */
  display: string;
  mutating: boolean;
  /** Restarts, stops or rebuilds the app's processes, or resets its data. */
  disruptive: boolean;
  /** For `postgres:export`: the file the executor writes stdout to and verifies before continuing. */
  outputFile?: string;
  requires?: ActionRequirement;
}

export interface Blocked {
  /** CamelCase, for the Stalled condition. */
  reason: string;
  message: string;
}

export interface Plan {
  actions: PlannedAction[];
  /** Actions held back by a freeze window; they run once the window is over. */
  deferred: DeferredAction[];
  /** Look at the instance again at this time even if nothing changes (freeze window end, expiry). */
  requeueAfter?: Date;
  /** The phase the instance is in while (and after) this plan runs. */
  phase: Phase;
  /** Human summary lines: orphaned, expired, waiting for a push, plugin missing… */
  notes: string[];
  /** Set when the planner refuses to touch the instance; `actions` is then empty. */
  blocked?: Blocked;
  /**
   * Claims (the daemon's records of creating an object for the instance) no longer needed: the app
   * carries the marker, or the service is linked to the marked app and to nothing else.
   */
  releaseClaims?: ClaimKind[];
}

export function planned(
  command: DokkuCommand,
  reason: string,
  extra: { disruptive?: boolean; outputFile?: string; requires?: ActionRequirement } = {},
): PlannedAction {
  const rendered = render(command);
  return {
    command,
    reason,
    display: rendered.display,
    mutating: rendered.mutating,
    disruptive: extra.disruptive ?? rendered.disruptive,
    ...(extra.outputFile !== undefined ? { outputFile: extra.outputFile } : {}),
    ...(extra.requires !== undefined ? { requires: extra.requires } : {}),
  };
}
