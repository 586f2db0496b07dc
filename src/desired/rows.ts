// What a desired-state row is, apart from the database: its table, its origin, and how it is checked
// (the manifest schemas, then the row policy). Pure, so the API can check a row before it writes one.
import { API_VERSION, checkDocument, makeIssue, rowPolicyProblems } from '../manifest/index.js';
import type { Kind, Origin, ParseResult, RowPolicyOptions } from '../manifest/index.js';

export type DesiredTable = 'instances' | 'experimenters';

export const TABLES: Record<Kind, DesiredTable> = { OTreeInstance: 'instances', Experimenter: 'experimenters' };
export const KINDS: Record<DesiredTable, Kind> = { instances: 'OTreeInstance', experimenters: 'Experimenter' };

export function rowOrigin(table: DesiredTable, name: string): Origin {
  return { source: `row:${table}/${name}`, line: 0, column: 0 };
}

/**
 * Validates a row as the manifest document it stands for (on a copy: defaults are filled in place), then
 * against the row policy: a row that breaks it is rejected like an invalid one.
 */
export function validateRow(table: DesiredTable, name: string, spec: unknown, labels: unknown, policy: RowPolicyOptions = {}): ParseResult {
  const origin = rowOrigin(table, name);
  const document = structuredClone({ apiVersion: API_VERSION, kind: KINDS[table], metadata: { name, labels }, spec });
  const result = checkDocument(document, origin, () => origin);
  const object = result.objects[0]?.object;
  if (!object) return result;
  const refused = rowPolicyProblems(object, policy).map((p) => makeIssue(p.code, origin, p.path, p.message));
  if (refused.length === 0) return result;
  return { objects: [], issues: [...result.issues, ...refused], rejected: [{ kind: KINDS[table], name, origin }] };
}
