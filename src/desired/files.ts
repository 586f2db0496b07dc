// Manifests on disk: walks directories (following symlinks, each real directory once), reads every
// *.yaml / *.yml file in a stable order and hands the text to the pure parser.
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { MAX_MANIFEST_BYTES, checkCollection, makeIssue, parseManifests } from '../manifest/index.js';
import type { CollectionOptions, ManifestIssue, ParseResult } from '../manifest/index.js';

export interface LoadOptions extends CollectionOptions {
  /** Sources in issues and origins are written relative to this directory (default: the working directory). */
  baseDir?: string;
}

export interface LoadResult extends ParseResult {
  /** Every manifest file that was read, as absolute paths in the order they were parsed. */
  files: string[];
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml']);

function describe(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  switch (code) {
    case 'ENOENT': return 'no such file or directory';
    case 'EACCES': return 'permission denied';
    case 'ELOOP': return 'too many levels of symbolic links';
    default: return message;
  }
}

/** Collects manifest files below `dir`, skipping hidden entries and directories already visited. */
async function walk(dir: string, visited: Set<string>, files: string[], issues: ManifestIssue[], sourceOf: (file: string) => string): Promise<void> {
  let names: string[];
  try {
    const real = await realpath(dir);
    if (visited.has(real)) return;
    visited.add(real);
    names = (await readdir(dir)).filter((name) => !name.startsWith('.')).sort();
  } catch (error) {
    issues.push(makeIssue('FILE_UNREADABLE', { source: sourceOf(dir), line: 0, column: 0 }, '', `cannot read the directory: ${describe(error)}`));
    return;
  }
  for (const name of names) {
    const entry = path.join(dir, name);
    let info;
    try {
      info = await stat(entry);
    } catch (error) {
      // A dangling symlink among the manifests is worth knowing about only if it looks like a manifest.
      if (MANIFEST_EXTENSIONS.has(path.extname(name))) {
        issues.push(makeIssue('FILE_UNREADABLE', { source: sourceOf(entry), line: 0, column: 0 }, '', `cannot read the file: ${describe(error)}`));
      }
      continue;
    }
    if (info.isDirectory()) await walk(entry, visited, files, issues, sourceOf);
    else if (info.isFile() && MANIFEST_EXTENSIONS.has(path.extname(name))) files.push(entry);
  }
}

async function readManifestFile(file: string, source: string): Promise<ParseResult> {
  const empty: ParseResult = { objects: [], issues: [], rejected: [] };
  try {
    const { size } = await stat(file);
    if (size > MAX_MANIFEST_BYTES) {
      empty.issues.push(makeIssue('FILE_TOO_LARGE', { source, line: 0, column: 0 }, '', `the file has ${size} bytes; the limit is ${MAX_MANIFEST_BYTES} bytes, split it into several files`));
      return empty;
    }
    return parseManifests(await readFile(file, 'utf8'), source);
  } catch (error) {
    empty.issues.push(makeIssue('FILE_UNREADABLE', { source, line: 0, column: 0 }, '', `cannot read the file: ${describe(error)}`));
    return empty;
  }
}

/**
 * Loads the manifests at `paths` (files or directory trees), then runs the cross-object checks over
 * all of them. Never throws for a bad file: every problem is an issue, and good objects still load.
 */
export async function loadManifests(paths: readonly string[], options: LoadOptions = {}): Promise<LoadResult> {
  const baseDir = path.resolve(options.baseDir ?? process.cwd());
  const sourceOf = (file: string) => {
    const relative = path.relative(baseDir, path.resolve(file));
    return relative === '' ? '.' : relative.startsWith('..') ? path.resolve(file) : relative;
  };
  const issues: ManifestIssue[] = [];
  const files: string[] = [];
  const visited = new Set<string>();
  for (const given of paths) {
    let info;
    try {
      info = await stat(given);
    } catch (error) {
      issues.push(makeIssue('FILE_UNREADABLE', { source: sourceOf(given), line: 0, column: 0 }, '', `cannot read ${given}: ${describe(error)}`));
      continue;
    }
    if (info.isDirectory()) await walk(given, visited, files, issues, sourceOf);
    else files.push(given);
  }

  const unique = [...new Set(files.map((file) => path.resolve(file)))];
  const parsed: ParseResult = { objects: [], issues, rejected: [] };
  for (const file of unique) {
    const result = await readManifestFile(file, sourceOf(file));
    parsed.objects.push(...result.objects);
    parsed.issues.push(...result.issues);
    parsed.rejected.push(...result.rejected);
  }
  const collection = checkCollection(parsed.objects, options);
  return {
    objects: collection.objects,
    issues: [...parsed.issues, ...collection.issues],
    rejected: [...parsed.rejected, ...collection.rejected],
    files: unique,
  };
}
