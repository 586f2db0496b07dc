// The JSON Schemas in schemas/ compiled once with ajv. Validation applies the schemas' defaults to the
// data in place, and turns ajv's errors into catalogued issues that name the field and say what to do.
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import commonSchema from '../../schemas/common.schema.json' with { type: 'json' };
import instanceSchema from '../../schemas/otreeinstance.schema.json' with { type: 'json' };
import experimenterSchema from '../../schemas/experimenter.schema.json' with { type: 'json' };
import manifestSchema from '../../schemas/manifest.schema.json' with { type: 'json' };
import configSchema from '../../schemas/config.schema.json' with { type: 'json' };
import { isIssueCode } from './errors.js';
import type { IssueCode } from './errors.js';
import type { Kind } from './types.js';

/** Every published schema by the name `otm schema` accepts, with the file name it is published under. */
export const SCHEMAS = {
  OTreeInstance: { file: 'otreeinstance.schema.json', schema: instanceSchema },
  Experimenter: { file: 'experimenter.schema.json', schema: experimenterSchema },
  Manifest: { file: 'manifest.schema.json', schema: manifestSchema },
  Config: { file: 'config.schema.json', schema: configSchema },
  Common: { file: 'common.schema.json', schema: commonSchema },
} as const;

export type SchemaName = keyof typeof SCHEMAS;

/** A schema violation before it is placed in a file: where in the object, which code, what to say. */
export interface FieldProblem {
  /** Property names and array indices from the document root. */
  path: (string | number)[];
  code: IssueCode;
  message: string;
  /** Point at the key of `path` rather than at its value (unknown fields, bad property names). */
  atKey?: boolean;
}

const ajv = new Ajv2020({ allErrors: true, useDefaults: true, verbose: true, strict: true });
addFormats.default(ajv, ['date-time', 'email']);
// Annotations for editors (patternErrorMessage is understood by the YAML and JSON language servers) and
// for the translation below (x-otm-code).
ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
ajv.addKeyword({ keyword: 'x-otm-code', schemaType: 'string' });
for (const { file, schema } of Object.values(SCHEMAS)) ajv.addSchema(schema, file);

function compiled(name: SchemaName): ValidateFunction {
  const validate = ajv.getSchema(SCHEMAS[name].file);
  if (!validate) throw new Error(`schema ${SCHEMAS[name].file} failed to compile`);
  return validate;
}

// Compiled on first use: a command that only reads the configuration never pays for the manifest schemas.
const validators = new Map<Kind | 'Config', ValidateFunction>();

/** Validates `data` against the schema of `kind`, filling in defaults in place. */
export function validateAgainstSchema(kind: Kind | 'Config', data: unknown): FieldProblem[] {
  let validate = validators.get(kind);
  if (!validate) {
    validate = compiled(kind);
    validators.set(kind, validate);
  }
  if (validate(data)) return [];
  return translateErrors(validate.errors ?? []);
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((part) => {
    const unescaped = part.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^(0|[1-9][0-9]*)$/.test(unescaped) ? Number(unescaped) : unescaped;
  });
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'object') return 'mapping';
  return typeof value;
}

function quoteList(values: readonly unknown[]): string {
  return values.map((value) => JSON.stringify(value)).join(', ');
}

/** Levenshtein distance, to suggest the field a typo was meant to be. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function allowedFields(schema: Record<string, unknown> | undefined): string[] {
  const properties = schema?.properties;
  return properties && typeof properties === 'object' ? Object.keys(properties) : [];
}

function unknownFieldMessage(field: string, allowed: string[]): string {
  const suggestion = allowed.find((name) => editDistance(name.toLowerCase(), field.toLowerCase()) <= 2);
  if (suggestion) return `unknown field; did you mean "${suggestion}"?`;
  return allowed.length > 0 ? `unknown field (allowed: ${allowed.join(', ')})` : 'unknown field';
}

/** A value echoed back in a message, cut short; callers never pass a secret. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? 'nothing';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function patternProblem(error: ErrorObject, path: (string | number)[], atKey: boolean, value: unknown, isSecret: boolean): FieldProblem {
  const schema = (error.keyword === 'propertyNames' ? error.schema : error.parentSchema) as Record<string, unknown> | undefined;
  const declared = schema?.['x-otm-code'];
  const code: IssueCode = typeof declared === 'string' && isIssueCode(declared) ? declared : 'FIELD_INVALID';
  const advice = schema?.patternErrorMessage;
  const text = typeof advice === 'string' ? advice : `must match ${String(schema?.pattern)}`;
  return { path, code, message: isSecret ? text : `${text} (got ${shown(value)})`, atKey };
}

/** Anything under a secret reference is never echoed, not even a file or variable name typed by mistake. */
function isSecretPath(path: (string | number)[]): boolean {
  return path.includes('adminPassword') || path.includes('restKey');
}

function expectedType(type: unknown): string {
  if (type === 'object') return 'a mapping';
  if (type === 'array') return 'a list';
  return `a ${String(type)}`;
}

