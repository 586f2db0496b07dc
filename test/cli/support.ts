// Running the otm command as a user does: a child process, its exit code and both outputs.
import { execFile } from 'node:child_process';
import path from 'node:path';

const repo = path.join(import.meta.dirname, '../..');
const main = path.join(repo, 'src/cli/main.ts');
// Resolved here so that the command also runs from a working directory outside the repository.
const tsx = import.meta.resolve('tsx');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `input`, when given, is written to the command's stdin, which is then closed. */
export function otm(args: string[], options: { cwd?: string; env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', tsx, main, ...args], {
      cwd: options.cwd ?? repo,
      // No saved `otm login` of the machine's user reaches a test unless it makes one in its own directory.
      env: { ...process.env, OTM_CONFIG: '', NO_COLOR: '', XDG_CONFIG_HOME: path.join(repo, '.no-saved-login'), ...options.env },
    }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code) : 0, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** The repository's root, for paths of shipped files. */
export const REPO = repo;
