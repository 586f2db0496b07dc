// The manifests directory as a source of desired state. chokidar only tells us which paths to look at
// again; after a burst of events settles, each of those paths is read afresh (or found gone) and the
// store gets the new contents of every touched file in one batch, so a rename moves objects atomically.
// What happened to a path (created, changed, renamed, deleted) does not matter: what is on disk now does.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import { MAX_MANIFEST_BYTES, makeIssue, parseManifests } from '../manifest/index.js';
import type { ManifestIssue } from '../manifest/index.js';
import { isEmptyChange, type DesiredChange, type DesiredStore, type SourceSnapshot, type SourceUpdate } from './store.js';
import { systemClock, type Clock, type TimerHandle } from '../engine/clock.js';

/** Reads one manifest file. `source` is its path relative to the manifests directory, for origins. */
export type ManifestFileLoader = (file: string, source: string) => Promise<SourceSnapshot>;

/** How long one settled burst of file events took to reach the store. */
export interface FlushTiming {
  files: number;
  /** From the first event of the burst to the change being handed on, in ms (includes the debounce). */
  firstEventToChangeMs: number;
  /** From the last event of the burst to the change being handed on, in ms. */
  lastEventToChangeMs: number;
  /** Reading and parsing the files, in ms. */
  loadMs: number;
  change: DesiredChange;
}

export interface ManifestWatcherOptions {
  /** The manifests directory; subdirectories are watched too. */
  dir: string;
  store: DesiredStore;
  /** Called after each settled burst that changed something: the instances to reconcile again. */
  onKeys: (change: DesiredChange, reason: string) => void;
  /** @default parse each file with the manifest parser */
  load?: ManifestFileLoader;
  /**
   * Quiet time that ends a burst of events. @default 150 (longer than chokidar's 100 ms hold on deletions,
   * so a rename's deletion and creation usually land in one batch)
   */
  debounceMs?: number;
  /** A burst that never goes quiet is still flushed this long after it began. @default 1000 */
  maxWaitMs?: number;
  logger?: Logger;
  clock?: Clock;
  /** Every flush, for benchmarks and logs. */
  onFlush?: (timing: FlushTiming) => void;
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml']);

export function isManifestFile(file: string): boolean {
  return MANIFEST_EXTENSIONS.has(path.extname(file)) && !isIgnoredName(path.basename(file));
}

/** Hidden entries (and with them `.git`, vim swap files, emacs locks), backups and editors' temporary files. */
export function isIgnoredName(name: string): boolean {
  return name.startsWith('.') || name.startsWith('#') || name.endsWith('~') || name.endsWith('.tmp') || name === '4913';
}

/** Reads and parses one manifest file; problems reading it are issues, never exceptions. */
export async function loadManifestFile(file: string, source: string): Promise<SourceSnapshot> {
  const origin = { source, line: 0, column: 0 };
  const failed = (issue: ManifestIssue): SourceSnapshot => ({ objects: [], issues: [issue], rejected: [] });
  try {
    const { size } = await stat(file);
    if (size > MAX_MANIFEST_BYTES) {
      return failed(makeIssue('FILE_TOO_LARGE', origin, '', `the file has ${size} bytes; the limit is ${MAX_MANIFEST_BYTES} bytes, split it into several files`));
    }
    return parseManifests(await readFile(file, 'utf8'), source);
  } catch (err) {
    return failed(makeIssue('FILE_UNREADABLE', origin, '', `cannot read the file: ${(err as Error).message}; check its permissions`));
  }
}

export class ManifestWatcher {
  private readonly dir: string;
  private readonly load: ManifestFileLoader;
  private readonly debounceMs: number;
  private readonly maxWaitMs: number;
  private readonly clock: Clock;
  private watcher: FSWatcher | undefined;
  /** Paths to look at again once the current burst settles. */
  private dirty = new Set<string>();
  private burstStart = 0;
  private lastEvent = 0;
  private timer: TimerHandle | undefined;
  private ready = false;
  /** Manifest files the store currently has a source for (absolute paths). */
  private readonly known = new Set<string>();
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly options: ManifestWatcherOptions) {
    this.dir = path.resolve(options.dir);
    this.load = options.load ?? loadManifestFile;
    this.debounceMs = options.debounceMs ?? 150;
    this.maxWaitMs = options.maxWaitMs ?? 1000;
    this.clock = options.clock ?? systemClock;
    if (!(this.debounceMs >= 0 && this.maxWaitMs >= this.debounceMs)) {
      throw new TypeError(`debounceMs must be at least 0 and maxWaitMs at least debounceMs, got ${this.debounceMs} and ${this.maxWaitMs}`);
    }
  }

