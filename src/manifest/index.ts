// The pure manifest layer: parse, validate, check, mask. No I/O; sources and the CLI build on it.
export * from './types.js';
export * from './errors.js';
export * from './reserved.js';
export * from './secrets.js';
export { SCHEMAS, bundledSchema, validateAgainstSchema } from './schema.js';
export type { FieldProblem, SchemaName } from './schema.js';
export { parseManifests, parseConfig, checkDocument, formatPath, MAX_MANIFEST_BYTES, MAX_ALIAS_COUNT } from './parse.js';
export type { ParseResult, RejectedObject } from './parse.js';
export { checkCollection } from './collection.js';
export type { CollectionOptions } from './collection.js';
export { rowPolicyProblems } from './policy.js';
export type { RowPolicyOptions, PolicyProblem } from './policy.js';
