// The pure core (src/manifest, src/reconcile) must not import I/O modules or read the clock.
// This proves the lint rule that enforces it bites, rather than trusting it by hope.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';

const eslint = new ESLint();

async function messages(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

const forbidden: Array<[string, string]> = [
  ['node:fs', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n"],
  ['fs', "import { readFileSync } from 'fs';\nexport const x = readFileSync;\n"],
  ['child_process', "import { execFile } from 'node:child_process';\nexport const x = execFile;\n"],
  ['pg', "import pg from 'pg';\nexport const x = pg;\n"],
  ['dockerode', "import Docker from 'dockerode';\nexport const x = Docker;\n"],
  ['observed layer', "import { thing } from '../observed/driver.js';\nexport const x = thing;\n"],
  ['Date.now()', 'export const t = Date.now();\n'],
  ['new Date()', 'export const t = new Date();\n'],
  ['process', 'export const e = process.env;\n'],
];

for (const dir of ['src/reconcile', 'src/manifest']) {
  for (const [what, code] of forbidden) {
    test(`${dir} rejects ${what}`, async () => {
      const found = await messages(code, `${dir}/example.ts`);
      assert.ok(found.some((m) => /no-restricted-(imports|syntax|globals)/.test(m)), `expected a purity error, got ${JSON.stringify(found)}`);
    });
  }
}

test('the same imports are allowed outside the pure core', async () => {
  const found = await messages("import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", 'src/engine/example.ts');
  assert.deepEqual(found.filter((m) => m.startsWith('no-restricted')), []);
});

test('time passed in as an argument is fine in the pure core', async () => {
  const found = await messages('export function later(now: Date): Date { return new Date(now.getTime() + 1000); }\n', 'src/reconcile/example.ts');
  assert.deepEqual(found, []);
});