  /** Starts watching; resolves once every manifest present has been loaded into the store. */
  async start(): Promise<void> {
    if (this.watcher) throw new Error('ManifestWatcher.start() was called twice');
    const info = await stat(this.dir).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new Error(`the manifests directory ${this.dir} does not exist or is not a directory: create it or point the daemon at the right one`);
    }
    const watcher = watch(this.dir, {
      ignoreInitial: false,
      ignored: (file, stats) => file !== this.dir && (isIgnoredName(path.basename(file)) || (stats?.isFile() === true && !isManifestFile(file))),
    });
    this.watcher = watcher;
    watcher.on('all', (event, file) => this.onEvent(event, file));
    watcher.on('error', (err) => this.options.logger?.error({ err, dir: this.dir }, 'watching the manifests directory failed'));
    await new Promise<void>((resolve) => watcher.once('ready', resolve));
    this.ready = true;
    await this.flush('initial load');
  }

  /** Stops watching; a flush already under way finishes first. */
  async stop(): Promise<void> {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.watcher?.close();
    await this.flushing;
  }

  private onEvent(event: string, file: string): void {
    const absolute = path.resolve(file);
    if (event === 'unlinkDir') {
      // Not every platform reports each file of a removed directory: look again at all we knew below it.
      const prefix = absolute + path.sep;
      for (const known of this.known) if (known.startsWith(prefix)) this.markDirty(known);
      return;
    }
    if ((event === 'add' || event === 'change' || event === 'unlink') && isManifestFile(absolute)) this.markDirty(absolute);
  }

  private markDirty(file: string): void {
    const now = this.clock.now();
    if (this.dirty.size === 0) this.burstStart = now;
    this.lastEvent = now;
    this.dirty.add(file);
    // Until the first full load is done, start() flushes everything at once.
    if (!this.ready) return;
    if (this.timer) this.clock.clearTimeout(this.timer);
    const wait = Math.min(this.debounceMs, Math.max(0, this.burstStart + this.maxWaitMs - now));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.flush('manifests changed');
    }, wait);
  }

  /** Loads every dirty path and hands the combined change on; flushes never overlap. */
  private flush(reason: string): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.dirty.size === 0) return;
      const files = [...this.dirty].sort();
      const firstEvent = this.burstStart;
      const lastEvent = this.lastEvent;
      this.dirty = new Set();
      const loadStart = this.clock.now();
      const updates = await Promise.all(files.map((file) => this.read(file)));
      const loadMs = this.clock.now() - loadStart;
      const change = this.options.store.apply(updates.filter((update): update is SourceUpdate => update !== undefined));
      const sources = updates.flatMap((update) => (update ? [`${update.source}${'removed' in update ? ' (removed)' : ''}`] : []));
      this.logIssues(change);
      if (!isEmptyChange(change)) this.options.onKeys(change, `${reason}: ${sources.join(', ')}`);
      const done = this.clock.now();
      this.options.onFlush?.({ files: files.length, firstEventToChangeMs: done - firstEvent, lastEventToChangeMs: done - lastEvent, loadMs, change });
    }).catch((err: unknown) => {
      this.options.logger?.error({ err, dir: this.dir }, 'applying manifest changes failed');
    });
    return this.flushing;
  }

  /** What a path holds now: a file to load, or a source that is gone. */
  private async read(file: string): Promise<SourceUpdate | undefined> {
    const source = path.relative(this.dir, file);
    const info = await stat(file).catch(() => undefined);
    if (info?.isFile()) {
      this.known.add(file);
      return { source, snapshot: await this.load(file, source) };
    }
    if (!this.known.delete(file)) return undefined;
    return { source, removed: true };
  }

  private logIssues(change: DesiredChange): void {
    const logger = this.options.logger;
    if (!logger) return;
    const issues = this.options.store.issues();
    for (const source of change.sources) {
      const current = issues.get(source) ?? [];
      // Only codes and positions: an issue's message may quote a value from the file.
      if (current.length === 0) logger.info({ source }, 'manifest issues resolved');
      else logger.warn({ source, issues: current.map((i) => ({ code: i.code, severity: i.severity, line: i.origin.line, path: i.path })) }, 'manifest has issues; objects it fails to declare keep their last good version');
    }
  }
}
