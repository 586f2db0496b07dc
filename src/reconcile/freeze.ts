// Freeze windows: declared live-session periods during which nothing may restart or reset an instance.
// A window covers [from, to): it starts at `from` and is over at `to`.

import type { FreezeWindow } from '../manifest/types.js';

interface Span {
  from: number;
  to: number;
}

function spans(windows: readonly FreezeWindow[]): Span[] {
  return windows
    .map((w) => ({ from: Date.parse(w.from), to: Date.parse(w.to) }))
    .filter((s) => Number.isFinite(s.from) && Number.isFinite(s.to) && s.from < s.to)
    .sort((a, b) => a.from - b.from);
}

/** True when `now` lies inside one of the windows. */
export function isInFreezeWindow(windows: readonly FreezeWindow[], now: Date): boolean {
  return freezeEnd(windows, now) !== undefined;
}

/**
 * When the freeze that covers `now` is over, or undefined when `now` is outside every window.
 * Overlapping or back-to-back windows count as one freeze: deferring to the first window's end would
 * only wake the instance up to defer again.
 */
export function freezeEnd(windows: readonly FreezeWindow[], now: Date): Date | undefined {
  const t = now.getTime();
  let end: number | undefined;
  for (const s of spans(windows)) {
    if (end === undefined) {
      if (s.from <= t && t < s.to) end = s.to;
    } else if (s.from <= end) {
      end = Math.max(end, s.to);
    }
  }
  return end === undefined ? undefined : new Date(end);
}