function translate(error: ErrorObject): FieldProblem | undefined {
  const path = pointerToPath(error.instancePath);
  const secret = isSecretPath(path);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { path: [...path, String(params.missingProperty)], code: 'FIELD_REQUIRED', message: 'required field is missing' };
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      return { path: [...path, field], code: 'FIELD_UNKNOWN', message: unknownFieldMessage(field, allowedFields(error.parentSchema)), atKey: true };
    }
    case 'propertyNames':
      return patternProblem(error, [...path, String(params.propertyName)], true, params.propertyName, false);
    case 'pattern':
      // Property-name patterns are reported once, by the propertyNames error that names the key.
      if (error.schemaPath.includes('/propertyNames/')) return undefined;
      return patternProblem(error, path, false, error.data, secret);
    case 'type':
      return { path, code: 'FIELD_TYPE', message: `must be ${expectedType(params.type)} (got ${typeName(error.data)})${typeof error.data === 'number' && params.type === 'string' ? '; quote the value' : ''}` };
    case 'enum':
    case 'const': {
      const allowed = error.keyword === 'enum' ? (params.allowedValues as unknown[]) : [params.allowedValue];
      const hint = typeof error.data === 'number' && allowed.every((value) => typeof value === 'string') ? '; quote the value' : '';
      const code: IssueCode = path.length === 1 && path[0] === 'kind' ? 'KIND_UNKNOWN' : path.length === 1 && path[0] === 'apiVersion' ? 'API_VERSION_UNKNOWN' : 'FIELD_ENUM';
      return { path, code, message: `must be ${allowed.length === 1 ? '' : 'one of '}${quoteList(allowed)} (got ${secret ? 'a secret' : shown(error.data)})${hint}` };
    }
    case 'format':
      return { path, code: 'FIELD_FORMAT', message: `must be ${params.format === 'date-time' ? 'an RFC 3339 date-time such as 2026-12-01T09:00:00Z' : `a valid ${String(params.format)}`} (got ${shown(error.data)})` };
    case 'minProperties':
    case 'maxProperties': {
      const choices = allowedFields(error.parentSchema);
      if (error.parentSchema?.maxProperties === 1 && choices.length > 0) {
        const count = error.data && typeof error.data === 'object' ? Object.keys(error.data).length : 0;
        return { path, code: 'FIELD_ONE_OF', message: `must set exactly one of ${choices.join(', ')} (got ${count})` };
      }
      return { path, code: 'FIELD_RANGE', message: error.message ?? 'has the wrong number of fields' };
    }
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
    case 'minLength': case 'maxLength': case 'minItems': case 'maxItems':
      return { path, code: 'FIELD_RANGE', message: `${error.message ?? 'is out of range'}${typeof error.data === 'number' ? ` (got ${error.data})` : ''}` };
    case 'uniqueItems':
      return { path: [...path, Number(params.i)], code: 'FIELD_INVALID', message: `duplicates item ${String(params.j)} of the list` };
    case 'if':
      // The branch's own errors say what is wrong; ajv's summary adds nothing.
      return undefined;
    default:
      return { path, code: 'FIELD_INVALID', message: error.message ?? 'is not valid' };
  }
}

function translateErrors(errors: ErrorObject[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    const problem = translate(error);
    if (!problem) continue;
    const key = `${problem.path.join('\u0000')}|${problem.code}|${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

const BUNDLED_DEF_NAMES: Record<string, SchemaName> = {
  'otreeinstance.schema.json': 'OTreeInstance',
  'experimenter.schema.json': 'Experimenter',
};

function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).map(([key, value]) => {
    if (key !== '$ref' || typeof value !== 'string') return [key, rewriteRefs(value)];
    const [file = '', fragment = ''] = value.split('#');
    if (file === SCHEMAS.Common.file) return [key, `#${fragment}`];
    const name = BUNDLED_DEF_NAMES[file];
    return [key, name ? `#/$defs/${name}${fragment}` : value];
  }));
}

/**
 * The schema `name` as one self-contained document: the shared definitions (and, for Manifest, both
 * kinds) are copied under $defs so that it can be used without the other files.
 */
export function bundledSchema(name: SchemaName): Record<string, unknown> {
  const schema = rewriteRefs(SCHEMAS[name].schema) as Record<string, unknown>;
  const defs: Record<string, unknown> = { ...(rewriteRefs(SCHEMAS.Common.schema.$defs) as Record<string, unknown>) };
  if (name === 'Manifest') {
    for (const kind of ['OTreeInstance', 'Experimenter'] as const) {
      const { $schema: _dialect, ...rest } = rewriteRefs(SCHEMAS[kind].schema) as Record<string, unknown>;
      defs[kind] = rest;
    }
  }
  const usesShared = JSON.stringify(schema).includes('"#/$defs/') || name === 'Manifest';
  return usesShared ? { ...schema, $defs: { ...((schema.$defs as Record<string, unknown> | undefined) ?? {}), ...defs } } : schema;
}
