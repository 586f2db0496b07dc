// Kubernetes condition bookkeeping: a condition's lastTransitionTime records when its status last
// changed, not when it was last written, so "Ready=False since 09:02" survives every later reconcile.
import type { Condition } from './status.js';

/**
 * Returns `conditions` with `next` set (added at the end if its type is new). The transition time moves
 * to `now` only when the status changes; reason and message always take the new values.
 */
export function setCondition(conditions: readonly Condition[], next: Omit<Condition, 'lastTransitionTime'>, now: Date): Condition[] {
  const current = conditions.find((c) => c.type === next.type);
  const lastTransitionTime = current && current.status === next.status ? current.lastTransitionTime : now.toISOString();
  const updated: Condition = { ...next, lastTransitionTime };
  return current ? conditions.map((c) => (c === current ? updated : c)) : [...conditions, updated];
}
