// Participant labels as people paste them (one per line, or separated by commas or white space) or
// upload them (oTree's labels file: one per line), checked as oTree checks them.

/** oTree accepts letters, digits and underscores in a participant label. */
const LABEL = /^[A-Za-z0-9_]+$/;

export interface ParsedLabels {
  /** In their order, each once: oTree drops duplicates too. */
  labels: string[];
  /** Entries oTree would refuse, as written. */
  invalid: string[];
}

export function parseLabels(text: string): ParsedLabels {
  const labels: string[] = [];
  const invalid: string[] = [];
  const seen = new Set<string>();
  for (const entry of text.split(/[\s,;]+/)) {
    if (entry === '') continue;
    if (!LABEL.test(entry)) {
      invalid.push(entry);
      continue;
    }
    if (seen.has(entry)) continue;
    seen.add(entry);
    labels.push(entry);
  }
  return { labels, invalid };
}

/** The lines of a project's settings.py that take the rooms the manager declares (OTM_ROOMS, oTree's ROOMS shape). */
export const SETTINGS_SNIPPET = [
  'import json, os',
  "ROOMS = json.loads(os.environ.get('OTM_ROOMS', '[]'))",
].join('\n');
