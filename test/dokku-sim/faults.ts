// Fault injection, from the environment and from $DOKKU_SIM_ROOT/faults.json (re-read on every call,
// so a test can change faults while a daemon keeps calling). The file wins over the environment.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Faults {
  /** Probability (0..1) that a call fails before doing anything, like a dropped connection would. */
  failRate: number;
  /** Added to every call. */
  latencyMs: number;
  /** Calls whose argv (joined by spaces) matches this regex never return. */
  hang?: RegExp;
  /** Apps whose deploy lock is held by a build that never ends. */
  lockedApps: string[];
}

interface FaultsFile {
  failRate?: number;
  latencyMs?: number;
  hang?: string;
  lockedApps?: string[];
}

export function loadFaults(root: string, env: NodeJS.ProcessEnv): Faults {
  let file: FaultsFile = {};
  try {
    file = JSON.parse(readFileSync(join(root, 'faults.json'), 'utf8')) as FaultsFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${join(root, 'faults.json')} is not valid JSON: ${(err as Error).message}`);
  }
  const hang = file.hang ?? env.DOKKU_SIM_HANG;
  const rate = file.failRate ?? Number(env.DOKKU_SIM_FAIL_RATE ?? 0);
  const latency = file.latencyMs ?? Number(env.DOKKU_SIM_LATENCY_MS ?? 0);
  if (!(rate >= 0 && rate <= 1)) throw new Error(`DOKKU_SIM_FAIL_RATE must be between 0 and 1, got ${String(rate)}`);
  if (!(latency >= 0)) throw new Error(`DOKKU_SIM_LATENCY_MS must be a number of milliseconds, got ${String(latency)}`);
  return {
    failRate: rate,
    latencyMs: latency,
    ...(hang ? { hang: new RegExp(hang) } : {}),
    lockedApps: file.lockedApps ?? (env.DOKKU_SIM_LOCKED_APPS ? env.DOKKU_SIM_LOCKED_APPS.split(',') : []),
  };
}
