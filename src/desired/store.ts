// The desired state: every OTreeInstance and Experimenter declared by the sources (manifest files, database
// rows), merged into one consistent set. Sources replace their whole contribution at once; the store
// answers with the keys whose desired state changed, which is all the engine needs to hear.
//
// Bad input never tears anything down: an object whose new version is rejected keeps its last good
// version, and a source that reports an error keeps every object it no longer shows. Only a source that
// loads cleanly (or is removed) can take objects away.
import { isDeepStrictEqual } from 'node:util';
import { checkCollection, formatOrigin, makeIssue, sortIssues } from '../manifest/index.js';
import type { CollectionOptions, ParseResult, RejectedObject } from '../manifest/index.js';
import type { Declared, Experimenter, Kind, ManifestIssue, ManifestObject, OTreeInstance } from '../manifest/types.js';

/** What a source declares right now: what the manifest parser (or a row validator) returned. */
export type SourceSnapshot = Pick<ParseResult, 'objects' | 'issues'> & Partial<Pick<ParseResult, 'rejected'>>;

export type SourceUpdate = { source: string; snapshot: SourceSnapshot } | { source: string; removed: true };

export interface DesiredChange {
  /** Instances to reconcile again: their desired state changed, their owner's did, or their source's issues did. */
  instances: string[];
  /** Experimenters whose desired state changed. */
  experimenters: string[];
  /** Sources whose issues changed. */
  sources: string[];
}

export interface StoredObject<T extends ManifestObject = ManifestObject> {
  declared: Declared<T>;
  /** Counts changes to the spec, like metadata.generation: the value status reports as observedGeneration. */
  generation: number;
  /** The source this version came from. */
  source: string;
}

interface SourceState {
  declared: Map<string, Declared>;
  /** The second and later declarations of a name within this source. */
  duplicates: Declared[];
  issues: ManifestIssue[];
  rejected: RejectedObject[];
}

function keyOf(kind: Kind, name: string): string {
  return `${kind}/${name}`;
}

function declaredKey(declared: Declared): string {
  return keyOf(declared.object.kind, declared.object.metadata.name);
}

/** Nothing to reconcile and nothing new to report. */
export function isEmptyChange(change: DesiredChange): boolean {
  return change.instances.length === 0 && change.experimenters.length === 0 && change.sources.length === 0;
}

export class DesiredStore {
  private readonly sourceStates = new Map<string, SourceState>();
  /** Which sources declare a key, with the order in which each claimed it: the earliest claim wins. */
  private readonly claims = new Map<string, Map<string, number>>();
  private claimSeq = 0;
  private effective = new Map<string, StoredObject>();
  /** The last generation of every key ever seen, so a name that comes back does not reuse a generation. */
  private readonly generations = new Map<string, number>();
  private issuesBySource = new Map<string, ManifestIssue[]>();
  /** Objects that passed their own checks but not the checks across all objects. */
  private collectionRejected: RejectedObject[] = [];

  constructor(private readonly options: CollectionOptions = {}) {}

  /** Replaces everything `source` declares. */
  replaceSource(source: string, snapshot: SourceSnapshot): DesiredChange {
    return this.apply([{ source, snapshot }]);
  }

  /** Forgets `source` (a deleted file): its objects go, unless another source declares them too. */
  removeSource(source: string): DesiredChange {
    return this.apply([{ source, removed: true }]);
  }

  /**
   * Applies several source updates as one change, so that a file renamed (removed under one name, added
   * under another) moves its objects without them ever being absent.
   */
  apply(updates: readonly SourceUpdate[]): DesiredChange {
    for (const update of updates) {
      if ('removed' in update) this.dropSource(update.source);
      else this.setSource(update.source, update.snapshot);
    }
    return this.recompute();
  }

  /**
   * The issues `source` would have, and whether its objects would be held back, if it declared
   * `snapshot` now: the same checks against everything else that apply() runs, on a copy, so nothing
   * changes. The API asks this before it writes a row, to refuse what the controller would only reject.
   */
  trial(source: string, snapshot: SourceSnapshot): { issues: ManifestIssue[]; heldBack: RejectedObject[] } {
    const copy = new DesiredStore(this.options);
    for (const [key, state] of this.sourceStates) copy.sourceStates.set(key, state);
    for (const [key, holders] of this.claims) copy.claims.set(key, new Map(holders));
    copy.claimSeq = this.claimSeq;
    copy.effective = new Map(this.effective);
    for (const [key, generation] of this.generations) copy.generations.set(key, generation);
    copy.apply([{ source, snapshot }]);
    return {
      issues: copy.issuesBySource.get(source) ?? [],
      heldBack: copy.heldBack().filter((r) => snapshot.objects.some((o) => o.object.kind === r.kind && o.object.metadata.name === r.name)),
    };
  }

