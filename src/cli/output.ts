// Shared helpers for the otm command's output: colours only on a terminal, aligned tables, issue lines
// and YAML of objects with their secrets masked.
import { stringify } from 'yaml';
import { formatIssue, maskSecrets } from '../manifest/index.js';
import type { ManifestIssue, ManifestObject } from '../manifest/index.js';

export type Colour = 'red' | 'yellow' | 'green' | 'bold' | 'dim';

const CODES: Record<Colour, [number, number]> = { red: [31, 39], yellow: [33, 39], green: [32, 39], bold: [1, 22], dim: [2, 22] };

export interface Painter {
  (colour: Colour, text: string): string;
}

/** Colours text for `stream` when it is a terminal and NO_COLOR is not set; otherwise returns it unchanged. */
export function painter(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): Painter {
  const enabled = stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
  return (colour, text) => {
    if (!enabled) return text;
    const [open, close] = CODES[colour];
    return `\u001b[${open}m${text}\u001b[${close}m`;
  };
}

/** Chooses a cell's colour (or none); cells are padded before they are painted, so columns stay aligned. */
export type CellColour = (row: readonly string[], column: number) => Colour | undefined;

/** Left-aligned columns separated by two spaces; the header row is bold. */
export function table(headers: string[], rows: string[][], paint: Painter, colour?: CellColour): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[], colourOf: (column: number) => Colour | undefined) => cells
    .map((cell, column) => {
      const padded = column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0);
      const chosen = colourOf(column);
      return chosen ? paint(chosen, padded) : padded;
    })
    .join('  ')
    .trimEnd();
  return [line(headers, () => 'bold'), ...rows.map((row) => line(row, (column) => colour?.(row, column)))].join('\n');
}

/** How long ago `iso` was, kubectl style: 45s, 12m, 3h, 2d; `<unknown>` for no time. */
export function age(iso: string | undefined, now: Date): string {
  const then = iso === undefined ? NaN : Date.parse(iso);
  if (Number.isNaN(then)) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now.getTime() - then) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** One issue per line, `file:line:col path: message`, errors in red and warnings in yellow. */
export function issueLines(issues: readonly ManifestIssue[], paint: Painter): string[] {
  return issues.map((issue) => paint(issue.severity === 'error' ? 'red' : 'yellow', formatIssue(issue)));
}

/** `n thing` / `n things`. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** The objects as a multi-document YAML stream, every secret value masked. */
export function objectsAsYaml(objects: readonly ManifestObject[]): string {
  return objects.map((object) => stringify(maskSecrets(object), { lineWidth: 0 })).join('---\n');
}

/** The colour of an instance phase or a condition status wherever the otm command shows one. */
export function stateColour(value: string): Colour | undefined {
  switch (value) {
    case 'Running': case 'True': return 'green';
    case 'Failed': case 'Orphaned': case 'False': return 'red';
    case 'Pending': case 'Deploying': case 'Deleting': case 'Unknown': return 'yellow';
    default: return undefined;
  }
}

/** A unified diff of two texts (`---`/`+++` headers, `@@` hunks with `context` lines); empty when equal. */
export function unifiedDiff(before: string, after: string, labels: { before: string; after: string }, context = 3): string {
  if (before === after) return '';
  const a = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const b = after === '' ? [] : after.replace(/\n$/, '').split('\n');
  // Longest common subsequence table from the end: manifests are short, so quadratic is fine.
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  type Line = { op: ' ' | '-' | '+'; text: string; i: number; j: number };
  const script: Line[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) script.push({ op: ' ', text: a[i]!, i: i++, j: j++ });
    // Removals before additions, as diff(1) prints them.
    else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) script.push({ op: '-', text: a[i]!, i: i++, j });
    else script.push({ op: '+', text: b[j]!, i, j: j++ });
  }
  const out = [`--- ${labels.before}`, `+++ ${labels.after}`];
  let k = 0;
  while (k < script.length) {
    const firstChange = script.findIndex((line, index) => index >= k && line.op !== ' ');
    if (firstChange === -1) break;
    const start = Math.max(k, firstChange - context);
    let end = firstChange;
    // Extend the hunk while the next change is within 2·context unchanged lines.
    for (let scan = firstChange; scan < script.length; scan++) {
      if (script[scan]!.op !== ' ') end = scan;
      else if (scan - end > 2 * context) break;
    }
    const stop = Math.min(script.length, end + context + 1);
    const hunk = script.slice(start, stop);
    const oldCount = hunk.filter((line) => line.op !== '+').length;
    const newCount = hunk.filter((line) => line.op !== '-').length;
    const oldStart = oldCount === 0 ? hunk[0]!.i : hunk[0]!.i + 1;
    const newStart = newCount === 0 ? hunk[0]!.j : hunk[0]!.j + 1;
    out.push(`@@ -${oldStart},${oldCount} +${newStart},${newCount} @@`);
    for (const line of hunk) out.push(`${line.op}${line.text}`);
    k = stop;
  }
  return `${out.join('\n')}\n`;
}
