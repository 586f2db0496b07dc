// Stand-ins for the daemon's parts that the HTTP tests do not exercise.
import type { InstanceEvent, InstanceStatus, StatusStore } from '../../src/engine/status.js';

/** A status store that holds nothing (and takes every write), with any method replaced by `overrides`. */
export function emptyStatus(overrides: Partial<StatusStore> = {}): StatusStore {
  return {
    get: async (): Promise<InstanceStatus | undefined> => undefined,
    list: async (): Promise<InstanceStatus[]> => [],
    put: async () => undefined,
    remove: async () => undefined,
    record: async () => undefined,
    events: async (): Promise<InstanceEvent[]> => [],
    claims: async () => [],
    putClaim: async () => undefined,
    dropClaim: async () => undefined,
    dropClaims: async () => undefined,
    close: async () => undefined,
    ...overrides,
  };
}