  instance(name: string): StoredObject<OTreeInstance> | undefined {
    return this.effective.get(keyOf('OTreeInstance', name)) as StoredObject<OTreeInstance> | undefined;
  }

  experimenter(name: string): StoredObject<Experimenter> | undefined {
    return this.effective.get(keyOf('Experimenter', name)) as StoredObject<Experimenter> | undefined;
  }

  /** Every instance, by name. */
  instances(): StoredObject<OTreeInstance>[] {
    return this.ofKind('OTreeInstance') as StoredObject<OTreeInstance>[];
  }

  /** Every experimenter, by name. */
  experimenters(): StoredObject<Experimenter>[] {
    return this.ofKind('Experimenter') as StoredObject<Experimenter>[];
  }

  /** Names of the instances whose spec.owner is `experimenter`. */
  instancesOwnedBy(experimenter: string): string[] {
    return this.instances().filter((stored) => stored.declared.object.spec.owner === experimenter).map((stored) => stored.declared.object.metadata.name);
  }

  /** The sources that currently declare something or report something. */
  sources(): string[] {
    return [...this.sourceStates.keys()].sort();
  }

  /** Current issues per source (only sources that have some): their own, name conflicts and cross-object checks. */
  issues(): Map<string, ManifestIssue[]> {
    return new Map(this.issuesBySource);
  }

  /** Issues of the sources that declare (or tried to declare) this object: what its status should point at. */
  issuesFor(kind: Kind, name: string): ManifestIssue[] {
    const key = keyOf(kind, name);
    const related = [...this.sourceStates].filter(([, state]) =>
      state.declared.has(key) || state.rejected.some((r) => keyOf(r.kind, r.name) === key) || state.duplicates.some((d) => declaredKey(d) === key));
    return sortIssues(related.flatMap(([source]) => this.issuesBySource.get(source) ?? []));
  }

  /** Objects whose latest declaration was rejected: they run their last good version, or are not touched at all. */
  heldBack(): RejectedObject[] {
    return [...[...this.sourceStates.values()].flatMap((state) => state.rejected), ...this.collectionRejected];
  }

  private ofKind(kind: Kind): StoredObject[] {
    return [...this.effective.values()]
      .filter((stored) => stored.declared.object.kind === kind)
      .sort((a, b) => a.declared.object.metadata.name.localeCompare(b.declared.object.metadata.name));
  }

  private setSource(source: string, snapshot: SourceSnapshot): void {
    const previous = this.sourceStates.get(source);
    const declared = new Map<string, Declared>();
    const duplicates: Declared[] = [];
    for (const object of snapshot.objects) {
      const key = declaredKey(object);
      if (declared.has(key)) duplicates.push(object);
      else declared.set(key, object);
    }
    const rejected = snapshot.rejected ?? [];
    const failed = rejected.length > 0 || snapshot.issues.some((issue) => issue.severity === 'error');
    if (failed && previous) {
      // The source is broken: what it no longer shows may just be unreadable, so keep the last good version.
      for (const [key, object] of previous.declared) if (!declared.has(key)) declared.set(key, object);
    }
    for (const key of previous?.declared.keys() ?? []) if (!declared.has(key)) this.unclaim(key, source);
    for (const key of declared.keys()) this.claim(key, source);
    this.sourceStates.set(source, { declared, duplicates, issues: [...snapshot.issues], rejected: [...rejected] });
  }

  private dropSource(source: string): void {
    for (const key of this.sourceStates.get(source)?.declared.keys() ?? []) this.unclaim(key, source);
    this.sourceStates.delete(source);
  }

  private claim(key: string, source: string): void {
    const holders = this.claims.get(key) ?? new Map<string, number>();
    if (!holders.has(source)) holders.set(source, this.claimSeq++);
    this.claims.set(key, holders);
  }

  private unclaim(key: string, source: string): void {
    const holders = this.claims.get(key);
    holders?.delete(source);
    if (holders?.size === 0) this.claims.delete(key);
  }

