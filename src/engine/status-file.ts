// The status store used when no database is configured: one JSON file in the state directory.
// Every change rewrites the whole file atomically (temp file, fsync, rename, fsync the directory), one
// write at a time, so a crash leaves either the previous or the new file and never a mix. The file also
// holds the one-shot generations already carried out (restart, database reset): losing it would run
// them again, so a damaged file stops the daemon with instructions instead of being silently replaced.
import { link, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './files.js';
import type { Claim, ClaimRef, InstanceEvent, InstanceStatus, StatusStore } from './status.js';

export const STATE_FILE_NAME = 'status.json';
const FORMAT_VERSION = 1;
const DEFAULT_EVENTS_PER_INSTANCE = 50;

interface StateFile {
  version: typeof FORMAT_VERSION;
  instances: Record<string, InstanceStatus>;
  /** Per instance, oldest first. */
  events: Record<string, InstanceEvent[]>;
  /** Per instance: the daemon's claims on objects it is creating (absent in files written before claims). */
  claims?: Record<string, Claim[]>;
}

export interface FileStatusStoreOptions {
  /** Events kept per instance; older ones are dropped. @default 50 */
  eventsPerInstance?: number;
}

export class StateFileError extends Error {
  override readonly name = 'StateFileError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseStateFile(text: string): StateFile {
  const data: unknown = JSON.parse(text);
  if (!isRecord(data)) throw new Error('the top level is not an object');
  if (data.version !== FORMAT_VERSION) throw new Error(`format version ${JSON.stringify(data.version)} is not ${FORMAT_VERSION}`);
  if (!isRecord(data.instances)) throw new Error('"instances" is not an object');
  if (!isRecord(data.events)) throw new Error('"events" is not an object');
  if (data.claims !== undefined && !isRecord(data.claims)) throw new Error('"claims" is not an object');
  return data as unknown as StateFile;
}

async function readState(path: string): Promise<StateFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { version: FORMAT_VERSION, instances: {}, events: {} };
  }
  try {
    return parseStateFile(text);
  } catch (err) {
    throw new StateFileError(
      `the status file ${path} is damaged (${(err as Error).message}). The version before the last write is ${path}.bak: ` +
      `if it reads correctly, copy it over ${path}; otherwise move ${path} aside to start with empty status. ` +
      'Empty status forgets which one-shot restarts and database resets were already done, so check those manifests first.',
    );
  }
}

function sameObject(a: ClaimRef, b: ClaimRef): boolean {
  return a.host === b.host && a.kind === b.kind && a.object === b.object;
}

export class FileStatusStore implements StatusStore {
  /** Where the status lives. */
  readonly path: string;
  /** The version before the last write, kept for recovery by hand. */
  readonly backupPath: string;
  private readonly eventsPerInstance: number;
  private readonly state: StateFile;
  /** The write in progress or last finished; each write starts after the previous one. */
  private lastWrite: Promise<void> = Promise.resolve();
  /** A write that has not started yet: later changes join it instead of queueing one more. */
  private nextWrite: Promise<void> | undefined;
  private closed = false;

  private constructor(path: string, state: StateFile, eventsPerInstance: number, private readonly readOnly = false) {
    this.path = path;
    this.backupPath = `${path}.bak`;
    this.state = state;
    this.eventsPerInstance = eventsPerInstance;
  }

