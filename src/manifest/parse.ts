// From YAML text to validated objects. Every problem becomes an issue with file, line, column and field
// path; a bad document is reported and skipped, never hiding the good ones around it.
import { LineCounter, isAlias, isMap, isNode, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { Document } from 'yaml';
import { makeIssue, sortIssues } from './errors.js';
import { validateAgainstSchema } from './schema.js';
import type { FieldProblem } from './schema.js';
import { checkObject } from './semantic.js';
import { API_VERSION } from './types.js';
import type { Declared, Kind, ManifestIssue, ManifestObject, Origin } from './types.js';

/** Larger files are refused unread: a lab's manifests are a few kilobytes each. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** Alias expansions allowed per document; enough for anchors reused by hand, not for a billion laughs. */
export const MAX_ALIAS_COUNT = 100;

const KINDS: readonly Kind[] = ['OTreeInstance', 'Experimenter'];

/** An object that was declared but rejected: the daemon must leave it alone, not treat it as removed. */
export interface RejectedObject {
  kind: Kind;
  name: string;
  origin: Origin;
}

export interface ParseResult {
  objects: Declared[];
  issues: ManifestIssue[];
  rejected: RejectedObject[];
}

type Locate = (path: (string | number)[], atKey: boolean) => Origin;

/** `spec.rooms[0].participantLabels[2]`; keys that are not plain words are quoted. */
export function formatPath(path: readonly (string | number)[]): string {
  return path.map((segment, index) => {
    if (typeof segment === 'number') return `[${segment}]`;
    if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) return index === 0 ? segment : `.${segment}`;
    return `[${JSON.stringify(segment)}]`;
  }).join('');
}

function placeProblem(problem: FieldProblem, locate: Locate): ManifestIssue {
  return makeIssue(problem.code, locate(problem.path, problem.atKey ?? false), formatPath(problem.path), problem.message);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Schema and semantic checks of one parsed document. `data` is defaulted in place. Exported for sources
 * without YAML positions (database rows), which pass a `locate` that always answers the row's origin.
 */
export function checkDocument(data: unknown, origin: Origin, locate: Locate): ParseResult {
  const issues: ManifestIssue[] = [];
  const result: ParseResult = { objects: [], issues, rejected: [] };
  const report = (problem: FieldProblem) => issues.push(placeProblem(problem, locate));

  if (!isPlainObject(data)) {
    issues.push(makeIssue('NOT_AN_OBJECT', origin, '', `a manifest must be a mapping with apiVersion, kind, metadata and spec (got ${Array.isArray(data) ? 'a list' : typeof data === 'string' ? 'text' : String(data)})`));
    return result;
  }
  if (data.apiVersion !== API_VERSION) {
    report({ path: ['apiVersion'], code: 'API_VERSION_UNKNOWN', message: `must be "${API_VERSION}" (got ${JSON.stringify(data.apiVersion) ?? 'nothing'})` });
  }
  const kind = KINDS.find((known) => known === data.kind);
  if (!kind) {
    report({ path: ['kind'], code: 'KIND_UNKNOWN', message: `must be one of ${KINDS.join(', ')} (got ${JSON.stringify(data.kind) ?? 'nothing'})` });
    return result;
  }
  if (issues.length > 0) return result;

  const schemaProblems = validateAgainstSchema(kind, data);
  [...schemaProblems, ...checkObject(data as unknown as ManifestObject, schemaProblems)].forEach(report);

  const name = isPlainObject(data.metadata) && typeof data.metadata.name === 'string' ? data.metadata.name : undefined;
  if (issues.some((issue) => issue.severity === 'error')) {
    if (name !== undefined) result.rejected.push({ kind, name, origin });
  } else {
    const object = data as unknown as ManifestObject;
    result.objects.push({ object, origin, fields: crossObjectFields(object, locate) });
  }
  return result;
}

/** Where the fields that checkCollection reports on were written. */
function crossObjectFields(object: ManifestObject, locate: Locate): Record<string, Origin> {
  const paths: (string | number)[][] = [['metadata', 'name']];
  if (object.kind === 'OTreeInstance') {
    paths.push(['spec', 'owner'], ['spec', 'host'], ...object.spec.domains.map((_, index) => ['spec', 'domains', index]));
  }
  return Object.fromEntries(paths.map((path) => [formatPath(path), locate(path, false)]));
}

/** Answers the position of a field path within one YAML document. */
function documentLocator(doc: Document.Parsed, lineCounter: LineCounter, source: string): Locate {
  const at = (offset: number): Origin => {
    const { line, col } = lineCounter.linePos(offset);
    return { source, line, column: col };
  };
  // An empty node (`key:` with nothing after it) has no position of its own.
  const start = (value: unknown): number | undefined =>
    isNode(value) && value.range && value.range[1] > value.range[0] ? value.range[0] : undefined;
  return (path, atKey) => {
    let node: unknown = doc.contents;
    let keyOffset: number | undefined;
    let valueOffset = start(doc.contents) ?? 0;
    for (const [index, segment] of path.entries()) {
      if (isAlias(node)) node = node.resolve(doc);
      let found = false;
      if (isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
        const keyStart = start(pair?.key);
        if (pair && keyStart !== undefined) {
          found = true;
          keyOffset = keyStart;
          node = pair.value;
          valueOffset = start(pair.value) ?? keyStart;
        }
      } else if (isSeq(node) && typeof segment === 'number') {
        const itemStart = start(node.items[segment]);
        if (itemStart !== undefined) {
          found = true;
          keyOffset = valueOffset = itemStart;
          node = node.items[segment];
        }
      }
      // A field that is absent (a missing required field) is reported at the key of its parent.
      if (!found) return at(keyOffset ?? valueOffset);
      if (index === path.length - 1) return at(atKey ? keyOffset ?? valueOffset : valueOffset);
    }
    return at(valueOffset);
  };
}

/** The first line of a yaml error message, without the source excerpt (which might show a secret). */
function yamlMessage(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '').trim();
}

