// Files that hold a credential (the API token, the mail relay's password): read whole, and refused when
// every user of the machine may read them, since anyone could then use the credential.
import { readFile, stat } from 'node:fs/promises';

export interface PrivateFileRole {
  /** What the file is, for messages: "the API token file". */
  what: string;
  /** The configuration field that names it: "http.tokenFile". */
  setting: string;
  /** Who alone should read it: "the daemon". */
  reader: string;
  /** How to make the file when it is missing: "create it with a random token, e.g. `openssl rand -hex 32`". */
  create: string;
}

/** The file's text. Throws, naming the file and its setting, when it is missing or readable by every user. */
export async function readPrivateFile(file: string, role: PrivateFileRole): Promise<string> {
  const label = `${role.what} ${file} (${role.setting})`;
  try {
    const { mode } = await stat(file);
    if ((mode & 0o004) !== 0) {
      throw new Error(`${label} is readable by every user of this machine (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); `
        + `make it readable by ${role.reader} only: \`chmod 0640 ${file}\` (owner root, group of ${role.reader}'s user) or \`chmod 0600\``);
    }
    return await readFile(file, 'utf8');
  } catch (err) {
    if (!(err as NodeJS.ErrnoException).code) throw err;
    throw new Error(`cannot read ${label}: ${(err as NodeJS.ErrnoException).code}; ${role.create}, readable by ${role.reader} only`);
  }
}
