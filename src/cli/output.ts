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

/** Left-aligned columns separated by two spaces; the header row is bold. */
export function table(headers: string[], rows: string[][], paint: Painter): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [paint('bold', line(headers)), ...rows.map(line)].join('\n');
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