/** One YAML document read to plain data, with the means to place its fields. */
interface ReadDocument {
  data: unknown;
  origin: Origin;
  locate: Locate;
}

/** Reads every non-empty document of a YAML text; problems with the text itself become issues. */
function readDocuments(text: string, source: string, issues: ManifestIssue[]): ReadDocument[] {
  const size = new TextEncoder().encode(text).length;
  if (size > MAX_MANIFEST_BYTES) {
    issues.push(makeIssue('FILE_TOO_LARGE', { source, line: 0, column: 0 }, '', `the file has ${size} bytes; the limit is ${MAX_MANIFEST_BYTES} bytes, split it into several files`));
    return [];
  }
  const lineCounter = new LineCounter();
  const at = (offset: number): Origin => {
    const { line, col } = lineCounter.linePos(offset);
    return { source, line, column: col };
  };
  const read: ReadDocument[] = [];
  for (const doc of parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false })) {
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        issues.push(makeIssue(error.code === 'DUPLICATE_KEY' ? 'YAML_DUPLICATE_KEY' : 'YAML_SYNTAX', at(error.pos[0]), '', yamlMessage(error.message)));
      }
      continue;
    }
    // `---` with nothing after it, or a file of comments only.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue;
    const origin = at(doc.contents.range[0]);
    try {
      read.push({ data: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), origin, locate: documentLocator(doc, lineCounter, source) });
    } catch (error) {
      const aliasBomb = error instanceof ReferenceError;
      issues.push(makeIssue(aliasBomb ? 'YAML_ALIAS_LIMIT' : 'YAML_SYNTAX', origin, '', aliasBomb
        ? `the document expands more than ${MAX_ALIAS_COUNT} aliases; write the values out or use fewer anchors`
        : `the document cannot be read: ${yamlMessage((error as Error).message)}`));
    }
  }
  return read;
}

/** Parses every document of one YAML file. `source` names the file in issues and origins. */
export function parseManifests(text: string, source: string): ParseResult {
  const result: ParseResult = { objects: [], issues: [], rejected: [] };
  for (const { data, origin, locate } of readDocuments(text, source, result.issues)) {
    const checked = checkDocument(data, origin, locate);
    result.objects.push(...checked.objects);
    result.issues.push(...checked.issues);
    result.rejected.push(...checked.rejected);
  }
  return { ...result, issues: sortIssues(result.issues) };
}

/**
 * Parses the daemon's configuration file: one YAML document validated (and defaulted) by
 * schemas/config.schema.json. An empty text yields the defaults.
 */
export function parseConfig(text: string, source: string): { config?: Record<string, unknown>; issues: ManifestIssue[] } {
  const issues: ManifestIssue[] = [];
  const documents = readDocuments(text, source, issues);
  if (issues.length > 0) return { issues };
  if (documents.length > 1) {
    return { issues: [makeIssue('CONFIG_INVALID', documents[1]!.origin, '', 'the configuration file must hold one YAML document')] };
  }
  const [document] = documents;
  const data = document?.data ?? {};
  if (!isPlainObject(data)) {
    return { issues: [makeIssue('CONFIG_INVALID', document?.origin ?? { source, line: 0, column: 0 }, '', 'the configuration must be a mapping of settings')] };
  }
  const locate: Locate = document?.locate ?? (() => ({ source, line: 0, column: 0 }));
  for (const problem of validateAgainstSchema('Config', data)) issues.push(placeProblem(problem, locate));
  if (issues.length > 0) return { issues };
  const hostNames = (data.hosts as { name: string }[]).map((host) => host.name);
  hostNames.forEach((name, index) => {
    if (hostNames.indexOf(name) < index) {
      issues.push(placeProblem({ path: ['hosts', index, 'name'], code: 'CONFIG_INVALID', message: `host "${name}" is declared twice; give every host its own name` }, locate));
    }
  });
  return issues.length > 0 ? { issues } : { config: data, issues };
}
