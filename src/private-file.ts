// Files that hold a credential (the API token, a client secret, a mail password). Whoever can read
// one can act with it, so a file that every user of the machine may read is refused, and the error
// names the file and its setting and says how to fix it, never what the file holds.
import { readFile, stat } from 'node:fs/promises';

export interface PrivateFile {
  path: string;
  /** What the file is, for messages: "the API token file". */
  what: string;
  /** The configuration setting that names it: "http.tokenFile". */
  setting: string;
  /** How to make the file when it is missing: "create it with a random token, e.g. …". */
  howToCreate: string;
}

class ReadableByOthers extends Error {}

/** The file's text, unchanged; refuses a file that every user may read. */
export async function readPrivateFile({ path, what, setting, howToCreate }: PrivateFile): Promise<string> {
  try {
    const { mode } = await stat(path);
    if ((mode & 0o004) !== 0) {
      throw new ReadableByOthers(`${what} ${path} (${setting}) is readable by every user of this machine (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); `
        + `make it readable only by the user otree-manager runs as: \`chmod 0640 ${path}\` (owner root, group of that user) or \`chmod 0600\``);
    }
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof ReadableByOthers || !code) throw err;
    throw new Error(`cannot read ${what} ${path} (${setting}): ${code}; ${howToCreate}`);
  }
}