  /** Opens (or starts) the state file in `stateDir`, removing temp files an interrupted write left. */
  static async open(stateDir: string, options: FileStatusStoreOptions = {}): Promise<FileStatusStore> {
    const eventsPerInstance = options.eventsPerInstance ?? DEFAULT_EVENTS_PER_INSTANCE;
    if (!Number.isInteger(eventsPerInstance) || eventsPerInstance < 1) {
      throw new TypeError(`eventsPerInstance must be an integer from 1 up, got ${eventsPerInstance}`);
    }
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, STATE_FILE_NAME);
    for (const entry of await readdir(stateDir)) {
      if (entry.startsWith(`.${STATE_FILE_NAME}.tmp-`)) await rm(join(stateDir, entry), { force: true });
    }
    return new FileStatusStore(path, await readState(path), eventsPerInstance);
  }

  /**
   * The state file as it is, for readers that must change nothing (`otm plan`): no directory is created,
   * no temp file removed, every write is refused. No file (or no directory) reads as empty status.
   */
  static async openReadOnly(stateDir: string): Promise<FileStatusStore> {
    const path = join(stateDir, STATE_FILE_NAME);
    return new FileStatusStore(path, await readState(path), DEFAULT_EVENTS_PER_INSTANCE, true);
  }

  async get(name: string): Promise<InstanceStatus | undefined> {
    this.assertOpen();
    const status = this.state.instances[name];
    return status === undefined ? undefined : structuredClone(status);
  }

  async list(): Promise<InstanceStatus[]> {
    this.assertOpen();
    return Object.keys(this.state.instances).sort().map((name) => structuredClone(this.state.instances[name] as InstanceStatus));
  }

  async put(status: InstanceStatus): Promise<void> {
    this.assertWritable();
    this.state.instances[status.name] = structuredClone(status);
    await this.persist();
  }

  async remove(name: string): Promise<void> {
    this.assertWritable();
    delete this.state.instances[name];
    delete this.state.events[name];
    if (this.state.claims) delete this.state.claims[name];
    await this.persist();
  }

  async record(event: InstanceEvent): Promise<void> {
    this.assertWritable();
    const history = this.state.events[event.instance] ?? [];
    history.push(structuredClone(event));
    this.state.events[event.instance] = history.slice(-this.eventsPerInstance);
    await this.persist();
  }

  /** Newest first. */
  async events(name: string, limit = this.eventsPerInstance): Promise<InstanceEvent[]> {
    this.assertOpen();
    return (this.state.events[name] ?? []).slice(-limit).reverse().map((e) => structuredClone(e));
  }

  async claims(instance: string): Promise<Claim[]> {
    this.assertOpen();
    return (this.state.claims?.[instance] ?? []).map((c) => structuredClone(c));
  }

  async putClaim(claim: Claim): Promise<void> {
    this.assertWritable();
    const claims = (this.state.claims ??= {});
    claims[claim.instance] = [...(claims[claim.instance] ?? []).filter((c) => !sameObject(c, claim)), structuredClone(claim)];
    await this.persist();
  }

  async dropClaim(ref: ClaimRef): Promise<void> {
    this.assertWritable();
    const mine = this.state.claims?.[ref.instance];
    if (!mine?.some((c) => sameObject(c, ref))) return;
    const left = mine.filter((c) => !sameObject(c, ref));
    if (left.length > 0) this.state.claims![ref.instance] = left;
    else delete this.state.claims![ref.instance];
    await this.persist();
  }

  async dropClaims(instance: string): Promise<void> {
    this.assertWritable();
    if (!this.state.claims?.[instance]) return;
    delete this.state.claims[instance];
    await this.persist();
  }

  /** Waits for pending writes (a failed one was already reported to its caller); the store refuses use afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    await (this.nextWrite ?? this.lastWrite).catch(() => undefined);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`the status store ${this.path} is closed`);
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.readOnly) throw new Error(`the status store ${this.path} was opened read-only`);
  }

  private persist(): Promise<void> {
    this.nextWrite ??= this.lastWrite.then(
      () => this.write(),
      () => this.write(),
    );
    return this.nextWrite;
  }

  private async write(): Promise<void> {
    const write = this.nextWrite as Promise<void>;
    this.nextWrite = undefined;
    this.lastWrite = write;
    await rm(this.backupPath, { force: true });
    try {
      await link(this.path, this.backupPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await writeFileAtomic(this.path, `${JSON.stringify(this.state, null, 2)}\n`);
  }
}
