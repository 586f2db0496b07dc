// The Prometheus tools the tests run (Debian's `prometheus` package) and the files under prometheus/.
// A missing binary fails the test with what to install: nothing is skipped.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const PROMETHEUS_DIR = fileURLToPath(new URL('../../prometheus/', import.meta.url));
export const OPERATIONS_DOC = fileURLToPath(new URL('../../docs/operations.md', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a binary to the end, stdin optional; a binary that is not installed throws what to install. */
export function runTool(binary: 'promtool' | 'prometheus', args: readonly string[], stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary, args, { maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
        reject(new Error(`${binary} is not installed: install the Debian package prometheus (apt-get install prometheus)`));
        return;
      }
      resolve({ code: typeof err?.code === 'number' ? err.code : err ? 1 : 0, stdout, stderr });
    });
    child.stdin?.end(stdin ?? '');
  });
}

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** The rules of one rule file under prometheus/, every group's in order. */
export async function rulesOf(file: 'alerts.yml' | 'recording.yml'): Promise<Rule[]> {
  const doc = parse(await readFile(`${PROMETHEUS_DIR}${file}`, 'utf8')) as { groups: Array<{ rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

/** Replaces `from` in a shipped file's text, failing if the file no longer contains it. */
export function substitute(file: string, text: string, from: string | RegExp, to: string): string {
  const replaced = text.replace(from, to);
  if (replaced === text) throw new Error(`${file} no longer contains ${String(from)}`);
  return replaced;
}