  /** Rebuilds the effective set from the sources and reports what differs from the previous one. */
  private recompute(): DesiredChange {
    const derived = new Map<string, ManifestIssue[]>();
    const report = (source: string, issue: ManifestIssue): void => {
      derived.set(source, [...(derived.get(source) ?? []), issue]);
    };
    const conflict = (loser: Declared, winner: Declared): ManifestIssue => makeIssue('DUPLICATE_NAME', loser.fields?.['metadata.name'] ?? loser.origin, 'metadata.name',
      `${loser.object.kind} "${loser.object.metadata.name}" is already declared at ${formatOrigin(winner.origin)}, which stays in effect; rename or delete one of the two`);

    // The earliest claim wins a name; established objects come first, so cross-object checks keep them over newcomers.
    const candidates: { key: string; source: string; declared: Declared; seq: number }[] = [];
    for (const [key, holders] of this.claims) {
      const [winner, ...losers] = [...holders].sort((a, b) => a[1] - b[1]);
      if (!winner) continue;
      const declared = this.sourceStates.get(winner[0])!.declared.get(key)!;
      candidates.push({ key, source: winner[0], declared, seq: winner[1] });
      for (const [loser] of losers) report(loser, conflict(this.sourceStates.get(loser)!.declared.get(key)!, declared));
    }
    candidates.sort((a, b) => a.seq - b.seq);
    for (const [source, state] of this.sourceStates) {
      for (const duplicate of state.duplicates) report(source, conflict(duplicate, state.declared.get(declaredKey(duplicate))!));
    }

    const sourceOfOrigin = new Map(candidates.map((c) => [c.declared.origin.source, c.source]));
    const collection = checkCollection(candidates.map((c) => c.declared), this.options);
    for (const issue of collection.issues) report(sourceOfOrigin.get(issue.origin.source) ?? issue.origin.source, issue);
    const failedChecks = new Set(collection.rejected.map((r) => keyOf(r.kind, r.name)));

    const next = new Map<string, StoredObject>();
    for (const { key, source, declared } of candidates) {
      const before = this.effective.get(key);
      if (failedChecks.has(key)) {
        // It does not fit with the rest: keep running what did, if anything.
        if (before) next.set(key, before);
        continue;
      }
      const sameSpec = before !== undefined && isDeepStrictEqual(before.declared.object.spec, declared.object.spec);
      // A source that counts its own generations (database rows) is believed, so status matches its rows.
      const generation = declared.generation ?? (sameSpec ? before.generation : (this.generations.get(key) ?? 0) + 1);
      this.generations.set(key, generation);
      next.set(key, { declared, generation, source });
    }

    const issues = new Map<string, ManifestIssue[]>();
    for (const [source, state] of this.sourceStates) {
      const all = sortIssues([...state.issues, ...(derived.get(source) ?? [])]);
      if (all.length > 0) issues.set(source, all);
    }
    const change = this.diff(next, issues);
    this.effective = next;
    this.issuesBySource = issues;
    this.collectionRejected = collection.rejected;
    return change;
  }

  private diff(next: Map<string, StoredObject>, issues: Map<string, ManifestIssue[]>): DesiredChange {
    const instances = new Set<string>();
    const experimenters = new Set<string>();
    const ownersChanged = new Set<string>();
    for (const key of new Set([...this.effective.keys(), ...next.keys()])) {
      const before = this.effective.get(key)?.declared.object;
      const after = next.get(key)?.declared.object;
      if (isDeepStrictEqual(before, after)) continue;
      const object = (after ?? before)!;
      if (object.kind === 'Experimenter') {
        experimenters.add(object.metadata.name);
        ownersChanged.add(object.metadata.name);
      } else {
        instances.add(object.metadata.name);
      }
    }
    for (const stored of [...this.effective.values(), ...next.values()]) {
      const object = stored.declared.object;
      if (object.kind === 'OTreeInstance' && ownersChanged.has(object.spec.owner)) instances.add(object.metadata.name);
    }

    const sources = new Set<string>();
    for (const source of new Set([...this.issuesBySource.keys(), ...issues.keys()])) {
      if (isDeepStrictEqual(this.issuesBySource.get(source), issues.get(source))) continue;
      sources.add(source);
      // The instances a source declares should show its issues in their status.
      const state = this.sourceStates.get(source);
      for (const object of [...(state?.declared.values() ?? []), ...(state?.duplicates ?? [])]) {
        if (object.object.kind === 'OTreeInstance') instances.add(object.object.metadata.name);
      }
      for (const rejected of state?.rejected ?? []) if (rejected.kind === 'OTreeInstance') instances.add(rejected.name);
    }
    const sorted = (set: Set<string>): string[] => [...set].sort();
    return { instances: sorted(instances), experimenters: sorted(experimenters), sources: sorted(sources) };
  }
}
