// Durable file replacement: a reader sees either the old complete file or the new complete file, never
// a prefix, even if the machine dies halfway (write a temp file, fsync it, rename it over, fsync the dir).
import { open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** Flushes a directory's entries (a rename is only durable once its directory is synced). */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A sibling temp name for `path`: same directory (so rename is atomic), recognisable, unique. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
}

/** Moves a complete, synced `temp` file over `path` and makes the rename durable. */
export async function commitFile(temp: string, path: string): Promise<void> {
  const handle = await open(temp, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await fsyncDirectory(dirname(path));
}

/** Replaces `path` with `data` atomically and durably. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = tempPathFor(path);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
    await commitFile(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
