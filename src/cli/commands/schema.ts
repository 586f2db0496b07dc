// `otm schema [KIND]`: prints a JSON Schema, self-contained, for editors and other tools.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { SCHEMAS, bundledSchema } from '../../manifest/index.js';
import type { SchemaName } from '../../manifest/index.js';

const PUBLISHED: SchemaName[] = ['Manifest', 'OTreeInstance', 'Experimenter', 'Config'];

function schemaName(value: string): SchemaName {
  const name = PUBLISHED.find((candidate) => candidate.toLowerCase() === value.toLowerCase() || SCHEMAS[candidate].file === value);
  if (!name) throw new InvalidArgumentError(`unknown schema; choose one of ${PUBLISHED.join(', ')}`);
  return name;
}

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description(`print a JSON Schema (draft 2020-12): ${PUBLISHED.join(', ')}; Manifest (the default) accepts either kind`)
    .argument('[kind]', 'which schema', schemaName, 'Manifest' as SchemaName)
    .action((name: SchemaName) => {
      process.stdout.write(`${JSON.stringify(bundledSchema(name), null, 2)}\n`);
    });
}
